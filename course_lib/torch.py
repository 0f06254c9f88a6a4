"""PyTorch side of course_lib: device choice and ``torch.optim.Optimizer`` adapters.

The optimizers here run the update rules of :mod:`course_lib.rules` on torch tensors.
They are drop-in replacements for their ``torch.optim`` namesakes (same arguments and
defaults, same state keys, ``state_dict()`` / ``load_state_dict()`` in both directions,
param groups, ``torch.optim.lr_scheduler``, closures, CPU and CUDA, real and complex
parameters)::

    from course_lib.torch import Adam          # instead of: from torch.optim import Adam
    opt = Adam(model.parameters(), lr=1e-3)

The math lives only in :mod:`course_lib.rules`. This module gives it two ops
vocabularies: :data:`TENSOR` (one tensor, tensor methods ``mul_``, ``addcmul_``, ...) and
:data:`TENSOR_LIST` (a list of tensors, ``torch._foreach_*``), which the optimizers use by
default so that one Python call updates many tensors, as torch.optim's ``foreach``
implementation does. On the CPU the rule runs on cache-sized work units in turn (slices
of about a million elements) with its temporaries in reused scratch buffers, so that
every op finds its operands in cache; and the state of the parameters updated together
is one flat buffer (each parameter's state a view of it), so that an op on state and
temporaries alone, such as RMSprop's ``sqrt(s)``, is one op per unit rather than one
per parameter. Measured on 10M float32 or complex64 parameters in 16 and 128 tensors
(``benchmarks/optimizers.py``, five runs, two CPU threads): 0.29-0.95x the time of
torch.optim's foreach step, except RMSprop on 16 tensors, 0.74-1.07x, where both are
bound by the same ``sqrt`` kernel and by memory traffic; against torch.optim's per-tensor
loop (its default on the CPU) 0.67-0.94x on 128 tensors and 0.81-1.13x on 16.
Since the state tensors share one storage, ``torch.save`` of a single state tensor
writes the whole buffer; save ``state_dict()`` (each storage is written once).

``compiled(Adam)`` (:mod:`course_lib.torch_compiled`) is the same optimizer with its rule
traced by ``torch.compile`` into one fused graph per group: torch's fused speed from the
same lines (opt-in, since the first step compiles for tens of seconds).

A complex parameter is, as in torch.optim, its real and imaginary parts
(``torch.view_as_real``): every rule acts on each real component, so Adam's second moment
holds ``Re(g)^2`` and ``Im(g)^2`` (not ``|g|^2``), and its state tensors are complex like
torch.optim's. ``capturable=True`` is accepted and keeps torch.optim's state layout (the
step count on the parameter's device), but a step cannot be captured in a CUDA graph;
``differentiable=True`` and ``fused=True`` are refused: use torch.optim for those.

Example
-------
>>> import torch
>>> from course_lib.torch import SGD
>>> w = torch.tensor([1.0, -2.0], requires_grad=True)
>>> opt = SGD([w], lr=0.1, momentum=0.9)
>>> (w ** 2).sum().backward(); opt.step()
>>> w.detach().tolist()
[0.800000011920929, -1.600000023841858]
"""
from __future__ import annotations

import contextlib
import itertools

import torch

from . import rules as _rules

__all__ = ["device", "one_thread", "TensorOps", "TensorListOps", "TENSOR", "TENSOR_LIST",
           "work_units", "run_rule", "RuleOptimizer", "SGD", "Adagrad",
           "RMSprop", "Adam", "AdamW", "Adadelta", "compiled"]


@contextlib.contextmanager
def one_thread():
    """Run torch on one CPU thread inside a ``with`` block, restoring the previous setting.

    The course's networks are so small that synchronizing a second thread costs more than it
    saves, and on a busy machine it can make a step many times slower. No effect on a GPU.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def device() -> torch.device:
    """The device experiments should use: CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ------------------------------------------------------------------------------ ops
class TensorOps:
    """The ops vocabulary on single tensors (tensor methods, in place where named ``*_``)."""

    @staticmethod
    def zeros_like(x):
        return torch.zeros_like(x, memory_format=torch.preserve_format)

    @staticmethod
    def full_like(x, value):
        return torch.full_like(x, value, memory_format=torch.preserve_format)

    @staticmethod
    def clone(x):
        return torch.clone(x, memory_format=torch.preserve_format).detach()

    @staticmethod
    def add(x, y, alpha=1.0):
        return x.add(y, alpha=alpha)

    @staticmethod
    def add_(x, y, alpha=1.0):
        return x.add_(y, alpha=alpha)

    @staticmethod
    def mul_(x, y):
        return x.mul_(y)

    @staticmethod
    def div_(x, y):
        return x.div_(y)

    @staticmethod
    def addcmul(x, a, b, value=1.0):
        return x.addcmul(a, b, value=value)

    @staticmethod
    def addcmul_(x, a, b, value=1.0):
        return x.addcmul_(a, b, value=value)

    @staticmethod
    def addcdiv_(x, a, b, value=1.0):
        return x.addcdiv_(a, b, value=value)

    @staticmethod
    def lerp_(x, y, weight):
        return x.lerp_(y, weight)

    @staticmethod
    def sqrt(x):
        return x.sqrt()

    @staticmethod
    def sqrt_(x):
        return x.sqrt_()

    @staticmethod
    def maximum_(x, y):
        return torch.maximum(x, y, out=x)


def _padded(n):
    """The elements that a tensor of ``n`` takes in a shared buffer: ``n`` rounded up to
    even, so that every tensor starts at an even offset (a real view of a complex tensor
    must: its state is viewed as complex again)."""
    return n + (n & 1)


#: The attribute that marks a buffer of :meth:`TensorListOps._alloc`.
_OWNED = "_course_lib_buffer"


def _flat(xs):
    """One 1-D tensor over the elements of the list ``xs``, in order, when its tensors lie
    back to back in one buffer (contiguous views of one base, each starting where the
    previous one's :func:`_padded` size ends, as :meth:`TensorListOps.zeros_like` allocates
    state and the arena its temporaries); else None. Only in a buffer that
    :class:`TensorListOps` allocated: the odd tensors' padding elements are part of the
    flat tensor, and so must be nobody's data."""
    x0 = xs[0]
    base = x0._base
    if base is None or not getattr(base, _OWNED, False):
        return None
    size = x0.element_size()
    start = end = x0.data_ptr()
    for x in xs:
        if x._base is not base or x.data_ptr() != end or not x.is_contiguous():
            return None
        end += _padded(x.numel()) * size
    return x0.as_strided(((end - start) // size,), (1,))


def _views(buf, like):
    """Views of the flat tensor ``buf``, shaped like the tensors ``like``, back to back at
    :func:`_padded` offsets."""
    sizes = [x.numel() for x in like]
    slots = buf[:sum(map(_padded, sizes))].split(list(map(_padded, sizes)))
    return [v[:n].view(x.shape) for v, n, x in zip(slots, sizes, like)]


class TensorListOps:
    """The ops vocabulary on lists of tensors, one ``torch._foreach_*`` call per op.

    State it allocates (``zeros_like``, ``full_like``, ``clone`` of several contiguous
    tensors) is one flat buffer, handed out as views back to back; ``flat_state=False``
    allocates a tensor each (the compiled path: its graphs would treat views of one buffer
    as aliased inputs, measured 11.0 against 7.1 ms an Adam step).

    With an ``arena`` (a dict that the caller keeps from one step to the next: the CPU's
    work units), two things spare the per-tensor cost of an op, about 7 us a tensor on two
    threads:

    - The ops that return a new array (``add``, ``addcmul``, ``sqrt``) write into flat
      scratch buffers kept in the arena instead of allocating: on the CPU a fresh
      multi-megabyte tensor costs more in page faults than the arithmetic. Their results
      are temporaries, valid until the rule's ``update`` returns (rules keep nothing they
      did not ``clone``); the i-th such op of an update uses buffer slot i.
    - An op whose list operands are each one tensor, or one flat buffer (:meth:`share`: the
      state, the arena's temporaries), runs as one op on those tensors, not one per
      parameter. Elementwise, so the arithmetic is the same.
    """

    def __init__(self, arena=None, flat_state=True):
        self.arena = arena
        self.flat_state = flat_state
        self.slot = 0
        self.flats = {}

    def share(self, xs):
        """Note that the list ``xs`` may run as one flat tensor, if its tensors lie back to
        back in one buffer (see ``_flat``)."""
        if self.arena is not None and len(xs) > 1:
            flat = _flat(xs)
            if flat is not None:
                self.flats[id(xs)] = (xs, flat)

    def _single(self, *operands):
        """The operands as single tensors, when every list among them is one tensor or a
        shared flat buffer (numbers pass as they are); else None. Only with an arena."""
        if self.arena is None:
            return None
        out = []
        for x in operands:
            if isinstance(x, (list, tuple)):
                if len(x) == 1:
                    x = x[0]
                else:
                    entry = self.flats.get(id(x))
                    if entry is None or entry[0] is not x:
                        return None
                    x = entry[1]
            out.append(x)
        return out

    def _out(self, xs):
        """``(outs, out)``: tensors shaped like ``xs`` in the arena's next slot, and the
        one tensor that an op on ``_single`` operands writes (the one tensor of
        ``outs``, or the flat buffer they view); or None to allocate.

        One buffer per slot (grown to the largest unit), and per layout of a unit the views
        into it, cached with the buffer they view: a unit of many small tensors costs one
        dict lookup, not a view per tensor per step.
        """
        if self.arena is None:
            return None
        slot, self.slot = self.slot, self.slot + 1
        x0 = xs[0]
        key = (slot, x0.dtype, x0.device)
        shapes = tuple([x.shape for x in xs])
        buf = self.arena.get(key)
        cached = self.arena.get((key, shapes))
        if cached is None or cached[0] is not buf:
            if len(self.arena) > 4096:  # layouts that keep changing: start afresh
                self.arena.clear()
                buf = None
            total = sum([_padded(x.numel()) for x in xs])
            if buf is None or buf.numel() < total:
                buf = self.arena[key] = torch.empty(total, dtype=x0.dtype, device=x0.device)
            outs = _views(buf, xs)
            cached = self.arena[(key, shapes)] = (buf, outs, buf[:total])
        outs, flat = cached[1], cached[2]
        if len(outs) > 1:
            self.flats[id(outs)] = (outs, flat)
            return outs, flat
        return outs, outs[0]

    def _alloc(self, xs, make):
        """``make(x)`` for each x, or, for several contiguous tensors of one dtype and
        device, views of one flat ``make(buffer)``, back to back (see :func:`_views`)."""
        if not (self.flat_state and len(xs) > 1):
            return [make(x) for x in xs]
        x0 = xs[0]
        alike = all(x.is_contiguous() and x.dtype == x0.dtype and x.device == x0.device
                    for x in xs)
        if not alike:
            return [make(x) for x in xs]
        flat = make(torch.empty(sum(_padded(x.numel()) for x in xs), dtype=x0.dtype,
                                device=x0.device))
        setattr(flat, _OWNED, True)
        return _views(flat, xs)

    def zeros_like(self, xs):
        return self._alloc(xs, lambda x: torch.zeros_like(
            x, memory_format=torch.preserve_format))

    def full_like(self, xs, value):
        return self._alloc(xs, lambda x: torch.full_like(
            x, value, memory_format=torch.preserve_format))

    def clone(self, xs):
        outs = self._alloc(xs, lambda x: torch.zeros_like(  # padding: no stray bytes
            x, memory_format=torch.preserve_format))
        torch._foreach_copy_(outs, [x.detach() for x in xs])
        return outs

    def _new(self, name, *operands, **kw):
        """``torch.name(..., out=)`` into the arena's next slot (on the ``_single``
        operands one op, else one per tensor), or, without an arena, the allocating
        ``torch._foreach_name``; returns the list of results."""
        made = self._out(operands[0])
        if made is None:
            return getattr(torch, "_foreach_" + name)(*operands, **kw)
        outs, out = made
        op = getattr(torch, name)
        single = self._single(*operands)
        if single is not None:
            op(*single, **kw, out=out)
        else:
            columns = [x if isinstance(x, (list, tuple)) else itertools.repeat(x)
                       for x in operands]
            for args, out in zip(zip(*columns), outs):
                op(*args, **kw, out=out)
        return outs

    def add(self, xs, ys, alpha=1.0):
        if isinstance(ys, (list, tuple)):
            return self._new("add", xs, ys, alpha=alpha)
        return self._new("add", xs, ys * alpha)

    def _in_place(self, name, *operands, **kw):
        """``x.name(...)`` on the ``_single`` operands, else ``torch._foreach_name``;
        returns the first operand."""
        single = self._single(*operands)
        if single is not None:
            getattr(single[0], name)(*single[1:], **kw)
        else:
            getattr(torch, "_foreach_" + name)(*operands, **kw)
        return operands[0]

    def add_(self, xs, ys, alpha=1.0):
        if isinstance(ys, (list, tuple)):
            return self._in_place("add_", xs, ys, alpha=alpha)
        return self._in_place("add_", xs, ys * alpha)

    def mul_(self, xs, y):
        return self._in_place("mul_", xs, y)

    @staticmethod
    def mul_add_(xs, a, ys, b=1.0):
        """``x <- a x + b y``; on the CPU with ``b == 1`` one pass per tensor
        (``torch.add(y, x, alpha=a, out=x)``), otherwise ``mul_`` then ``add_``."""
        if b == 1 and xs and xs[0].device.type == "cpu":
            for x, y in zip(xs, ys):
                torch.add(y, x, alpha=a, out=x)
        else:
            torch._foreach_mul_(xs, a)
            torch._foreach_add_(xs, ys, alpha=b)
        return xs

    def div_(self, xs, y):
        return self._in_place("div_", xs, y)

    def addcmul(self, xs, a, b, value=1.0):
        return self._new("addcmul", xs, a, b, value=value)

    def addcmul_(self, xs, a, b, value=1.0):
        return self._in_place("addcmul_", xs, a, b, value=value)

    def addcdiv_(self, xs, a, b, value=1.0):
        return self._in_place("addcdiv_", xs, a, b, value=value)

    def lerp_(self, xs, ys, weight):
        return self._in_place("lerp_", xs, ys, weight)

    def sqrt(self, xs):
        return self._new("sqrt", xs)

    def sqrt_(self, xs):
        return self._in_place("sqrt_", xs)

    def maximum_(self, xs, ys):
        single = self._single(xs, ys)
        if single is not None:
            torch.maximum(single[0], single[1], out=single[0])
        else:
            torch._foreach_maximum_(xs, ys)
        return xs


#: Ops on one tensor.
TENSOR = TensorOps()
#: Ops on a list of tensors (``torch._foreach_*``, allocating its temporaries).
TENSOR_LIST = TensorListOps()


def work_units(groups, size: int):
    """Cut ``groups`` into work units of about ``size`` elements, for cache-sized updates.

    A group is a list of same-shaped tensors (a parameter, its gradient, its state).
    Consecutive groups share a unit of at most ``size`` elements; a group larger than
    ``2 * size`` whose tensors are all contiguous is cut into flat slices of ``size``
    elements, one unit each (one of up to ``2 * size`` stays whole: cutting it would leave a
    small slice, a unit with a full unit's overhead). Yields lists of groups.
    """
    unit, filled = [], 0
    for group in groups:
        n = group[0].numel()
        if n > 2 * size and all(t.is_contiguous() and t.shape == group[0].shape for t in group):
            flat = [t.view(-1) for t in group]
            for lo in range(0, n, size):
                yield [[f[lo:lo + size] for f in flat]]
            continue
        if unit and filled + n > size:
            yield unit
            unit, filled = [], 0
        unit.append(group)
        filled += n
    if unit:
        yield unit


def run_rule(rule: _rules.Rule, hyper: dict, groups: list, keys: list, step=None, *,
             arena: dict | None = None, unit_size: int | None = None,
             per_tensor: bool = False, prepare=None, finish=None, flat_state: bool = True):
    """Run ``rule.update`` over parameters held as torch tensors: the one driver of
    :mod:`course_lib.torch` and :mod:`course_lib.mxnet` (whose torch path calls it on
    views of NDArrays).

    Parameters
    ----------
    rule, hyper
        The rule and its hyperparameters (Python numbers).
    groups : list
        One list per parameter, ``[param, grad, state[keys[0]], state[keys[1]], ...]``,
        tensors of one shape, real (complex ones viewed as real); a state entry that the
        rule creates at its first update (momentum's buffer) is None.
    keys : list of str
        The names of the state tensors, in the order of ``groups``.
    step : float or None
        The parameters' common step count (None for rules that keep none).
    arena, unit_size
        With both (the CPU): the rule runs on :func:`work_units` of about ``unit_size``
        elements in turn, the temporaries of a unit cut from a large tensor in the scratch
        ``arena`` (:class:`TensorListOps`); otherwise on all parameters at once through
        ``torch._foreach_*``. State that the rule creates is made on whole tensors, without
        the arena.
    per_tensor : bool
        One parameter at a time through :data:`TENSOR` (``foreach=False``).
    prepare, finish : callable, optional
        ``prepare(params, grads) -> grads`` before the rule of each unit (negation for
        ``maximize``, MXNet's rescaling and clipping); ``finish(params)`` after it.
    flat_state : bool
        State that the rule creates is one buffer for the unit (see :class:`TensorListOps`).

    Returns
    -------
    tuple
        ``(step, created)``: the step count after the update (the caller stores it), and
        ``{key: [tensor per parameter]}`` for the state entries the rule created. A state
        tensor that the rule replaced by another is copied back into the caller's tensor.
    """
    lazy = any(t is None for group in groups for t in group)
    if per_tensor:
        units = [[group] for group in groups]
    elif lazy or arena is None or unit_size is None:
        units = [groups]
    else:
        units = work_units(groups, unit_size)
    new_step, created = step, {}
    for unit in units:
        ops = TENSOR if per_tensor else TensorListOps(None if lazy else arena, flat_state)
        new_step, made = _run_unit(rule, hyper, unit, keys, step, ops, prepare, finish)
        for key, tensors in made.items():
            created.setdefault(key, []).extend(tensors)
    return new_step, created


def _run_unit(rule, hyper, unit, keys, step, ops, prepare, finish):
    """``rule.update`` on one unit (a list of groups, see :func:`run_rule`); returns the new
    step and the state the rule created. With :data:`TENSOR` the unit is one group."""
    single = ops is TENSOR
    params, grads = [u[0] for u in unit], [u[1] for u in unit]
    if prepare is not None:
        grads = prepare(params, grads)
    lists = {k: [u[2 + i] for u in unit] for i, k in enumerate(keys)}
    if not single:  # state that lies in one buffer runs as one tensor (parameters and
        for xs in lists.values():  # gradients are never in a buffer that course_lib made)
            ops.share(xs)
    state = {k: None if v[0] is None else v[0] if single else v for k, v in lists.items()}
    if step is not None:
        state["step"] = step
    before = dict(state)
    if single:
        rule.update(params[0], grads[0], state, ops, **hyper)
    else:
        rule.update(params, grads, state, ops, **hyper)
    if finish is not None:
        finish(params)
    created = {}
    for k in keys:
        if state[k] is before[k]:  # updated in place
            continue
        new = [state[k]] if single else state[k]
        if before[k] is None:
            created[k] = new
        else:  # a rule that rebinds a state entry: copy back
            torch._foreach_copy_(lists[k], new)
    return state.get("step", step), created


def _scalar(value):
    """Python number for the rules' scalar arithmetic (lr and betas may be 1-element tensors)."""
    if isinstance(value, torch.Tensor):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_scalar(v) for v in value)
    return value


def _real(t):
    """``t`` as torch.optim's rules see it: a complex tensor as its real and imaginary parts,
    a trailing axis of length 2 (``torch.view_as_real``, a view), so that every rule acts on
    each real component (Adam's ``v`` holds ``Re(g)^2`` and ``Im(g)^2``, not ``g^2``)."""
    return torch.view_as_real(t) if t.is_complex() else t


def _reals(batch):
    """``list -> list`` applying :func:`_real` (None kept: state still to be created) for
    the parameters ``batch``: the identity when none of them is complex, which spares a
    call per tensor."""
    if any(p.is_complex() for p in batch):
        return lambda tensors: [None if t is None else _real(t) for t in tensors]
    return lambda tensors: tensors


def _stored(value, param):
    """A state tensor a rule created on ``_real(param)``, stored as torch.optim stores it:
    complex again where the parameter is complex (the same memory)."""
    if param.is_complex() and isinstance(value, torch.Tensor) and not value.is_complex():
        return torch.view_as_complex(value)
    return value


def _step_dtype():
    # torch.optim keeps "step" as a float tensor of this dtype (non-capturable, non-fused)
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


# -------------------------------------------------------------------------- adapter
class RuleOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` that runs a :class:`course_lib.rules.Rule`.

    Subclasses say which rule and hyperparameters a param group uses (:meth:`rule_for`).
    Bookkeeping here, math in the rule: per-parameter state lives in ``self.state[p]``
    under the rule's (torch.optim's) key names, with ``"step"`` a float tensor as torch
    keeps it; parameters of a group that share device, real dtype and step count are
    updated together through :class:`TensorListOps` (on the CPU in work units, see
    ``_update``), or one by one through :data:`TENSOR` when the group says
    ``foreach=False``. The rule sees complex tensors through ``_real``.
    """

    def rule_for(self, group: dict) -> tuple[_rules.Rule, dict]:
        """The rule and its hyperparameters for a param group."""
        raise NotImplementedError

    def _validate(self, defaults: dict) -> None:
        for name in ("differentiable", "fused"):
            if defaults.get(name):
                raise ValueError(f"{name} must be False (course_lib.torch optimizers support "
                                 f"only {name}=False; use torch.optim), got {defaults[name]!r}")
        rule, hyper = self.rule_for(defaults)
        rule.validate({**rule.defaults, **hyper}, zero_lr_ok=True)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter with a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            self._check_step(group, params)
            rule, hyper = self.rule_for(group)
            hyper = {k: _scalar(v) for k, v in hyper.items()}
            if rule.init is not _rules.no_state:  # plain SGD stores nothing, as torch.optim
                self._init_state(rule, hyper, [p for p in params if not self.state.get(p)],
                                 on_device=group.get("capturable", False))
            self._update_group(rule, hyper, params, group)
        return loss

    def _update_group(self, rule, hyper, params, group):
        """One group's update: one tensor at a time (``foreach=False``), else in batches
        of parameters that share device, real dtype and step count (:func:`run_rule`)."""
        per_tensor = group.get("foreach") is False
        for batch in self._batches(params):
            self._update(rule, hyper, batch, group.get("maximize", False), per_tensor)

    #: Elements per work unit on the CPU (see ``_update``).
    unit_size = 1 << 20
    #: The state of parameters initialised together is one buffer (see TensorListOps).
    flat_state = True

    def _check_step(self, group, params):
        """Refuse what this adapter cannot do, naming it: sparse gradients, and a step inside
        CUDA-graph capture (the rules read the step count on the host)."""
        for p in params:
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        if torch.cuda.is_available() and torch.cuda.is_current_stream_capturing():
            raise RuntimeError(
                f"{type(self).__name__}: course_lib.torch optimizers cannot be captured in a "
                f"CUDA graph (capturable=True only keeps torch.optim's state layout, 'step' "
                f"on the parameter's device); use torch.optim to capture")

    def _init_state(self, rule, hyper, params, on_device=False):
        """The rule's initial state, stored as torch.optim stores it: complex tensors for
        complex parameters, ``"step"`` a float tensor on the CPU (on the parameter's device
        when ``on_device``: torch.optim's ``capturable=True`` layout). Made for each dtype
        apart: a buffer shared by complex and real state could not be saved (``torch.save``
        refuses views of one storage as different dtypes)."""
        ops = TensorListOps(flat_state=self.flat_state)
        by_dtype = {}
        for p in params:
            by_dtype.setdefault(p.dtype, []).append(p)
        for same in by_dtype.values():
            state = rule.init([_real(p) for p in same], ops, **hyper)
            for i, p in enumerate(same):
                where = p.device if on_device else "cpu"
                self.state[p] = {
                    key: (_stored(value[i], p) if isinstance(value, list)
                          else torch.tensor(float(value), dtype=_step_dtype(), device=where)
                          if key == "step" else value)
                    for key, value in state.items()}

    def _batches(self, params):
        """The parameters that are updated together: same device, real dtype, step count
        and state entries still to be created (None). Complex parameters are viewed as
        real, and go with real ones of their precision, unless the state is one buffer
        (``flat_state``): the state that a batch creates must not hold both complex and
        real state (see ``_init_state``)."""
        batches = {}
        state_of, empty = self.state.get, {}
        apart = self.flat_state
        for p in params:
            state = state_of(p, empty)
            step = state.get("step")
            if isinstance(step, torch.Tensor):
                step = step.item()  # twice as fast as float(step)
            # the types of the entries (None or a tensor), in a C loop: a third of the time
            dtype = p.dtype if apart else p.dtype.to_real()
            key = (p.device, dtype, step, tuple(map(type, state.values())))
            batch = batches.get(key)
            if batch is None:
                batches[key] = [p]
            else:
                batch.append(p)
        return batches.values()

    def _update(self, rule, hyper, params, maximize, per_tensor=False):
        """The rule on one batch through :func:`run_rule`. On the CPU it runs on cache-sized
        work units in turn, each a list of slices of at most :attr:`unit_size` elements (a
        large tensor is cut into several, small ones share one), so every op of the rule
        finds its operands still in cache; the temporaries of a slice live in one scratch
        arena per optimizer (not in the state, nor in ``state_dict()``). The arithmetic per element is
        the same on every path."""
        states = [self.state.get(p, {}) for p in params]
        keys = [k for k in states[0] if k != "step"]
        real = _reals(params)
        columns = [real(params), real([p.grad for p in params])]
        columns += [real([s[k] for s in states]) for k in keys]
        groups = [list(group) for group in zip(*columns)]
        cpu = params[0].device.type == "cpu" and not per_tensor
        step = float(states[0]["step"]) if "step" in states[0] else None
        new_step, created = run_rule(
            rule, hyper, groups, keys, step, per_tensor=per_tensor,
            arena=self.__dict__.setdefault("_arena", {}) if cpu else None,
            unit_size=self.unit_size if cpu else None,
            prepare=_negated if maximize else None, flat_state=self.flat_state)
        if step is not None and new_step != step:
            _count([s["step"] for s in states], new_step - step)
        for key, tensors in created.items():
            for s, p, t in zip(states, params, tensors):
                s[key] = _stored(t, p)


def _count(steps, increment):
    """``step += increment`` on every step-count tensor. On the CPU the increment is given
    as a tensor, as torch.optim does: a Python number would be wrapped into a tensor once
    per step count (3x slower on 128 parameters)."""
    if steps[0].is_cpu:
        torch._foreach_add_(steps, torch.tensor(float(increment)), alpha=1.0)
    else:
        torch._foreach_add_(steps, increment)


def _negated(params, grads):
    """The gradients of ``maximize=True``: ``-g`` (new tensors)."""
    return torch._foreach_neg(grads)


# ------------------------------------------------------------------------ optimizers
class SGD(RuleOptimizer):
    """Stochastic gradient descent, optionally with momentum (``torch.optim.SGD``).

    ``momentum = 0``: :data:`course_lib.rules.sgd` (:func:`~course_lib.rules.sgd_update`),
    ``p <- p - lr g``; otherwise :data:`course_lib.rules.momentum`
    (:func:`~course_lib.rules.momentum_update`; ``nesterov=True``: look-ahead), torch convention
    ``v <- mu v + (1 - dampening) g``, ``p <- p - lr v``. ``weight_decay`` adds ``wd p``
    to the gradient.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        self._validate(defaults)
        super().__init__(params, defaults)

    def rule_for(self, group):
        if group["momentum"] == 0 and not group["nesterov"]:
            return _rules.sgd, {"lr": group["lr"], "weight_decay": group["weight_decay"]}
        return _rules.momentum, {k: group[k] for k in
                                 ("lr", "momentum", "dampening", "nesterov", "weight_decay")}


class Adagrad(RuleOptimizer):
    """Adagrad (``torch.optim.Adagrad``): :func:`course_lib.rules.adagrad_update`."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=_rules.adagrad.defaults["eps"],
                 foreach=None, *, maximize=False,
                 differentiable=False, fused=None):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        self._validate(defaults)
        super().__init__(params, defaults)
        # torch.optim.Adagrad creates its state up front; so do we (same state_dict)
        for group in self.param_groups:
            rule, hyper = self.rule_for(group)
            self._init_state(rule, {k: _scalar(v) for k, v in hyper.items()}, group["params"])

    def rule_for(self, group):
        return _rules.adagrad, {k: group[k] for k in _rules.adagrad.defaults if k in group}


class RMSprop(RuleOptimizer):
    """RMSprop (``torch.optim.RMSprop``): :func:`course_lib.rules.rmsprop_update`
    (``eps`` outside the square root, like torch)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, capturable=capturable,
                        foreach=foreach, maximize=maximize, differentiable=differentiable)
        self._validate(defaults)
        super().__init__(params, defaults)

    def rule_for(self, group):
        return _rules.rmsprop, {k: group[k] for k in _rules.rmsprop.defaults if k in group}


class Adam(RuleOptimizer):
    """Adam (``torch.optim.Adam``): :func:`course_lib.rules.adam_update`, bias-corrected as in
    Kingma & Ba; ``weight_decay`` is coupled L2 unless ``decoupled_weight_decay=True``
    (AdamW).

    ``bias_correction=False`` (not in torch.optim) drops the factors ``1 - beta^t``, the
    Adam without bias correction that the adaptive-learning-rates chapter compares; it is
    kept in the param groups (and their ``state_dict()``) only when False, so that by
    default the state dict is exactly torch.optim's.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False,
                 bias_correction=True):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        if not bias_correction:  # in the groups only when off: else torch.optim's state_dict
            defaults["bias_correction"] = bias_correction
        self._validate(defaults)
        super().__init__(params, defaults)

    def rule_for(self, group):
        return _rules.adam, {k: group[k] for k in
                             ("lr", "betas", "eps", "weight_decay", "amsgrad",
                              "decoupled_weight_decay", "bias_correction") if k in group}


class AdamW(Adam):
    """AdamW (``torch.optim.AdamW``): Adam with decoupled weight decay
    ``p <- p (1 - lr wd)``, default ``weight_decay=1e-2``; ``bias_correction`` as
    :class:`Adam`'s."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, bias_correction=True):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True, bias_correction=bias_correction)


class Adadelta(RuleOptimizer):
    """Adadelta (``torch.optim.Adadelta``): :func:`course_lib.rules.adadelta_update`."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=_rules.adadelta.defaults["eps"],
                 weight_decay=0.0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        capturable=capturable, maximize=maximize,
                        differentiable=differentiable)
        self._validate(defaults)
        super().__init__(params, defaults)

    def rule_for(self, group):
        return _rules.adadelta, {k: group[k] for k in _rules.adadelta.defaults if k in group}


def compiled(optimizer: type) -> type:
    """``optimizer`` (a class of this module) with its rule run through ``torch.compile``:
    see :func:`course_lib.torch_compiled.compiled`."""
    from .torch_compiled import compiled as twin  # imported here: it builds on this module
    return twin(optimizer)
