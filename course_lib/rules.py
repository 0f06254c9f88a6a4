"""Optimizer update rules, each written once.

A :class:`Rule` is a small named tuple of plain functions::

    state = rule.init(param, ops)                       # dict, keys named like torch.optim's
    rule.update(param, grad, state, ops, **hyper)       # updates param and state IN PLACE

``ops`` is a tiny vocabulary of in-place array operations with torch-like names
(``mul_``, ``add_``, ``addcmul_``, ``addcdiv_``, ``lerp_``, ``sqrt``, ...). The same
update function therefore drives

* numpy arrays, with :data:`NUMPY` (used by :mod:`course_lib.descent`: 10,000 starting
  points of a 2-D surface at once);
* torch tensors, or lists of tensors batched with ``torch._foreach_*`` (see
  :mod:`course_lib.torch`);
* MXNet NDArrays (see :mod:`course_lib.mxnet`).

The ops that return a new array (``add``, ``addcmul``, ``sqrt``) may hand out scratch
buffers that an adapter reuses from step to step (:mod:`course_lib.torch` does on
the CPU): a rule treats the results of ``add``, ``addcmul`` and ``sqrt`` as temporaries and
stores in its state only what it made with ``clone``, ``zeros_like`` or ``full_like``.

Complex arrays follow torch.optim: a complex parameter is its real and imaginary parts
(``torch.view_as_real``), so :data:`NUMPY` applies every op to the two parts separately
(Adam's ``v`` holds ``Re(g)^2 + i Im(g)^2``, not ``g^2``, and ``eps`` is added to both);
``newton`` refuses complex input.

Inside a rule, arrays are whatever the ops understand; scalars (learning rate, step count,
bias corrections) are plain Python numbers. The step counter ``state["step"]`` is a Python
number too; adapters translate it to their own storage.

Example
-------
>>> import numpy as np
>>> from course_lib import rules
>>> x = np.array([1.0, -2.0])
>>> state = rules.adam.init(x, rules.NUMPY)
>>> rules.adam.update(x, 2 * x, state, rules.NUMPY, lr=0.1)
>>> x.round(6).tolist(), state["step"]
([0.9, -1.9], 1)
"""
from __future__ import annotations

import math

import functools
from typing import Any, Callable, NamedTuple

import numpy as np

__all__ = [
    "Rule", "NUMPY", "NumpyOps", "get", "names",
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "adadelta",
    "newton",
]


class Rule(NamedTuple):
    """An optimizer: ``init(param, ops, **hyper) -> state`` and
    ``update(param, grad, state, ops, **hyper)`` (in place).

    Attributes
    ----------
    name : str
    init : callable
    update : callable
    defaults : dict
        Every hyperparameter the rule accepts, with its default value.
    validate : callable
        ``validate(hyper, zero_lr_ok=False)`` raises ``ValueError`` naming a bad parameter.
    """

    name: str
    init: Callable[..., dict]
    update: Callable[..., None]
    defaults: dict
    validate: Callable[..., None]

    def hyper(self, zero_lr_ok: bool = False, **overrides: Any) -> dict:
        """Defaults merged with ``overrides``, checked by :attr:`validate`.

        Raises ``ValueError`` for a name the rule does not know.
        """
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"unknown hyperparameter {unknown[0]!r} for rule {self.name!r}; "
                f"known: {sorted(self.defaults)}")
        merged = {**self.defaults, **overrides}
        self.validate(merged, zero_lr_ok=zero_lr_ok)
        return merged


# --------------------------------------------------------------------------- numpy ops
def _has_complex(args) -> bool:
    for a in args:  # a loop, not any(...): this runs on every op of the numpy engine
        if isinstance(a, np.ndarray) and a.dtype.kind == "c":
            return True
    return False


def _componentwise(op):
    """``op`` applied to the real and the imaginary parts separately when an array argument
    is complex (torch.optim's ``view_as_real`` semantics); plain ``op`` otherwise."""
    @functools.wraps(op)
    def wrapped(*args, **kwargs):
        if not _has_complex(args):
            return op(*args, **kwargs)
        re, im = (op(*(getattr(a, part) if isinstance(a, np.ndarray) else a for a in args),
                     **kwargs) for part in ("real", "imag"))
        if op.__name__.endswith("_"):  # in place: the parts were views of args[0]
            return args[0]
        out = re.astype(np.result_type(re.dtype, np.complex64))
        out.imag = im
        return out
    return wrapped


class NumpyOps:
    """The ops vocabulary on numpy arrays: every ``*_`` op writes into its first argument."""

    @staticmethod
    def zeros_like(x):
        return np.zeros_like(x)

    @staticmethod
    @_componentwise
    def full_like(x, value):
        return np.full_like(x, value)

    @staticmethod
    def clone(x):
        return np.array(x, copy=True)

    @staticmethod
    @_componentwise
    def add(x, y, alpha=1.0):
        """``x + alpha * y`` (new array)."""
        return x + y if alpha == 1 else x + alpha * y

    @staticmethod
    @_componentwise
    def add_(x, y, alpha=1.0):
        """``x += alpha * y``; ``y`` may be a scalar."""
        if alpha == 1:
            np.add(x, y, out=x)
        else:
            np.add(x, np.multiply(y, alpha), out=x)
        return x

    @staticmethod
    @_componentwise
    def mul_(x, y):
        np.multiply(x, y, out=x)
        return x

    @staticmethod
    @_componentwise
    def div_(x, y):
        np.divide(x, y, out=x)
        return x

    @staticmethod
    @_componentwise
    def addcmul(x, a, b, value=1.0):
        """``x + value * a * b`` (new array)."""
        t = np.multiply(a, b)
        if value != 1:
            np.multiply(t, value, out=t)
        return np.add(x, t, out=t)

    @staticmethod
    @_componentwise
    def addcmul_(x, a, b, value=1.0):
        """``x += value * a * b``."""
        t = np.multiply(a, b)
        if value != 1:
            np.multiply(t, value, out=t)
        np.add(x, t, out=x)
        return x

    @staticmethod
    @_componentwise
    def addcdiv_(x, a, b, value=1.0):
        """``x += value * a / b``."""
        t = np.divide(a, b)
        if value != 1:
            np.multiply(t, value, out=t)
        np.add(x, t, out=x)
        return x

    @staticmethod
    @_componentwise
    def lerp_(x, y, weight):
        """``x += weight * (y - x)``."""
        t = np.subtract(y, x)
        np.multiply(t, weight, out=t)
        np.add(x, t, out=x)
        return x

    @staticmethod
    @_componentwise
    def sqrt(x):
        return np.sqrt(x)

    @staticmethod
    @_componentwise
    def sqrt_(x):
        np.sqrt(x, out=x)
        return x

    @staticmethod
    @_componentwise
    def maximum_(x, y):
        np.maximum(x, y, out=x)
        return x

    @staticmethod
    def solve(hessian, grad):
        """``hessian^{-1} grad`` batched over leading dimensions (closed form for 2x2, so a
        singular Hessian gives inf/nan for that point instead of an error for the batch)."""
        if np.iscomplexobj(hessian) or np.iscomplexobj(grad):
            raise ValueError("Invalid input: complex arrays (newton solves real systems; "
                             "pass the real and imaginary parts as separate coordinates)")
        if hessian.shape[-2:] == (2, 2):
            a, b = hessian[..., 0, 0], hessian[..., 0, 1]
            c, d = hessian[..., 1, 0], hessian[..., 1, 1]
            g0, g1 = grad[..., 0], grad[..., 1]
            det = a * d - b * c
            out = np.empty_like(grad)
            np.divide(d * g0 - b * g1, det, out=out[..., 0])
            np.divide(a * g1 - c * g0, det, out=out[..., 1])
            return out
        return np.linalg.solve(hessian, grad[..., None])[..., 0]


#: The numpy ops vocabulary (used by :mod:`course_lib.descent`).
NUMPY = NumpyOps()


# ------------------------------------------------------------------------- validation
def _check(name: str, ok: bool, allowed: str, value) -> None:
    if not ok:
        raise ValueError(f"Invalid {name}: {value!r} (must be {allowed})")


def _number(hyper: dict, name: str):
    value = hyper[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        # torch tensors with one element are fine too
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"Invalid {name}: {value!r} (must be a number)") from None
    return value


def _check_lr(hyper, zero_lr_ok):
    lr = _number(hyper, "lr")
    if zero_lr_ok:
        _check("lr", lr >= 0, ">= 0", lr)
    else:
        _check("lr", lr > 0, "> 0", lr)


def _check_nonneg(hyper, *names):
    for name in names:
        value = _number(hyper, name)
        _check(name, value >= 0, ">= 0", value)


def _check_eps(hyper, name="eps"):
    value = _number(hyper, name)
    _check(name, value > 0, "> 0", value)


def _check_unit(hyper, name, closed=False):
    value = _number(hyper, name)
    if closed:
        _check(name, 0 <= value <= 1, "in [0, 1]", value)
    else:
        _check(name, 0 <= value < 1, "in [0, 1)", value)


# ------------------------------------------------------------------------------ rules
def _mul_add_(ops, x, a, y, b):
    """``x <- a x + b y``: the ops' ``mul_add_`` where they have one (torch's, a single pass
    on the CPU), else ``mul_`` then ``add_``."""
    fused = getattr(ops, "mul_add_", None)
    if fused is not None:
        return fused(x, a, y, b)
    ops.mul_(x, a)
    return ops.add_(x, y, alpha=b)


def _weight_decay(param, grad, ops, weight_decay, lr=0.0, decoupled=False):
    """Weight decay; returns the gradient the rule goes on with.

    Coupled L2 regularization: ``g <- g + wd * p`` (a new array; ``grad`` is untouched).
    ``decoupled=True`` (Loshchilov & Hutter): ``p <- p (1 - lr wd)`` in place, ``g`` as is.
    """
    if not weight_decay:
        return grad
    if decoupled:
        ops.mul_(param, 1 - lr * weight_decay)
        return grad
    return ops.add(grad, param, alpha=weight_decay)


def _root(ops, s, eps, eps_inside_sqrt=False):
    """``sqrt(s) + eps`` (torch's convention), or ``sqrt(s + eps)`` with ``eps_inside_sqrt``
    (MXNet's Adagrad and RMSProp); a new array."""
    if eps_inside_sqrt:
        return ops.sqrt_(ops.add(s, eps))
    return ops.add_(ops.sqrt(s), eps)


# SGD ---------------------------------------------------------------------------------
def _no_state(param, ops, **hyper):
    return {}


def _sgd_update(param, grad, state, ops, lr, weight_decay=0.0):
    """Gradient descent: ``p <- p - lr * g``."""
    grad = _weight_decay(param, grad, ops, weight_decay)
    ops.add_(param, grad, alpha=-lr)


def _sgd_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_nonneg(hyper, "weight_decay")


sgd = Rule("sgd", _no_state, _sgd_update, {"lr": 1e-3, "weight_decay": 0.0}, _sgd_validate)


# Momentum (heavy ball) and Nesterov ---------------------------------------------------
def _momentum_init(param, ops, **hyper):
    # Like torch.optim.SGD, the buffer is created from the first gradient (see update).
    return {"momentum_buffer": None}


def _momentum_update(param, grad, state, ops, lr, momentum=0.9, dampening=0.0,
                     nesterov=False, weight_decay=0.0, lr_in_buffer=False):
    """Heavy ball, torch convention: ``v <- mu v + (1 - dampening) g``; ``p <- p - lr v``.

    With ``nesterov=True`` the step is ``g + mu v`` instead of ``v`` (look-ahead).
    The first step sets ``v <- g`` (no dampening), as torch.optim.SGD does.

    ``lr_in_buffer=True`` (MXNet's convention) keeps the learning rate inside the buffer:
    ``v <- mu v + (1 - dampening) lr g``; ``p <- p - v`` (nesterov: ``p <- p - lr g - mu v``).
    That is ``lr`` times torch's buffer while the learning rate is constant; when a schedule
    changes it, past gradients keep the rate they were taken with.
    """
    grad = _weight_decay(param, grad, ops, weight_decay)
    scale = lr if lr_in_buffer else 1.0
    buf = state["momentum_buffer"]
    if buf is None:
        buf = state["momentum_buffer"] = ops.clone(grad)
        if lr_in_buffer:
            ops.mul_(buf, lr)
    else:
        _mul_add_(ops, buf, momentum, grad, (1 - dampening) * scale)
    if nesterov and lr_in_buffer:
        ops.add_(param, grad, alpha=-lr)
        ops.add_(param, buf, alpha=-momentum)
    elif nesterov:
        ops.add_(param, ops.add(grad, buf, alpha=momentum), alpha=-lr)
    else:
        ops.add_(param, buf, alpha=-1.0 if lr_in_buffer else -lr)


def _momentum_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_nonneg(hyper, "momentum", "weight_decay")
    _check_unit(hyper, "dampening", closed=True)
    if hyper["nesterov"] and (_number(hyper, "momentum") <= 0 or hyper["dampening"] != 0):
        raise ValueError(
            f"Invalid nesterov: nesterov=True requires momentum > 0 and dampening = 0 "
            f"(got momentum={hyper['momentum']!r}, dampening={hyper['dampening']!r})")


_MOMENTUM_DEFAULTS = {"lr": 1e-3, "momentum": 0.9, "dampening": 0.0, "nesterov": False,
                      "weight_decay": 0.0, "lr_in_buffer": False}
momentum = Rule("momentum", _momentum_init, _momentum_update, _MOMENTUM_DEFAULTS,
                _momentum_validate)
nesterov = Rule("nesterov", _momentum_init, _momentum_update,
                {**_MOMENTUM_DEFAULTS, "nesterov": True}, _momentum_validate)


# Adagrad -----------------------------------------------------------------------------
def _adagrad_init(param, ops, initial_accumulator_value=0.0, **hyper):
    return {"step": 0, "sum": ops.full_like(param, initial_accumulator_value)}


def _adagrad_update(param, grad, state, ops, lr, lr_decay=0.0, weight_decay=0.0,
                    initial_accumulator_value=0.0, eps=1e-10, eps_inside_sqrt=False,
                    decoupled_weight_decay=False):
    """Adagrad: ``s <- s + g^2``; ``p <- p - lr_t g / (sqrt(s) + eps)``,
    ``lr_t = lr / (1 + (t - 1) lr_decay)``.

    ``eps_inside_sqrt`` divides by ``sqrt(s + eps)``; ``decoupled_weight_decay`` decays
    ``p <- p (1 - lr_t wd)`` instead of adding ``wd p`` to the gradient (both MXNet's).
    """
    state["step"] += 1
    clr = lr / (1 + (state["step"] - 1) * lr_decay)
    grad = _weight_decay(param, grad, ops, weight_decay, clr, decoupled_weight_decay)
    ops.addcmul_(state["sum"], grad, grad, value=1)
    std = _root(ops, state["sum"], eps, eps_inside_sqrt)
    ops.addcdiv_(param, grad, std, value=-clr)


def _adagrad_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_nonneg(hyper, "lr_decay", "weight_decay", "initial_accumulator_value")
    _check_eps(hyper)


adagrad = Rule("adagrad", _adagrad_init, _adagrad_update,
               {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0,
                "initial_accumulator_value": 0.0, "eps": 1e-10, "eps_inside_sqrt": False,
                "decoupled_weight_decay": False}, _adagrad_validate)


# RMSprop -----------------------------------------------------------------------------
def _rmsprop_init(param, ops, momentum=0.0, centered=False, **hyper):
    state = {"step": 0, "square_avg": ops.zeros_like(param)}
    if momentum > 0:
        state["momentum_buffer"] = ops.zeros_like(param)
    if centered:
        state["grad_avg"] = ops.zeros_like(param)
    return state


def _rmsprop_update(param, grad, state, ops, lr, alpha=0.99, eps=1e-8, weight_decay=0.0,
                    momentum=0.0, centered=False, eps_inside_sqrt=False, lr_in_buffer=False):
    """RMSprop: ``s <- alpha s + (1 - alpha) g^2``; ``p <- p - lr g / (sqrt(s) + eps)``.

    ``centered`` divides by ``sqrt(s - gbar^2)``, the running variance, with
    ``gbar <- alpha gbar + (1 - alpha) g``; ``momentum`` accumulates the scaled step in
    ``b <- mu b + g / (sqrt(s) + eps)``; ``p <- p - lr b``.

    MXNet's conventions: ``eps_inside_sqrt`` divides by ``sqrt(s + eps)``; ``lr_in_buffer``
    accumulates ``b <- mu b + lr g / (...)`` and steps ``p <- p - b``.
    """
    state["step"] += 1
    grad = _weight_decay(param, grad, ops, weight_decay)
    square_avg = state["square_avg"]
    ops.mul_(square_avg, alpha)
    ops.addcmul_(square_avg, grad, grad, value=1 - alpha)
    if centered:
        grad_avg = state["grad_avg"]
        ops.lerp_(grad_avg, grad, 1 - alpha)
        variance = ops.addcmul(square_avg, grad_avg, grad_avg, value=-1)
        avg = _root(ops, variance, eps, eps_inside_sqrt)
    else:
        avg = _root(ops, square_avg, eps, eps_inside_sqrt)
    if momentum > 0:
        buf = state["momentum_buffer"]
        ops.mul_(buf, momentum)
        ops.addcdiv_(buf, grad, avg, value=lr if lr_in_buffer else 1.0)
        ops.add_(param, buf, alpha=-1.0 if lr_in_buffer else -lr)
    else:
        ops.addcdiv_(param, grad, avg, value=-lr)


def _rmsprop_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_nonneg(hyper, "momentum", "weight_decay")
    _check_unit(hyper, "alpha", closed=True)
    _check_eps(hyper)


rmsprop = Rule("rmsprop", _rmsprop_init, _rmsprop_update,
               {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0,
                "momentum": 0.0, "centered": False, "eps_inside_sqrt": False,
                "lr_in_buffer": False}, _rmsprop_validate)


def _sqrt(x):
    """``sqrt(x)`` of a number (correctly rounded, as ``math.sqrt``) or of a tensor (the
    compiled path passes the step as a 0-dim tensor)."""
    return math.sqrt(x) if isinstance(x, (int, float)) else x ** 0.5


# Adam / AdamW ------------------------------------------------------------------------
def _adam_init(param, ops, amsgrad=False, **hyper):
    state = {"step": 0, "exp_avg": ops.zeros_like(param), "exp_avg_sq": ops.zeros_like(param)}
    if amsgrad:
        state["max_exp_avg_sq"] = ops.zeros_like(param)
    return state


def _adam_update(param, grad, state, ops, lr, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, amsgrad=False, decoupled_weight_decay=False,
                 bias_correction=True, bias_correction_in_lr=False):
    """Adam (Kingma & Ba, 2015; torch.optim convention)::

        m <- beta1 m + (1 - beta1) g          v <- beta2 v + (1 - beta2) g^2
        p <- p - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - beta1^t),
                                                    v_hat = v / (1 - beta2^t)

    ``weight_decay`` is coupled L2 (``g <- g + wd p``) unless ``decoupled_weight_decay``
    (AdamW: ``p <- p (1 - lr wd)`` before the step). ``amsgrad`` uses the running maximum
    of ``v``. ``bias_correction=False`` drops the two ``1 - beta^t`` factors.

    ``bias_correction_in_lr=True`` is Kingma & Ba's cheaper ordering, which MXNet uses:
    ``p <- p - lr_t m / (sqrt(v) + eps)`` with ``lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)``,
    the formula above with ``eps / sqrt(1 - beta2^t)`` in place of ``eps`` (larger early on).
    """
    beta1, beta2 = betas
    state["step"] += 1
    t = state["step"]
    grad = _weight_decay(param, grad, ops, weight_decay, lr, decoupled_weight_decay)
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    ops.lerp_(exp_avg, grad, 1 - beta1)
    ops.mul_(exp_avg_sq, beta2)
    ops.addcmul_(exp_avg_sq, grad, grad, value=1 - beta2)
    if amsgrad:
        exp_avg_sq = ops.maximum_(state["max_exp_avg_sq"], exp_avg_sq)
    if bias_correction:
        correction1 = 1 - beta1 ** t
        correction2_sqrt = _sqrt(1 - beta2 ** t)
    else:
        correction1 = correction2_sqrt = 1.0
    # m_hat / (sqrt(v_hat) + eps) == (c2 / c1) m / (sqrt(v) + eps c2) with c2 = sqrt(1-beta2^t):
    # the same number (eps rescaled exactly) with one pass less over memory.
    eps_t = eps if bias_correction_in_lr else eps * correction2_sqrt
    denom = ops.add_(ops.sqrt(exp_avg_sq), eps_t)
    ops.addcdiv_(param, exp_avg, denom, value=-lr * correction2_sqrt / correction1)


def _adam_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_eps(hyper)
    _check_nonneg(hyper, "weight_decay")
    betas = hyper["betas"]
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise ValueError(f"Invalid betas: {betas!r} (must be a pair (beta1, beta2))")
    for i, beta in enumerate(betas):
        _check(f"betas[{i}]", 0 <= float(beta) < 1, "in [0, 1)", beta)


_ADAM_DEFAULTS = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                  "amsgrad": False, "decoupled_weight_decay": False, "bias_correction": True,
                  "bias_correction_in_lr": False}
adam = Rule("adam", _adam_init, _adam_update, _ADAM_DEFAULTS, _adam_validate)
adamw = Rule("adamw", _adam_init, _adam_update,
             {**_ADAM_DEFAULTS, "weight_decay": 1e-2, "decoupled_weight_decay": True},
             _adam_validate)


# Adadelta ----------------------------------------------------------------------------
def _adadelta_init(param, ops, **hyper):
    return {"step": 0, "square_avg": ops.zeros_like(param), "acc_delta": ops.zeros_like(param)}


def _adadelta_update(param, grad, state, ops, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
                     decoupled_weight_decay=False):
    """Adadelta (Zeiler, 2012)::

        s <- rho s + (1 - rho) g^2
        d <- sqrt(u + eps) / sqrt(s + eps) * g
        u <- rho u + (1 - rho) d^2
        p <- p - lr d

    ``decoupled_weight_decay`` decays ``p <- p (1 - lr wd)`` instead of adding ``wd p`` to
    the gradient (MXNet's AdaDelta, whose step has no learning rate: ``lr = 1``).
    """
    state["step"] += 1
    grad = _weight_decay(param, grad, ops, weight_decay, lr, decoupled_weight_decay)
    square_avg, acc_delta = state["square_avg"], state["acc_delta"]
    ops.mul_(square_avg, rho)
    ops.addcmul_(square_avg, grad, grad, value=1 - rho)
    std = ops.sqrt_(ops.add(square_avg, eps))
    delta = ops.sqrt_(ops.add(acc_delta, eps))
    ops.div_(delta, std)
    ops.mul_(delta, grad)
    ops.mul_(acc_delta, rho)
    ops.addcmul_(acc_delta, delta, delta, value=1 - rho)
    ops.add_(param, delta, alpha=-lr)


def _adadelta_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_unit(hyper, "rho", closed=True)
    _check_eps(hyper)
    _check_nonneg(hyper, "weight_decay")


adadelta = Rule("adadelta", _adadelta_init, _adadelta_update,
                {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0,
                 "decoupled_weight_decay": False}, _adadelta_validate)


# Newton ------------------------------------------------------------------------------
def _newton_update(param, grad, state, ops, lr=1.0, hessian=None):
    """Newton's method: ``p <- p - lr H^{-1} g`` (``hessian`` has shape ``param.shape + (d,)``).

    Needs ``ops.solve`` (numpy); :func:`course_lib.descent.run` passes ``hessian``.
    """
    if hessian is None:
        raise ValueError("Invalid hessian: None (newton needs hessian=, the Hessian at param)")
    ops.add_(param, ops.solve(hessian, grad), alpha=-lr)


def _newton_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)


newton = Rule("newton", _no_state, _newton_update, {"lr": 1.0, "hessian": None},
              _newton_validate)


# ----------------------------------------------------------------------------- lookup
_RULES = {r.name: r for r in (sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw,
                              adadelta, newton)}


def names() -> list[str]:
    """The names :func:`get` knows."""
    return sorted(_RULES)


def get(rule) -> Rule:
    """The :class:`Rule` called ``rule`` (a Rule passes through).

    >>> get("adam").defaults["betas"]
    (0.9, 0.999)
    """
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, str) and rule.lower() in _RULES:
        return _RULES[rule.lower()]
    raise ValueError(f"Invalid rule: {rule!r} (known rules: {', '.join(names())})")
