"""MXNet side of course_lib: context choice and ``mx.optimizer.Optimizer`` adapters.

The optimizers here run the update rules of :mod:`course_lib.rules` on MXNet NDArrays, so
the formula a chapter shows is the formula Gluon runs::

    import course_lib.mxnet as cmx
    trainer = gluon.Trainer(net.collect_params(), cmx.Adam(learning_rate=1e-3))
    trainer = gluon.Trainer(net.collect_params(), "course_adam", {"learning_rate": 1e-3})

They take MXNet's argument names (``learning_rate``, ``wd``, ``rescale_grad``,
``clip_gradient``, ``lr_scheduler``, ``beta1``, ``epsilon``, ``lazy_update``,
``clip_weights``, ...) and are registered under ``course_sgd``, ``course_nag``,
``course_adagrad``, ``course_rmsprop``, ``course_adam``, ``course_adamw`` and
``course_adadelta`` (MXNet's own ``sgd``, ``adam``, ... stay untouched).

**Conventions.** Where MXNet's built-in optimizers write a formula differently from the
papers and torch.optim, the keyword ``conventions`` chooses; both are the same rule of
:mod:`course_lib.rules`, with one of its parameters switched:

=============  ===========================================  ===============================
optimizer      ``conventions="course"`` (default, torch's)  ``conventions="mxnet"``
=============  ===========================================  ===============================
SGD momentum,  ``v <- mu v + g``; ``w <- w - lr v``         ``v <- mu v + lr g``;
NAG                                                         ``w <- w - v`` (``lr_in_buffer``)
Adam           ``lr m_hat / (sqrt(v_hat) + eps)``           ``lr_t m / (sqrt(v) + eps)``,
                                                            ``lr_t = lr sqrt(1-beta2^t) /
                                                            (1-beta1^t)``
                                                            (``bias_correction_in_lr``)
Adagrad        ``g / (sqrt(s) + eps)``, eps 1e-10,          ``g / sqrt(s + eps)``, eps 1e-7,
               ``g + wd w``                                 ``w <- w - lr wd w``
RMSProp        ``g / (sqrt(s) + eps)``; momentum gamma2:    ``g / sqrt(s + eps)``; gamma2
               ``b <- gamma2 b + g / (...)``,               only when centered,
               ``w <- w - lr b``; lr 0.01, gamma1 0.99,     ``b <- gamma2 b + lr g / (...)``,
               gamma2 0                                     ``w <- w - b``; lr 0.001,
                                                            gamma1 0.9, gamma2 0.9
AdaDelta       ``w <- w - lr d``, ``g + wd w``, eps 1e-6    ``w <- w - d - wd w`` (no learning
                                                            rate), eps 1e-5
=============  ===========================================  ===============================

The momentum buffers agree while the learning rate is constant and differ when a schedule
changes it; Adam's amount to ``eps / sqrt(1 - beta2^t)`` in place of ``eps`` (Kingma & Ba's
cheaper ordering). With ``conventions="mxnet"`` a Gluon script can replace ``"adam"`` by
``"course_adam"`` (and so on) and train the same weights: tests/test_mxnet_optim.py runs
MXNet 1.9.1's own optimizer test grid (5184 configurations) against the built-ins. Two
differences remain. MXNet's ``nag`` kernel reads the weight it has just overwritten for the
momentum's weight decay (``wd * w_{t+1}`` where its documentation and ours have
``wd * w_t``); and MXNet hands hyperparameters to its kernels as float32 (``1 - beta2`` off
by 1e-5 relative), ours stay in double.

**Both conventions** follow MXNet where torch has nothing to say: the gradient is
``clip(rescale_grad * grad)`` (Adam and RMSProp: ``clip(rescale_grad * grad + wd * w)``,
MXNet clips the sum); ``clip_weights`` (RMSProp) clips the weights after each step; and a
``row_sparse`` gradient (an ``Embedding`` with ``sparse_grad=True``) is applied lazily
where MXNet's is: with ``lazy_update=True`` (the default of SGD, Adam, Adagrad) only the rows
present in the gradient change, their state and weight decay included, while
``lazy_update=False``, RMSProp, AdaDelta and NAG with momentum treat it as a dense gradient
with zero rows. Sparse weights are updated through a dense copy, as MXNet's storage
fallback does.

**Complex parameters.** MXNet has no complex NDArray (``mx.nd.array`` of a complex numpy
array keeps only the real part, with numpy's ``ComplexWarning``; a complex ``dtype`` is
refused), so these adapters never see one. A complex model in MXNet holds the real and the
imaginary part as two real parameters, which is how torch.optim and
:mod:`course_lib.torch` treat a complex tensor (``torch.view_as_real``): the rules give the
same steps either way.

**Speed.** On the CPU, when torch is installed, the rule runs on zero-copy torch views of
the NDArrays (DLPack) through :class:`course_lib.torch.TensorListOps`, several parameters per
call (``aggregate_num``) and in cache-sized work units, as :mod:`course_lib.torch` does; the
state stays in NDArrays, so ``Trainer.save_states`` / ``load_states`` work as before. Without
torch, on a GPU, for other dtypes than float32/float64, or for arrays MXNet keeps in an MKLDNN
layout, the rule runs on the NDArrays themselves (:data:`NDARRAY`). Either way it is the same
rule, and the same numbers to rounding.

MXNet is imported when this module is imported, never by ``import course_lib``; torch only
at the first update on the CPU.
"""
from __future__ import annotations

import ctypes
import warnings

import mxnet as mx
import numpy as np

from . import _checks
from . import rules as _rules

__all__ = ["mx", "context", "NDArrayOps", "NDARRAY", "RuleOptimizer", "SGD", "NAG", "Adagrad",
           "RMSProp",
           "Adam", "AdamW", "AdaDelta"]


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
    Trainer sets ``1 / batch_size``) and clipped to ``[-clip_gradient, clip_gradient]``;
    where MXNet clips the sum ``rescale_grad * g + wd * w`` (Adam, RMSProp:
    :attr:`decay_before_clip`), so do we. ``clip_weights`` clips the weights after the step.

    Storage types as MXNet's optimizers: with ``lazy_update`` a ``row_sparse`` gradient
    updates only its rows (weight, state, weight decay; ``_update_rows``); otherwise a
    sparse gradient counts as dense with zero rows, and sparse weights are updated through a
    dense copy, as MXNet's storage fallback does.

    On the CPU with torch installed, ``update`` runs the rule on torch views of the weights,
    gradients and state NDArrays, the parameters of one call (up to :attr:`aggregate_size`)
    that share dtype, learning rate, weight decay and step count together; elsewhere it runs
    the rule on the NDArrays (``use_torch = False`` forces that). The state is always a dict
    of NDArrays (and the Python step count), whichever path ran.
    """

    #: The rule's name of a hyperparameter -> this class's argument name, for error messages.
    _arg_names: dict = {}

    #: Parameters per ``update`` call from MXNet's ``Updater`` (``aggregate_num``).
    aggregate_size = 256
    #: When False, always run the rule on NDArrays (:data:`NDARRAY`), never on torch views.
    use_torch = True
    #: Elements per work unit of the torch path (as in :mod:`course_lib.torch`).
    unit_size = 1 << 20
    #: The number of torch threads during the torch path, or None for torch's setting. The
    #: update is
    #: memory-bound, so one thread loses little, while torch's thread pool and MXNet's
    #: OpenMP threads in one process slow each other down: on 2 cores, 128 tensors of
    #: ~80k floats took Adam 53 ms with 2 torch threads and 26 ms with 1.
    torch_threads = 1
    #: Add ``wd * w`` to the gradient before clipping, instead of the rule adding it after.
    decay_before_clip = False

    def __init__(self, rule: _rules.Rule, hyper: dict, learning_rate, *,
                 conventions: str = "course", lazy_update: bool = False, clip_weights=None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rule = rule
        self.hyper = dict(hyper)
        _mxnet_conventions(conventions)  # checks the value
        self.conventions = conventions
        self.lazy_update = bool(lazy_update)
        self.clip_weights = clip_weights
        if clip_weights is not None:
            _checks.positive("clip_weights", clip_weights)
        try:
            rule.validate({**rule.defaults, **self.hyper, "lr": self.learning_rate,
                           "weight_decay": self.wd})
        except ValueError as error:  # name the parameter as the caller spelled it
            message = str(error)
            for ours, theirs in {**self._arg_names, "lr": "learning_rate",
                                 "weight_decay": "wd"}.items():
                if message.startswith(f"{ours} "):
                    message = theirs + message[len(ours):]
            raise type(error)(message) from None
        if self.clip_gradient is not None:
            _checks.positive("clip_gradient", self.clip_gradient)
        self.aggregate_num = self.aggregate_size

    def __getstate__(self):
        # the torch views and scratch buffers are a cache: not pickled (save_states)
        state = super().__getstate__()
        for key in _CACHES:
            state.pop(key, None)
        return state

    def create_state(self, index, weight):
        return self.rule.init(weight, NDARRAY, **self.hyper)

    def update_multi_precision(self, index, weight, grad, state):
        if not isinstance(index, (list, tuple)):
            return super().update_multi_precision(index, weight, grad, state)
        if self.multi_precision and any(w.dtype == np.float16 for w in weight):
            for i, w, g, s in zip(index, weight, grad, state):
                super().update_multi_precision(i, w, g, s)
            return None
        return self.update(index, weight, grad, state)

    def update(self, index, weight, grad, state):
        """One step of the rule for one parameter, or for lists of them (``aggregate_num``)."""
        if isinstance(index, (list, tuple)):
            indices, weights, grads, states = list(index), list(weight), list(grad), list(state)
        else:
            indices, weights, grads, states = [index], [weight], [grad], [state]
        self._update_count(indices)
        lrs, wds = self._learning_rates(indices), self._get_wds(indices)
        fast = _torch_modules() if self.use_torch else None
        groups = {}
        if fast is not None and any(w.context.device_type == "cpu" for w in weights):
            mx.nd.waitall()  # pending MXNet reads and writes of these arrays are done
        for i, w, g, s, lr, wd in zip(indices, weights, grads, states, lrs, wds):
            views = self._views(fast, i, w, g, s) if fast is not None else None
            if views is None:
                self._count("ndarray")
                self._update_ndarray(w, g, s, lr, wd)
                continue
            key = (w.dtype, lr, wd, s.get("step"),
                   tuple((k, v is None) for k, v in s.items() if k != "step"))
            groups.setdefault(key, []).append((w, s, views))
        if not groups:
            return
        torch, threads = fast[0], fast[0].get_num_threads()
        if self.torch_threads is not None:
            torch.set_num_threads(self.torch_threads)
        try:
            for (_, lr, wd, _, _), items in groups.items():
                self._count("torch", len(items))
                self._update_torch(fast, items, lr, wd)
        finally:
            torch.set_num_threads(threads)

    def _learning_rates(self, indices):
        """The learning rate of each index (MXNet's ``lr_scheduler`` and ``lr_mult``)."""
        return self._get_lrs(indices)

    # the NDArray path ---------------------------------------------------------------
    def _update_ndarray(self, weight, grad, state, lr, wd):
        """The rule on NDArrays of any storage type: a sparse weight through a dense copy
        written back, a ``row_sparse`` gradient lazily (``_update_rows``) or as a dense
        one with zero rows, a ``csr`` gradient as dense."""
        dense = weight if weight.stype == "default" else weight.tostype("default")
        if grad.stype == "row_sparse" and self.lazy_update:
            self._update_rows(dense, grad, state, lr, wd)
        else:
            if grad.stype != "default":
                grad = grad.tostype("default")
            self._step(dense, grad, state, lr, wd)
        if dense is not weight:
            weight[:] = dense

    def _step(self, weight, grad, state, lr, wd):
        """One step of the rule on dense NDArrays: ``g <- clip(rescale_grad g)`` (or
        ``clip(rescale_grad g + wd w)``), the rule, ``clip_weights``."""
        if self.rescale_grad != 1:
            grad = grad * self.rescale_grad
        if self.decay_before_clip and wd:
            grad = grad + weight * wd
        if self.clip_gradient is not None:
            grad = mx.nd.clip(grad, -self.clip_gradient, self.clip_gradient)
        self.rule.update(weight, grad, state, NDARRAY, lr=lr,
                         weight_decay=0.0 if self.decay_before_clip else wd, **self.hyper)
        if self.clip_weights is not None:
            mx.nd.clip(weight, -self.clip_weights, self.clip_weights, out=weight)

    def _update_rows(self, weight, grad, state, lr, wd):
        """MXNet's lazy update: the rule on the rows a ``row_sparse`` gradient holds, with
        those rows of the weight and of the state; other rows keep their weight, state and
        weight decay. The step count advances for every row (MXNet's ``t`` is per weight).
        A state the rule makes at its first step (momentum's buffer) starts at zero here."""
        rows = grad.indices
        if rows.shape[0] == 0:  # MXNet cannot hold an empty index: nothing to do
            if "step" in state:
                state["step"] += 1
            return
        for key, value in state.items():
            if value is None:
                state[key] = NDARRAY.zeros_like(weight)
        part = {k: mx.nd.take(v, rows) if isinstance(v, mx.nd.NDArray) else v
                for k, v in state.items()}
        part_weight = mx.nd.take(weight, rows)
        self._step(part_weight, grad.data, part, lr, wd)
        _put_rows(weight, rows, part_weight)
        for key, value in part.items():
            if isinstance(state[key], mx.nd.NDArray):
                _put_rows(state[key], rows, value)
            else:  # the step count
                state[key] = value

    # the torch path -----------------------------------------------------------------
    def _count(self, path, n=1):
        counts = self.__dict__.setdefault("_path_counts", {})
        counts[path] = counts.get(path, 0) + n

    def _views(self, fast, index, weight, grad, state):
        """Torch views ``(weight, grad, {key: state array or None})`` of one parameter's
        NDArrays, or None where the torch path cannot take them (GPU, dtype, sparse, MKLDNN
        layout). Cached per index; rebuilt for a new NDArray or when its memory moved."""
        arrays, keys = [weight, grad], []
        for key, value in state.items():
            if isinstance(value, mx.nd.NDArray):
                keys.append((key, True))
                arrays.append(value)
            elif value is None:
                keys.append((key, False))
            elif key != "step":
                return None
        cache = self.__dict__.setdefault("_view_cache", {})
        old = cache.get(index, ())
        if len(old) != len(arrays) or any(o[0] is not a for o, a in zip(old, arrays)):
            # new NDArrays (their shape, dtype and context never change): can torch take them?
            if (weight.context.device_type != "cpu" or weight.dtype not in _TORCH_DTYPES
                    or any(a.stype != "default" or a.dtype != weight.dtype
                           or a.shape != weight.shape or a.context != weight.context
                           for a in arrays)):
                return None
        views = []
        for k, a in enumerate(arrays):
            pointer = _data_pointer(a)
            if pointer is None:
                return None
            if k < len(old) and old[k][0] is a and old[k][1] == pointer:
                views.append(old[k])
            else:  # after the waitall in update(): reading and writing are both safe now
                views.append((a, pointer, fast[2](a.to_dlpack_for_read())))
        cache[index] = views
        tensors = iter(v[2] for v in views)
        w, g = next(tensors), next(tensors)
        return w, g, {key: next(tensors) if present else None for key, present in keys}

    def _update_torch(self, fast, items, lr, wd):
        """The rule on lists of torch views through :func:`course_lib.torch.run_rule`: in
        work units of about :attr:`unit_size` elements with temporaries in a reused arena,
        or, the first time a rule creates state lazily (momentum's buffer), on whole
        tensors, that state then copied into NDArrays."""
        torch, ct = fast[0], fast[1]
        arena = self.__dict__.setdefault("_arena", {})
        decay = wd if self.decay_before_clip else 0.0
        states = [s for _, s, _ in items]
        keys = list(items[0][2][2])
        groups = [[p, g] + [named[k] for k in keys] for _, _, (p, g, named) in items]
        hyper = {**self.hyper, "lr": lr, "weight_decay": 0.0 if decay else wd}
        new_step, created = ct.run_rule(
            self.rule, hyper, groups, keys, states[0].get("step"), arena=arena,
            unit_size=self.unit_size,
            prepare=lambda ps, gs: self._prepared(torch, arena, ps, gs, decay),
            finish=None if self.clip_weights is None else self._clip_views)
        for key, tensors in created.items():
            for (w, s, _), t in zip(items, tensors):
                s[key] = mx.nd.array(t.cpu().numpy(), ctx=w.context, dtype=w.dtype)
        if created:
            arena.clear()  # buffers as large as all these parameters: not worth keeping
        if "step" in states[0]:
            for s in states:
                s["step"] = new_step

    def _clip_views(self, params):
        """``clip_weights`` on torch views of the weights."""
        import torch
        torch._foreach_clamp_min_(params, -self.clip_weights)
        torch._foreach_clamp_max_(params, self.clip_weights)

    def _prepared(self, torch, arena, params, grads, decay):
        """``clip(rescale_grad * g + decay * w)`` in scratch buffers of the arena (the
        gradients stay as they are)."""
        rescale, clip = self.rescale_grad, self.clip_gradient
        if rescale == 1 and clip is None and not decay:
            return grads
        sizes = [g.numel() for g in grads]
        key = ("grad", grads[0].dtype)
        buf = arena.get(key)
        if buf is None or buf.numel() < sum(sizes):
            buf = arena[key] = torch.empty(sum(sizes), dtype=grads[0].dtype)
        outs, offset = [], 0
        for p, g, n in zip(params, grads, sizes):
            out = buf[offset:offset + n].view(g.shape)
            offset += n
            torch.mul(g, rescale, out=out)
            if decay:
                out.add_(p, alpha=decay)
            if clip is not None:
                out.clamp_(-clip, clip)
            outs.append(out)
        return outs


def _put_rows(target, rows, values):
    """``target[rows] = values`` in place (MXNet's advanced-index assignment is ten times
    slower than ``index_copy``)."""
    mx.nd.contrib.index_copy(target, rows, values, out=target)


#: Instance attributes that are caches of the torch path (not pickled).
_CACHES = ("_view_cache", "_arena", "_path_counts")
#: NDArray dtypes the torch path takes.
_TORCH_DTYPES = (np.float32, np.float64)
_UNSET = object()
_TORCH = _UNSET


def _torch_modules():
    """``(torch, course_lib.torch, torch.utils.dlpack.from_dlpack)``, imported at the first
    call, or None when torch cannot be imported."""
    global _TORCH
    if _TORCH is _UNSET:
        try:
            import torch
            import torch.utils.dlpack

            from . import torch as course_torch
            _TORCH = (torch, course_torch, torch.utils.dlpack.from_dlpack)
        except ImportError:
            _TORCH = None
    return _TORCH


def _data_pointer(array):
    """The address of an NDArray's data in the default layout, or None when MXNet cannot
    hand one out (an MKLDNN layout, which MXNet keeps for some weights after inference)."""
    pointer = ctypes.c_void_p()
    if mx.base._LIB.MXNDArrayGetData(array.handle, ctypes.byref(pointer)) != 0:
        return None
    return pointer.value


def _register(name: str):
    """Register an optimizer class under ``name`` (MXNet's decorator would use the class
    name and replace MXNet's own ``sgd``, ``adam``, ...)."""
    def register(cls):
        mx.optimizer.Optimizer.opt_registry[name] = cls
        cls.registered_name = name
        return cls
    return register


# ------------------------------------------------------------------------ optimizers
def _mxnet_conventions(conventions) -> bool:
    """True for ``conventions="mxnet"``, False for ``"course"``; anything else is an error."""
    return _checks.one_of("conventions", conventions, ("course", "mxnet")) == "mxnet"


def _default(value, course, mxnet, use_mxnet):
    """``value``, or where it is None the default of the chosen conventions."""
    if value is not None:
        return value
    return mxnet if use_mxnet else course


@_register("course_sgd")
class SGD(RuleOptimizer):
    """SGD, with heavy-ball momentum when ``momentum > 0`` (:data:`course_lib.rules.sgd`,
    :data:`course_lib.rules.momentum`).

    ``conventions="course"``: ``v <- mu v + (1 - dampening) g``, ``w <- w - lr v`` (torch's;
    ``nesterov=True``: the step is ``lr (g + mu v)``). ``conventions="mxnet"``: the learning
    rate inside the buffer, ``v <- mu v + lr g``, ``w <- w - v`` (``nesterov``:
    ``w <- w - lr g - mu v``), as MXNet's ``sgd`` and ``nag``. With ``momentum=0`` it is
    plain SGD, ``nesterov`` or not (MXNet's ``nag`` with momentum 0 is SGD too).
    ``lazy_update=True`` (MXNet's default): a ``row_sparse`` gradient updates only its rows.
    """

    def __init__(self, learning_rate=None, momentum=0.0, dampening=0.0, nesterov=False,
                 lazy_update=True, conventions="course", **kwargs):
        use_mxnet = _mxnet_conventions(conventions)
        if momentum == 0:
            rule, hyper = _rules.sgd, {}
        else:
            rule, hyper = _rules.momentum, dict(momentum=momentum, dampening=dampening,
                                               nesterov=nesterov, lr_in_buffer=use_mxnet)
        super().__init__(rule, hyper, learning_rate, conventions=conventions,
                         lazy_update=lazy_update, **kwargs)


@_register("course_nag")
class NAG(SGD):
    """Nesterov's accelerated gradient: :class:`SGD` with ``nesterov=True``, registered
    like MXNet's ``nag`` (default ``momentum=0``, which is plain SGD). As MXNet's, a
    ``row_sparse`` gradient updates every row when ``momentum > 0`` and only its own rows
    when ``momentum = 0``."""

    def __init__(self, learning_rate=None, momentum=0.0, conventions="course", **kwargs):
        super().__init__(learning_rate, momentum=momentum, nesterov=True,
                         lazy_update=momentum == 0, conventions=conventions, **kwargs)


@_register("course_adagrad")
class Adagrad(RuleOptimizer):
    """Adagrad (:data:`course_lib.rules.adagrad`): ``s <- s + g^2``.

    ``conventions="course"``: ``w <- w - lr g / (sqrt(s) + eps)``, ``eps=1e-10``, weight decay
    added to ``g`` (torch's). ``conventions="mxnet"``: ``w <- w - lr g / sqrt(s + eps)
    - lr wd w``, ``eps=1e-7`` (MXNet's ``adagrad``). ``lazy_update=True``: a ``row_sparse``
    gradient updates only its rows, as MXNet's sparse ``adagrad_update`` always does.
    """

    def __init__(self, learning_rate=None, eps=None, lr_decay=0.0,
                 initial_accumulator_value=0.0, lazy_update=True, conventions="course",
                 **kwargs):
        use_mxnet = _mxnet_conventions(conventions)
        hyper = dict(eps=_default(eps, _rules.adagrad.defaults["eps"], 1e-7, use_mxnet),
                     lr_decay=lr_decay,
                     initial_accumulator_value=initial_accumulator_value,
                     eps_inside_sqrt=use_mxnet, decoupled_weight_decay=use_mxnet)
        super().__init__(_rules.adagrad, hyper, learning_rate, conventions=conventions,
                         lazy_update=lazy_update, **kwargs)


@_register("course_rmsprop")
class RMSProp(RuleOptimizer):
    """RMSProp (:data:`course_lib.rules.rmsprop`): ``s <- gamma1 s + (1 - gamma1) g^2`` with
    ``g = clip(rescale_grad grad + wd w)``; ``centered`` divides by the running standard
    deviation ``sqrt(s - gbar^2)`` instead; ``clip_weights`` clips ``w`` after the step.

    ``conventions="course"`` (torch's): ``w <- w - lr g / (sqrt(s) + epsilon)``, ``gamma2`` the
    momentum of the scaled step, ``b <- gamma2 b + g / (...)``, ``w <- w - lr b``; defaults
    ``learning_rate=0.01, gamma1=0.99, gamma2=0``. ``conventions="mxnet"``: ``epsilon``
    inside the square root, ``sqrt(s + epsilon)``, the learning rate inside the buffer,
    ``b <- gamma2 b + lr g / (...)``, ``w <- w - b``, and ``gamma2`` used only when
    ``centered`` (Graves 2013), as MXNet's ``rmsprop``; defaults ``learning_rate=0.001,
    gamma1=0.9, gamma2=0.9``.
    """

    _arg_names = {"alpha": "gamma1", "momentum": "gamma2", "eps": "epsilon"}
    decay_before_clip = True

    def __init__(self, learning_rate=None, gamma1=None, gamma2=None, epsilon=1e-8,
                 centered=False, clip_weights=None, conventions="course", **kwargs):
        use_mxnet = _mxnet_conventions(conventions)
        gamma2 = _default(gamma2, 0.0, 0.9, use_mxnet)
        hyper = dict(alpha=_default(gamma1, 0.99, 0.9, use_mxnet), eps=epsilon,
                     momentum=gamma2 if centered or not use_mxnet else 0.0,
                     centered=centered, eps_inside_sqrt=use_mxnet, lr_in_buffer=use_mxnet)
        super().__init__(_rules.rmsprop, hyper,
                         _default(learning_rate, 0.01, 0.001, use_mxnet),
                         conventions=conventions, clip_weights=clip_weights, **kwargs)


@_register("course_adam")
class Adam(RuleOptimizer):
    """Adam (:func:`course_lib.rules.adam_update`) on ``g = clip(rescale_grad grad + wd w)``.

    ``conventions="course"``: bias-corrected as Kingma & Ba write it,
    ``w <- w - lr m_hat / (sqrt(v_hat) + epsilon)`` (torch's). ``conventions="mxnet"``: the
    correction folded into the learning rate, ``w <- w - lr_t m / (sqrt(v) + epsilon)``,
    ``lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)`` (MXNet's ``adam``; the same as the
    other with ``epsilon / sqrt(1 - beta2^t)``). ``bias_correction=False`` drops the
    ``1 - beta^t`` factors (chapter 7 shows why they exist); ``amsgrad`` uses the running
    maximum of ``v``; ``lazy_update=True`` (MXNet's default): a ``row_sparse`` gradient
    updates only its rows; ``decoupled_weight_decay=True`` is :class:`AdamW`'s decay.
    """

    _arg_names = {"betas[0]": "beta1", "betas[1]": "beta2", "eps": "epsilon"}

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 amsgrad=False, bias_correction=True, lazy_update=True, conventions="course",
                 decoupled_weight_decay=False, **kwargs):
        use_mxnet = _mxnet_conventions(conventions)
        hyper = dict(betas=(beta1, beta2), eps=epsilon, amsgrad=amsgrad,
                     bias_correction=bias_correction, bias_correction_in_lr=use_mxnet,
                     decoupled_weight_decay=bool(decoupled_weight_decay))
        #: Coupled decay enters the gradient before clipping, as in MXNet's ``adam``.
        self.decay_before_clip = not decoupled_weight_decay
        super().__init__(_rules.adam, hyper, learning_rate, conventions=conventions,
                         lazy_update=lazy_update, **kwargs)


@_register("course_adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay, AdamW (Loshchilov & Hutter, 2019), as
    ``torch.optim.AdamW``: ``w <- w (1 - lr wd)``, then the Adam step of :class:`Adam` on
    ``g = clip(rescale_grad grad)`` (the decay never enters ``m``, ``v`` or the clipping).
    Default ``wd=0.01`` (torch's); ``conventions`` as for :class:`Adam`.

    Against the paper: its step is ``w <- w - eta_t (alpha m_hat / (sqrt(v_hat) + eps)
    + lambda w)``, the decay ``lambda`` scaled by the schedule multiplier ``eta_t`` but not
    by the learning rate ``alpha``. Here (and in torch) the decay is scaled by the whole
    learning rate ``lr = alpha eta_t`` (``learning_rate``, ``lr_scheduler``, ``lr_mult``), so
    ``wd = lambda / alpha``; a schedule still scales decay and step together, as ``eta_t``
    does. The paper's normalized decay, ``lambda = lambda_norm sqrt(b / (B T))`` (batch size
    ``b``, ``B`` training points, ``T`` epochs), is left to the caller. MXNet 1.9 has no
    AdamW optimizer; its operator ``contrib.adamw_update`` follows the paper's form (``wd``
    there is ``lambda``).
    """

    def __init__(self, learning_rate=0.001, wd=0.01, **kwargs):
        super().__init__(learning_rate, wd=wd, decoupled_weight_decay=True, **kwargs)


@_register("course_adadelta")
class AdaDelta(RuleOptimizer):
    """AdaDelta (:data:`course_lib.rules.adadelta`, Zeiler 2012):
    ``d = sqrt(u + epsilon) / sqrt(s + epsilon) g``, ``w <- w - lr d``.

    ``conventions="course"`` (torch's): ``learning_rate=1.0``, ``epsilon=1e-6``, weight decay
    added to ``g``. ``conventions="mxnet"`` (MXNet's ``adadelta``): ``epsilon=1e-5``,
    ``w <- w - d - wd w``, and no learning rate at all: MXNet ignores ``learning_rate``,
    ``lr_scheduler`` and ``lr_mult`` for AdaDelta, and so does this one (with a warning
    when a ``learning_rate`` other than 1 is given).
    """

    _arg_names = {"eps": "epsilon"}

    def __init__(self, learning_rate=None, rho=0.9, epsilon=None, conventions="course",
                 **kwargs):
        use_mxnet = _mxnet_conventions(conventions)
        if use_mxnet and learning_rate not in (None, 1.0):
            warnings.warn(f"AdaDelta with conventions='mxnet' has no learning rate (as "
                          f"MXNet's): learning_rate={learning_rate!r} is ignored",
                          stacklevel=2)
        if use_mxnet or learning_rate is None:
            learning_rate = 1.0
        hyper = dict(rho=rho, eps=_default(epsilon, _rules.adadelta.defaults["eps"], 1e-5,
                                           use_mxnet),
                     decoupled_weight_decay=use_mxnet)
        super().__init__(_rules.adadelta, hyper, learning_rate, conventions=conventions,
                         **kwargs)

    def _learning_rates(self, indices):
        if self.conventions == "mxnet":
            return [1.0] * len(indices)
        return super()._learning_rates(indices)
