"""Spectral density by stochastic Lanczos quadrature (SLQ; Ghorbani, Krishnan & Xiao 2019).

m steps of Lanczos from a unit vector v give a tridiagonal matrix whose eigenpairs
:math:`(\\vartheta_i, s_i)` define an m-point Gauss quadrature of the spectral measure of A
seen from v: :math:`v^\\top g(A) v \\approx \\sum_i s_{i1}^2\\, g(\\vartheta_i)`. With a
Rademacher v, :math:`E[v^\\top g(A) v]/n = \\frac1n\\sum_j g(\\lambda_j)`; replacing the
point masses by Gaussians of width :math:`\\sigma` gives a smooth density

.. math:: \\phi(t) = \\frac{1}{runs}\\sum_{runs}\\sum_i s_{i1}^2\\,
          \\mathcal N(t;\\, \\vartheta_i, \\sigma^2).

:func:`slq` takes any symmetric ``apply(v)``; :func:`density` applies it to a model's
Hessian or any :class:`~course_lib.hessian.CurvatureOperator`.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import torch

from course_lib import _checks
from course_lib.hessian.lanczos import _Krylov, _random_vector
from course_lib.hessian.operator import _basis_dtype, _operator

__all__ = ["Density", "slq", "density"]


class Density(NamedTuple):
    """Spectral density estimate: ``density`` on ``grid`` integrates to 1.

    ``ritz_values`` and ``ritz_weights`` (shape ``(runs, steps)``) are the nodes and weights
    of the Gauss quadrature each Lanczos run defines; each row of weights sums to 1.
    """

    grid: np.ndarray
    density: np.ndarray
    ritz_values: np.ndarray
    ritz_weights: np.ndarray



def _quadrature(apply, n: int, steps: int, runs: int, device, dtype, eps: float, seed: int):
    """Nodes and weights, shape ``(runs, steps)``: ``runs`` Lanczos runs of ``steps`` products."""
    values, weights = [], []
    for run in range(runs):
        v0 = _random_vector(n, seed + 1000 * run, device, dtype, rademacher=True)
        krylov = _Krylov(apply, v0, steps, noise=0.0, seed=seed + 1000 * run + 1)
        for _ in range(steps):
            krylov.extend()
            krylov.noise = 100 * eps * float(np.abs(np.diag(krylov.P)[:krylov.j]).max())
        theta, S = krylov.ritz()
        values.append(theta)
        weights.append(S[0] ** 2)
    return np.array(values), np.array(weights)


def _smoothed(values: np.ndarray, weights: np.ndarray, points: int, sigma) -> Density:
    """The quadrature's point masses as Gaussians of width sigma, on a grid padded by 5 sigma."""
    low, high = float(values.min()), float(values.max())
    if sigma is None:
        sigma = (high - low) / 100 if high > low else max(abs(high), 1.0) * 1e-2
    grid = np.linspace(low - 5 * sigma, high + 5 * sigma, points)
    z = (grid[None, None, :] - values[..., None]) / sigma
    kernel = np.exp(-0.5 * z ** 2) / (sigma * math.sqrt(2 * math.pi))
    phi = (weights[..., None] * kernel).sum(axis=1).mean(axis=0)
    return Density(grid, phi, values, weights)


def slq(apply: Callable[[torch.Tensor], torch.Tensor], n: int, steps: int = 100, runs: int = 1,
        points: int = 1000, sigma: float | None = None, *, device="cpu",
        dtype: torch.dtype = torch.float64, eps: float | None = None, seed: int = 0) -> Density:
    """Spectral density of a symmetric n x n matrix A from ``runs`` x ``steps`` products.

    ``apply(v)`` returns :math:`Av` for a flat tensor of length n, of ``dtype`` on
    ``device``; ``eps`` is the relative rounding error of one product (default ``dtype``'s
    machine epsilon). ``steps`` is capped at n. The other parameters are those of
    :func:`density`.

    >>> A = torch.diag(torch.tensor([-1.0, 2.0, 2.0, 5.0], dtype=torch.float64))
    >>> slq(lambda v: A @ v, 4, steps=4).ritz_values.round(6)  # n steps: the whole spectrum
    array([[-1.,  2.,  2.,  5.]])
    """
    for name, value, low in (("steps", steps, 1), ("runs", runs, 1), ("points", points, 2)):
        _checks.integer(name, value, low)
    if sigma is not None:
        _checks.positive("sigma", sigma)
    eps = torch.finfo(dtype).eps if eps is None else eps
    values, weights = _quadrature(apply, n, min(steps, n), runs, device, dtype, eps, seed)
    return _smoothed(values, weights, points, sigma)


def density(model, loss_fn=None, data=None, *, steps: int = 100, runs: int = 1,
            points: int = 1000, sigma: float | None = None, seed: int = 0) -> Density:
    """Eigenvalue density of the Hessian by stochastic Lanczos quadrature (SLQ).

    Each run starts Lanczos from a normalized Rademacher vector v and takes ``steps`` HVPs.
    The eigenpairs :math:`(\\vartheta_i, s_i)` of the tridiagonal matrix give the quadrature
    :math:`v^\\top g(H) v \\approx \\sum_i s_{i1}^2 g(\\vartheta_i)`, so the density is

    .. math:: \\phi(t) = \\frac{1}{runs}\\sum_{runs}\\sum_i s_{i1}^2\\,
              \\mathcal N(t;\\, \\vartheta_i, \\sigma^2).

    ``sigma`` defaults to 1/100 of the range of the Ritz values; ``grid`` spans that range
    padded by 5 sigma, with ``points`` points. The largest Ritz value converges to
    :math:`\\lambda_{max}` within a few dozen steps.

    ``model`` may also be a :class:`~course_lib.hessian.CurvatureOperator` (then give
    neither ``loss_fn`` nor ``data``).
    """
    op = _operator(model, loss_fn, data)
    return slq(op.apply, op.n, steps, runs, points, sigma, device=op.device,
               dtype=_basis_dtype(op), eps=torch.finfo(op.param_dtype).eps, seed=seed)
