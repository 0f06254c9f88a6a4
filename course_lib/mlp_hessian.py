"""Hessian-vector products of a plain multilayer perceptron, layer by layer (Pearlmutter's R-operator).

For ``nn.Sequential`` networks made of ``nn.Linear`` layers and elementwise activations, the
product :math:`Hv` is written out by hand instead of differentiating autograd's backward pass
a second time. With :math:`a_i = h_{i-1} W_i^\\top + b_i` and :math:`h_i = \\sigma(a_i)`,
the directional derivative :math:`R\\{\\cdot\\} = \\frac{d}{dt}(\\cdot)(\\theta + t v)` gives

.. math::

    R a_i &= h_{i-1} (RW_i)^\\top + Rb_i + (R h_{i-1}) W_i^\\top, \\qquad
    R h_i = \\sigma'(a_i) \\odot R a_i, \\\\
    R\\delta_{\\text{out}} &= \\nabla^2_{\\text{out}}\\ell \\; R\\,\\text{out}, \\qquad
    R\\delta_{a_i} = \\sigma'(a_i) \\odot R\\delta_{h_i} + \\sigma''(a_i) \\odot \\delta_{h_i} \\odot R a_i, \\\\
    (Hv)_{W_i} &= R\\delta_{a_i}^\\top h_{i-1} + \\delta_{a_i}^\\top R h_{i-1}, \\qquad
    (Hv)_{b_i} = \\textstyle\\sum_n R\\delta_{a_i}, \\qquad
    R\\delta_{h_{i-1}} = R\\delta_{a_i} W_i + \\delta_{a_i} RW_i,

where :math:`\\delta` is the ordinary backpropagated gradient. Everything that does not depend
on :math:`v` (inputs of each layer, :math:`\\sigma'`, :math:`\\sigma''\\delta`, the deltas and the
softmax probabilities) is computed once. A product then costs the same matrix multiplications
as autograd's double backward (two per layer and direction) but a fraction of its elementwise
work and bookkeeping: on a 2-core CPU, 3.0 ms instead of 3.7 ms for a 64-128-128-10 MLP on 1348
examples, 0.78 ms instead of 1.5 ms for 64-46-10, as ``benchmarks/hessian.py`` prints them
(this is the design of BackPACK, Dangel, Kunstner & Hennig 2020, which also works module by
module).

:func:`unsupported` says why a model cannot use this path (then
:class:`course_lib.hessian.HessianOperator` differentiates twice with autograd, which works
for every model). Supported: an ``nn.Sequential`` (no hooks) of ``nn.Linear`` (with or
without bias), ``nn.ReLU``, ``nn.LeakyReLU``, ``nn.Tanh``, ``nn.Sigmoid``, ``nn.Identity``,
``nn.Dropout`` (the Hessian is taken in eval mode, where dropout is the identity) and, before
the first linear layer, ``nn.Flatten``; all parameters trainable; 2-D activations. Any
``loss_fn`` works: its Hessian with respect to the network's output is taken by autograd,
except for ``cross_entropy`` and ``mse_loss`` with default arguments, whose output Hessians
:math:`(\\operatorname{diag} p - pp^\\top)/N` and :math:`2I/\\text{numel}` are applied directly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["unsupported", "Unsupported", "MLPCurvature"]


class Unsupported(ValueError):
    """The data do not fit the layer-by-layer path (autograd still works)."""


_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid)
_NO_OPS = (nn.Identity, nn.Dropout)


def _all_hooks(module) -> bool:
    return any(getattr(module, name, None) for name in (
        "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"))


def unsupported(model, params) -> str | None:
    """Why ``model`` cannot use the layer-by-layer path (a sentence), or None if it can.

    ``params`` are the trainable parameters in ``model.parameters()`` order.
    """
    if type(model) is not nn.Sequential:
        return f"the model is a {type(model).__name__}, not a torch.nn.Sequential"
    module_hooks = nn.modules.module
    global_hooks = [getattr(module_hooks, f"_global_{kind}_hooks", None)
                    for kind in ("forward", "forward_pre", "backward", "backward_pre")]
    if any(global_hooks) or any(_all_hooks(m) for m in model.modules()):
        return "the model has hooks, which only autograd runs"
    seen_linear = False
    expected = []
    for module in model:
        kind = type(module)
        if kind is nn.Linear:
            seen_linear = True
            expected += [module.weight] + ([] if module.bias is None else [module.bias])
        elif kind is nn.Flatten and not seen_linear:
            continue
        elif kind not in _ACTIVATIONS + _NO_OPS:
            return (f"it contains a {kind.__name__}; supported are Linear, ReLU, LeakyReLU, Tanh, "
                    "Sigmoid, Identity, Dropout, and Flatten before the first Linear")
    if not seen_linear:
        return "the model has no Linear layer"
    if len(expected) != len(params) or any(a is not b for a, b in zip(expected, params)):
        return "some parameters are frozen or shared between layers"
    return None


def _activation_derivatives(module, x, y):
    """sigma'(x) and sigma''(x) (None where it is zero), from the input x and output y."""
    kind = type(module)
    if kind is nn.ReLU:
        return (x > 0).to(x.dtype), None
    if kind is nn.LeakyReLU:
        return torch.full_like(x, module.negative_slope).masked_fill_(x > 0, 1.0), None
    if kind is nn.Tanh:
        d1 = 1 - y * y
        return d1, -2 * y * d1
    d1 = y * (1 - y)  # Sigmoid
    return d1, d1 * (1 - 2 * y)


def _is_default(loss_fn, function, module_type, **defaults) -> bool:
    if loss_fn is function:
        return True
    return type(loss_fn) is module_type and all(getattr(loss_fn, k) == v for k, v in defaults.items())


class _Linear:
    def __init__(self, module, inputs):
        self.weight, self.bias, self.inputs = module.weight.detach(), module.bias, inputs
        self.delta = None  # gradient of the loss w.r.t. this layer's output


class _Activation:
    def __init__(self, d1, d2):
        self.d1, self.d2 = d1, d2
        self.d2_delta = None  # sigma'' * delta (the v-independent part of the second-order term)


class MLPCurvature:
    """Gradient and Hessian-vector products of ``loss_fn`` for a supported ``nn.Sequential``.

    ``batches`` is a list of ``(inputs, targets, size)`` already on the model's device; the
    loss is the size-weighted mean of the per-batch losses, as in :mod:`course_lib.hessian`.
    The model must be in the mode to differentiate (eval) while this is built.
    """

    def __init__(self, model, loss_fn, batches, check_loss):
        with torch.no_grad():
            inputs = torch.cat([b[0] for b in batches]) if len(batches) > 1 else batches[0][0]
            h, self.steps = inputs, []
            for module in model:
                kind = type(module)
                if kind is nn.Linear:
                    if h.dim() != 2:
                        raise Unsupported(f"a Linear layer receives a tensor with {h.dim()} "
                                          "dimensions, not (examples, features)")
                    self.steps.append(_Linear(module, h))
                    h = module(h)
                elif kind in _ACTIVATIONS:
                    y = module(h)
                    self.steps.append(_Activation(*_activation_derivatives(module, h, y)))
                    h = y
                elif kind is nn.Flatten:
                    h = module(h)
        self.output = h
        self.count = sum(size for *_, size in batches)
        self._loss_parts(loss_fn, batches, check_loss)
        self._backpropagate()

    def _loss_parts(self, loss_fn, batches, check_loss):
        """The loss, its gradient w.r.t. the output, and how to apply the output Hessian."""
        leaf = self.output.detach().requires_grad_(True)
        start, loss = 0, 0.0
        closed_form = self._closed_form_hessian(loss_fn, batches)
        with torch.enable_grad():
            for *_, targets, size in batches:
                part = check_loss(loss_fn(leaf[start:start + size], targets))
                loss = loss + part * (size / self.count)
                start += size
            (self.grad_output,) = torch.autograd.grad(loss, leaf, create_graph=closed_form is None)
        self.loss = float(loss.detach())
        if closed_form is not None:
            self._output_hessian = closed_form
        elif self.grad_output.requires_grad:
            self._leaf = leaf
            self._output_hessian = self._autograd_output_hessian
        else:  # the loss is linear in the outputs
            self._output_hessian = torch.zeros_like

    def _closed_form_hessian(self, loss_fn, batches):
        """``r -> (output Hessian) r`` for default cross-entropy and mean squared error, else None."""
        targets = [t for _, t, _ in batches]
        if (_is_default(loss_fn, F.cross_entropy, nn.CrossEntropyLoss, weight=None, ignore_index=-100,
                        reduction="mean", label_smoothing=0.0)
                and self.output.dim() == 2
                and all(t.dtype == torch.long and t.dim() == 1 and bool((t >= 0).all()) for t in targets)):
            self._probabilities = torch.softmax(self.output, dim=1)
            self._probabilities_over_count = self._probabilities / self.count
            return self._cross_entropy_hessian
        if (_is_default(loss_fn, F.mse_loss, nn.MSELoss, reduction="mean")
                and all(t.shape[1:] == self.output.shape[1:] for t in targets)):
            return lambda r: r * (2.0 / self.output.numel())
        return None

    def _cross_entropy_hessian(self, r):
        """:math:`(\\operatorname{diag} p - pp^\\top) r / N` row by row, as q*r - p (q.r) with q = p/N."""
        out = self._probabilities_over_count * r
        return out.addcmul_(self._probabilities, out.sum(dim=1, keepdim=True), value=-1)

    def _autograd_output_hessian(self, r):
        return torch.autograd.grad(self.grad_output, self._leaf, r, retain_graph=True)[0]

    def _backpropagate(self):
        delta = self.grad_output.detach()
        first = next(i for i, step in enumerate(self.steps) if isinstance(step, _Linear))
        for step in reversed(self.steps[first:]):  # below the first Linear nothing depends on theta
            if isinstance(step, _Linear):
                step.delta = delta
                if step is not self.steps[first]:
                    delta = delta @ step.weight
            else:
                if step.d2 is not None:
                    step.d2_delta = step.d2 * delta
                delta = delta * step.d1

    def gradient(self) -> list:
        """The gradient, one tensor per parameter (weights and biases in layer order)."""
        grads = []
        for step in self.steps:
            if isinstance(step, _Linear):
                grads.append(step.delta.t() @ step.inputs)
                if step.bias is not None:
                    grads.append(step.delta.sum(dim=0))
        return grads

    def hvp(self, vs, gauss_newton: bool = False) -> list:
        """:math:`Hv` for ``vs``, one tensor per parameter in the order of :meth:`gradient`.

        With ``gauss_newton`` it returns the generalized Gauss-Newton product
        :math:`J^\\top H_{out} J v` instead (:mod:`course_lib.gauss_newton`): the forward pass
        computes :math:`R\\,\\text{out} = Jv` in both cases, and the backward pass then drops
        exactly the terms that carry the backpropagated gradient :math:`\\delta`
        (:math:`\\delta^\\top Rh`, :math:`\\delta\\, RW` and :math:`\\sigma''\\delta\\, Ra`),
        leaving the plain backpropagation :math:`J^\\top` of :math:`H_{out}\\, Jv`.
        """
        exact = not gauss_newton
        directions, i = [], 0
        r_inputs, r = [], None  # R of each step's input; None stands for zero
        for step in self.steps:
            r_inputs.append(r)
            if isinstance(step, _Linear):
                rw = vs[i]
                rb = vs[i + 1] if step.bias is not None else None
                i += 1 if rb is None else 2
                directions.append((rw, rb))
                if r is None:
                    r = step.inputs @ rw.t() if rb is None else torch.addmm(rb, step.inputs, rw.t())
                else:  # both products accumulate into one fresh tensor
                    r = torch.mm(r, step.weight.t()).addmm_(step.inputs, rw.t())
                    if rb is not None:
                        r += rb
            elif r is not None:
                # r is fresh; it is kept for the backward pass only when sigma'' is not zero
                r = r * step.d1 if step.d2 is not None else r.mul_(step.d1)
        r_delta = self._output_hessian(r)
        products = []
        for step, r_in in zip(reversed(self.steps), reversed(r_inputs)):
            if isinstance(step, _Linear):
                rw, rb = directions.pop()
                grad_w = r_delta.t() @ step.inputs
                if r_in is not None and exact:
                    grad_w.addmm_(step.delta.t(), r_in)
                products += ([] if rb is None else [r_delta.sum(dim=0)]) + [grad_w]
                if r_in is None:  # nothing below depends on v
                    break
                r_delta = torch.mm(r_delta, step.weight)
                if exact:
                    r_delta.addmm_(step.delta, rw)
            else:  # r_delta is a fresh tensor (at most an alias of the output's R, not used again)
                r_delta.mul_(step.d1)
                if step.d2_delta is not None and exact:
                    r_delta.addcmul_(step.d2_delta, r_in)
        return products[::-1]
