"""Trace estimators from matrix-vector products: Hutchinson's and Hutch++.

For a Rademacher vector z (entries +-1), :math:`E[z^\\top A z] = \\operatorname{tr} A`, so
the mean over m vectors is unbiased with variance :math:`2(\\lVert A\\rVert_F^2 -
\\sum_i A_{ii}^2)/m` (Hutchinson 1990). Hutch++ (Meyer, Musco, Musco & Woodruff 2021)
takes the top of the spectrum exactly on a sketch and Hutchinson on the rest; its error
falls like 1/m instead of :math:`1/\\sqrt m` when few eigenvalues dominate.

:func:`hutchinson` and :func:`hutch_plus_plus` take any symmetric ``apply(v)``;
:func:`trace` applies them to a model's Hessian or any
:class:`~course_lib.hessian.CurvatureOperator`.
"""
from __future__ import annotations

from typing import Callable

import torch

from course_lib import _checks
from course_lib.hessian.operator import _basis_dtype, _operator

__all__ = ["hutchinson", "hutch_plus_plus", "trace"]

Apply = Callable[[torch.Tensor], torch.Tensor]


def _rademacher(gen: torch.Generator, count: int, n: int, device, dtype) -> torch.Tensor:
    """``count`` Rademacher rows of length n, drawn on the CPU (same vectors on every device)."""
    return (torch.randint(0, 2, (count, n), generator=gen).to(dtype) * 2 - 1).to(device)


def hutchinson(apply: Apply, n: int, num_hvps: int, *, device="cpu",
               dtype: torch.dtype = torch.float64, seed: int = 0) -> float:
    """:math:`\\frac1m \\sum_{i=1}^m z_i^\\top A z_i` with m = ``num_hvps`` Rademacher vectors.

    >>> A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    >>> hutchinson(lambda v: A @ v, 3, num_hvps=4)      # exact for a diagonal matrix
    6.0
    """
    _checks.integer("num_hvps", num_hvps, 1)
    gen = torch.Generator().manual_seed(int(seed))
    z = _rademacher(gen, num_hvps, n, device, dtype)
    return float(torch.stack([zi @ apply(zi) for zi in z]).mean())


def hutch_plus_plus(apply: Apply, n: int, num_hvps: int, *, device="cpu",
                    dtype: torch.dtype = torch.float64, seed: int = 0) -> float:
    """Hutch++ with m = ``num_hvps`` products, s = m // 3 of them for the sketch.

    With :math:`Q = \\operatorname{orth}(AS)` for a Rademacher sketch
    :math:`S \\in \\mathbb{R}^{n\\times s}` and the remaining g = m - 2s Rademacher vectors:

    .. math:: \\operatorname{tr}(Q^\\top A Q) + \\frac1g \\sum_i
              g_i^\\top (I-QQ^\\top) A (I-QQ^\\top) g_i.

    >>> A = torch.diag(torch.tensor([100.0, 1.0, 1.0, 1.0], dtype=torch.float64))
    >>> round(hutch_plus_plus(lambda v: A @ v, 4, num_hvps=6), 6)
    103.0
    """
    _checks.integer("num_hvps", num_hvps, 3)
    gen = torch.Generator().manual_seed(int(seed))
    s = min(num_hvps // 3, n)
    g = num_hvps - 2 * s
    sketch = torch.stack([apply(si) for si in _rademacher(gen, s, n, device, dtype)], dim=1)  # A S
    Q, _ = torch.linalg.qr(sketch)                                                           # n x s
    top = sum(float(Q[:, i] @ apply(Q[:, i])) for i in range(Q.shape[1]))
    G = _rademacher(gen, g, n, device, dtype).T
    G = G - Q @ (Q.T @ G)
    rest = float(torch.stack([G[:, i] @ apply(G[:, i]) for i in range(g)]).mean())
    return top + rest


def trace(model, loss_fn=None, data=None, *, method: str = "hutch++", num_hvps: int = 99,
          seed: int = 0) -> float:
    """Estimate :math:`\\operatorname{tr} H` from ``num_hvps`` Hessian-vector products.

    * ``"hutchinson"``: :math:`\\frac1m \\sum_i z_i^\\top H z_i` with Rademacher :math:`z_i`
      (unbiased, variance :math:`2\\lVert H\\rVert_F^2/m` minus the diagonal part).
    * ``"hutch++"`` (default): with ``s = num_hvps // 3``, :math:`Q = \\operatorname{orth}(HS)`
      for a Rademacher sketch :math:`S \\in \\mathbb{R}^{n\\times s}`; then
      :math:`\\operatorname{tr}(Q^\\top H Q) + \\frac1g \\sum_i g_i^\\top (I-QQ^\\top) H (I-QQ^\\top) g_i`
      with the remaining ``g = num_hvps - 2s`` Rademacher vectors. Unbiased; its error
      falls like :math:`1/m` instead of :math:`1/\\sqrt m` when few eigenvalues dominate.

    ``model`` may also be a :class:`~course_lib.hessian.CurvatureOperator` (then give
    neither ``loss_fn`` nor ``data``).

    Examples
    --------
    >>> model = torch.nn.Linear(3, 1)
    >>> x, y = torch.randn(50, 3), torch.randn(50, 1)
    >>> est = trace(model, torch.nn.functional.mse_loss, (x, y), num_hvps=12)
    """
    op = _operator(model, loss_fn, data)
    methods = {"hutch++": hutch_plus_plus, "hutchinson": hutchinson}
    _checks.one_of("method", method, tuple(methods))
    return methods[method](op.apply, op.n, num_hvps, device=op.device, dtype=_basis_dtype(op),
                           seed=seed)
