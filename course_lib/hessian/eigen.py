"""Extreme eigenpairs by thick-restart Lanczos with full reorthogonalization.

The Ritz pairs :math:`(\\vartheta, y)` of the Lanczos basis (:mod:`course_lib.hessian.lanczos`)
converge first at the ends of the spectrum. A pair is accepted when its residual
:math:`r = \\lVert Ay - \\vartheta y\\rVert = \\beta\\,|s_{j}|` (``s_j`` the last component of
its eigenvector in the small matrix, so known for free) is at most ``tol``
:math:`\\cdot |\\vartheta|`: some eigenvalue of A then lies within r of :math:`\\vartheta`
(ARPACK's criterion). When the basis is full, it restarts from the best Ritz vectors.
Power iteration, which PyHessian uses, converges at the rate :math:`\\lambda_2/\\lambda_1`
instead of Lanczos's Chebyshev rate.

:func:`lanczos_eigenpairs` takes any symmetric ``apply(v)``; :func:`top_eigenvalues` and
:func:`bottom_eigenvalues` apply it to a model's Hessian or to any
:class:`~course_lib.hessian.CurvatureOperator`.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, NamedTuple

import numpy as np
import torch

from course_lib import _checks
from course_lib.hessian.lanczos import _Krylov, _random_vector
from course_lib.hessian.operator import CurvatureOperator, _basis_dtype, _operator

__all__ = ["Eigen", "lanczos_eigenpairs", "top_eigenvalues", "bottom_eigenvalues"]


class Eigen(NamedTuple):
    """Eigenvalues (numpy float64, shape (k,)) and unit eigenvectors (torch, shape (k, n)).

    ``vectors[i]`` belongs to ``values[i]``; it is flat, in ``model.parameters()`` order, on
    the model's device in the parameters' dtype. Their residual
    :math:`\\lVert Hy-\\vartheta y\\rVert` is at most about ``tol`` :math:`|\\vartheta|`.
    """

    values: np.ndarray
    vectors: torch.Tensor


def _basis_size(ncv, k: int, n: int, which: str, itemsize: int) -> int:
    """The Lanczos basis size before a restart: given, or ``max(2k+1, 20 or 40)`` within 1 GiB."""
    if ncv is None:
        # Eigenvalues at the bottom sit in the dense bulk near zero and need a larger basis to
        # converge; the basis is capped at 1 GiB for large models.
        ncv = max(2 * k + 1, 20 if which == "largest" else 40)
        ncv = max(min(ncv, 2 ** 30 // (itemsize * n)), k + 1)
    ncv = int(ncv)
    if ncv <= k and ncv < n:
        raise ValueError(f"ncv (the Lanczos basis size) must exceed k={k}, got {ncv}")
    return min(ncv, n)


def _start_vector(n: int, seed: int, device, dtype, start) -> torch.Tensor:
    """A random unit vector, plus ``start`` normalized to unit length when one is given."""
    v0 = _random_vector(n, seed, device, dtype)
    v0 = v0 / torch.linalg.vector_norm(v0)
    if start is not None:
        # random + start (unit norms each): the random half keeps every direction present.
        guess = torch.as_tensor(start)
        if guess.shape != (n,):
            raise ValueError(f"start must have shape ({n},), got {tuple(guess.shape)}")
        guess = guess.to(device=device, dtype=dtype)
        norm = float(torch.linalg.vector_norm(guess))
        if math.isfinite(norm) and norm > 0:
            v0 = v0 + guess / norm
    return v0


def _iterate(krylov: _Krylov, k: int, tol: float, which: str, eps: float, max_hvps: int):
    """Extend, test the k wanted Ritz pairs, restart when full.

    Returns ``(theta, S, wanted, converged)``: the Ritz values and vectors of the small matrix,
    the indices of the k wanted ones, and whether their residuals met ``tol``.
    """
    ncv = krylov.capacity
    while True:
        krylov.extend()
        theta, S = krylov.ritz()
        order = np.argsort(theta)
        order = order[::-1] if which == "largest" else order
        wanted = order[:k]
        # products carry the rounding error of their dtype: residuals below this are noise
        floor = 100 * eps * float(np.abs(theta).max())
        krylov.noise = floor
        if krylov.exhausted:
            return theta, S, wanted, True
        if len(wanted) == k:
            # The residual r = |beta * last component| bounds the distance from the Ritz
            # value to the nearest eigenvalue (a rigorous bound, as in ARPACK).
            bound = krylov.beta * np.abs(S[krylov.j - 1])[wanted]
            if np.all(bound <= np.maximum(tol * np.abs(theta[wanted]), floor)):
                return theta, S, wanted, True
        if krylov.hvps >= max_hvps:
            return theta, S, wanted, False
        if krylov.j == ncv:
            keep = order[:max(k, min(ncv - 1, k + (ncv - k) // 2))]
            krylov.restart(theta, S, keep)


def lanczos_eigenpairs(apply: Callable[[torch.Tensor], torch.Tensor], n: int, k: int = 1,
                       tol: float = 1e-3, which: str = "largest", *, device="cpu",
                       dtype: torch.dtype = torch.float64, eps: float | None = None,
                       ncv: int | None = None, max_hvps: int | None = None, seed: int = 0,
                       start=None, stacklevel: int = 2) -> Eigen:
    """The k largest (``which="largest"``) or smallest eigenpairs of a symmetric n x n matrix A.

    ``apply(v)`` returns :math:`Av` for a flat tensor ``v`` of length n, of ``dtype`` on
    ``device`` (the basis's). ``eps`` is the relative rounding error of one product (default
    ``dtype``'s machine epsilon): residuals below ``100 eps max|theta|`` count as zero.
    ``start`` (a flat vector) is added, normalized, to the random start. The other
    parameters are those of :func:`top_eigenvalues`. Values are sorted from the wanted end.

    Examples
    --------
    >>> A = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
    >>> lanczos_eigenpairs(lambda v: A @ v, 10, k=2, tol=1e-10).values
    array([10.,  9.])
    """
    _checks.integer("k", k, 1, n)
    _checks.number("tol", tol, 0, 1, low_open=True, high_open=True,
                   requirement="a relative tolerance in (0, 1)")
    _checks.one_of("which", which, ("largest", "smallest"))
    eps = torch.finfo(dtype).eps if eps is None else eps
    ncv = _basis_size(ncv, k, n, which, dtype.itemsize)
    max_hvps = max(1000, 10 * ncv) if max_hvps is None else int(max_hvps)
    if max_hvps < 1:
        raise ValueError(f"max_hvps must be positive, got {max_hvps}")
    v0 = _start_vector(n, seed, device, dtype, start)
    krylov = _Krylov(apply, v0, ncv, noise=0.0, seed=seed)
    theta, S, wanted, converged = _iterate(krylov, k, tol, which, eps, max_hvps)
    if not converged:
        warnings.warn(f"Lanczos did not reach tol={tol} within max_hvps={max_hvps} products; "
                      "the eigenvalues returned are the best estimates", RuntimeWarning,
                      stacklevel=stacklevel)
    return Eigen(theta[wanted].copy(), krylov.vectors(S[:, wanted]))


def _extreme_eigenpairs(op: CurvatureOperator, k: int, tol: float, which: str, ncv, max_hvps,
                        seed, start=None) -> Eigen:
    """:func:`lanczos_eigenpairs` of a curvature operator, ``start="gradient"`` resolved."""
    if isinstance(start, str):
        if start != "gradient":
            raise ValueError(f"start must be None, 'gradient' or a flat vector, got {start!r}")
        start = op.gradient()
    values, vectors = lanczos_eigenpairs(
        op.apply, op.n, k, tol, which, device=op.device, dtype=_basis_dtype(op),
        eps=torch.finfo(op.param_dtype).eps, ncv=ncv, max_hvps=max_hvps, seed=seed,
        start=start, stacklevel=4)
    return Eigen(values, vectors.to(op.param_dtype))


def top_eigenvalues(model, loss_fn=None, data=None, k: int = 1, tol: float = 1e-3, *,
                    ncv: int | None = None, max_hvps: int | None = None, seed: int = 0,
                    start=None) -> Eigen:
    """The k largest (algebraic) eigenvalues of the Hessian, in descending order, with eigenvectors.

    Parameters
    ----------
    model : torch.nn.Module or CurvatureOperator
        The network (or a ready operator, then give neither ``loss_fn`` nor ``data``: a
        :class:`HessianOperator`, or a GGN or empirical Fisher of
        :mod:`course_lib.gauss_newton`, whose eigenvalues are then returned).
    loss_fn, data :
        See the module docstring.
    k : int
        How many eigenvalues, 1 <= k <= n.
    tol : float
        Relative accuracy of each eigenvalue, in (0, 1): Lanczos stops when every residual
        :math:`r \\le tol\\,|\\vartheta|` (see the module docstring); residuals below the
        rounding level of the model's dtype (100 eps :math:`\\lambda_{max}`) count as zero.
        This bound is rigorous and pessimistic: an eigenvalue a gap :math:`\\delta` away from
        the others is in error by about :math:`r^2/\\delta`, so ``tol=1e-2`` (with
        ``start="gradient"``: 12-13 products instead of 16-17) still gave the top-5 of a
        trained MLP to 2e-4. The rigorous bound is the default because a cluster of
        eigenvalues that Lanczos has not yet resolved looks like one well-separated eigenvalue.
    ncv : int, optional
        Size of the Lanczos basis before a thick restart: default ``max(2k+1, 20)`` here,
        ``max(2k+1, 40)`` in :func:`bottom_eigenvalues`, lowered to fit 1 GiB; memory is
        ``ncv * n`` numbers on the model's device (float64 for a float64 model, else float32).
    max_hvps : int, optional
        Give up (with a ``RuntimeWarning``) after this many products (default
        ``max(1000, 10 ncv)``).
    seed : int
        Seed of the random starting vector.
    start : None, "gradient" or flat tensor, optional
        Added (normalized) to the random start. A previous eigenvector (say, of the same model
        a few training steps earlier) saves most products. ``"gradient"`` uses the gradient,
        which after some training lies mostly in the span of the top ~C eigenvectors
        (C classes; Gur-Ari, Roberts & Dyer 2018): it saved 2 of 16 products for the top-5 of
        a trained MLP but cost 3 more for the top-1 of a CNN, whose gradient weighs the
        eigenvalues just below the top, so it is not the default.

    Returns
    -------
    Eigen
        ``(values, vectors)``: ``values[0]`` is :math:`\\lambda_{max}`, the sharpness of
        the minimum in the sense of the largest curvature.

    Examples
    --------
    >>> model = torch.nn.Linear(3, 1)
    >>> x, y = torch.randn(50, 3), torch.randn(50, 1)
    >>> values, vectors = top_eigenvalues(model, torch.nn.functional.mse_loss, (x, y), k=2)
    >>> vectors.shape
    torch.Size([2, 4])
    """
    return _extreme_eigenpairs(_operator(model, loss_fn, data), k, tol, "largest", ncv, max_hvps,
                               seed, start)


def bottom_eigenvalues(model, loss_fn=None, data=None, k: int = 1, tol: float = 1e-3, *,
                       ncv: int | None = None, max_hvps: int | None = None, seed: int = 0,
                       start=None) -> Eigen:
    """The k smallest (most negative) eigenvalues of the Hessian, ascending, with eigenvectors.

    Same parameters as :func:`top_eigenvalues`. A negative ``values[0]`` proves the point is
    not a minimum. Eigenvalues in the middle of a dense bulk near zero converge more slowly
    than the isolated top ones; raise ``ncv`` if ``max_hvps`` is reached.
    """
    return _extreme_eigenpairs(_operator(model, loss_fn, data), k, tol, "smallest", ncv, max_hvps,
                               seed, start)

