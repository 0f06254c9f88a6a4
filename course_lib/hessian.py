"""Second-order diagnostics of a PyTorch model: Hessian-vector products, spectra, critical points.

Everything here is about the Hessian :math:`H = \\nabla^2 L(\\theta)` of the mean training loss

.. math:: L(\\theta) = \\frac{\\sum_b n_b\\, \\ell(f_\\theta(x_b), y_b)}{\\sum_b n_b}

over the *trainable* parameters :math:`\\theta \\in \\mathbb{R}^n` of ``model`` (those with
``requires_grad``, flattened in ``model.parameters()`` order), where

* ``loss_fn(outputs, targets)`` returns a scalar tensor averaged over its batch
  (``torch.nn.functional.cross_entropy`` with its default ``reduction="mean"``);
* ``data`` is one batch ``(inputs, targets)`` or an iterable of such batches (a list, a
  ``DataLoader``); batch ``b`` has :math:`n_b` examples. Tensors (or numpy arrays) are moved
  to the model's device; floating-point ones are cast to the parameters' dtype.

While the loss is evaluated the model is put in ``eval()`` mode (dropout off, batch norm on
its running statistics: a deterministic function of :math:`\\theta`) and its mode is restored.

Methods and their cost, counted in Hessian-vector products (HVPs), each about two backward
passes:

* :func:`hvp` and :class:`HessianOperator`: Pearlmutter's trick
  :math:`Hv = \\nabla_\\theta(\\nabla_\\theta L \\cdot v)`. The operator keeps the graph of the
  first derivative (``create_graph=True``) for a single batch, so each product is one
  double-backward pass with no new forward pass. For a plain MLP (an ``nn.Sequential`` of
  Linear layers and elementwise activations) it applies the same R-operator layer by layer
  instead (:mod:`course_lib.mlp_hessian`), which does the same matrix products with less
  elementwise work: 1.2-2x faster per product on a CPU. It is a
  :class:`scipy.sparse.linalg.LinearOperator` with a float64 interface, so
  ``scipy.sparse.linalg.eigsh(op, k=3)`` works too.
* :func:`top_eigenvalues` / :func:`bottom_eigenvalues`: thick-restart Lanczos with full
  reorthogonalization, run in torch on the model's device (CPU or CUDA), from a random start
  (optionally plus a guess: a previous eigenvector, or the gradient). A
  Ritz pair :math:`(\\vartheta, y)` is accepted when its residual :math:`r = \\lVert Hy - \\vartheta y\\rVert`
  (known for free from the recurrence) is at most ``tol`` :math:`\\cdot |\\vartheta|`; some
  eigenvalue then lies within :math:`r` of :math:`\\vartheta`, a rigorous bound (ARPACK's
  criterion). The true error is usually far smaller, about :math:`r^2/\\delta` for a gap
  :math:`\\delta` to the next eigenvalue (Parlett, *The symmetric eigenvalue problem*, ch. 11),
  but stopping on that estimate is unsafe: in a tight cluster a Ritz value can settle on the
  (k+1)-th eigenvalue before the k-th is found, which the stricter test leaves time to avoid.
  Like every Krylov method, Lanczos cannot see an eigenvector orthogonal to its start.
  Power iteration (PyHessian) needs several times more HVPs for a worse accuracy: it
  converges at the rate :math:`\\lambda_2/\\lambda_1`, Lanczos at a Chebyshev rate, and a
  small change between two iterates does not bound its error.
* :func:`trace`: Hutch++ (Meyer, Musco, Musco & Woodruff 2021) by default: an exact trace on
  the top of the spectrum, found by a sketch, plus Hutchinson's estimator on the rest. At the
  same number of HVPs its error is several times smaller than Hutchinson's when a few large
  eigenvalues dominate, as they do in neural networks.
* :func:`density`: stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019).
* :func:`full_hessian`: ``n`` HVPs; refused above :data:`FULL_HESSIAN_MAX_PARAMS`.

Other curvature matrices: every estimator above takes, instead of ``(model, loss_fn, data)``,
any :class:`CurvatureOperator`: a :class:`HessianOperator`, or the generalized Gauss-Newton
matrix :math:`G = J^\\top H_{out} J` and the empirical Fisher of :mod:`course_lib.gauss_newton`
(both positive semi-definite; the design follows the linear operators of the curvlinops
library, github.com/f-dangel/curvlinops, whose estimators take any operator too).

Critical points: :func:`classify`, :func:`minimum_ratio` take eigenvalues from anywhere (a
network's full spectrum, or ``np.linalg.eigvalsh(surface.hessian(xy))`` for the numpy 2-D
surfaces of :mod:`course_lib.surfaces`, whose Hessians are analytic); :func:`escape_direction`
steps along the eigenvector of the most negative eigenvalue.

Devices: everything runs where the model's parameters live, CPU or CUDA (``model.to("cuda")``
is all it takes): batches are moved there, the Lanczos basis is kept there (in the model's
precision, at least float32), and eigenvectors come back there. Only small projected
matrices go through numpy.

MXNet: not supported for curvature. MXNet 1.9.1 registers second derivatives only for some
operators (checked: ``sin``, ``tanh``, ``sigmoid``, ``relu``, ``FullyConnected`` w.r.t. its
input); ``elemwise_mul``/broadcast multiplication, ``dot``, ``sum`` and ``log_softmax`` have
none (``Operator _backward_sum is non-differentiable because it didn't register FGradient
attribute``), so the Hessian-vector product of a Gluon network's training loss cannot be
formed. course_lib.mxnet trains Gluon models; to study their curvature, rebuild the network in
PyTorch with the same weights. The numpy 2-D surfaces of :mod:`course_lib.surfaces` need no
framework: their Hessians are analytic (``surface.hessian(xy)``).

Speed tips (measured on a busy 2-core machine):

* set ``OPENBLAS_NUM_THREADS=1`` in the environment *before* numpy is imported when scipy's
  ARPACK (``eigsh`` on a :class:`HessianOperator`) runs beside torch on few cores: it roughly
  halved ``eigsh`` time. course_lib does not set it for you: it is process-wide, must precede
  the import of numpy (which the user controls), and would slow down the user's own numpy
  code; the torch Lanczos of :func:`top_eigenvalues` does not depend on it;
* for small models (up to some 10^5 parameters on a CPU) ``torch.set_num_threads(1)`` makes
  each Hessian-vector product several times faster when other processes share the cores
  (thread pools spinning against each other); again a process-wide choice left to the user.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from typing import Callable, Iterable, NamedTuple, Sequence

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from course_lib import mlp_hessian

__all__ = [
    "FULL_HESSIAN_MAX_PARAMS", "hvp", "CurvatureOperator", "HessianOperator", "Eigen",
    "top_eigenvalues", "bottom_eigenvalues", "trace", "Density", "density", "full_hessian",
    "classify", "minimum_ratio", "Escape", "escape_direction", "parameter_vector",
    "load_parameter_vector",
]

#: The largest model (number of trainable parameters) :func:`full_hessian` accepts: its
#: n x n float64 matrix then takes at most 200 MB and n HVPs.
FULL_HESSIAN_MAX_PARAMS = 5000


# --------------------------------------------------------------------------- parameters, data
def _trainable(model) -> list:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (none with requires_grad=True)")
    return params


def parameter_vector(model) -> torch.Tensor:
    """The trainable parameters of ``model`` as one flat tensor (a copy), in ``parameters()`` order."""
    return torch.cat([p.detach().reshape(-1) for p in _trainable(model)])


def _flat_vector(params, vector, name: str, alternative: str = "") -> torch.Tensor:
    """``vector`` as a tensor, refused unless it is flat with one entry per trainable parameter."""
    n = sum(p.numel() for p in params)
    vector = torch.as_tensor(vector)
    if vector.shape != (n,):
        raise ValueError(f"{name} must be a flat vector of the model's n={n} trainable parameters"
                         f"{alternative}, got shape {tuple(vector.shape)}")
    return vector


def load_parameter_vector(model, vector) -> None:
    """Write the flat ``vector`` (torch or numpy, length n) into the trainable parameters of ``model``."""
    params = _trainable(model)
    vector = _flat_vector(params, vector, "vector")
    with torch.no_grad():
        for p, part in zip(params, _split(vector, params)):
            p.copy_(part)


def _split(vector: torch.Tensor, params) -> list:
    return [part.reshape(p.shape) for p, part in zip(params, vector.split([p.numel() for p in params]))]


def _is_array(x) -> bool:
    return isinstance(x, (torch.Tensor, np.ndarray))


def _is_batch(data) -> bool:
    return isinstance(data, (tuple, list)) and len(data) == 2 and _is_array(data[0])


def _as_batches(data):
    """One batch -> [batch]; an iterable of batches is kept if it can be iterated again."""
    if _is_batch(data):
        return [tuple(data)]
    if not isinstance(data, Iterable) or _is_array(data):
        raise TypeError("data must be a batch (inputs, targets) or an iterable of such batches, "
                        f"got {type(data).__name__}")
    if iter(data) is data:  # a generator can be read once only, and we read the data many times
        data = list(data)
    return data


def _move(x, device, dtype):
    if isinstance(x, np.ndarray):
        x = torch.as_tensor(x)
    if isinstance(x, torch.Tensor):
        x = x.to(device=device, dtype=dtype if x.is_floating_point() else None)
    return x


def _batch_len(targets) -> int:
    return int(targets.shape[0]) if _is_array(targets) and targets.ndim > 0 else 1


@contextlib.contextmanager
def _eval_mode(model):
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _checked_loss(loss) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"loss_fn must return a torch tensor, got {type(loss).__name__}")
    if loss.numel() != 1:
        raise ValueError(f"loss_fn must return a scalar (e.g. reduction='mean'), got a tensor of "
                         f"shape {tuple(loss.shape)}")
    if not torch.isfinite(loss).all():
        raise ValueError(f"the loss is {float(loss.detach())} at these parameters: the Hessian of a "
                         "non-finite loss is undefined")
    if not loss.requires_grad:
        raise ValueError("the loss does not depend on the trainable parameters")
    return loss.reshape(())


def _batches_on_device(model, data):
    params = _trainable(model)
    device, dtype = params[0].device, params[0].dtype
    for batch in _as_batches(data):
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise TypeError("each batch must be a pair (inputs, targets)")
        inputs, targets = batch
        yield _move(inputs, device, dtype), _move(targets, device, dtype), _batch_len(targets)


def _evaluate_loss(model, loss_fn, data) -> float:
    """The mean loss L(theta) over all batches, without gradients."""
    total, count = 0.0, 0
    with torch.no_grad(), _eval_mode(model):
        for inputs, targets, size in _batches_on_device(model, data):
            loss = loss_fn(model(inputs), targets)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise ValueError("loss_fn must return a scalar tensor (e.g. reduction='mean')")
            total += float(loss) * size
            count += size
    if count == 0:
        raise ValueError("data holds no batch")
    return total / count


# --------------------------------------------------------------------------- HVP
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

    The estimators of this module (:func:`top_eigenvalues`, :func:`bottom_eigenvalues`,
    :func:`trace`, :func:`density`, :func:`full_hessian`) take any subclass in place of
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
        if engine not in ("auto", "mlp", "autograd"):
            raise ValueError(f"engine must be 'auto', 'mlp' or 'autograd', got {engine!r}")
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


def _random_vector(n, seed, device, dtype, rademacher=False) -> torch.Tensor:
    # Drawn on the CPU so that a seed gives the same vector on every device.
    gen = torch.Generator().manual_seed(int(seed))
    if rademacher:
        v = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1
    else:
        v = torch.randn(n, generator=gen, dtype=torch.float64)
    return v.to(device=device, dtype=dtype)


# --------------------------------------------------------------------------- Lanczos
class _Krylov:
    """An orthonormal basis V (rows) grown one HVP at a time, and the projection P = V H V^T.

    After j steps: H V_j^T = V_j^T P_j + beta v_{j+1} e_j^T (the Arnoldi relation), which
    stays true after a thick restart, so the residual of every Ritz pair is known for free.
    """

    def __init__(self, apply, v0: torch.Tensor, capacity: int, noise: float, seed: int):
        self.apply, self.capacity, self.noise, self.seed = apply, capacity, noise, seed
        self.V = torch.zeros(capacity + 1, v0.numel(), dtype=v0.dtype, device=v0.device)
        self.V[0] = v0 / torch.linalg.vector_norm(v0)
        self.P = np.zeros((capacity, capacity))
        self.j = 0        # P[:j, :j] is known; V[j] is the next vector to multiply
        self.beta = 0.0
        self.hvps = 0

    def _orthogonalize(self, w: torch.Tensor, rows: int):
        """Make w orthogonal to the first ``rows`` basis vectors; returns (w, coefficients, |w|).

        The Lanczos recurrence puts almost all of :math:`Hv_j` on :math:`v_j` and
        :math:`v_{j-1}`, so those two go first (cheap); one classical Gram-Schmidt pass over
        the whole basis then removes what rounding left. A second pass runs only after heavy
        cancellation (the pass shrank w below 0.7 of its norm: Daniel, Gragg, Kaufman and
        Stewart's test), which keeps the basis orthogonal to working precision.
        """
        basis, x = self.V[:rows], w
        on_cpu = x.device.type == "cpu"
        if on_cpu:  # numpy views of the same memory: a fraction of torch's per-call overhead
            basis, x = basis.numpy(), x.numpy()
        host = (lambda a: a) if on_cpu else (lambda a: a.cpu().numpy())
        last = basis[max(rows - 2, 0):]
        c = last @ x
        x = x - c @ last
        h = np.zeros(rows)
        h[rows - len(c):] = host(c)
        norm = math.sqrt(float(x @ x))
        for _ in range(2):
            c = basis @ x
            x = x - c @ basis
            h += host(c)
            before, norm = norm, math.sqrt(float(x @ x))
            if norm >= 0.7 * before:
                break
        return (torch.from_numpy(x) if on_cpu else x), h, norm

    def extend(self) -> None:
        j = self.j
        w = self.apply(self.V[j]).to(self.V.dtype)
        self.hvps += 1
        w, h, self.beta = self._orthogonalize(w, j + 1)
        self.P[:j + 1, j] = h
        self.P[j, :j + 1] = h
        self.j = j + 1
        if self.j >= self.V.shape[1]:  # the whole space is spanned: P is similar to H
            return
        if self.beta > self.noise:
            self.V[self.j] = w / self.beta
        else:
            # An invariant subspace: the Krylov sequence ended. Go on with a fresh direction
            # orthogonal to it (its eigenvalues were invisible from the starting vector).
            fresh = _random_vector(self.V.shape[1], self.seed + self.j, self.V.device, self.V.dtype)
            fresh, _, norm = self._orthogonalize(fresh, self.j)
            self.V[self.j] = fresh / norm

    @property
    def exhausted(self) -> bool:
        return self.j >= self.V.shape[1]

    def ritz(self):
        return np.linalg.eigh(self.P[:self.j, :self.j])

    def restart(self, theta, S, keep) -> None:
        """Keep the Ritz vectors ``keep``; P becomes diag(theta) bordered by the next residual."""
        m = len(keep)
        next_vector = self.V[self.j].clone()
        S_keep = torch.as_tensor(S[:, keep].T.copy(), dtype=self.V.dtype, device=self.V.device)
        self.V[:m] = S_keep @ self.V[:self.j]
        self.V[m] = next_vector
        self.P[:] = 0.0
        self.P[np.arange(m), np.arange(m)] = theta[keep]
        self.j = m

    def vectors(self, S_cols) -> torch.Tensor:
        S_t = torch.as_tensor(np.ascontiguousarray(S_cols.T), dtype=self.V.dtype, device=self.V.device)
        return S_t @ self.V[:self.j]


def _check_k_tol(k, tol, n):
    if not isinstance(k, numbers.Integral) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer between 1 and the number of trainable parameters "
                         f"n={n}, got {k!r}")
    if not isinstance(tol, numbers.Real) or not 0 < tol < 1:
        raise ValueError(f"tol must be a relative tolerance in (0, 1), got {tol!r}")


def _extreme_eigenpairs(op: CurvatureOperator, k: int, tol: float, which: str, ncv, max_hvps, seed,
                        start=None):
    n = op.n
    _check_k_tol(k, tol, n)
    dtype = _basis_dtype(op)
    if ncv is None:
        # Eigenvalues at the bottom sit in the dense bulk near zero and need a larger basis to
        # converge; the basis is capped at 1 GiB for large models.
        ncv = max(2 * k + 1, 20 if which == "largest" else 40)
        ncv = max(min(ncv, 2 ** 30 // (dtype.itemsize * n)), k + 1)
    ncv = int(ncv)
    if ncv <= k and ncv < n:
        raise ValueError(f"ncv (the Lanczos basis size) must exceed k={k}, got {ncv}")
    ncv = min(ncv, n)
    max_hvps = max(1000, 10 * ncv) if max_hvps is None else int(max_hvps)
    if max_hvps < 1:
        raise ValueError(f"max_hvps must be positive, got {max_hvps}")
    # HVPs carry the rounding error of the model's dtype: residuals below this are noise.
    eps = torch.finfo(op.param_dtype).eps
    v0 = _random_vector(n, seed, op.device, dtype)
    v0 = v0 / torch.linalg.vector_norm(v0)
    if start is not None:
        # random + start (unit norms each): the random half keeps every direction present.
        if isinstance(start, str):
            if start != "gradient":
                raise ValueError(f"start must be None, 'gradient' or a flat vector, got {start!r}")
            guess = op.gradient()
        else:
            guess = torch.as_tensor(start)
            if guess.shape != (n,):
                raise ValueError(f"start must have shape ({n},), got {tuple(guess.shape)}")
        guess = guess.to(device=op.device, dtype=dtype)
        norm = float(torch.linalg.vector_norm(guess))
        if math.isfinite(norm) and norm > 0:
            v0 = v0 + guess / norm
    krylov = _Krylov(op.apply, v0, ncv, noise=0.0, seed=seed)
    converged = False
    while True:
        krylov.extend()
        theta, S = krylov.ritz()
        order = np.argsort(theta)
        order = order[::-1] if which == "largest" else order
        wanted = order[:k]
        scale = float(np.abs(theta).max())
        floor = 100 * eps * scale
        krylov.noise = floor
        if krylov.exhausted:
            converged = True
            break
        if len(wanted) == k:
            # The residual r = |beta * last component| bounds the distance from the Ritz
            # value to the nearest eigenvalue (a rigorous bound, as in ARPACK).
            resid = krylov.beta * np.abs(S[krylov.j - 1])
            bound = resid[wanted]
            if np.all(bound <= np.maximum(tol * np.abs(theta[wanted]), floor)):
                converged = True
                break
        if krylov.hvps >= max_hvps:
            break
        if krylov.j == ncv:
            keep = order[:max(k, min(ncv - 1, k + (ncv - k) // 2))]
            krylov.restart(theta, S, keep)
    if not converged:
        warnings.warn(f"Lanczos did not reach tol={tol} within max_hvps={max_hvps} products; "
                      "the eigenvalues returned are the best estimates", RuntimeWarning, stacklevel=3)
    vectors = krylov.vectors(S[:, wanted]).to(op.param_dtype)
    return Eigen(theta[wanted].copy(), vectors)


class Eigen(NamedTuple):
    """Eigenvalues (numpy float64, shape (k,)) and unit eigenvectors (torch, shape (k, n)).

    ``vectors[i]`` belongs to ``values[i]``; it is flat, in ``model.parameters()`` order, on
    the model's device in the parameters' dtype. Their residual
    :math:`\\lVert Hy-\\vartheta y\\rVert` is at most about ``tol`` :math:`|\\vartheta|`.
    """

    values: np.ndarray
    vectors: torch.Tensor


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
    return _extreme_eigenpairs(_operator(model, loss_fn, data), k, tol, "largest", ncv, max_hvps, seed, start)


def bottom_eigenvalues(model, loss_fn=None, data=None, k: int = 1, tol: float = 1e-3, *,
                       ncv: int | None = None, max_hvps: int | None = None, seed: int = 0,
                       start=None) -> Eigen:
    """The k smallest (most negative) eigenvalues of the Hessian, ascending, with eigenvectors.

    Same parameters as :func:`top_eigenvalues`. A negative ``values[0]`` proves the point is
    not a minimum. Eigenvalues in the middle of a dense bulk near zero converge more slowly
    than the isolated top ones; raise ``ncv`` if ``max_hvps`` is reached.
    """
    return _extreme_eigenpairs(_operator(model, loss_fn, data), k, tol, "smallest", ncv, max_hvps, seed, start)


# --------------------------------------------------------------------------- trace
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

    Examples
    --------
    >>> model = torch.nn.Linear(3, 1)
    >>> x, y = torch.randn(50, 3), torch.randn(50, 1)
    >>> est = trace(model, torch.nn.functional.mse_loss, (x, y), num_hvps=12)
    """
    op = _operator(model, loss_fn, data)
    methods = ("hutch++", "hutchinson")
    if method not in methods:
        raise ValueError(f"method must be one of {methods}, got {method!r}")
    minimum = 3 if method == "hutch++" else 1
    if not isinstance(num_hvps, numbers.Integral) or num_hvps < minimum:
        raise ValueError(f"num_hvps must be an integer >= {minimum} for {method}, got {num_hvps!r}")
    dtype = _basis_dtype(op)
    n = op.n
    gen = torch.Generator().manual_seed(int(seed))

    def rademacher(count):
        return (torch.randint(0, 2, (count, n), generator=gen).to(dtype) * 2 - 1).to(op.device)

    if method == "hutchinson":
        z = rademacher(num_hvps)
        return float(torch.stack([zi @ op.apply(zi) for zi in z]).mean())
    s = min(num_hvps // 3, n)
    g = num_hvps - 2 * s
    sketch = torch.stack([op.apply(si) for si in rademacher(s)], dim=1)     # H S
    Q, _ = torch.linalg.qr(sketch)                                           # n x s
    top = sum(float(Q[:, i] @ op.apply(Q[:, i])) for i in range(Q.shape[1]))
    G = rademacher(g).T
    G = G - Q @ (Q.T @ G)
    rest = float(torch.stack([G[:, i] @ op.apply(G[:, i]) for i in range(g)]).mean())
    return top + rest


# --------------------------------------------------------------------------- density
class Density(NamedTuple):
    """Spectral density estimate: ``density`` on ``grid`` integrates to 1.

    ``ritz_values`` and ``ritz_weights`` (shape ``(runs, steps)``) are the nodes and weights
    of the Gauss quadrature each Lanczos run defines; each row of weights sums to 1.
    """

    grid: np.ndarray
    density: np.ndarray
    ritz_values: np.ndarray
    ritz_weights: np.ndarray


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
    """
    op = _operator(model, loss_fn, data)
    for name, value, low in (("steps", steps, 1), ("runs", runs, 1), ("points", points, 2)):
        if not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if sigma is not None and not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma!r}")
    steps = min(steps, op.n)
    dtype = _basis_dtype(op)
    eps = torch.finfo(op.param_dtype).eps
    values, weights = [], []
    for run in range(runs):
        v0 = _random_vector(op.n, seed + 1000 * run, op.device, dtype, rademacher=True)
        krylov = _Krylov(op.apply, v0, steps, noise=0.0, seed=seed + 1000 * run + 1)
        for _ in range(steps):
            krylov.extend()
            krylov.noise = 100 * eps * float(np.abs(np.diag(krylov.P)[:krylov.j]).max())
        theta, S = krylov.ritz()
        values.append(theta)
        weights.append(S[0] ** 2)
    values, weights = np.array(values), np.array(weights)
    low, high = float(values.min()), float(values.max())
    if sigma is None:
        sigma = (high - low) / 100 if high > low else max(abs(high), 1.0) * 1e-2
    grid = np.linspace(low - 5 * sigma, high + 5 * sigma, points)
    kernel = np.exp(-0.5 * ((grid[None, None, :] - values[..., None]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    phi = (weights[..., None] * kernel).sum(axis=1).mean(axis=0)
    return Density(grid, phi, values, weights)


# --------------------------------------------------------------------------- full Hessian
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


# --------------------------------------------------------------------------- critical points
CRITICAL_POINT_KINDS = ("minimum", "maximum", "saddle", "degenerate")


def _eigenvalue_array(eigenvalues) -> np.ndarray:
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if lam.ndim == 0:
        lam = lam.reshape(1)
    if lam.shape[-1] == 0:
        raise ValueError("eigenvalues must not be empty")
    if not np.all(np.isfinite(lam)):
        raise ValueError("eigenvalues must be finite (no NaN or inf)")
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
        if not np.isfinite(tol) or tol < 0:
            raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
        tol_arr = tol
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
    if not np.isfinite(tol):
        raise ValueError(f"tol must be finite, got {tol!r}")
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
