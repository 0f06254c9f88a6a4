"""Learning-rate schedules: plain functions of the step number ``t`` (0-based).

Each constructor returns a callable ``t -> lr``. Adapters hand the same function to
``torch.optim.lr_scheduler.LambdaLR`` (:func:`to_torch`) and to MXNet
(:func:`to_mxnet`), and :func:`course_lib.descent.run` accepts it as ``schedule=``.

>>> from course_lib import schedules
>>> lr = schedules.step_decay(0.1, step_size=10, gamma=0.5)
>>> [lr(0), lr(9), lr(10), lr(25)]
[0.1, 0.1, 0.05, 0.025]
"""
from __future__ import annotations

import math
from typing import Callable

from course_lib import _checks

__all__ = ["constant", "step_decay", "exponential", "cosine", "inverse_power",
           "linear_warmup", "inverse_sqrt", "to_torch", "to_mxnet"]

Schedule = Callable[[int], float]


def _named(fn, text):
    fn.__name__ = fn.__qualname__ = text
    return fn


def constant(lr: float) -> Schedule:
    """``lr_t = lr``."""
    _checks.positive("lr", lr)
    return _named(lambda t: lr, f"constant({lr:g})")


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``lr_t = lr * gamma ** floor(t / step_size)`` (torch's ``StepLR``)."""
    _checks.positive("lr", lr)
    _checks.integer("step_size", step_size, 1)
    _checks.number("gamma", gamma, 0, 1, low_open=True)
    return _named(lambda t: lr * gamma ** (t // step_size),
                  f"step_decay({lr:g}, {step_size}, {gamma:g})")


def exponential(lr: float, gamma: float) -> Schedule:
    """``lr_t = lr * gamma ** t`` (torch's ``ExponentialLR``)."""
    _checks.positive("lr", lr)
    _checks.number("gamma", gamma, 0, 1, low_open=True)
    return _named(lambda t: lr * gamma ** t, f"exponential({lr:g}, {gamma:g})")


def cosine(lr: float, total_steps: int, min_lr: float = 0.0) -> Schedule:
    """``lr_t = min_lr + (lr - min_lr) (1 + cos(pi t / T)) / 2`` for ``t <= T``, then
    ``min_lr`` (torch's ``CosineAnnealingLR`` without restarts)."""
    _checks.positive("lr", lr)
    _checks.integer("total_steps", total_steps, 1)
    _checks.number("min_lr", min_lr, 0, lr, requirement=f"a number in [0, lr={lr!r}]")

    def schedule(t):
        t = min(t, total_steps)
        return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * t / total_steps)) / 2

    return _named(schedule, f"cosine({lr:g}, {total_steps}, {min_lr:g})")


def inverse_power(lr: float, tau: float, power: float) -> Schedule:
    """``lr_t = lr / (1 + t / tau) ** power``: constant for ``power = 0``, ``1/t`` decay for
    ``power = 1``. Its sum over all steps diverges for ``power <= 1`` and its sum of squares
    converges for ``power > 1/2`` (Robbins and Monro's conditions hold for ``1/2 < power
    <= 1``)."""
    _checks.positive("lr", lr)
    _checks.positive("tau", tau)
    _checks.nonnegative("power", power)
    return _named(lambda t: lr / (1 + t / tau) ** power,
                  f"inverse_power({lr:g}, {tau:g}, {power:g})")


def linear_warmup(schedule: Schedule, warmup_steps: int) -> Schedule:
    """``lr_t = schedule(t) * min(1, (t + 1) / warmup_steps)``: ramps up linearly over the
    first ``warmup_steps`` steps (never exactly 0), then follows ``schedule``."""
    _checks.function("schedule", schedule, "a function step -> lr")
    _checks.integer("warmup_steps", warmup_steps, 1)
    return _named(lambda t: schedule(t) * min(1.0, (t + 1) / warmup_steps),
                  f"linear_warmup({getattr(schedule, '__name__', 'schedule')}, {warmup_steps})")


def inverse_sqrt(d_model: int, warmup_steps: int, scale: float = 1.0) -> Schedule:
    """The transformer schedule (Vaswani et al., 2017), with ``s = t + 1``::

        lr_t = scale * d_model^-0.5 * min(s^-0.5, s * warmup_steps^-1.5)

    Linear warm-up to its peak at ``s = warmup_steps``, then decay as ``1 / sqrt(s)``.
    """
    _checks.integer("d_model", d_model, 1)
    _checks.integer("warmup_steps", warmup_steps, 1)
    _checks.positive("scale", scale)

    def schedule(t):
        s = t + 1
        return scale * d_model ** -0.5 * min(s ** -0.5, s * warmup_steps ** -1.5)

    return _named(schedule, f"inverse_sqrt({d_model}, {warmup_steps}, {scale:g})")


def to_torch(optimizer, schedule: Schedule):
    """A ``torch.optim.lr_scheduler.LambdaLR`` that sets each group's lr to ``schedule(t)``.

    LambdaLR multiplies the *initial* lr by the lambda's value, so the lambda is
    ``schedule(t) / initial_lr`` per group; call ``scheduler.step()`` after each
    ``optimizer.step()``.
    """
    from torch.optim.lr_scheduler import LambdaLR

    _checks.function("schedule", schedule, "a function step -> lr")
    lambdas = []
    for group in optimizer.param_groups:
        base = float(group.get("initial_lr", group["lr"]))
        if not base > 0:
            raise ValueError(f"Invalid optimizer lr: {base!r} (LambdaLR needs an lr > 0 to scale)")
        lambdas.append(lambda t, base=base: schedule(t) / base)
    return LambdaLR(optimizer, lambdas)


def to_mxnet(schedule: Schedule):
    """An ``mx.lr_scheduler.LRScheduler`` returning ``schedule(num_update - 1)``.

    MXNet counts updates from 1 (it calls the scheduler with the update count after
    incrementing it), so the first update gets ``schedule(0)``.
    """
    import mxnet as mx

    _checks.function("schedule", schedule, "a function step -> lr")

    class FunctionScheduler(mx.lr_scheduler.LRScheduler):
        def __init__(self):
            super().__init__(base_lr=schedule(0))

        def __call__(self, num_update):
            return schedule(max(int(num_update) - 1, 0))

    return FunctionScheduler()
