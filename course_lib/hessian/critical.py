"""Critical points: their kind from the Hessian's eigenvalues, and the escape from a saddle.

At a point where the gradient vanishes, :math:`L(\\theta^*+\\delta) \\approx L(\\theta^*) +
\\frac12 \\delta^\\top H \\delta`: the signs of H's eigenvalues decide between a minimum,
a maximum and a saddle (:func:`classify`, :func:`minimum_ratio`; they take eigenvalues from
anywhere, e.g. ``np.linalg.eigvalsh(surface.hessian(xy))`` for the 2-D surfaces of
:mod:`course_lib.surfaces`), and the eigenvector of a negative eigenvalue is a direction in
which the loss decreases (:func:`escape_direction`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from course_lib import _checks
from course_lib.hessian.eigen import bottom_eigenvalues
from course_lib.hessian.operator import HessianOperator
from course_lib.hessian.parameters import (_evaluate_loss, load_parameter_vector,
                                           parameter_vector)

__all__ = ["CRITICAL_POINT_KINDS", "classify", "minimum_ratio", "Escape", "escape_direction"]

CRITICAL_POINT_KINDS = ("minimum", "maximum", "saddle", "degenerate")


def _eigenvalue_array(eigenvalues) -> np.ndarray:
    lam = _checks.finite_array("eigenvalues", eigenvalues, np.float64)
    if lam.ndim == 0:
        lam = lam.reshape(1)
    if lam.shape[-1] == 0:
        raise ValueError("eigenvalues must not be empty")
    return lam


def classify(eigenvalues, tol: float | None = None):
    """Kind of a critical point from the Hessian's eigenvalues (last axis).

    With the second-order Taylor expansion :math:`L(\\theta^*+\\delta) \\approx L(\\theta^*) +
    \\frac12 \\delta^\\top H \\delta` at a point where the gradient vanishes:

    * ``"minimum"``: every eigenvalue > tol;
    * ``"maximum"``: every eigenvalue < -tol;
    * ``"saddle"``: at least one > tol and one < -tol (whatever the others);
    * ``"degenerate"``: otherwise, i.e. some eigenvalues lie within tol of zero and the rest
      share one sign: the second order cannot decide (the monkey saddle
      :math:`x^3-3xy^2` at 0 has H = 0).

    Parameters
    ----------
    eigenvalues : array_like, shape (..., d)
        Eigenvalues, not a Hessian: for a 2-D surface pass
        ``np.linalg.eigvalsh(surface.hessian(xy))``, which also works on a grid of points.
    tol : float, optional
        Eigenvalues with :math:`|\\lambda| \\le tol` count as zero. Default:
        ``1e-6 * max|lambda|`` per point (float32 Hessians carry errors of that size).

    Returns
    -------
    str for one point (1-D input), else an array of str of shape ``(...)``.

    Examples
    --------
    >>> classify([2.0, 1.0]), classify([2.0, -1.0]), classify([0.0, 0.0])
    ('minimum', 'saddle', 'degenerate')
    """
    lam = _eigenvalue_array(eigenvalues)
    if tol is None:
        tol_arr = 1e-6 * np.abs(lam).max(axis=-1, keepdims=True)
    else:
        tol_arr = _checks.nonnegative("tol", tol)
    positive = (lam > tol_arr).sum(axis=-1)
    negative = (lam < -tol_arr).sum(axis=-1)
    d = lam.shape[-1]
    kind = np.full(positive.shape, "degenerate", dtype=object)
    kind[positive == d] = "minimum"
    kind[negative == d] = "maximum"
    kind[(positive > 0) & (negative > 0)] = "saddle"
    return str(kind.item()) if kind.ndim == 0 else kind.astype(str)


def minimum_ratio(eigenvalues, tol: float = 0.0):
    """Share of eigenvalues above ``tol``: :math:`\\#\\{\\lambda_i > tol\\}/d` (last axis).

    1 at a strict minimum, 0 at a maximum; Dauphin et al. (2014) and the course plot it
    against the training loss to show that low-loss critical points of networks are
    mostly saddles of few descent directions. Returns a float for 1-D input.
    """
    lam = _eigenvalue_array(eigenvalues)
    _checks.finite("tol", tol)
    ratio = (lam > tol).mean(axis=-1)
    return float(ratio) if ratio.ndim == 0 else ratio


class Escape(NamedTuple):
    """Result of :func:`escape_direction`.

    ``direction`` (flat unit tensor, sign chosen so that it does not go uphill to first
    order), ``eigenvalue`` (the most negative one), ``step`` (the tried step with the lowest
    loss), ``decrease`` :math:`L(\\theta) - L(\\theta + step\\cdot u)` (> 0 when it escaped),
    ``predicted`` the second-order prediction :math:`-(step\\, g^\\top u + \\frac12 step^2 \\lambda)`,
    ``steps`` and ``decreases`` for every step tried.
    """

    direction: torch.Tensor
    eigenvalue: float
    step: float
    decrease: float
    predicted: float
    steps: np.ndarray
    decreases: np.ndarray


def escape_direction(model, loss_fn, data, *, steps=None, tol: float = 1e-3, seed: int = 0) -> Escape:
    """Step from a (near-)critical point along the eigenvector of the most negative eigenvalue.

    At a saddle the gradient vanishes but :math:`L(\\theta + t u) \\approx L(\\theta) +
    \\frac12 t^2 \\lambda_{min} < L(\\theta)` along the eigenvector u of
    :math:`\\lambda_{min} < 0`: the loss decreases whichever way we go, by
    :math:`\\frac12 t^2|\\lambda_{min}|` to second order. The sign of u is chosen so that
    :math:`g^\\top u \\le 0`. The actual loss is evaluated for each of ``steps`` (distances in
    parameter space; default ``np.geomspace(1e-3, 1, 13)``) and the model's parameters are
    restored afterwards. If :math:`\\lambda_{min} \\ge 0` no direction of negative curvature
    exists and ``decrease`` will typically be negative.
    """
    op = HessianOperator(model, loss_fn, data)
    values, vectors = bottom_eigenvalues(op, k=1, tol=tol, seed=seed)
    u = vectors[0] / torch.linalg.vector_norm(vectors[0])
    g = op.gradient()
    slope = float(g @ u)
    if slope > 0:
        u, slope = -u, -slope
    steps = np.geomspace(1e-3, 1.0, 13) if steps is None else np.asarray(steps, dtype=np.float64).reshape(-1)
    if steps.size == 0 or not np.all(np.isfinite(steps)) or np.any(steps <= 0):
        raise ValueError("steps must be a non-empty array of positive step lengths")
    theta = parameter_vector(model)
    base = op.loss
    decreases = np.empty(steps.size)
    try:
        for i, t in enumerate(steps):
            load_parameter_vector(model, theta + float(t) * u)
            decreases[i] = base - _evaluate_loss(model, loss_fn, data)
    finally:
        load_parameter_vector(model, theta)
    best = int(np.argmax(decreases))
    lam = float(values[0])
    t = float(steps[best])
    return Escape(u, lam, t, float(decreases[best]), -(t * slope + 0.5 * t * t * lam), steps, decreases)
