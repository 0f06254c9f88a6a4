"""Optimizer update rules, each written once.

A :class:`Rule` is a small named tuple of plain functions::

    state = rule.init(param, ops)                       # dict, keys named like torch.optim's
    rule.update(param, grad, state, ops, **hyper)       # updates param and state IN PLACE

The update functions are public (:func:`sgd_update`, :func:`momentum_update`,
:func:`adagrad_update`, :func:`rmsprop_update`, :func:`adam_update`,
:func:`adadelta_update`, :func:`newton_update`): each docstring states its formula, and
its lines follow that formula with the math's names (``m``, ``v``, ``s``, ``t``). The state
dict keeps torch.optim's key names (``exp_avg`` for ``m``, ``exp_avg_sq`` for ``v``, ...)
so that a state dict moves between :mod:`course_lib.torch` and ``torch.optim``.

``ops`` is a tiny vocabulary of in-place array operations with torch-like names, declared
by the protocol :class:`Ops` (``mul_``, ``add_``, ``addcmul_``, ``addcdiv_``, ``lerp_``,
``sqrt``, ...). The same update function therefore drives

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

import functools
import inspect
import math
import numbers
from typing import Any, Callable, NamedTuple, Protocol

import numpy as np

from . import _checks

__all__ = [
    "Ops", "Rule", "NUMPY", "NumpyOps", "get", "names", "hyperparameters",
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "adadelta",
    "newton",
    "sgd_update", "momentum_update", "adagrad_update", "rmsprop_update", "adam_update",
    "adadelta_update", "newton_update",
    "no_state", "momentum_init", "adagrad_init", "rmsprop_init", "adam_init", "adadelta_init",
]

#: An array of whatever type the ops work on (numpy array, tensor, list of tensors, NDArray).
Array = Any


class Ops(Protocol):
    """The ops vocabulary the rules are written in; every back-end implements all of it.

    Implemented by :class:`NumpyOps` (numpy arrays), :class:`course_lib.torch.TensorOps`
    (one tensor), :class:`course_lib.torch.TensorListOps` (a list of tensors,
    ``torch._foreach_*``), :class:`course_lib.torch_compiled.CompiledOps` and
    :class:`course_lib.mxnet.NDArrayOps` (NDArrays). An op named ``*_`` writes into its
    first argument and returns it; the others return a new array (possibly a scratch buffer:
    a temporary, see the module docstring). ``y`` may be an array or a scalar.

    Two optional ops are looked up with ``getattr``: ``mul_add_(x, a, y, b)``,
    ``x <- a x + b y`` in one pass (else ``mul_`` then ``add_``), and
    ``solve(hessian, grad)``, which only :func:`newton_update` needs (numpy).
    """

    def zeros_like(self, x: Array) -> Array:
        """A new array of zeros shaped like ``x``."""

    def full_like(self, x: Array, value: float) -> Array:
        """A new array shaped like ``x``, filled with ``value``."""

    def clone(self, x: Array) -> Array:
        """A copy of ``x`` that the rule may keep in its state."""

    def add(self, x: Array, y: Array, alpha: float = 1.0) -> Array:
        """``x + alpha y``."""

    def add_(self, x: Array, y: Array, alpha: float = 1.0) -> Array:
        """``x <- x + alpha y``."""

    def mul_(self, x: Array, y: Array) -> Array:
        """``x <- x y``."""

    def div_(self, x: Array, y: Array) -> Array:
        """``x <- x / y``."""

    def addcmul(self, x: Array, a: Array, b: Array, value: float = 1.0) -> Array:
        """``x + value a b``."""

    def addcmul_(self, x: Array, a: Array, b: Array, value: float = 1.0) -> Array:
        """``x <- x + value a b``."""

    def addcdiv_(self, x: Array, a: Array, b: Array, value: float = 1.0) -> Array:
        """``x <- x + value a / b``."""

    def lerp_(self, x: Array, y: Array, weight: float) -> Array:
        """``x <- x + weight (y - x)``."""

    def sqrt(self, x: Array) -> Array:
        """``sqrt(x)``."""

    def sqrt_(self, x: Array) -> Array:
        """``x <- sqrt(x)``."""

    def maximum_(self, x: Array, y: Array) -> Array:
        """``x <- max(x, y)`` elementwise."""


def hyperparameters(update: Callable) -> dict:
    """The hyperparameters of an update function and their defaults: its keyword
    parameters after ``(param, grad, state, ops)``, read from its signature.

    >>> hyperparameters(sgd_update)
    {'lr': 0.001, 'weight_decay': 0.0}
    """
    params = list(inspect.signature(update).parameters.values())[4:]
    missing = [p.name for p in params if p.default is inspect.Parameter.empty]
    if missing:
        raise ValueError(f"Invalid update function {update.__name__}: hyperparameter "
                         f"{missing[0]!r} has no default")
    return {p.name: p.default for p in params}


class Rule(NamedTuple):
    """An optimizer: ``init(param, ops, **hyper) -> state`` and
    ``update(param, grad, state, ops, **hyper)`` (in place).

    Attributes
    ----------
    name : str
    init : typing.Callable
        ``init(param, ops, **hyper) -> state``, e.g. :func:`adam_init`.
    update : typing.Callable
        ``update(param, grad, state, ops, **hyper)``, e.g. :func:`adam_update`.
    defaults : dict
        Every hyperparameter the rule accepts, with its default value: the update
        function's keyword defaults (:func:`hyperparameters`), except where a variant
        overrides them (:meth:`of`).
    validate : typing.Callable
        ``validate(hyper, zero_lr_ok=False)`` raises ``ValueError`` naming a bad parameter.
    """

    name: str
    init: Callable[..., dict]
    update: Callable[..., None]
    defaults: dict
    validate: Callable[..., None]

    @classmethod
    def of(cls, name: str, init: Callable, update: Callable, validate: Callable,
           **overrides: Any) -> "Rule":
        """The rule whose :attr:`defaults` are ``update``'s signature defaults, with
        ``overrides`` (a variant such as Nesterov or AdamW changes a few)."""
        defaults = hyperparameters(update)
        unknown = sorted(set(overrides) - set(defaults))
        if unknown:
            raise ValueError(f"Invalid override {unknown[0]!r} for rule {name!r} "
                             f"(known: {sorted(defaults)})")
        return cls(name, init, update, {**defaults, **overrides}, validate)

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
    """The :class:`Ops` vocabulary on numpy arrays: every ``*_`` op writes into its first
    argument; ``solve`` (for :func:`newton_update`) besides."""

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
            raise ValueError("newton's input must be real arrays, got complex ones (pass the "
                             "real and imaginary parts as separate coordinates)")
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
def _number(hyper: dict, name: str):
    """``hyper[name]`` as a number: a one-element tensor (torch's lr may be one) becomes a
    float; anything else that is not a number is left for :mod:`course_lib._checks` to
    refuse by name."""
    value = hyper[name]
    if not isinstance(value, (numbers.Real, str, np.bool_)):
        try:
            value = float(value)
        except (TypeError, ValueError, RuntimeError):
            pass
    return value


def _check_lr(hyper, zero_lr_ok):
    if zero_lr_ok:
        _checks.nonnegative("lr", _number(hyper, "lr"))
    else:
        _checks.positive("lr", _number(hyper, "lr"))


def _check_nonneg(hyper, *names):
    for name in names:
        _checks.nonnegative(name, _number(hyper, name))


def _check_eps(hyper, name="eps"):
    _checks.positive(name, _number(hyper, name))


def _check_unit(hyper, name, closed=False):
    _checks.probability(name, _number(hyper, name), include_one=closed)


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
def no_state(param: Array, ops: Ops, **hyper: Any) -> dict:
    """The state of a rule that keeps none (SGD, Newton): ``{}``."""
    return {}


def sgd_update(param: Array, grad: Array, state: dict, ops: Ops, lr: float = 1e-3,
               weight_decay: float = 0.0) -> None:
    r"""Gradient descent, in place.

    .. math::
        g \leftarrow g + \lambda p, \qquad p \leftarrow p - \eta\, g

    with :math:`\eta` = ``lr`` and :math:`\lambda` = ``weight_decay`` (coupled L2).
    """
    g = _weight_decay(param, grad, ops, weight_decay)
    ops.add_(param, g, alpha=-lr)


def _sgd_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_nonneg(hyper, "weight_decay")


#: Gradient descent, :func:`sgd_update`.
sgd = Rule.of("sgd", no_state, sgd_update, _sgd_validate)


# Momentum (heavy ball) and Nesterov ---------------------------------------------------
def momentum_init(param: Array, ops: Ops, **hyper: Any) -> dict:
    """``{"momentum_buffer": None}``: like torch.optim.SGD, the buffer :math:`v` is made
    from the first gradient (see :func:`momentum_update`)."""
    return {"momentum_buffer": None}


def momentum_update(param: Array, grad: Array, state: dict, ops: Ops, lr: float = 1e-3,
                    momentum: float = 0.9, dampening: float = 0.0, nesterov: bool = False,
                    weight_decay: float = 0.0, lr_in_buffer: bool = False) -> None:
    r"""Heavy ball (Polyak, 1964) and Nesterov's look-ahead, torch.optim.SGD's convention.

    .. math::
        v_1 = g_1, \qquad v_t = \mu\, v_{t-1} + (1 - \tau)\, g_t, \qquad
        p \leftarrow p - \eta\, v_t
        \quad (\text{nesterov: } p \leftarrow p - \eta\,(g_t + \mu\, v_t))

    with :math:`\mu` = ``momentum``, :math:`\tau` = ``dampening``, :math:`\eta` = ``lr``,
    :math:`v` = ``state["momentum_buffer"]`` (torch's key); ``weight_decay`` adds
    :math:`\lambda p` to :math:`g` first.

    ``lr_in_buffer=True`` (MXNet's convention) keeps the learning rate inside the buffer:
    :math:`v_t = \mu v_{t-1} + (1 - \tau)\, \eta g_t`, :math:`p \leftarrow p - v_t`
    (nesterov: :math:`p \leftarrow p - \eta g_t - \mu v_t`). That is :math:`\eta` times
    torch's buffer while the learning rate is constant; when a schedule changes it, past
    gradients keep the rate they were taken with.
    """
    g = _weight_decay(param, grad, ops, weight_decay)
    scale = lr if lr_in_buffer else 1.0
    v = state["momentum_buffer"]
    if v is None:
        v = state["momentum_buffer"] = ops.clone(g)
        if lr_in_buffer:
            ops.mul_(v, lr)
    else:
        _mul_add_(ops, v, momentum, g, (1 - dampening) * scale)
    if nesterov and lr_in_buffer:
        ops.add_(param, g, alpha=-lr)
        ops.add_(param, v, alpha=-momentum)
    elif nesterov:
        ops.add_(param, ops.add(g, v, alpha=momentum), alpha=-lr)
    else:
        ops.add_(param, v, alpha=-1.0 if lr_in_buffer else -lr)


def _momentum_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_nonneg(hyper, "momentum", "weight_decay")
    _check_unit(hyper, "dampening", closed=True)
    if hyper["nesterov"] and (_number(hyper, "momentum") <= 0 or hyper["dampening"] != 0):
        raise ValueError(
            f"nesterov=True requires momentum > 0 and dampening = 0, got "
            f"momentum={hyper['momentum']!r}, dampening={hyper['dampening']!r}")


#: Heavy-ball momentum, :func:`momentum_update`.
momentum = Rule.of("momentum", momentum_init, momentum_update, _momentum_validate)
#: Nesterov momentum, :func:`momentum_update` with ``nesterov=True``.
nesterov = Rule.of("nesterov", momentum_init, momentum_update, _momentum_validate,
                   nesterov=True)


# Adagrad -----------------------------------------------------------------------------
def adagrad_init(param: Array, ops: Ops, initial_accumulator_value: float = 0.0,
                 **hyper: Any) -> dict:
    """``{"step": 0, "sum": s_0}``, :math:`s_0` filled with ``initial_accumulator_value``."""
    return {"step": 0, "sum": ops.full_like(param, initial_accumulator_value)}


def adagrad_update(param: Array, grad: Array, state: dict, ops: Ops, lr: float = 1e-2,
                   lr_decay: float = 0.0, weight_decay: float = 0.0,
                   initial_accumulator_value: float = 0.0, eps: float = 1e-10,
                   eps_inside_sqrt: bool = False,
                   decoupled_weight_decay: bool = False) -> None:
    r"""Adagrad (Duchi, Hazan & Singer, 2011), torch.optim's convention.

    .. math::
        s_t = s_{t-1} + g_t^2, \qquad
        p \leftarrow p - \eta_t\, \frac{g_t}{\sqrt{s_t} + \epsilon}, \qquad
        \eta_t = \frac{\eta}{1 + (t - 1)\, \delta}

    with :math:`\eta` = ``lr``, :math:`\delta` = ``lr_decay``, :math:`\epsilon` = ``eps``,
    :math:`s` = ``state["sum"]``; ``weight_decay`` adds :math:`\lambda p` to :math:`g`.

    MXNet's conventions: ``eps_inside_sqrt`` divides by :math:`\sqrt{s_t + \epsilon}`;
    ``decoupled_weight_decay`` decays :math:`p \leftarrow p (1 - \eta_t \lambda)` instead.
    """
    state["step"] += 1
    t = state["step"]
    lr_t = lr / (1 + (t - 1) * lr_decay)
    g = _weight_decay(param, grad, ops, weight_decay, lr_t, decoupled_weight_decay)
    s = state["sum"]
    ops.addcmul_(s, g, g, value=1)
    sigma = _root(ops, s, eps, eps_inside_sqrt)
    ops.addcdiv_(param, g, sigma, value=-lr_t)


def _adagrad_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_nonneg(hyper, "lr_decay", "weight_decay", "initial_accumulator_value")
    _check_eps(hyper)


#: Adagrad, :func:`adagrad_update`.
adagrad = Rule.of("adagrad", adagrad_init, adagrad_update, _adagrad_validate)


# RMSprop -----------------------------------------------------------------------------
def rmsprop_init(param: Array, ops: Ops, momentum: float = 0.0, centered: bool = False,
                 **hyper: Any) -> dict:
    """``{"step": 0, "square_avg": 0}``, with ``"momentum_buffer"`` when ``momentum > 0``
    and ``"grad_avg"`` when ``centered``."""
    state = {"step": 0, "square_avg": ops.zeros_like(param)}
    if momentum > 0:
        state["momentum_buffer"] = ops.zeros_like(param)
    if centered:
        state["grad_avg"] = ops.zeros_like(param)
    return state


def rmsprop_update(param: Array, grad: Array, state: dict, ops: Ops, lr: float = 1e-2,
                   alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                   momentum: float = 0.0, centered: bool = False,
                   eps_inside_sqrt: bool = False, lr_in_buffer: bool = False) -> None:
    r"""RMSprop (Tieleman & Hinton, 2012), torch.optim's convention.

    .. math::
        s_t = \alpha\, s_{t-1} + (1 - \alpha)\, g_t^2, \qquad
        p \leftarrow p - \eta\, \frac{g_t}{\sqrt{s_t} + \epsilon}

    with :math:`s` = ``state["square_avg"]``. ``centered`` divides by
    :math:`\sqrt{s_t - \bar g_t^2} + \epsilon`, the running standard deviation, with
    :math:`\bar g_t = \alpha \bar g_{t-1} + (1 - \alpha) g_t` (``state["grad_avg"]``);
    ``momentum`` :math:`\mu > 0` accumulates the scaled step,
    :math:`b_t = \mu b_{t-1} + g_t / (\sqrt{s_t} + \epsilon)`,
    :math:`p \leftarrow p - \eta b_t` (``state["momentum_buffer"]``).

    MXNet's conventions: ``eps_inside_sqrt`` divides by :math:`\sqrt{s_t + \epsilon}`;
    ``lr_in_buffer`` accumulates :math:`b_t = \mu b_{t-1} + \eta g_t / (\dots)` and steps
    :math:`p \leftarrow p - b_t`.
    """
    state["step"] += 1
    g = _weight_decay(param, grad, ops, weight_decay)
    s = state["square_avg"]
    ops.mul_(s, alpha)
    ops.addcmul_(s, g, g, value=1 - alpha)
    if centered:
        g_bar = state["grad_avg"]
        ops.lerp_(g_bar, g, 1 - alpha)
        variance = ops.addcmul(s, g_bar, g_bar, value=-1)
        sigma = _root(ops, variance, eps, eps_inside_sqrt)
    else:
        sigma = _root(ops, s, eps, eps_inside_sqrt)
    if momentum > 0:
        b = state["momentum_buffer"]
        ops.mul_(b, momentum)
        ops.addcdiv_(b, g, sigma, value=lr if lr_in_buffer else 1.0)
        ops.add_(param, b, alpha=-1.0 if lr_in_buffer else -lr)
    else:
        ops.addcdiv_(param, g, sigma, value=-lr)


def _rmsprop_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_nonneg(hyper, "momentum", "weight_decay")
    _check_unit(hyper, "alpha", closed=True)
    _check_eps(hyper)


#: RMSprop, :func:`rmsprop_update`.
rmsprop = Rule.of("rmsprop", rmsprop_init, rmsprop_update, _rmsprop_validate)


def _sqrt(x):
    """``sqrt(x)`` of a number (correctly rounded, as ``math.sqrt``) or of a tensor (the
    compiled path passes the step as a 0-dim tensor)."""
    return math.sqrt(x) if isinstance(x, (int, float)) else x ** 0.5


# Adam / AdamW ------------------------------------------------------------------------
def adam_init(param: Array, ops: Ops, amsgrad: bool = False, **hyper: Any) -> dict:
    """``{"step": 0, "exp_avg": m_0 = 0, "exp_avg_sq": v_0 = 0}`` (torch.optim's keys),
    with ``"max_exp_avg_sq"`` when ``amsgrad``."""
    state = {"step": 0, "exp_avg": ops.zeros_like(param), "exp_avg_sq": ops.zeros_like(param)}
    if amsgrad:
        state["max_exp_avg_sq"] = ops.zeros_like(param)
    return state


def adam_update(param: Array, grad: Array, state: dict, ops: Ops, lr: float = 1e-3,
                betas: tuple = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                amsgrad: bool = False, decoupled_weight_decay: bool = False,
                bias_correction: bool = True, bias_correction_in_lr: bool = False) -> None:
    r"""Adam (Kingma & Ba, 2015), torch.optim's convention.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \\
        \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad
        \hat v_t = \frac{v_t}{1 - \beta_2^t}, \qquad
        p \leftarrow p - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :math:`(\beta_1, \beta_2)` = ``betas``, :math:`m` = ``state["exp_avg"]``,
    :math:`v` = ``state["exp_avg_sq"]`` (torch's keys). The code computes the same number
    with one pass less over memory, :math:`\frac{c_2}{c_1}\, m_t / (\sqrt{v_t} +
    \epsilon c_2)` with :math:`c_1 = 1 - \beta_1^t`, :math:`c_2 = \sqrt{1 - \beta_2^t}`.

    ``weight_decay`` :math:`\lambda` adds :math:`\lambda p` to :math:`g` (coupled L2) unless
    ``decoupled_weight_decay`` (AdamW, Loshchilov & Hutter 2019:
    :math:`p \leftarrow p (1 - \eta\lambda)` before the step). ``amsgrad`` divides by the
    running maximum of :math:`v_t`. ``bias_correction=False`` drops :math:`c_1` and
    :math:`c_2` (:math:`\hat m = m`, :math:`\hat v = v`).

    ``bias_correction_in_lr=True`` is Kingma & Ba's cheaper ordering, which MXNet uses:
    :math:`p \leftarrow p - \eta_t\, m_t / (\sqrt{v_t} + \epsilon)` with
    :math:`\eta_t = \eta\, c_2 / c_1`, the formula above with :math:`\epsilon / c_2` in place
    of :math:`\epsilon` (larger early on).
    """
    beta1, beta2 = betas
    state["step"] += 1
    t = state["step"]
    g = _weight_decay(param, grad, ops, weight_decay, lr, decoupled_weight_decay)
    m, v = state["exp_avg"], state["exp_avg_sq"]
    ops.lerp_(m, g, 1 - beta1)
    ops.mul_(v, beta2)
    ops.addcmul_(v, g, g, value=1 - beta2)
    if amsgrad:
        v = ops.maximum_(state["max_exp_avg_sq"], v)
    if bias_correction:
        c1 = 1 - beta1 ** t
        c2 = _sqrt(1 - beta2 ** t)
    else:
        c1 = c2 = 1.0
    eps_t = eps if bias_correction_in_lr else eps * c2
    denom = ops.add_(ops.sqrt(v), eps_t)
    ops.addcdiv_(param, m, denom, value=-lr * c2 / c1)


def _adam_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_eps(hyper)
    _check_nonneg(hyper, "weight_decay")
    betas = hyper["betas"]
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise _checks.ArgumentTypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        _checks.probability(f"betas[{i}]", _number({"beta": beta}, "beta"))


#: Adam, :func:`adam_update`.
adam = Rule.of("adam", adam_init, adam_update, _adam_validate)
#: AdamW, :func:`adam_update` with decoupled weight decay, default ``weight_decay=1e-2``.
adamw = Rule.of("adamw", adam_init, adam_update, _adam_validate, weight_decay=1e-2,
                decoupled_weight_decay=True)


# Adadelta ----------------------------------------------------------------------------
def adadelta_init(param: Array, ops: Ops, **hyper: Any) -> dict:
    """``{"step": 0, "square_avg": s_0 = 0, "acc_delta": u_0 = 0}`` (torch.optim's keys)."""
    return {"step": 0, "square_avg": ops.zeros_like(param), "acc_delta": ops.zeros_like(param)}


def adadelta_update(param: Array, grad: Array, state: dict, ops: Ops, lr: float = 1.0,
                    rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0,
                    decoupled_weight_decay: bool = False) -> None:
    r"""Adadelta (Zeiler, 2012), torch.optim's convention.

    .. math::
        s_t = \rho\, s_{t-1} + (1 - \rho)\, g_t^2, \qquad
        \Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{s_t + \epsilon}}\, g_t, \\
        u_t = \rho\, u_{t-1} + (1 - \rho)\, \Delta_t^2, \qquad
        p \leftarrow p - \eta\, \Delta_t

    with :math:`s` = ``state["square_avg"]``, :math:`u` = ``state["acc_delta"]``.
    ``decoupled_weight_decay`` decays :math:`p \leftarrow p (1 - \eta \lambda)` instead of
    adding :math:`\lambda p` to :math:`g` (MXNet's AdaDelta, whose step has no learning
    rate: :math:`\eta = 1`).
    """
    state["step"] += 1
    g = _weight_decay(param, grad, ops, weight_decay, lr, decoupled_weight_decay)
    s, u = state["square_avg"], state["acc_delta"]
    ops.mul_(s, rho)
    ops.addcmul_(s, g, g, value=1 - rho)
    std = ops.sqrt_(ops.add(s, eps))
    delta = ops.sqrt_(ops.add(u, eps))
    ops.div_(delta, std)
    ops.mul_(delta, g)
    ops.mul_(u, rho)
    ops.addcmul_(u, delta, delta, value=1 - rho)
    ops.add_(param, delta, alpha=-lr)


def _adadelta_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)
    _check_unit(hyper, "rho", closed=True)
    _check_eps(hyper)
    _check_nonneg(hyper, "weight_decay")


#: Adadelta, :func:`adadelta_update`.
adadelta = Rule.of("adadelta", adadelta_init, adadelta_update, _adadelta_validate)


# Newton ------------------------------------------------------------------------------
def newton_update(param: Array, grad: Array, state: dict, ops: Ops, lr: float = 1.0,
                  hessian: Array = None) -> None:
    r"""Newton's method, :math:`p \leftarrow p - \eta\, H^{-1} g`.

    ``hessian`` (:math:`H`) has shape ``param.shape + (d,)``. Needs ``ops.solve`` (numpy);
    :func:`course_lib.descent.run` passes ``hessian``.
    """
    if hessian is None:
        raise ValueError("hessian must be the Hessian at param (newton needs hessian=), got None")
    ops.add_(param, ops.solve(hessian, grad), alpha=-lr)


def _newton_validate(hyper, zero_lr_ok=False):
    _check_lr(hyper, zero_lr_ok)


#: Newton's method, :func:`newton_update`.
newton = Rule.of("newton", no_state, newton_update, _newton_validate)


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
