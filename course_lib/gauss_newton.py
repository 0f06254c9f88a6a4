"""The generalized Gauss-Newton matrix and the empirical Fisher: curvature that is never negative.

Write the mean training loss through the network's outputs :math:`f_i = f(x_i; \\theta) \\in
\\mathbb{R}^C`, :math:`L(\\theta) = \\frac1N \\sum_i \\ell(f_i, y_i)`, and let
:math:`J_i = \\partial f_i / \\partial \\theta` (a :math:`C \\times n` Jacobian). The chain
rule splits the Hessian in two:

.. math::

    H = \\nabla^2_\\theta L
      = \\underbrace{\\frac1N \\sum_i J_i^\\top\\, \\nabla^2_f \\ell(f_i, y_i)\\, J_i}_{G}
      + \\frac1N \\sum_i \\sum_{c=1}^C \\frac{\\partial \\ell(f_i, y_i)}{\\partial f_{ic}}\\,
        \\nabla^2_\\theta f_{ic} .

:math:`G` is the **generalized Gauss-Newton matrix** (GGN; Schraudolph 2002). When the loss
is convex in the outputs (:math:`H_{out} = \\nabla^2_f \\ell \\succeq 0`: squared error,
:math:`2I/C` for ``mse_loss``; cross-entropy, :math:`\\operatorname{diag} p - pp^\\top`), every
:math:`v^\\top G v = \\frac1N \\sum_i (J_i v)^\\top H_{out} (J_i v) \\ge 0`: **G is positive
semi-definite**, whatever the network. The second term holds all of the Hessian's negative
curvature; it is weighted by the output gradients :math:`\\partial \\ell / \\partial f`
(the residuals :math:`2(f - y)/C` for squared error), so it vanishes where the network fits
every example exactly (and everywhere for a model linear in its parameters), and there
:math:`G = H`. Elsewhere G cannot tell a saddle from a
minimum: its eigenvalues are never negative.

The **empirical Fisher** (Kunstner, Hennig & Balles 2019 discuss its limits) is the mean
outer product of the per-example gradients :math:`g_i = \\nabla_\\theta \\ell(f_i, y_i) =
J_i^\\top e_i` with :math:`e_i = \\nabla_f \\ell(f_i, y_i)`:

.. math:: F = \\frac1N \\sum_i g_i g_i^\\top = \\frac1N \\sum_i J_i^\\top (e_i e_i^\\top) J_i ,

a GGN whose output matrix is the rank-one :math:`e_i e_i^\\top`: positive semi-definite for
every loss, and of rank at most N.

Both operators subclass :class:`course_lib.hessian.CurvatureOperator`, so
:func:`course_lib.hessian.top_eigenvalues`, ``bottom_eigenvalues``, ``trace``, ``density``
and ``full_hessian`` take them as they take a :class:`~course_lib.hessian.HessianOperator`.
Conventions are those of :mod:`course_lib.hessian`: ``loss_fn(outputs, targets)`` returns the
mean over the batch, ``data`` is a batch or a list of batches, the model is evaluated in
``eval()`` mode. A product costs about two backward passes and never forms :math:`J`:

1. :math:`Jv` by the double-backward trick: :math:`J^\\top u` (for a dummy :math:`u` of the
   outputs' shape) is linear in u, so :math:`Jv = \\partial (v \\cdot J^\\top u)/\\partial u`;
2. :math:`H_{out} (Jv)` (or :math:`e_i (e_i \\cdot (Jv)_i)`), a product with a matrix of the
   outputs' size;
3. :math:`J^\\top (H_{out} J v)`: one ordinary backward pass.

For a single batch (the default ``cache``) the forward pass, the graph of :math:`J^\\top u`
and the output gradient are built once and reused by every product. For a plain MLP the
GGN product runs layer by layer instead (:mod:`course_lib.mlp_hessian`), like the Hessian's.
"""
from __future__ import annotations

import torch

from course_lib.hessian.operator import CurvatureOperator
from course_lib.hessian.parameters import _batches_on_device, _checked_loss, _eval_mode

__all__ = ["Linearization", "GGNOperator", "EmpiricalFisherOperator"]


def _zero_for_none(tensors, like) -> list:
    return [torch.zeros_like(p) if t is None else t for t, p in zip(tensors, like)]


class Linearization:
    """The network linearized on one batch: :math:`J`, :math:`J^\\top` and the output curvature.

    ``outputs`` :math:`f(x)` keep their graph to ``params``; ``weight`` is the batch's share
    :math:`n_b / N` of the examples; ``loss`` the batch's mean loss.
    """

    def __init__(self, model, loss_fn, params, inputs, targets, size: int, weight: float):
        with _eval_mode(model):
            outputs = model(inputs)
        if not isinstance(outputs, torch.Tensor):
            raise TypeError(f"the model must return one tensor of outputs, got {type(outputs).__name__}")
        self.params, self.size, self.weight, self.outputs = params, size, weight, outputs
        self._dual = torch.zeros_like(outputs, requires_grad=True)
        pullback = torch.autograd.grad(outputs, params, self._dual, create_graph=True, allow_unused=True)
        self._pullback = [(t, i) for i, t in enumerate(pullback) if t is not None and t.requires_grad]
        self._leaf = outputs.detach().requires_grad_(True)
        loss = _checked_loss(loss_fn(self._leaf, targets))
        self.loss = float(loss.detach())
        (self.output_gradient,) = torch.autograd.grad(loss, self._leaf, create_graph=True)

    def jvp(self, vs) -> torch.Tensor:
        """:math:`Jv` (the outputs' shape) for ``vs``, one tensor per parameter.
        """
        if not self._pullback:
            return torch.zeros_like(self.outputs)
        (jv,) = torch.autograd.grad(
            [t for t, _ in self._pullback],
            self._dual,
            grad_outputs=[vs[i] for _, i in self._pullback],
            retain_graph=True,
        )
        return jv

    def vjp(self, w: torch.Tensor) -> list:
        """:math:`J^\\top w`, one tensor per parameter, for ``w`` of the outputs' shape."""
        grads = torch.autograd.grad(self.outputs, self.params, w, retain_graph=True, allow_unused=True)
        return _zero_for_none(grads, self.params)

    def output_hessian(self, r: torch.Tensor) -> torch.Tensor:
        """:math:`H_{out} r`, the Hessian of the batch's mean loss w.r.t. the outputs times r."""
        if not self.output_gradient.requires_grad:   # a loss linear in the outputs
            return torch.zeros_like(r)
        (hr,) = torch.autograd.grad(self.output_gradient, self._leaf, r, retain_graph=True)
        return hr


class _OutputCurvatureOperator(CurvatureOperator):
    """Shared machinery: one :class:`Linearization` per batch, kept (``cache``) or rebuilt;
    or, for the GGN of a plain MLP, the layer-by-layer engine of :mod:`course_lib.mlp_hessian`."""

    def __init__(self, model, loss_fn, data, cache: bool | None = None, engine: str = "autograd"):
        super().__init__(model, loss_fn, data, cache)
        self._mlp = self._mlp_curvature(engine)
        self.engine = "autograd" if self._mlp is None else "mlp"
        self._parts = None
        if self._mlp is not None:
            self.loss = self._mlp.loss
            return
        if self.cache:
            self._parts = list(self._linearizations())
        self.loss = sum(part.weight * part.loss for part in self._linearized_batches())

    def _linearizations(self):
        batches = list(_batches_on_device(self.model, self.batches))
        count = sum(size for *_, size in batches)
        if count == 0:
            raise ValueError("data holds no batch")
        for inputs, targets, size in batches:
            yield Linearization(self.model, self.loss_fn, self.params, inputs, targets, size,
                                size / count)

    def _linearized_batches(self):
        return self._parts if self._parts is not None else self._linearizations()

    def _product(self, vs) -> list:
        if self._mlp is not None:  # only a GGN gets this engine
            return self._mlp.hvp(vs, gauss_newton=True)
        total = [torch.zeros_like(p) for p in self.params]
        for part in self._linearized_batches():
            jv = part.jvp(vs)  # J v
            middle = self._output_product(
                part, jv
            )  # H_out J v (or e e^T J v / n)
            product = part.vjp(middle)  # J^T H_out J v
            total = [
                t + part.weight * q.detach() for t, q in zip(total, product)
            ]
        return total

    def gradient(self) -> torch.Tensor:
        """The flat gradient :math:`\\nabla L = \\sum_b \\frac{n_b}{N} J_b^\\top \\nabla_f \\ell_b`."""
        if self._mlp is not None:
            return torch.cat([g.reshape(-1) for g in self._mlp.gradient()])
        total = [torch.zeros_like(p) for p in self.params]
        for part in self._linearized_batches():
            grads = part.vjp(part.output_gradient.detach())
            total = [t + part.weight * g for t, g in zip(total, grads)]
        return torch.cat([t.reshape(-1) for t in total])


class GGNOperator(_OutputCurvatureOperator):
    """The generalized Gauss-Newton matrix of ``loss_fn`` over ``data``, as a linear operator.

    .. math:: G = \\sum_b \\frac{n_b}{N}\\, J_b^\\top\\, \\nabla^2_f \\ell_b\\, J_b

    for batches b of :math:`n_b` examples with mean loss :math:`\\ell_b` (for one batch,
    :math:`J^\\top H_{out} J` with :math:`H_{out}` the Hessian of the loss w.r.t. the network's
    outputs). Positive semi-definite when the loss is convex in the outputs (squared error,
    cross-entropy); equal to the Hessian for a network linear in its parameters. Same
    interface as :class:`course_lib.hessian.HessianOperator`; see the module docstring for
    the math and the cost. ``engine`` as there: for a plain MLP (``"auto"``, ``"mlp"``) the
    product runs layer by layer (:meth:`course_lib.mlp_hessian.MLPCurvature.hvp` with
    ``gauss_newton=True``: the Hessian's R-operator without the terms that carry the
    backpropagated gradient), else through autograd (``"autograd"``).

    Examples
    --------
    >>> from course_lib import hessian
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    >>> ggn = GGNOperator(model, torch.nn.functional.cross_entropy, (x, y))
    >>> bool(hessian.bottom_eigenvalues(ggn, k=1).values[0] > -1e-5)   # never negative
    True
    """

    def __init__(self, model, loss_fn, data, cache: bool | None = None, engine: str = "auto"):
        super().__init__(model, loss_fn, data, cache, engine)

    def _output_product(self, part: Linearization, jv: torch.Tensor) -> torch.Tensor:
        return part.output_hessian(jv)


class EmpiricalFisherOperator(_OutputCurvatureOperator):
    """The empirical Fisher :math:`F = \\frac1N \\sum_i g_i g_i^\\top` of ``loss_fn`` over ``data``.

    :math:`g_i` is the gradient of example i's own loss. With ``loss_fn`` a mean over the
    batch's examples, :math:`e_i = n_b \\nabla_{f_i} \\ell_b` is the gradient of that loss
    w.r.t. the example's outputs, :math:`g_i = J_i^\\top e_i`, and each product is
    :math:`Fv = \\sum_b \\frac{n_b}{N} J_b^\\top \\big[\\tfrac{1}{n_b} e_i\\, (e_i \\cdot (J_b v)_i)\\big]_i`.
    The outputs' first axis must be the batch's examples. Always through autograd.
    """

    def __init__(self, model, loss_fn, data, cache: bool | None = None):
        super().__init__(model, loss_fn, data, cache, engine="autograd")
        for part in self._linearized_batches():
            if part.outputs.dim() == 0 or part.outputs.shape[0] != part.size:
                raise ValueError("the empirical Fisher needs outputs whose first axis holds the "
                                 f"batch's {part.size} examples, got outputs of shape "
                                 f"{tuple(part.outputs.shape)}")

    def _output_product(self, part: Linearization, jv: torch.Tensor) -> torch.Tensor:
        e = (part.output_gradient.detach() * part.size).reshape(part.size, -1)
        along = (e * jv.reshape(part.size, -1)).sum(dim=1, keepdim=True)
        return (e * along / part.size).reshape(jv.shape)
