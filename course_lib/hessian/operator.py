"""Curvature matrices as linear operators: the Hessian-vector product and its operator class.

Pearlmutter's trick gives :math:`Hv = \\nabla_\\theta(\\nabla_\\theta L \\cdot v)` for the
cost of about two backward passes, without forming H. :class:`CurvatureOperator` is the
base of every n x n curvature matrix of the training loss (this Hessian, the GGN and the
empirical Fisher of :mod:`course_lib.gauss_newton`): a subclass supplies the product, the
estimators of :mod:`course_lib.hessian` take any of them (or any function ``apply(v)``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from course_lib import _checks, mlp_hessian
from course_lib.hessian.parameters import (_as_batches, _batches_on_device, _checked_loss,
                                           _eval_mode, _evaluate_loss, _split, _trainable)

__all__ = ["FULL_HESSIAN_MAX_PARAMS", "hvp", "CurvatureOperator", "HessianOperator",
           "full_hessian"]

#: The largest model (number of trainable parameters) :func:`full_hessian` accepts: its
#: n x n float64 matrix then takes at most 200 MB and n HVPs.
FULL_HESSIAN_MAX_PARAMS = 5000


def _hvp_from_grads(grads, params, vs) -> list:
    # Blocks whose gradient does not depend on any parameter contribute nothing: autograd
    # refuses outputs without a graph, so they are left out instead of failing.
    pairs = [(g, v) for g, v in zip(grads, vs) if g.requires_grad]
    if not pairs:
        return [torch.zeros_like(p) for p in params]
    hv = torch.autograd.grad([g for g, _ in pairs], params, grad_outputs=[v for _, v in pairs],
                             retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if h is None else h for h, p in zip(hv, params)]


def _gradients(loss, params, create_graph: bool = True) -> list:
    grads = torch.autograd.grad(loss, params, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]


def hvp(loss_fn: Callable[[], torch.Tensor], params, v):
    """Hessian-vector product :math:`Hv = \\nabla_\\theta(\\nabla_\\theta L \\cdot v)` (Pearlmutter 1994).

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn()`` computes the scalar loss :math:`L(\\theta)` from ``params``.
    params : sequence of tensors or torch.nn.Module
        The variables :math:`\\theta` (a module stands for its trainable parameters).
    v : tensor or sequence of tensors
        One flat tensor of length n, or one tensor per parameter with its shape.

    Returns
    -------
    Hv in the form of ``v`` (flat tensor, or a list of tensors).

    Examples
    --------
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> hvp(lambda: (w ** 3).sum(), [w], torch.tensor([1.0, 1.0]))   # diag(6 w) v
    tensor([ 6., 12.])
    """
    params = _trainable(params) if isinstance(params, torch.nn.Module) else list(params)
    if not params or not all(isinstance(p, torch.Tensor) and p.requires_grad for p in params):
        raise ValueError("params must be a non-empty sequence of tensors with requires_grad=True")
    flat = isinstance(v, torch.Tensor)
    n = sum(p.numel() for p in params)
    if flat:
        if v.shape != (n,):
            raise ValueError(f"v must have shape ({n},) or one tensor per parameter, got {tuple(v.shape)}")
        vs = _split(v.to(device=params[0].device, dtype=params[0].dtype), params)
    else:
        vs = [torch.as_tensor(t).to(device=p.device, dtype=p.dtype) for t, p in zip(v, params)]
        if len(vs) != len(params) or any(t.shape != p.shape for t, p in zip(vs, params)):
            raise ValueError("v must hold one tensor per parameter, each of the parameter's shape")
    loss = _checked_loss(loss_fn())
    hv = _hvp_from_grads(_gradients(loss, params), params, vs)
    return torch.cat([h.reshape(-1) for h in hv]) if flat else hv


class CurvatureOperator(LinearOperator):
    """A symmetric n x n curvature matrix of the training loss, applied without forming it.

    The estimators of :mod:`course_lib.hessian` (:func:`top_eigenvalues`,
    :func:`bottom_eigenvalues`, :func:`trace`, :func:`density`, :func:`full_hessian`) take
    any subclass in place of
    ``(model, loss_fn, data)``: :class:`HessianOperator` here, the generalized Gauss-Newton
    matrix and the empirical Fisher in :mod:`course_lib.gauss_newton`. ``op @ x`` (numpy,
    float64) and ``op.apply(v)`` (torch, on the model's device) compute the product.

    A subclass implements ``_product(vs)`` (``vs``: one tensor per trainable parameter, with
    its shape; returns the product in the same form) and ``gradient()``, and sets ``loss``.
    The parameters must not change while the operator is in use.

    Attributes
    ----------
    n : int
        Number of trainable parameters. ``shape == (n, n)``.
    num_hvps : int
        Matrix-vector products computed so far (Hessian-vector products for the Hessian).
    loss : float
        :math:`L(\\theta)` at construction.
    """

    def __init__(self, model, loss_fn, data, cache: bool | None = None):
        self.params = _trainable(model)
        self.n = sum(p.numel() for p in self.params)
        super().__init__(dtype=np.dtype(np.float64), shape=(self.n, self.n))
        self.model, self.loss_fn = model, loss_fn
        self.device, self.param_dtype = self.params[0].device, self.params[0].dtype
        self.batches = _as_batches(data)
        self.cache = (isinstance(self.batches, list) and len(self.batches) == 1) if cache is None else bool(cache)
        self.num_hvps = 0
        # One flat input buffer with a view per parameter: copying v into it is cheaper than
        # splitting v at every product (which matters for small models and long Lanczos runs).
        self._buffer = torch.empty(self.n, device=self.device, dtype=self.param_dtype)
        self._views = _split(self._buffer, self.params)

    def _mlp_curvature(self, engine: str):
        """The layer-by-layer engine when ``engine`` and the model allow it, else None."""
        _checks.one_of("engine", engine, ("auto", "mlp", "autograd"))
        if engine == "autograd":
            return None
        try:
            why_not = ("it needs cache=True" if not self.cache
                       else mlp_hessian.unsupported(self.model, self.params))
            if why_not:
                raise mlp_hessian.Unsupported(why_not)
            with _eval_mode(self.model):
                batches = list(_batches_on_device(self.model, self.batches))
                if not batches:
                    raise ValueError("data holds no batch")
                return mlp_hessian.MLPCurvature(self.model, self.loss_fn, batches, _checked_loss)
        except mlp_hessian.Unsupported as why:
            if engine == "mlp":
                raise ValueError(f"engine='mlp' cannot be used: {why}") from None
            return None

    def _product(self, vs) -> list:
        raise NotImplementedError

    def gradient(self) -> torch.Tensor:
        """The flat gradient :math:`\\nabla L(\\theta)` (detached, on the model's device)."""
        raise NotImplementedError

    def apply(self, v: torch.Tensor) -> torch.Tensor:
        """The product with a flat tensor ``v`` of length n, in ``v``'s dtype, on the model's device."""
        if v.shape != (self.n,):
            raise ValueError(f"v must have shape ({self.n},), got {tuple(v.shape)}")
        out_dtype = v.dtype
        self._buffer.copy_(v)
        product = self._product(self._views)
        self.num_hvps += 1
        return torch.cat([h.detach().reshape(-1) for h in product]).to(out_dtype)

    def _matvec(self, x):
        x = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(-1))
        return self.apply(x.to(self.device)).cpu().numpy()

    def _rmatvec(self, x):  # the matrix is symmetric
        return self._matvec(x)

    def _adjoint(self):
        return self


class HessianOperator(CurvatureOperator):
    """The Hessian of ``loss_fn`` over ``data`` at the current parameters, as a linear operator.

    ``op @ x`` (numpy, float64) and ``op.apply(v)`` (torch, on the model's device) compute
    :math:`Hx` without forming H. The first derivative's graph is built once and kept when
    ``cache`` is true (the default for a single batch), so each product is one double-backward
    pass; with ``cache=False`` every product recomputes forward and backward batch by batch
    (less memory for large data). The parameters must not change while the operator is in use.

    ``engine`` chooses how a cached product is computed: ``"autograd"`` differentiates the
    backward pass (every model); ``"mlp"`` applies the R-operator layer by layer
    (:mod:`course_lib.mlp_hessian`: ``nn.Sequential`` of Linear layers and elementwise
    activations only, 1.2-2x faster on a CPU, same values to rounding); ``"auto"`` (default)
    takes ``"mlp"`` when the model and ``cache`` allow it. ``engine="mlp"`` on another model
    raises a ``ValueError`` that says why.

    Attributes
    ----------
    n : int
        Number of trainable parameters. ``shape == (n, n)``.
    engine : str
        ``"mlp"`` or ``"autograd"``: the engine in use.
    num_hvps : int
        Products computed so far.
    loss : float
        :math:`L(\\theta)` at construction.

    Examples
    --------
    >>> model = torch.nn.Linear(3, 1)
    >>> x, y = torch.randn(20, 3), torch.randn(20, 1)
    >>> op = HessianOperator(model, torch.nn.functional.mse_loss, (x, y))
    >>> op.shape
    (4, 4)
    """

    def __init__(self, model, loss_fn, data, cache: bool | None = None, engine: str = "auto"):
        super().__init__(model, loss_fn, data, cache)
        self._grads = None
        self._mlp = self._mlp_curvature(engine)
        self.engine = "autograd" if self._mlp is None else "mlp"
        if self._mlp is not None:
            self.loss = self._mlp.loss
        elif self.cache:
            self._grads, self.loss = self._weighted_gradients(create_graph=True)
        else:
            self.loss = _evaluate_loss(model, loss_fn, self.batches)

    def _weighted_gradients(self, create_graph: bool):
        """Gradients of the mean loss; summing per-batch gradients keeps one graph to differentiate."""
        total, loss_sum, count = None, 0.0, 0
        parts = []
        with _eval_mode(self.model):
            for inputs, targets, size in _batches_on_device(self.model, self.batches):
                loss = _checked_loss(self.loss_fn(self.model(inputs), targets))
                parts.append((size, _gradients(loss, self.params, create_graph)))
                loss_sum += float(loss.detach()) * size
                count += size
        if count == 0:
            raise ValueError("data holds no batch")
        for size, grads in parts:
            scaled = [g * (size / count) for g in grads] if len(parts) > 1 else grads
            total = scaled if total is None else [t + s for t, s in zip(total, scaled)]
        return total, loss_sum / count

    def _product(self, vs) -> list:
        """:math:`Hv`, one tensor per parameter (see :meth:`CurvatureOperator.apply`)."""
        if self._mlp is not None:
            hv = self._mlp.hvp(vs)
        elif self._grads is not None:
            hv = _hvp_from_grads(self._grads, self.params, vs)
        else:
            hv = [torch.zeros_like(p) for p in self.params]
            count = 0
            with _eval_mode(self.model):
                for inputs, targets, size in _batches_on_device(self.model, self.batches):
                    loss = _checked_loss(self.loss_fn(self.model(inputs), targets))
                    part = _hvp_from_grads(_gradients(loss, self.params), self.params, vs)
                    hv = [h + size * q.detach() for h, q in zip(hv, part)]
                    count += size
            hv = [h / count for h in hv]
        return hv

    def gradient(self) -> torch.Tensor:
        """The flat gradient :math:`\\nabla L(\\theta)` (detached, on the model's device)."""
        if self._mlp is not None:
            return torch.cat([g.reshape(-1) for g in self._mlp.gradient()])
        if self._grads is not None:
            return torch.cat([g.detach().reshape(-1) for g in self._grads])
        grads, _ = self._weighted_gradients(create_graph=False)
        return torch.cat([g.detach().reshape(-1) for g in grads])


def _operator(model, loss_fn, data) -> CurvatureOperator:
    """Accept either a ready operator (a HessianOperator reuses its cached graph; a GGN or an
    empirical Fisher is taken as is) or (model, loss_fn, data), which means the Hessian."""
    if isinstance(model, CurvatureOperator):
        if loss_fn is not None or data is not None:
            raise ValueError("pass either a HessianOperator (or another CurvatureOperator) alone "
                             "or model, loss_fn and data")
        return model
    if loss_fn is None or data is None:
        raise ValueError("loss_fn and data are required with a model")
    return HessianOperator(model, loss_fn, data)


def _basis_dtype(op: CurvatureOperator) -> torch.dtype:
    """The precision of Lanczos and trace vectors: the products', at least float32.

    Every product already carries the rounding error of the model's dtype, so a float64 basis
    would not make a float32 model's eigenvalues more accurate; it doubles the memory that
    each reorthogonalization reads (with it, the top-5 of a 26k-parameter MLP took 7-20% longer).
    """
    return torch.float64 if op.param_dtype == torch.float64 else torch.float32



def full_hessian(model, loss_fn=None, data=None, *, max_params: int = FULL_HESSIAN_MAX_PARAMS) -> np.ndarray:
    """The exact n x n Hessian (float64, symmetrized) from n Hessian-vector products.

    Refuses models with more than ``max_params`` trainable parameters (default
    :data:`FULL_HESSIAN_MAX_PARAMS` = 5000, a 200 MB matrix); use :func:`top_eigenvalues`,
    :func:`trace` or :func:`density` for larger ones.

    Examples
    --------
    >>> model = torch.nn.Linear(2, 1)
    >>> x, y = torch.randn(30, 2), torch.randn(30, 1)
    >>> H = full_hessian(model, torch.nn.functional.mse_loss, (x, y))
    >>> H.shape
    (3, 3)
    """
    n = (model.n if isinstance(model, CurvatureOperator)
         else sum(p.numel() for p in _trainable(model)))
    if n > max_params:
        raise ValueError(f"full_hessian needs an n x n matrix; this model has n={n} trainable "
                         f"parameters, above max_params={max_params}. Use top_eigenvalues, "
                         "bottom_eigenvalues, trace or density, or raise max_params.")
    op = _operator(model, loss_fn, data)
    H = np.empty((n, n))
    basis = torch.zeros(n, dtype=op.param_dtype, device=op.device)
    for i in range(n):
        basis[i] = 1.0
        H[:, i] = op.apply(basis).double().cpu().numpy()
        basis[i] = 0.0
    return (H + H.T) / 2

