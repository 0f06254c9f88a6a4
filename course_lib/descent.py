"""The numpy engine: run an update rule from many starting points of a 2-D surface at once.

>>> import numpy as np
>>> from course_lib import descent, surfaces
>>> result = descent.run("sgd", surfaces.quadratic(condition=10.0), np.array([[2.0, 1.0]]),
...                      steps=100, lr=1.5)
>>> result.trajectory.shape, bool(result.converged()[0])
((101, 1, 2), True)
>>> descent.run("sgd", surfaces.quadratic(), np.array([[2.0, 1.0]]), 100, lr=2.5).diverged_at
array([35])

Each start is independent: the rule's state is elementwise, so running N starts together
gives exactly (bit for bit) what N separate runs would.

The surface may also be any gradient function ``x -> g`` on arrays (N, 2): the methods of
:mod:`course_lib.constrained` run here with the gradient of their Lagrangian.

>>> descent.run("sgd", lambda x: 2 * x, np.array([[1.0, -2.0]]), 3, lr=0.25).final
array([[ 0.125, -0.25 ]])
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

from . import _checks
from . import rules as _rules
from .surfaces import Surface

__all__ = ["Result", "run"]


class Result:
    """What :func:`run` returns.

    Attributes
    ----------
    trajectory : numpy.ndarray
        Shape ``(steps + 1, N, 2)``: the points; row 0 is the start. A diverged start
        stays at the point where it diverged (it is frozen there).
    loss : numpy.ndarray
        Shape ``(steps + 1, N)``: the surface's value along the trajectory (computed on
        first access).
    grad_norm : numpy.ndarray
        Shape ``(steps + 1, N)``: Euclidean norm of the gradient at each point (computed
        on first access).
    diverged_at : numpy.ndarray
        Integers, shape ``(N,)``: first step index whose point is NaN, infinite or outside
        ``bound``; -1 for starts that never diverged.
    lr : numpy.ndarray
        Shape ``(steps,)``: the learning rate used at each step.
    rule : str
    surface : Surface or None
        None when :func:`run` was given a gradient function: then ``loss``,
        ``grad_norm`` and the default ``to`` of ``converged`` and ``steps_to`` are unknown.
    """

    def __init__(self, trajectory, diverged_at, lr, rule, surface):
        self.trajectory = trajectory
        self.diverged_at = diverged_at
        self.lr = lr
        self.rule = rule
        self.surface = surface

    def _rowwise(self, fn) -> np.ndarray:
        # In blocks of rows: whole-trajectory temporaries would cost more in page faults
        # than the arithmetic.
        out = np.empty(self.trajectory.shape[:2])
        block = max(1, _BLOCK // max(1, self.trajectory.shape[1]))
        with np.errstate(all="ignore"):
            for lo in range(0, len(out), block):
                out[lo:lo + block] = fn(self.trajectory[lo:lo + block])
        return out

    def _known_surface(self) -> Surface:
        if self.surface is None:
            raise ValueError("surface must be known for losses, gradient norms and minima, got "
                             "a run of a gradient function (pass to=points)")
        return self.surface

    def _targets(self, to) -> np.ndarray:
        if to is None:
            return self._known_surface().minima
        return np.asarray(to, dtype=float).reshape(-1, 2)

    @cached_property
    def loss(self) -> np.ndarray:
        return self._rowwise(self._known_surface().value)

    @cached_property
    def grad_norm(self) -> np.ndarray:
        grad = self._known_surface().grad

        def norm(xy):
            g = grad(xy)
            return np.hypot(g[..., 0], g[..., 1])
        return self._rowwise(norm)

    @property
    def final(self) -> np.ndarray:
        """The last point of each start, shape (N, 2)."""
        return self.trajectory[-1]

    @property
    def diverged(self) -> np.ndarray:
        """Whether each start diverged (booleans, shape ``(N,)``)."""
        return self.diverged_at >= 0

    def converged(self, tol: float = 1e-6, to=None) -> np.ndarray:
        """Boolean (N,): ended within ``tol`` of a point of ``to`` (default: the surface's
        minima) and never diverged. Without known minima: gradient norm below ``tol``."""
        points = self._targets(to)
        if len(points) == 0:
            with np.errstate(all="ignore"):
                close = np.linalg.norm(self.surface.grad(self.final), axis=-1) < tol
        else:
            distance = np.linalg.norm(self.final[:, None, :] - points[None], axis=-1)
            close = distance.min(axis=1) < tol
        return close & ~self.diverged

    def steps_to(self, tol: float = 1e-6, to=None) -> np.ndarray:
        """First step at which each start is within ``tol`` of the nearest of ``to``
        (default: the minima) and stays there; -1 if it never gets there."""
        points = self._targets(to)
        if len(points) == 0:
            raise ValueError("to must be given: the surface has no known minima")
        distance = np.linalg.norm(self.trajectory[:, :, None, :] - points[None, None], axis=-1)
        inside = distance.min(axis=2) < tol
        # the first step after which all later steps are inside
        outside_later = np.flip(np.logical_or.accumulate(np.flip(~inside, 0), axis=0), 0)
        first = np.argmin(outside_later, axis=0)
        never = outside_later[-1] | self.diverged
        return np.where(never, -1, first)


def _check_starts(starts) -> np.ndarray:
    """``starts`` as a new float64 array (N, 2), N >= 1; one point (2,) is one start."""
    starts = np.array(_checks.finite_array("starts", starts), dtype=np.float64)
    if starts.shape == (2,):
        starts = starts[None]
    _checks.shape("starts", starts, (None, 2))
    if len(starts) == 0:
        raise ValueError("starts must hold at least one point, got shape (0, 2)")
    return starts


#: Starts per chunk of :func:`run` on a Surface (a tuning knob, not part of the results).
CHUNK = 16384
_BLOCK = 1 << 15  # points per block when post-processing a trajectory


def _gradient(surface, rule):
    """``(grad, hessian, surface)`` for :func:`run`: ``surface`` is a Surface or a
    gradient function ``x -> g`` (then there is no Hessian and no Surface)."""
    if isinstance(surface, Surface):
        hessian = surface.hessian if "hessian" in rule.defaults else None
        return surface.grad, hessian, surface
    if not callable(surface):
        raise ValueError("surface must be a course_lib.surfaces.Surface or a gradient "
                         f"function x -> g, got {surface!r}")
    if "hessian" in rule.defaults:
        raise ValueError(f"surface must be a Surface for rule {rule.name!r}, which needs the "
                         "Hessian, got a gradient function")
    return surface, None, None


def _learning_rates(rule, steps: int, schedule, hyper: dict):
    """``(lrs, hyper)``: the learning rate of each step and the checked hyperparameters."""
    if schedule is None:
        hyper = rule.hyper(**hyper)
        return np.full(steps, float(hyper["lr"])), hyper
    if not callable(schedule):
        raise ValueError(f"schedule must be a function step -> lr, got {schedule!r}")
    lrs = np.array([schedule(t) for t in range(steps)], dtype=float)
    if steps and not (np.all(np.isfinite(lrs)) and np.all(lrs >= 0) and lrs[0] > 0):
        raise ValueError("schedule must give finite learning rates >= 0, > 0 at t=0, got "
                         f"{lrs[:3].tolist()}...")
    return lrs, rule.hyper(**{**hyper, "lr": lrs[0] if steps else 1.0})


def _descend(rule, grad, x, trajectory, lrs, hyper, hessian=None, restore=None):
    """The loop itself, for one chunk of starts: writes ``trajectory[1:]``.

    Step ``t``: ``restore(x)`` (if given) moves ``x`` in place, then
    ``x <- rule(x, grad(x))`` with learning rate ``lrs[t]``.
    """
    hyper = dict(hyper)
    state = rule.init(x, _rules.NUMPY, **hyper)
    for t in range(len(lrs)):
        if restore is not None:
            restore(x)
        g = grad(x)
        hyper["lr"] = lrs[t]
        if hessian is not None:
            hyper["hessian"] = hessian(x)
        rule.update(x, g, state, _rules.NUMPY, **hyper)
        trajectory[t + 1] = x


def _iterate(rule, grad, x, lrs, hyper, hessian, restore, chunk) -> np.ndarray:
    """All starts' points, shape (steps + 1, N, 2), in chunks of ``chunk`` starts."""
    n = x.shape[0]
    # Stored as (steps + 1, 2, N) so that x and y are contiguous rows; returned as a
    # (steps + 1, N, 2) view.
    trajectory = np.empty((len(lrs) + 1, 2, n)).transpose(0, 2, 1)
    trajectory[0] = x
    with np.errstate(all="ignore"):
        # Starts are independent, so none is masked inside the loop (divergence is found
        # and frozen afterwards); chunks bound the size of the temporaries.
        for lo in range(0, n, chunk):
            part = trajectory[:, lo:lo + chunk]
            _descend(rule, grad, part[0].copy(order="K"), part, lrs, hyper, hessian, restore)
    return trajectory


def _diverged_at(trajectory, bound: float) -> np.ndarray:
    """First step whose point is NaN, infinite or beyond ``bound``; -1 where none is."""
    n = trajectory.shape[1]
    diverged_at = np.full(n, -1)
    limit = min(float(bound), np.finfo(np.float64).max)  # bound=inf still catches inf
    block = max(1, _BLOCK // n)
    for lo in range(0, len(trajectory), block):
        # |x| <= limit is False for NaN as well as for inf and escaped points
        bad = ~(np.abs(trajectory[lo:lo + block]) <= limit).all(axis=-1)
        new = bad.any(axis=0) & (diverged_at < 0)
        diverged_at[new] = lo + np.argmax(bad[:, new], axis=0)
    return diverged_at


def _freeze(trajectory, diverged_at) -> None:
    """In place: every row after a start's divergence repeats the row where it happened."""
    if (diverged_at >= 0).any():
        n = trajectory.shape[1]
        last = np.where(diverged_at >= 0, diverged_at, len(trajectory) - 1)
        after = np.arange(len(trajectory))[:, None] > last[None, :]
        np.copyto(trajectory, trajectory[last, np.arange(n)][None], where=after[..., None])


def run(rule, surface, starts, steps: int, schedule=None, bound: float = 1e6,
        restore=None, **hyper) -> Result:
    """Run ``rule`` on ``surface`` from each row of ``starts`` for ``steps`` steps::

        x_{t+1} = rule(x_t, grad(x_t), lr_t)       (all starts at once)

    Parameters
    ----------
    rule : Rule or str
        e.g. ``"adam"`` or ``course_lib.rules.adam``.
    surface : Surface or callable
        A :class:`~course_lib.surfaces.Surface`, or a gradient function ``x -> g`` of
        arrays (N, 2) that sees all starts at once (it may keep state between calls, e.g.
        a multiplier; the Result then has no surface, so no ``loss``).
    starts : array (N, 2)
    steps : int
    schedule : callable, optional
        ``t -> lr`` (see :mod:`course_lib.schedules`); overrides ``lr``.
    bound : float
        A start whose coordinate exceeds ``bound`` in absolute value has diverged.
    restore : callable, optional
        ``restore(x)`` moves the points ``x`` (N, 2) in place before each step's gradient
        is taken, e.g. back into a feasible set.
    **hyper
        The rule's hyperparameters (``lr``, ``betas``, ``momentum``, ...).

    Returns
    -------
    Result

    Notes
    -----
    Divergence is recorded per start without numpy warnings (``np.errstate``): a start
    that diverges keeps its point from then on; the others are unaffected.
    """
    rule = _rules.get(rule)
    grad, hessian, surface = _gradient(surface, rule)
    steps = _checks.integer("steps", steps, low=0)
    if not bound > 0:  # inf is allowed: then only NaN and inf count as divergence
        raise ValueError(f"bound must be a number > 0 (inf allowed), got {bound!r}")
    if "hessian" in hyper:
        raise ValueError("hessian must not be given: run() computes it from the surface")
    if restore is not None and not callable(restore):
        raise ValueError(f"restore must be a function x -> None, got {restore!r}")
    x = _check_starts(starts)
    lrs, hyper = _learning_rates(rule, steps, schedule, hyper)
    # a gradient function may hold one value per start: it sees them all at once
    chunk = CHUNK if surface is not None and restore is None else len(x)
    trajectory = _iterate(rule, grad, x, lrs, hyper, hessian, restore, chunk)
    diverged_at = _diverged_at(trajectory, bound)
    _freeze(trajectory, diverged_at)
    return Result(trajectory, diverged_at, lrs, rule.name, surface)
