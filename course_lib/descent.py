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
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

from . import rules as _rules
from .surfaces import Surface

__all__ = ["Result", "run"]


class Result:
    """What :func:`run` returns.

    Attributes
    ----------
    trajectory : array (steps + 1, N, 2)
        The points; row 0 is the start. A diverged start stays at the point where it
        diverged (it is frozen there).
    loss : array (steps + 1, N)
        The surface's value along the trajectory (computed on first access).
    grad_norm : array (steps + 1, N)
        Euclidean norm of the gradient at each point (computed on first access).
    diverged_at : int array (N,)
        First step index whose point is NaN, infinite or outside ``bound``; -1 for starts
        that never diverged.
    lr : array (steps,)
        The learning rate used at each step.
    rule : str
    surface : Surface
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

    @cached_property
    def loss(self) -> np.ndarray:
        return self._rowwise(self.surface.value)

    @cached_property
    def grad_norm(self) -> np.ndarray:
        def norm(xy):
            g = self.surface.grad(xy)
            return np.hypot(g[..., 0], g[..., 1])
        return self._rowwise(norm)

    @property
    def final(self) -> np.ndarray:
        """The last point of each start, shape (N, 2)."""
        return self.trajectory[-1]

    @property
    def diverged(self) -> np.ndarray:
        """Boolean (N,): did the start diverge?"""
        return self.diverged_at >= 0

    def converged(self, tol: float = 1e-6, to=None) -> np.ndarray:
        """Boolean (N,): ended within ``tol`` of a point of ``to`` (default: the surface's
        minima) and never diverged. Without known minima: gradient norm below ``tol``."""
        points = self.surface.minima if to is None else np.asarray(to, dtype=float).reshape(-1, 2)
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
        points = self.surface.minima if to is None else np.asarray(to, dtype=float).reshape(-1, 2)
        if len(points) == 0:
            raise ValueError("Invalid to: the surface has no known minima; pass to=points")
        distance = np.linalg.norm(self.trajectory[:, :, None, :] - points[None, None], axis=-1)
        inside = distance.min(axis=2) < tol
        # the first step after which all later steps are inside
        outside_later = np.flip(np.logical_or.accumulate(np.flip(~inside, 0), axis=0), 0)
        first = np.argmin(outside_later, axis=0)
        never = outside_later[-1] | self.diverged
        return np.where(never, -1, first)


def _check_starts(starts) -> np.ndarray:
    starts = np.asarray(starts, dtype=float)
    if starts.ndim == 1 and starts.shape == (2,):
        starts = starts[None]
    if starts.ndim != 2 or starts.shape[1] != 2 or starts.shape[0] == 0:
        raise ValueError(f"Invalid starts: shape {starts.shape} (must be (N, 2) with N >= 1)")
    if not np.all(np.isfinite(starts)):
        raise ValueError("Invalid starts: contains NaN or inf")
    return np.array(starts, dtype=np.float64, copy=True)


#: Starts per chunk of :func:`run` (a tuning knob, not part of the results).
CHUNK = 16384
_BLOCK = 1 << 15  # points per block when post-processing a trajectory


def _descend(rule, surface, x, trajectory, lrs, hyper):
    """The loop itself, for one chunk of starts: writes ``trajectory[1:]``."""
    needs_hessian = "hessian" in rule.defaults
    hyper = dict(hyper)
    state = rule.init(x, _rules.NUMPY, **hyper)
    for t in range(len(lrs)):
        g = surface.grad(x)
        hyper["lr"] = lrs[t]
        if needs_hessian:
            hyper["hessian"] = surface.hessian(x)
        rule.update(x, g, state, _rules.NUMPY, **hyper)
        trajectory[t + 1] = x


def run(rule, surface: Surface, starts, steps: int, schedule=None, bound: float = 1e6,
        **hyper) -> Result:
    """Run ``rule`` on ``surface`` from each row of ``starts`` for ``steps`` steps.

    Parameters
    ----------
    rule : Rule or str
        e.g. ``"adam"`` or ``course_lib.rules.adam``.
    surface : Surface
    starts : array (N, 2)
    steps : int
    schedule : callable, optional
        ``t -> lr`` (see :mod:`course_lib.schedules`); overrides ``lr``.
    bound : float
        A start whose coordinate exceeds ``bound`` in absolute value has diverged.
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
    if not isinstance(surface, Surface):
        raise ValueError(f"Invalid surface: {surface!r} (must be a course_lib.surfaces.Surface)")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"Invalid steps: {steps!r} (must be an integer >= 0)")
    if not bound > 0:
        raise ValueError(f"Invalid bound: {bound!r} (must be > 0)")
    if "hessian" in hyper:
        raise ValueError("Invalid hessian: run() computes it from the surface")
    x = _check_starts(starts)
    if schedule is not None:
        if not callable(schedule):
            raise ValueError(f"Invalid schedule: {schedule!r} (must be a function step -> lr)")
        lrs = np.array([schedule(t) for t in range(steps)], dtype=float)
        if steps and not (np.all(np.isfinite(lrs)) and np.all(lrs >= 0) and lrs[0] > 0):
            raise ValueError("Invalid schedule: learning rates must be finite, >= 0 and > 0 at t=0")
        hyper = rule.hyper(**{**hyper, "lr": lrs[0] if steps else 1.0})
    else:
        hyper = rule.hyper(**hyper)
        lrs = np.full(steps, float(hyper["lr"]))
    n = x.shape[0]
    # Stored as (steps + 1, 2, N) so that x and y are contiguous rows; returned as a
    # (steps + 1, N, 2) view.
    trajectory = np.empty((steps + 1, 2, n)).transpose(0, 2, 1)
    trajectory[0] = x
    with np.errstate(all="ignore"):
        # Starts are independent, so none is masked inside the loop (divergence is found
        # and frozen afterwards); chunks bound the size of the temporaries.
        for lo in range(0, n, CHUNK):
            part = trajectory[:, lo:lo + CHUNK]
            _descend(rule, surface, part[0].copy(order="K"), part, lrs, hyper)
    diverged_at = np.full(n, -1)
    limit = min(float(bound), np.finfo(np.float64).max)  # bound=inf still catches inf
    block = max(1, _BLOCK // n)
    for lo in range(0, steps + 1, block):
        # |x| <= limit is False for NaN as well as for inf and escaped points
        bad = ~(np.abs(trajectory[lo:lo + block]) <= limit).all(axis=-1)
        new = bad.any(axis=0) & (diverged_at < 0)
        diverged_at[new] = lo + np.argmax(bad[:, new], axis=0)
    if (diverged_at >= 0).any():
        # freeze in place: every row after the divergence repeats the row where it happened
        last = np.where(diverged_at >= 0, diverged_at, steps)
        after = np.arange(steps + 1)[:, None] > last[None, :]
        np.copyto(trajectory, trajectory[last, np.arange(n)][None], where=after[..., None])
    return Result(trajectory, diverged_at, lrs, rule.name, surface)
