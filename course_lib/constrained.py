"""Two objectives at once: Pareto fronts, linear combinations and constrained optimization.

The toy problems
----------------
:func:`convex_problem` and :func:`concave_problem` are one family of two-parameter problems,
``theta = (x, y)``, whose Pareto front is known exactly. A bounded knob
``p = sin^2(pi x / 2)`` in ``[0, 1]`` says where on the trade-off the model stands, ``y`` is
effort wasted on both losses, and ``waste`` ``c`` says how much being in between costs::

    L0 = p^2       + c p (1 - p) + y^2        (the prediction p is pulled towards 0 ...
    L1 = (1 - p)^2 + c p (1 - p) + y^2         ... and towards 1)

The front is the curve ``(L0, L1)`` at ``y = 0``, ``p`` in ``[0, 1]``: convex for ``c < 1``
(``c = 0``: ``sqrt(L0) + sqrt(L1) = 1``), a straight line for ``c = 1`` and concave for
``1 < c <= 2``. The losses are the same functions of the prediction in every case; only the
model (how much its in-between settings cost) changes the shape of the front.

The methods
-----------
All solve ``min L0 subject to L1 <= epsilon`` (or trade the two off with a weight ``alpha``):

* :func:`linear_combination`: gradient descent on ``L0 + alpha L1`` (the same as the numpy
  engine :func:`course_lib.descent.run` on the surface :meth:`TwoObjectives.combined`, with
  one weight per start allowed);
* :func:`solve_dual`: find the multiplier ``lambda`` whose linear combination meets the
  constraint (bisection, :func:`find_multiplier`), then descend on ``L0 + lambda L1``;
* :func:`hard_constraint_first`: whenever the constraint is violated, descend on ``L1``
  until it holds; then take one step on ``L0``;
* :func:`bdmm` and :func:`mdmm`: the basic and the modified differential method of
  multipliers (Platt & Barr 1988): descent on ``theta``, ascent on ``lambda``,

  .. math::

     \\theta \\leftarrow \\theta - \\eta\\,(\\nabla L_0 + f\\,\\nabla g), \\quad
     \\lambda \\leftarrow \\max(0, \\lambda + \\eta_\\lambda g), \\quad
     g = L_1 - \\epsilon, \\quad f = \\max(0, \\lambda + c\\,g)

  with damping ``c = 0`` (BDMM) or ``c > 0`` (MDMM). :func:`multiplier_force` and
  :func:`multiplier_step` are these two formulas, shared by the numpy methods and by the
  PyTorch :class:`Constraint`.

Every numpy method is the engine :func:`course_lib.descent.run` with a gradient function:
the gradient of ``L0 + alpha L1``, or of the Lagrangian (which also takes the ascent step on
``lambda``); hard-constraint-first adds a restoration phase before each step.

PyTorch
-------
:class:`Constraint` and :class:`Lagrangian` (defined in :mod:`course_lib.constrained_torch`,
which imports torch, and re-exported here on first use) put the same method inside an ordinary
``torch.optim`` step, in the spirit of the PyPI packages ``mdmm`` and ``cooper``: each
multiplier is a parameter whose gradient is negated by a hook, so the optimizer's descent
step is an ascent step on it::

    lagrangian = Lagrangian([Constraint(lambda: l1(model), bound=0.3, damping=10.0)])
    optimizer = torch.optim.SGD([{"params": model.parameters(), "lr": 0.02},
                                 {"params": lagrangian.parameters(), "lr": 1.0}])
    for step in range(steps):
        optimizer.zero_grad()
        lagrangian(l0(model)).backward()
        optimizer.step()

Example
-------
>>> import numpy as np
>>> problem = concave_problem()
>>> starts = np.array([[0.3, 0.5], [1.2, -0.4]])
>>> run = mdmm(problem, epsilon=0.5, starts=starts, steps=2000)
>>> run.losses[-1, :, 1].round(3).tolist()          # L1 meets epsilon from both starts
[0.5, 0.5]
>>> bool(np.allclose(run.losses[-1, :, 0], problem.constrained_optimum(0.5).losses[0], atol=1e-3))
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

import numpy as np

from . import _checks, descent
from . import rules as _rules
from .descent import _check_starts
from .surfaces import Surface

__all__ = [
    "TwoObjectives", "Optimum", "two_objectives", "convex_problem", "concave_problem",
    "Trajectory", "linear_combination", "find_multiplier", "DualSolution", "solve_dual",
    "hard_constraint_first", "differential_multipliers", "bdmm", "mdmm",
    "multiplier_force", "multiplier_step", "settling_time", "sweep_alpha",
    "Constraint", "Lagrangian", "hard_constraint_first_step",
]


def _cos_sin(x):
    # numpy arrays and torch tensors alike: torch tensors carry .cos(); numpy arrays do not
    if hasattr(x, "cos"):
        return x.cos(), x.sin()
    return np.cos(x), np.sin(x)


# ------------------------------------------------------------------------ toy problems
class Optimum(NamedTuple):
    """A point of the true front: parameters, the two losses, the multiplier, the knob p."""

    theta: np.ndarray
    losses: np.ndarray
    multiplier: float
    position: float


@dataclass(frozen=True)
class TwoObjectives:
    """The toy two-objective problem with waste ``c`` (see the module docstring).

    Every method is vectorized over leading dimensions of ``theta`` (shape ``(..., 2)``).
    """

    waste: float
    name: str = ""

    def __post_init__(self):
        # in [0, 2] the front is monotone
        _checks.number("waste", self.waste, 0.0, 2.0)

    @property
    def shape(self) -> str:
        """``"convex"``, ``"linear"`` or ``"concave"``: the shape of the front."""
        return "convex" if self.waste < 1 else "linear" if self.waste == 1 else "concave"

    bounds = ((-0.5, 1.5), (-1.0, 1.0))

    # the losses as functions of the knob p ------------------------------------------
    def _of_p(self, p):
        """``(L0, L1)`` at ``y = 0`` and their first and second derivatives in ``p``."""
        c = self.waste
        l0 = (1 - c) * p * p + c * p
        l1 = (1 - c) * (1 - p) * (1 - p) + c * (1 - p)
        d0 = 2 * (1 - c) * p + c
        d1 = -(2 * (1 - c) * (1 - p) + c)
        return l0, l1, d0, d1, 2 * (1 - c)

    def position(self, theta):
        """The knob ``p = sin^2(pi x / 2) = (1 - cos(pi x)) / 2`` in ``[0, 1]``."""
        cos, _ = _cos_sin(math.pi * theta[..., 0])
        return (1 - cos) / 2

    def losses(self, theta):
        """``(L0, L1)`` stacked on the last axis: shape ``theta.shape``.

        Works on numpy arrays and on torch tensors (differentiably).
        """
        if not hasattr(theta, "cos"):
            theta = np.asarray(theta, dtype=float)
        p = self.position(theta)
        q = 1 - p
        y = theta[..., 1]
        shared = self.waste * p * q + y * y   # the cost both losses pay
        stack = np.stack if isinstance(theta, np.ndarray) else _torch_stack
        return stack([p * p + shared, q * q + shared], -1)

    def _slopes(self, theta):
        """``p'(x)``, ``p''(x)`` and ``dL0/dp``, ``dL1/dp``, ``d2L/dp2`` at each point."""
        cos, sin = _cos_sin(math.pi * theta[..., 0])
        p = (1 - cos) / 2
        c = self.waste
        d0 = 2 * (1 - c) * p + c
        return (math.pi / 2 * sin, math.pi ** 2 / 2 * cos, d0, d0 - 2.0, 2 * (1 - c))

    def grads(self, theta) -> np.ndarray:
        """Gradients of ``L0`` and ``L1``: shape ``(..., 2, 2)``, ``[..., k, :]`` is ``grad Lk``.

        ``dL/dx = L'(p) p'(x)``, ``dL/dy = 2 y``.
        """
        theta = np.asarray(theta, dtype=float)
        dp, _, d0, d1, _ = self._slopes(theta)
        out = np.empty(theta.shape[:-1] + (2, 2))
        out[..., 0, 0] = d0 * dp
        out[..., 1, 0] = d1 * dp
        out[..., :, 1] = 2 * theta[..., 1, None]
        return out

    def hessians(self, theta) -> np.ndarray:
        """Hessians of ``L0`` and ``L1``: shape ``(..., 2, 2, 2)``.

        In ``x``: ``d2L/dx2 = L''(p) p'(x)^2 + L'(p) p''(x)``; in ``y``: 2; no cross term.
        """
        theta = np.asarray(theta, dtype=float)
        dp, ddp, d0, d1, dd = self._slopes(theta)
        out = np.zeros(theta.shape[:-1] + (2, 2, 2))
        out[..., 0, 0, 0] = dd * dp * dp + d0 * ddp
        out[..., 1, 0, 0] = dd * dp * dp + d1 * ddp
        out[..., :, 1, 1] = 2.0
        return out

    # the true front -------------------------------------------------------------------
    def front(self, n: int = 201) -> np.ndarray:
        """``n`` points ``(L0, L1)`` of the exact Pareto front, from ``p = 0`` to ``p = 1``."""
        n = _checks.integer("n", n, low=2)
        l0, l1, *_ = self._of_p(np.linspace(0.0, 1.0, n))
        return np.stack([l0, l1], -1)

    def theta_at(self, position) -> np.ndarray:
        """The parameters ``(x, 0)`` with ``x`` in ``[0, 1]`` where the knob equals ``position``."""
        position = np.asarray(position, dtype=float)
        if np.any((position < 0) | (position > 1)):
            raise ValueError(f"position must lie in [0, 1], got {position}")
        x = 2 / math.pi * np.arcsin(np.sqrt(position))
        return np.stack([x, np.zeros_like(x)], -1)

    def linear_optimum(self, alpha: float) -> float:
        """The knob ``p`` that minimizes ``L0 + alpha L1`` over the front (0 or 1 at an end).

        On a concave front the interior stationary point is a maximum along the front,
        so the minimum is always an end point.
        """
        alpha = _checks.nonnegative("alpha", alpha)
        c = self.waste
        if c < 1:
            p = (alpha * (2 - c) - c) / (2 * (1 - c) * (1 + alpha))
            return float(np.clip(p, 0.0, 1.0))
        l0, l1, *_ = self._of_p(np.array([0.0, 1.0]))
        ends = l0 + alpha * l1
        return 0.0 if ends[0] <= ends[1] else 1.0

    def stationary_position(self, alpha: float) -> float | None:
        """The knob ``p`` in (0, 1) where ``d(L0 + alpha L1)/dp = 0``, or None.

        A minimum of the combined loss on a convex front, a saddle point on a concave one.
        """
        alpha = _checks.nonnegative("alpha", alpha)
        c = self.waste
        if c == 1:
            return None
        p = (alpha * (2 - c) - c) / (2 * (1 - c) * (1 + alpha))
        return float(p) if 0 < p < 1 else None

    def constrained_optimum(self, epsilon: float) -> Optimum:
        """The solution of ``min L0 s.t. L1 <= epsilon``: the front point with ``L1 = epsilon``.

        Its multiplier is ``lambda* = -dL0/dL1`` along the front. For ``epsilon >= 1`` the
        constraint is inactive: ``p = 0``, ``lambda* = 0``.
        """
        epsilon = _checks.positive("epsilon", epsilon)
        c = self.waste
        if epsilon >= 1.0:
            p = 0.0
        elif c == 1:
            p = 1.0 - epsilon
        else:  # (1 - c) q^2 + c q = epsilon with q = 1 - p
            q = (-c + math.sqrt(c * c + 4 * (1 - c) * epsilon)) / (2 * (1 - c))
            p = 1.0 - q
        l0, l1, d0, d1, _ = self._of_p(p)
        multiplier = 0.0 if epsilon >= 1.0 else -d0 / d1
        return Optimum(self.theta_at(p), np.array([l0, l1]), float(multiplier), float(p))

    def combined(self, alpha: float) -> Surface:
        """``L0 + alpha L1`` as a :class:`course_lib.surfaces.Surface` (for the numpy engine)."""
        alpha = _checks.nonnegative("alpha", alpha)
        weights = np.array([1.0, alpha])

        def f(x, y):
            return self.losses(np.stack([x, y], -1)) @ weights

        def df(x, y):
            dp, _, d0, d1, _ = self._slopes(np.stack([x, y], -1))
            return (d0 + alpha * d1) * dp, 2 * (1 + alpha) * y

        def d2f(x, y):
            h = np.einsum("k,...kij->...ij", weights, self.hessians(np.stack([x, y], -1)))
            return h[..., 0, 0], h[..., 0, 1], h[..., 1, 1]

        ends = self.theta_at(np.array([0.0, 1.0]))
        best = ends[[np.argmin(self.losses(ends) @ weights)]]
        minimum = self.theta_at(self.linear_optimum(alpha))[None] if self.waste < 1 else best
        return Surface(f"{self.name or self.shape} L0 + {alpha:g} L1", f, df, d2f, minimum,
                       self.bounds)


def _torch_stack(tensors, dim):
    import torch

    return torch.stack(tensors, dim)


def two_objectives(waste: float) -> TwoObjectives:
    """The toy problem with ``waste`` in [0, 2]: convex front below 1, concave above."""
    return TwoObjectives(float(waste))


def convex_problem() -> TwoObjectives:
    """Waste 0: front ``sqrt(L0) + sqrt(L1) = 1`` (convex)."""
    return TwoObjectives(0.0, "convex")


def concave_problem() -> TwoObjectives:
    """Waste 1.5: a concave front from ``(0, 1)`` to ``(1, 0)`` through ``(0.625, 0.625)``."""
    return TwoObjectives(1.5, "concave")


# ------------------------------------------------------------------- the shared formulas
def multiplier_force(multiplier, violation, damping: float = 0.0, inequality: bool = True):
    """The weight ``f`` of ``grad g`` in the step on the parameters.

    ``f = lambda + c g`` (the damping ``c g`` is Platt & Barr's modification), clipped at 0
    for an inequality constraint ``g <= 0`` so that a point satisfying it with room to
    spare is not pulled back to the boundary. Works on numpy arrays and torch tensors.
    """
    force = multiplier + damping * violation
    return (force + abs(force)) / 2 if inequality else force


def multiplier_step(multiplier, violation, lr: float, inequality: bool = True):
    """Gradient *ascent* on the multiplier: ``lambda + lr g``, clipped at 0 for ``g <= 0``."""
    value = multiplier + lr * violation
    return (value + abs(value)) / 2 if inequality else value


# ------------------------------------------------------------------ numpy-engine methods
@dataclass
class Trajectory:
    """A run of one method from N starts.

    Attributes
    ----------
    theta : numpy.ndarray
        Shape ``(steps + 1, N, 2)``: the points.
    losses : numpy.ndarray
        Shape ``(steps + 1, N, 2)``: ``L0`` and ``L1`` along the way.
    multiplier : numpy.ndarray
        Shape ``(steps + 1, N)``: ``lambda`` (constant for the linear combination and the
        dual; 0 where unused).
    grad_evals : numpy.ndarray
        Integers, shape ``(N,)``: gradient evaluations spent by each start
        (hard-constraint-first spends extra ones).
    diverged_at : numpy.ndarray
        Integers, shape ``(N,)``: first step with a non-finite or huge value, -1 if never;
        the start is frozen there.
    method : str
    """

    theta: np.ndarray
    losses: np.ndarray
    multiplier: np.ndarray
    grad_evals: np.ndarray
    diverged_at: np.ndarray
    method: str

    @property
    def final(self) -> np.ndarray:
        """Last parameters of each start, shape (N, 2)."""
        return self.theta[-1]

    @property
    def final_losses(self) -> np.ndarray:
        """Last ``(L0, L1)`` of each start, shape (N, 2)."""
        return self.losses[-1]

    def select(self, starts) -> "Trajectory":
        """The runs of some starts only (an index or a boolean mask over the N starts)."""
        return Trajectory(self.theta[:, starts], self.losses[:, starts], self.multiplier[:, starts],
                          self.grad_evals[starts], self.diverged_at[starts], self.method)


def _freeze(theta, multiplier, bound):
    bad = ~np.isfinite(theta).all(-1) | (np.abs(theta) > bound).any(-1) | ~np.isfinite(multiplier)
    diverged = bad.any(0)
    diverged_at = np.where(diverged, np.argmax(bad, 0), -1)
    if diverged.any():
        last_good = np.where(diverged, np.maximum(diverged_at - 1, 0), len(theta) - 1)
        rows = np.minimum(np.arange(len(theta))[:, None], last_good[None])
        cols = np.arange(theta.shape[1])[None]
        theta, multiplier = theta[rows, cols], multiplier[rows, cols]
    return theta, multiplier, diverged_at


def _trajectory(problem, theta, multiplier, grad_evals, method, bound=1e3) -> Trajectory:
    with np.errstate(all="ignore"):
        theta, multiplier, diverged_at = _freeze(theta, multiplier, bound)
        losses = problem.losses(theta)
    return Trajectory(theta, losses, multiplier, grad_evals, diverged_at, method)


def _descend(rule, grad, theta, steps, restore=None, **hyper) -> np.ndarray:
    """The parameters (steps + 1, N, 2) of the numpy engine :func:`course_lib.descent.run`
    with gradient function ``grad``; divergence is left to :func:`_trajectory`."""
    return descent.run(rule, grad, theta, steps, bound=math.inf, restore=restore,
                       **hyper).trajectory


def linear_combination(problem: TwoObjectives, alpha, starts, steps: int, lr: float = 0.02,
                       rule="sgd", **hyper) -> Trajectory:
    """Descent on ``L0 + alpha L1`` from each start.

    ``alpha`` is a number or one weight per start (shape ``(N,)``), which lets a whole
    sweep of weights run as one batch. With one number this is exactly
    ``descent.run(rule, problem.combined(alpha), starts, steps, lr=lr)``.
    """
    theta = _check_starts(starts)
    alpha = np.broadcast_to(np.asarray(alpha, dtype=float), (len(theta),)).copy()
    if not (np.all(np.isfinite(alpha)) and np.all(alpha >= 0)):
        raise ValueError(f"alpha must be finite numbers >= 0, got {alpha}")
    weights = np.stack([np.ones_like(alpha), alpha], -1)

    def grad(theta):  # grad L0 + alpha grad L1, one alpha per start
        return np.einsum("nk,nki->ni", weights, problem.grads(theta))

    thetas = _descend(rule, grad, theta, steps, lr=lr, **hyper)
    multiplier = np.broadcast_to(alpha, thetas.shape[:2]).copy()
    return _trajectory(problem, thetas, multiplier, np.full(len(theta), steps), "linear combination")


def sweep_alpha(problem: TwoObjectives, alphas: Sequence[float], starts, steps: int = 1000,
                lr: float = 0.02) -> np.ndarray:
    """Final ``(L0, L1)`` of :func:`linear_combination` for each alpha and start: (A, N, 2)."""
    starts = _check_starts(starts)
    alphas = np.asarray(alphas, dtype=float)
    run = linear_combination(problem, np.repeat(alphas, len(starts)), np.tile(starts, (len(alphas), 1)),
                             steps, lr)
    return run.final_losses.reshape(len(alphas), len(starts), 2)


def find_multiplier(violation_at: Callable, low: float = 0.0, high: float = 10.0,
                    rounds: int = 4, points: int = 16) -> float:
    """The multiplier of "solve the dual", by repeated grid refinement (a batched bisection).

    ``violation_at(lams)`` takes an array of multipliers, minimizes ``L0 + lam L1`` for each
    and returns ``L1 - epsilon`` there (array). The violation falls as ``lam`` grows; the
    answer is the smallest ``lam`` where it is ``<= 0``. On a concave front the violation
    jumps across zero instead of crossing it, and the refinement homes in on the jump.
    Any engine fits: ``violation_at`` may train a PyTorch model once per multiplier.
    """
    low = _checks.nonnegative("low", low)
    high = _checks.positive("high", high)
    if not high > low:
        raise ValueError(f"high must exceed low, got low={low}, high={high}")
    points = _checks.integer("points", points, low=2)
    for _ in range(int(rounds)):
        grid = np.linspace(low, high, points)
        ok = np.asarray(violation_at(grid), dtype=float) <= 0
        if not ok[-1]:
            raise ValueError(f"the constraint is still violated at lambda = {high:g}; raise high")
        first = int(np.argmax(ok))
        if first == 0:
            return float(grid[0])
        low, high = float(grid[first - 1]), float(grid[first])
    return high


class DualSolution(NamedTuple):
    multiplier: float
    trajectory: Trajectory


def solve_dual(problem: TwoObjectives, epsilon: float, starts, steps: int = 1000,
               lr: float = 0.02, high: float = 4.0, rounds: int = 4,
               points: int = 16) -> DualSolution:
    """"Solve the dual": find ``lambda`` (:func:`find_multiplier`), then descend on
    ``L0 + lambda L1`` from each start.

    For each candidate multiplier the inner minimization keeps the best end point over
    ``starts`` (a global minimum as far as the starts can tell).
    """
    epsilon = _checks.positive("epsilon", epsilon)
    starts = _check_starts(starts)

    searched = []

    def violation_at(lams):
        searched.append(len(lams))
        final = sweep_alpha(problem, lams, starts, steps, lr)            # (K, N, 2)
        combined = final[..., 0] + lams[:, None] * final[..., 1]
        best = final[np.arange(len(lams)), np.argmin(combined, axis=1)]
        return best[:, 1] - epsilon

    lam = find_multiplier(violation_at, 0.0, high, rounds, points)
    run = linear_combination(problem, lam, starts, steps, lr)
    run.method = "solve the dual"
    run.grad_evals += steps * sum(searched)  # every candidate multiplier cost a full descent
    return DualSolution(lam, run)


def _check_budgets(epsilon, n: int) -> np.ndarray:
    epsilon = np.broadcast_to(np.asarray(epsilon, dtype=float), (n,)).copy()
    if not (np.all(np.isfinite(epsilon)) and np.all(epsilon > 0)):
        raise ValueError(f"epsilon must be positive finite numbers (one, or one per start), got {epsilon}")
    return epsilon


def hard_constraint_first(problem: TwoObjectives, epsilon, starts, steps: int,
                          lr: float = 0.02, max_inner: int = 200) -> Trajectory:
    """Each step: while ``L1 > epsilon`` descend on ``L1`` (at most ``max_inner`` times),
    then take one gradient step on ``L0``. The inner steps are counted in ``grad_evals``.

    ``epsilon`` is a number or one budget per start."""
    theta = _check_starts(starts)
    epsilon = _check_budgets(epsilon, len(theta))
    hyper = _rules.sgd.hyper(lr=lr)
    evals = np.zeros(len(theta), dtype=int)

    def restore(theta):  # descend on L1 where L1 > epsilon, at most max_inner times
        for _ in range(max_inner):
            violated = problem.losses(theta)[:, 1] > epsilon
            if not violated.any():
                return
            fixing = theta[violated]
            _rules.sgd.update(fixing, problem.grads(fixing)[:, 1], {}, _rules.NUMPY, **hyper)
            theta[violated] = fixing
            np.add(evals, violated, out=evals)

    def grad(theta):
        return problem.grads(theta)[:, 0]

    out = _descend("sgd", grad, theta, steps, restore, **hyper)
    evals += len(out) - 1
    return _trajectory(problem, out, np.zeros(out.shape[:2]), evals, "hard constraint first")


def differential_multipliers(problem: TwoObjectives, epsilon, starts, steps: int,
                             lr: float = 0.02, lr_multiplier: float = 1.0,
                             damping: float = 0.0, multiplier: float = 0.0,
                             rule="sgd", **hyper) -> Trajectory:
    """BDMM (``damping = 0``) or MDMM (``damping > 0``) for ``min L0 s.t. L1 <= epsilon``.

    One step, all starts at once (see :func:`multiplier_force`, :func:`multiplier_step`)::

        g      = L1(theta) - epsilon
        theta  = theta - lr (grad L0 + max(0, lambda + damping g) grad L1)   # rule's step
        lambda = max(0, lambda + lr_multiplier g)

    The parameter step is ``rule`` (plain gradient descent by default) applied to the
    gradient of the Lagrangian. ``epsilon`` is a number or one budget per start.
    """
    lr_multiplier = _checks.positive("lr_multiplier", lr_multiplier)
    damping = _checks.nonnegative("damping", damping)
    theta = _check_starts(starts)
    epsilon = _check_budgets(epsilon, len(theta))
    lams = [np.full(len(theta), _checks.nonnegative("multiplier", multiplier))]

    def grad(theta):  # of the Lagrangian in theta; then the ascent step on lambda
        violation = problem.losses(theta)[:, 1] - epsilon
        grads = problem.grads(theta)
        force = multiplier_force(lams[-1], violation, damping)
        lams.append(multiplier_step(lams[-1], violation, lr_multiplier))
        return grads[:, 0] + force[:, None] * grads[:, 1]

    thetas = _descend(rule, grad, theta, steps, lr=lr, **hyper)
    name = "MDMM" if damping > 0 else "BDMM"
    return _trajectory(problem, thetas, np.array(lams), np.full(len(theta), steps), name)


def bdmm(problem: TwoObjectives, epsilon, starts, steps: int, lr: float = 0.02,
         lr_multiplier: float = 1.0, **kwargs) -> Trajectory:
    """The basic differential method of multipliers (no damping)."""
    return differential_multipliers(problem, epsilon, starts, steps, lr, lr_multiplier, 0.0, **kwargs)


def mdmm(problem: TwoObjectives, epsilon, starts, steps: int, lr: float = 0.02,
         lr_multiplier: float = 1.0, damping: float = 10.0, **kwargs) -> Trajectory:
    """The modified differential method of multipliers (Platt & Barr 1988), damping ``c``."""
    if not damping > 0:
        raise ValueError(f"damping must be > 0 for MDMM (0 is BDMM), got {damping!r}")
    return differential_multipliers(problem, epsilon, starts, steps, lr, lr_multiplier, damping,
                                    **kwargs)


def settling_time(multiplier: np.ndarray, target: float, rtol: float = 0.05,
                  atol: float = 0.02) -> np.ndarray:
    """Steps until ``lambda`` enters the band ``|lambda - target| <= atol + rtol |target|``
    for good: shape ``multiplier.shape[1:]``; the run's length if it never settles."""
    multiplier = np.asarray(multiplier, dtype=float)
    outside = ~(np.abs(multiplier - target) <= atol + rtol * abs(target))
    last_outside = len(multiplier) - 1 - np.argmax(outside[::-1], axis=0)
    return np.where(outside.any(axis=0), last_outside + 1, 0)


_TORCH_NAMES = ("Constraint", "Lagrangian", "hard_constraint_first_step")


def __getattr__(name):
    # The torch side lives in constrained_torch: importing this module does not import torch.
    if name in _TORCH_NAMES:
        from . import constrained_torch

        return getattr(constrained_torch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_TORCH_NAMES])
