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
library, github.com/f-dangel/curvlinops, whose estimators take any operator too). The
estimators themselves take any symmetric product ``apply(v)`` on flat torch tensors:
:func:`lanczos_eigenpairs`, :func:`hutchinson`, :func:`hutch_plus_plus` and :func:`slq`.

One module per idea:

* ``hessian.parameters``: trainable parameters as one flat vector, batches,
  the checked mean loss;
* ``hessian.operator``: :func:`hvp`, :class:`CurvatureOperator`,
  :class:`HessianOperator`, :func:`full_hessian`;
* ``hessian.lanczos``: the Lanczos process (a Krylov basis and its projection);
* ``hessian.eigen``: extreme eigenpairs by thick-restart Lanczos;
* ``hessian.trace_estimators``: trace estimators (Hutchinson, Hutch++);
* ``hessian.spectral_density``: spectral density by stochastic Lanczos quadrature;
* ``hessian.critical``: kinds of critical points, escape from a saddle.

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

from course_lib.hessian.critical import (CRITICAL_POINT_KINDS, Escape, classify,
                                         escape_direction, minimum_ratio)
from course_lib.hessian.eigen import Eigen, bottom_eigenvalues, lanczos_eigenpairs, top_eigenvalues
from course_lib.hessian.trace_estimators import hutch_plus_plus, hutchinson, trace
from course_lib.hessian.lanczos import _random_vector  # noqa: F401 (used by tests)
from course_lib.hessian.operator import (FULL_HESSIAN_MAX_PARAMS, CurvatureOperator,
                                         HessianOperator, full_hessian, hvp)
from course_lib.hessian.parameters import (_split,  # noqa: F401 (used by tests)
                                           load_parameter_vector, parameter_vector)
from course_lib.hessian.spectral_density import Density, density, slq

__all__ = [
    "FULL_HESSIAN_MAX_PARAMS", "hvp", "CurvatureOperator", "HessianOperator", "Eigen",
    "top_eigenvalues", "bottom_eigenvalues", "trace", "Density", "density", "full_hessian",
    "classify", "minimum_ratio", "Escape", "escape_direction", "parameter_vector",
    "load_parameter_vector", "CRITICAL_POINT_KINDS", "lanczos_eigenpairs", "hutchinson",
    "hutch_plus_plus", "slq",
]
