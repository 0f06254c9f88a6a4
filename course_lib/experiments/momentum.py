"""Experiments of chapter 6: momentum as a weighted sum of past gradients.

Heavy ball in the torch convention (:data:`course_lib.rules.momentum`)::

    v_t = mu v_{t-1} + g_t,    x_{t+1} = x_t - lr v_t,    so    v_t = sum_k mu^(t-k) g_k

Everything that moves a point here is a rule of :mod:`course_lib.rules`, run by
:func:`course_lib.descent.run` on 2-D surfaces or by the :mod:`course_lib.torch` and
:mod:`course_lib.mxnet` optimizers on the regression problem. This module only measures
and draws.
"""
from __future__ import annotations

import numpy as np

from course_lib import descent, rules, schedules
from course_lib.surfaces import Surface, quadratic

__all__ = [
    "ema_weights", "effective_window", "rule_buffers", "unrolled_sum",
    "velocity_from_trajectory", "buffer_response", "stable_lr_limit", "steps_to_tolerance",
    "regression_lr_bound", "regression_torch", "regression_mxnet", "REGRESSION",
    "playground_surfaces", "draw_playground", "draw_ema_weights",
]


# ---------------------------------------------------------------------------- the EMA
def _check_gamma(gamma):
    if not 0 <= gamma < 1:
        raise ValueError(f"Invalid gamma: {gamma!r} (must be in [0, 1))")


def ema_weights(gamma: float, steps: int) -> np.ndarray:
    """Weights ``(1 - gamma) gamma^k`` of the value seen ``k`` steps ago, ``k = 0..steps-1``,
    in the exponential moving average ``y_t = gamma y_{t-1} + (1 - gamma) x_t`` (``y_0 = 0``).
    """
    _check_gamma(gamma)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"Invalid steps: {steps!r} (must be an integer >= 1)")
    return (1 - gamma) * gamma ** np.arange(steps)


def effective_window(gamma: float) -> float:
    """``1 / (1 - gamma)``: after that many steps a weight has fallen by about ``1/e``
    (``gamma^(1/(1-gamma)) -> 1/e`` as ``gamma -> 1``)."""
    _check_gamma(gamma)
    return 1.0 / (1.0 - gamma)


# ------------------------------------------------------------- the buffer, unrolled
def rule_buffers(surface: Surface, start, steps: int, lr: float, momentum: float):
    """Run :data:`course_lib.rules.momentum` from ``start`` and record, at each step, the
    gradient the rule received and the buffer ``v`` it kept in its state.

    Returns ``(grads, buffers)``, each of shape ``(steps, 2)``.
    """
    x = np.array(start, dtype=float).reshape(2)
    hyper = rules.momentum.hyper(lr=lr, momentum=momentum)
    state = rules.momentum.init(x, rules.NUMPY, **hyper)
    grads, buffers = [], []
    for _ in range(steps):
        g = surface.grad(x)
        rules.momentum.update(x, g, state, rules.NUMPY, **hyper)
        grads.append(g)
        buffers.append(state["momentum_buffer"].copy())
    return np.array(grads), np.array(buffers)


def unrolled_sum(grads, momentum: float) -> np.ndarray:
    """``sum_{k <= t} momentum^(t-k) g_k`` for every ``t``: the formula written out as a
    weighted sum of all past gradients (``grads`` has shape ``(steps, d)``)."""
    grads = np.asarray(grads, dtype=float)
    t = np.arange(len(grads))
    age = t[:, None] - t[None, :]
    weights = np.where(age >= 0, float(momentum) ** np.maximum(age, 0), 0.0)
    return weights @ grads


def velocity_from_trajectory(result: descent.Result) -> np.ndarray:
    """``v_t = (x_t - x_{t+1}) / lr_t`` of each start, shape ``(steps, N, 2)``: the step
    divided by the learning rate, i.e. the heavy-ball buffer read off the path alone."""
    steps = np.diff(result.trajectory, axis=0)
    return -steps / result.lr[:, None, None]


def buffer_response(grads, momentum: float) -> np.ndarray:
    """Feed a given sequence of gradients (shape ``(steps, d)``) to
    :data:`course_lib.rules.momentum` and return its buffer after each step.

    A constant gradient ``g`` gives ``v_t = g (1 - mu^t) / (1 - mu) -> g / (1 - mu)``
    (acceleration); an alternating one ``+g, -g, ...`` gives ``|v_t| -> g / (1 + mu)``
    (damping).
    """
    grads = np.asarray(grads, dtype=float)
    param = np.zeros(grads.shape[1:])
    hyper = rules.momentum.hyper(lr=1.0, momentum=momentum)
    state = rules.momentum.init(param, rules.NUMPY, **hyper)
    out = []
    for g in grads:
        rules.momentum.update(param, g, state, rules.NUMPY, **hyper)
        out.append(state["momentum_buffer"].copy())
    return np.array(out)


def steps_to_tolerance(rule: str, surface: Surface, start, lr: float, steps: int,
                       tol: float = 1e-4, **hyper) -> int:
    """Steps until the run stays within ``tol`` of the minimum (-1 if it never does)."""
    result = descent.run(rule, surface, np.asarray(start, dtype=float).reshape(1, 2), steps,
                         lr=lr, **hyper)
    return int(result.steps_to(tol)[0])


def _stable(rule, surface, start, lr, steps, hyper) -> bool:
    result = descent.run(rule, surface, start, steps, lr=lr, bound=1e8, **hyper)
    return (not result.diverged[0]) and result.loss[-1, 0] < result.loss[0, 0]


def stable_lr_limit(rule: str, surface: Surface, start, low: float, high: float,
                    steps: int = 2000, rtol: float = 1e-4, **hyper) -> float:
    """The largest learning rate at which ``rule`` still lowers the loss from ``start``,
    found by bisection between ``low`` (stable) and ``high`` (unstable).

    A run is stable when it does not diverge and ends below its starting loss after
    ``steps`` steps. On a quadratic with largest curvature ``L`` the answer is
    ``2 (1 + mu) / L`` for heavy ball and ``2 (1 + mu) / ((1 + 2 mu) L)`` for Nesterov.
    """
    start = np.asarray(start, dtype=float).reshape(1, 2)
    if not 0 < low < high:
        raise ValueError(f"Invalid low/high: need 0 < low < high, got low={low}, high={high}")
    if not _stable(rule, surface, start, low, steps, hyper):
        raise ValueError(f"Invalid low: lr={low} is not stable; choose a smaller lower bracket")
    if _stable(rule, surface, start, high, steps, hyper):
        raise ValueError(f"Invalid high: lr={high} is stable; choose a larger upper bracket")
    while high - low > rtol * high:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if _stable(rule, surface, start, mid, steps, hyper) else (low, mid)
    return 0.5 * (low + high)


# ------------------------------------------------------------ the regression problem
#: The chapter's setting: minibatches of 10, 5 epochs, learning rate x0.1 every 2 epochs,
#: half mean squared error (MXNet's L2Loss; PyTorch's mse_loss halved).
REGRESSION = dict(lr=0.5, batch_size=10, epochs=5, decay_every=2, decay=0.1)


def _half_mse(prediction, target):
    return 0.5 * ((prediction.reshape(target.shape) - target) ** 2).mean()


def regression_lr_bound(momentum: float, data=None) -> float:
    """The largest stable learning rate ``2 (1 + momentum) / L`` of full-batch heavy ball on
    the regression problem: ``L`` is the largest curvature of its loss
    ``mean (w.x + b - y)^2 / 2`` (:func:`course_lib.experiments.gradient_descent.regression_curvature`
    with ``half=True``)."""
    from course_lib.data import synthetic_regression
    from course_lib.experiments.gradient_descent import regression_curvature

    x, _ = synthetic_regression() if data is None else data
    return 2.0 * (1.0 + momentum) / regression_curvature(x, half=True)


def regression_torch(momentum: float, lr: float = REGRESSION["lr"],
                     batch_size: int = REGRESSION["batch_size"], epochs: int = REGRESSION["epochs"],
                     decay_every: int | None = REGRESSION["decay_every"], seed: int = 0,
                     data=None, device=None):
    """Train ``y = w.x + b`` on :func:`course_lib.data.synthetic_regression` with
    :class:`course_lib.torch.SGD` (heavy ball), the learning rate multiplied by 0.1 every
    ``decay_every`` epochs (``None``: constant). Returns ``(initial_loss, history)``, a
    :class:`course_lib.models.History` with the loss of every minibatch in ``step_loss``
    and the full-data loss per epoch in ``train_loss``."""
    import torch

    from course_lib.data import synthetic_regression, to_torch
    from course_lib.models import torch_mlp, train_torch
    from course_lib.torch import SGD

    x, y = to_torch(*(synthetic_regression() if data is None else data), device=device)
    model = torch_mlp((x.shape[1], 1), seed=seed).to(x.device)
    with torch.no_grad():
        initial = float(_half_mse(model(x), y))
    optimizer = SGD(model.parameters(), lr=lr, momentum=momentum)
    scheduler = None
    if decay_every is not None:
        schedule = schedules.step_decay(lr, decay_every, REGRESSION["decay"])
        scheduler = schedules.to_torch(optimizer, schedule)  # stepped once per epoch
    history = train_torch(model, optimizer, x, y, epochs, batch_size, loss_fn=_half_mse,
                          classification=False, seed=seed, record_steps=True,
                          scheduler=scheduler)
    return initial, history


def regression_mxnet(momentum: float, lr: float = REGRESSION["lr"],
                     batch_size: int = REGRESSION["batch_size"], epochs: int = REGRESSION["epochs"],
                     decay_every: int | None = REGRESSION["decay_every"], seed: int = 0,
                     data=None):
    """The Gluon twin of :func:`regression_torch`: :class:`course_lib.mxnet.SGD` in a
    ``gluon.Trainer``, ``L2Loss``, the same decay (MXNet schedules count updates, so the
    decay comes every ``decay_every`` epochs' worth of updates).
    Returns ``(initial_loss, history)`` with the full-data loss per epoch."""
    from course_lib.data import synthetic_regression, to_mxnet
    from course_lib.models import mxnet_mlp, train_mxnet
    from course_lib.mxnet import SGD, mx

    x_np, y_np = synthetic_regression() if data is None else data
    x, y = to_mxnet(x_np, y_np)
    net = mxnet_mlp((x.shape[1], 1), seed=seed, ctx=x.context)
    loss_fn = mx.gluon.loss.L2Loss()
    initial = float(loss_fn(net(x), y).mean().asscalar())
    updates_per_epoch = -(-len(y_np) // batch_size)
    scheduler = None
    if decay_every is not None:
        scheduler = schedules.to_mxnet(schedules.step_decay(
            lr, decay_every * updates_per_epoch, REGRESSION["decay"]))
    optimizer = SGD(learning_rate=lr, momentum=momentum, lr_scheduler=scheduler)
    trainer = mx.gluon.Trainer(net.collect_params(), optimizer)
    history = train_mxnet(net, trainer, x, y, epochs, batch_size, loss_fn=loss_fn,
                          classification=False, seed=seed)
    return initial, history


# ------------------------------------------------------------------------ figures
def playground_surfaces() -> dict:
    """The playground's surfaces with the curvature ``L`` that sets their learning-rate
    unit (largest Hessian eigenvalue over the known minima) and their starting points."""
    from course_lib import surfaces

    out = {}
    q = quadratic(condition=50.0, angle=np.pi / 6)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    out["elongated quadratic"] = (q, q.L, 2.6 * np.stack([np.cos(angles), np.sin(angles)], 1), 150)
    hb = surfaces.himmelblau
    L = float(np.linalg.eigvalsh(hb.hessian(hb.minima)).max())
    gx, gy = np.meshgrid(np.linspace(-4.0, 4.0, 4), np.linspace(-4.0, 4.0, 4))
    out["himmelblau"] = (hb, L, np.stack([gx.ravel(), gy.ravel()], 1), 300)
    return out


def draw_playground(surface_name: str, lr_times_L: float, momentum: float):
    """The chapter's playground: heavy ball from many starts at ``lr = lr_times_L / L``.

    Left: paths on the contour plot; right: the loss of every start per step.
    """
    import matplotlib.pyplot as plt

    from course_lib.plotting import contour, trajectories

    surface, L, starts, steps = playground_surfaces()[surface_name]
    lr = lr_times_L / L
    rule, hyper = ("sgd", {}) if momentum == 0 else ("momentum", {"momentum": momentum})
    result = descent.run(rule, surface, starts, steps, lr=lr, bound=1e4, **hyper)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.25)
    contour(left, surface, levels=15, n=150)
    trajectories(left, result.trajectory, color="C3", marker="", linewidth=0.8)
    left.set_title(f"{surface_name}: lr = {lr_times_L:g}/L, momentum {momentum:g}", fontsize=10)
    loss = result.loss - surface.value(surface.minima).min()
    rows = np.arange(loss.shape[0])[:, None]
    loss = np.where(rows < np.where(result.diverged, result.diverged_at, loss.shape[0]), loss, np.nan)
    right.plot(np.log10(np.maximum(loss, 1e-16)), color="C3", alpha=0.5, linewidth=0.8)
    right.set_ylim(-12, 5)
    right.set_yticks([-12, -8, -4, 0, 4])
    right.set_yticklabels(["1e-12", "1e-8", "1e-4", "1", "1e4"])
    right.set_xlabel("step")
    right.set_ylabel("loss - minimum (log scale)")
    n = len(starts)
    right.set_title(f"{int(result.converged(1e-3).sum())}/{n} starts within 1e-3 of a minimum, "
                    f"{int(result.diverged.sum())} diverged", fontsize=10)
    right.grid(True, alpha=0.3)
    return fig


def draw_ema_weights(gamma: float, steps: int = 60):
    """Bar chart of the EMA weights ``(1 - gamma) gamma^k`` against the age ``k`` of the
    value, with the window ``1 / (1 - gamma)`` marked."""
    import matplotlib.pyplot as plt

    weights = ema_weights(gamma, steps)
    window = effective_window(gamma)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    inside = np.arange(steps) < window
    ax.bar(np.arange(steps)[inside], weights[inside], color="C0",
           label=f"inside the window: total weight {weights[inside].sum():.2f}")
    ax.bar(np.arange(steps)[~inside], weights[~inside], color="C7",
           label=f"older: total weight {weights[~inside].sum():.2f} (+ {gamma ** steps:.2f} beyond {steps})")
    if window <= steps:
        ax.axvline(window - 0.5, color="C3", linestyle="--", label=f"window 1/(1-gamma) = {window:g} steps")
    ax.set_xlabel("age k of the value (steps ago)")
    ax.set_ylabel("weight (1 - gamma) gamma^k")
    ax.set_title(f"EMA weights for gamma = {gamma:g}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
