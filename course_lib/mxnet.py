"""MXNet side of course_lib: context choice and ``mx.optimizer.Optimizer`` adapters.

The optimizers here run the update rules of :mod:`course_lib.rules` on MXNet NDArrays, so
the formula a chapter shows is the formula Gluon runs::

    import course_lib.mxnet as cmx
    trainer = gluon.Trainer(net.collect_params(), cmx.Adam(learning_rate=1e-3))
    trainer = gluon.Trainer(net.collect_params(), "course_adam", {"learning_rate": 1e-3})

They take MXNet's argument names (``learning_rate``, ``wd``, ``rescale_grad``,
``clip_gradient``, ``lr_scheduler``, ``beta1``, ``epsilon``, ...) and are registered under
``course_sgd``, ``course_adagrad``, ``course_rmsprop``, ``course_adam`` and
``course_adadelta`` (MXNet's own ``sgd``, ``adam``, ... stay untouched).

Where MXNet's built-in optimizers define a formula differently, ours follow the rules
(the papers' and torch.optim's conventions):

* **Adam**: MXNet folds the bias correction into the learning rate,
  ``lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)`` and keeps ``eps`` as given, which
  amounts to using ``eps / sqrt(1 - beta2^t)`` in the bias-corrected formula (a larger
  ``eps`` early on). Ours divides by ``sqrt(v_hat) + eps`` exactly, as Kingma & Ba write it.
* **SGD with momentum**: MXNet keeps ``v <- mu v - lr g``; ``w <- w + v`` (the learning rate
  inside the buffer); ours keeps ``v <- mu v + g``; ``w <- w - lr v`` (torch). The two agree
  while the learning rate is constant and differ when a schedule changes it.
* **Adagrad, RMSProp, AdaDelta**: MXNet puts ``eps`` inside the square root
  (``sqrt(s + eps)``) for Adagrad and RMSProp; ours adds it outside (``sqrt(s) + eps``),
  with torch's defaults. MXNet's AdaDelta has no learning rate; ours has
  ``learning_rate=1.0``, which is the same thing.
* **Weight decay** ``wd`` is coupled L2 (``g <- g + wd w``) everywhere, as in MXNet.

MXNet is imported when this module is imported, never by ``import course_lib``.
"""
from __future__ import annotations

import mxnet as mx

from . import rules as _rules

__all__ = ["mx", "context", "NDARRAY", "RuleOptimizer", "SGD", "Adagrad", "RMSProp", "Adam",
           "AdaDelta"]


def context() -> "mx.Context":
    """The context experiments should use: the first GPU when MXNet sees one, else the CPU."""
    try:
        has_gpu = mx.context.num_gpus() > 0
    except mx.base.MXNetError:  # a CPU-only build of MXNet raises instead of returning 0
        has_gpu = False
    return mx.gpu(0) if has_gpu else mx.cpu()


# ------------------------------------------------------------------------------ ops
class NDArrayOps:
    """The ops vocabulary of :mod:`course_lib.rules` on NDArrays (``*_`` ops write in place)."""

    @staticmethod
    def zeros_like(x):
        return mx.nd.zeros(x.shape, ctx=x.context, dtype=x.dtype)

    @staticmethod
    def full_like(x, value):
        return mx.nd.full(x.shape, value, ctx=x.context, dtype=x.dtype)

    @staticmethod
    def clone(x):
        return x.copy()

    @staticmethod
    def add(x, y, alpha=1.0):
        return x + y if alpha == 1 else x + y * alpha

    @staticmethod
    def add_(x, y, alpha=1.0):
        x += y if alpha == 1 else y * alpha
        return x

    @staticmethod
    def mul_(x, y):
        x *= y
        return x

    @staticmethod
    def div_(x, y):
        x /= y
        return x

    @staticmethod
    def addcmul(x, a, b, value=1.0):
        t = a * b
        if value != 1:
            t *= value
        t += x
        return t

    @staticmethod
    def addcmul_(x, a, b, value=1.0):
        t = a * b
        if value != 1:
            t *= value
        x += t
        return x

    @staticmethod
    def addcdiv_(x, a, b, value=1.0):
        t = a / b
        if value != 1:
            t *= value
        x += t
        return x

    @staticmethod
    def lerp_(x, y, weight):
        t = y - x
        t *= weight
        x += t
        return x

    @staticmethod
    def sqrt(x):
        return mx.nd.sqrt(x)

    @staticmethod
    def sqrt_(x):
        return mx.nd.sqrt(x, out=x)

    @staticmethod
    def maximum_(x, y):
        # mx.nd.maximum is a Python helper without out=; the operator itself takes it
        return mx.nd.broadcast_maximum(x, y, out=x)


#: Ops on one NDArray.
NDARRAY = NDArrayOps()


# -------------------------------------------------------------------------- adapter
class RuleOptimizer(mx.optimizer.Optimizer):
    """An ``mx.optimizer.Optimizer`` that runs a :class:`course_lib.rules.Rule`.

    ``rule`` and ``hyper`` (the rule's hyperparameters other than ``lr`` and
    ``weight_decay``) are fixed at construction; the learning rate comes from MXNet
    (``learning_rate``, ``lr_scheduler``, ``lr_mult``) and the weight decay from ``wd`` and
    ``wd_mult`` at every step. The gradient is first multiplied by ``rescale_grad`` (the
    Trainer sets ``1 / batch_size``) and clipped to ``[-clip_gradient, clip_gradient]``.
    """

    #: The rule's name of a hyperparameter -> this class's argument name, for error messages.
    _arg_names: dict = {}

    def __init__(self, rule: _rules.Rule, hyper: dict, learning_rate: float, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rule = rule
        self.hyper = dict(hyper)
        try:
            rule.validate({**rule.defaults, **self.hyper, "lr": self.learning_rate,
                           "weight_decay": self.wd})
        except ValueError as error:  # name the parameter as the caller spelled it
            message = str(error)
            for ours, theirs in {**self._arg_names, "lr": "learning_rate",
                                 "weight_decay": "wd"}.items():
                message = message.replace(f"Invalid {ours}:", f"Invalid {theirs}:")
            raise ValueError(message) from None
        if self.clip_gradient is not None and not self.clip_gradient > 0:
            raise ValueError(f"Invalid clip_gradient: {self.clip_gradient!r} (must be > 0)")

    def create_state(self, index, weight):
        return self.rule.init(weight, NDARRAY, **self.hyper)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        if grad.stype != "default":
            grad = grad.tostype("default")
        if self.rescale_grad != 1:
            grad = grad * self.rescale_grad
        if self.clip_gradient is not None:
            grad = mx.nd.clip(grad, -self.clip_gradient, self.clip_gradient)
        self.rule.update(weight, grad, state, NDARRAY, lr=self._get_lr(index),
                         weight_decay=self._get_wd(index), **self.hyper)


def _register(name: str):
    """Register an optimizer class under ``name`` (MXNet's decorator would use the class
    name and replace MXNet's own ``sgd``, ``adam``, ...)."""
    def register(cls):
        mx.optimizer.Optimizer.opt_registry[name] = cls
        cls.registered_name = name
        return cls
    return register


# ------------------------------------------------------------------------ optimizers
@_register("course_sgd")
class SGD(RuleOptimizer):
    """SGD, with heavy-ball momentum when ``momentum > 0`` (:data:`course_lib.rules.sgd`,
    :data:`course_lib.rules.momentum`): ``v <- mu v + (1 - dampening) g``,
    ``w <- w - lr v`` (``nesterov=True``: the step is ``g + mu v``)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, dampening=0.0, nesterov=False,
                 **kwargs):
        if momentum == 0 and not nesterov:
            rule, hyper = _rules.sgd, {}
        else:
            rule, hyper = _rules.momentum, dict(momentum=momentum, dampening=dampening,
                                               nesterov=nesterov)
        super().__init__(rule, hyper, learning_rate, **kwargs)


@_register("course_adagrad")
class Adagrad(RuleOptimizer):
    """Adagrad (:data:`course_lib.rules.adagrad`): ``s <- s + g^2``,
    ``w <- w - lr g / (sqrt(s) + eps)``."""

    def __init__(self, learning_rate=0.01, eps=1e-10, lr_decay=0.0,
                 initial_accumulator_value=0.0, **kwargs):
        super().__init__(_rules.adagrad, dict(eps=eps, lr_decay=lr_decay,
                                              initial_accumulator_value=initial_accumulator_value),
                         learning_rate, **kwargs)


@_register("course_rmsprop")
class RMSProp(RuleOptimizer):
    """RMSProp (:data:`course_lib.rules.rmsprop`): ``s <- gamma1 s + (1 - gamma1) g^2``,
    ``w <- w - lr g / (sqrt(s) + epsilon)``; ``gamma2`` is the momentum of the scaled step
    and ``centered`` divides by the running standard deviation instead."""

    _arg_names = {"alpha": "gamma1", "momentum": "gamma2", "eps": "epsilon"}

    def __init__(self, learning_rate=0.01, gamma1=0.99, gamma2=0.0, epsilon=1e-8,
                 centered=False, **kwargs):
        super().__init__(_rules.rmsprop, dict(alpha=gamma1, momentum=gamma2, eps=epsilon,
                                              centered=centered), learning_rate, **kwargs)


@_register("course_adam")
class Adam(RuleOptimizer):
    """Adam (:data:`course_lib.rules.adam`), bias-corrected as in Kingma & Ba:
    ``w <- w - lr m_hat / (sqrt(v_hat) + epsilon)``. ``bias_correction=False`` drops the
    ``1 - beta^t`` factors (chapter 7 shows why they exist); ``amsgrad`` uses the running
    maximum of ``v``."""

    _arg_names = {"betas[0]": "beta1", "betas[1]": "beta2", "eps": "epsilon"}

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 amsgrad=False, bias_correction=True, **kwargs):
        super().__init__(_rules.adam, dict(betas=(beta1, beta2), eps=epsilon, amsgrad=amsgrad,
                                           bias_correction=bias_correction),
                         learning_rate, **kwargs)


@_register("course_adadelta")
class AdaDelta(RuleOptimizer):
    """AdaDelta (:data:`course_lib.rules.adadelta`, Zeiler 2012):
    ``d = sqrt(u + epsilon) / sqrt(s + epsilon) g``, ``w <- w - lr d``."""

    _arg_names = {"eps": "epsilon"}

    def __init__(self, learning_rate=1.0, rho=0.9, epsilon=1e-6, **kwargs):
        super().__init__(_rules.adadelta, dict(rho=rho, eps=epsilon), learning_rate, **kwargs)
