"""The compiled path of :mod:`course_lib.torch`: the same rule, fused by ``torch.compile``.

``compiled(Adam)`` is ``Adam`` (same arguments, state, ``state_dict()``, param groups and
schedulers) whose step runs the rule of :mod:`course_lib.rules` through ``torch.compile``:
the rule runs once on the lists of a group's parameters, gradients and state, is traced
into one graph, and inductor fuses its lines into one loop per tensor, one pass over
memory as in torch's hand-written fused kernels. No second kernel is written: what is
traced is ``rules.adam.update`` itself, given the ops vocabulary :data:`COMPILED`::

    from course_lib.torch import Adam, compiled
    opt = compiled(Adam)(model.parameters(), lr=1e-3)

What is compiled, and when
    One graph per *signature*: the rule, the optimizer's options other than ``lr`` and
    ``betas`` (weight decay, amsgrad, nesterov, centered, maximize, ...), and the shapes
    and dtypes of the group's tensors (dynamo's guards check every tensor of a call).
    Graphs are cached for the process, and inductor caches the generated code on disk,
    so a second process compiles faster. The learning rate, ``betas`` and the step count
    enter as 0-dim float64 tensors, so schedulers and the bias corrections change no
    graph: 20 steps under an lr scheduler compile once. Each scalar the rule derives from
    them (Adam's ``-lr sqrt(1 - beta2^t) / (1 - beta1^t)``) is computed once per step,
    before the loops over elements (``_once``). Changing another hyperparameter
    between steps compiles a new graph. SGD's first momentum step (the buffer does not
    exist yet) runs eagerly.

Speed and compile cost
    ``benchmarks/optimizers.py --only compiled`` measures both on the machine it runs on.
    On 2 CPU cores, 10M float32 parameters in 16 or 128 tensors (three runs), a step took
    1.02-1.21x the time of torch's fused Adam and AdamW kernels, 1.06-1.32x that of its
    fused SGD and Adagrad, and 0.13-0.37x that of torch.optim's foreach step (SGD with
    momentum 0.59-0.67x, where torch's fused SGD measures 0.53-0.62x: see the benchmark).

    The first step of a new signature compiles. With inductor's disk cache empty, on the
    same machine, the first two steps took 6-18 s for 16 tensors and 31-88 s for 128 (the
    kernel holds one loop per tensor); a later process reuses the cached code and takes
    1-17 s. The compiled optimizer is ahead of the eager one after 520-4700 steps with the
    cache empty and 85-610 with it warm (SGD: 5200-17000 and 500-2300, as its eager step
    is already close to one pass).

When ``torch.compile`` fails (no C++ compiler, an unsupported platform or Python, an
operation it cannot trace), the optimizer says so once (``RuntimeWarning``) and runs the
same rule eagerly: never a failure that the eager optimizer would not have.
"""
from __future__ import annotations

import functools
import inspect
import types
import warnings

import torch

from . import torch as _ct

__all__ = ["compiled", "CompiledOps", "COMPILED"]

#: Hyperparameters passed to a graph as 0-dim tensors (a change does not recompile).
DYNAMIC = ("lr", "betas")


def _copy(x):
    """``x`` itself (a copy): what ``course_lib::scalar`` computes."""
    return x.clone()


# An opaque op, which inductor computes once and cannot inline. Inlined, a scalar such as
# Adam's -lr sqrt(1 - beta2^t) / (1 - beta1^t) is recomputed inside the loop over the
# elements (two pow calls per 8 elements, which C's errno rules keep the compiler from
# hoisting): measured 5x slower than torch's fused Adam on 10M parameters. Defined with
# torch.library.Library, whose call costs about 5 us (custom_op's about 25 us).
_LIBRARY = torch.library.Library("course_lib", "FRAGMENT")
if not hasattr(torch.ops.course_lib, "scalar"):
    _LIBRARY.define("scalar(Tensor x) -> Tensor")
    _LIBRARY.impl("scalar", _copy, "CompositeExplicitAutograd")
    torch.library.register_fake("course_lib::scalar")(torch.empty_like)
_scalar_barrier = torch.ops.course_lib.scalar.default


def _once(value):
    """A scalar argument as a graph should use it: a 0-dim tensor (the learning rate, a
    bias correction) is computed once per step, before the loops over elements."""
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return _scalar_barrier(value)
    return value


def _on_lists(name, in_place):
    """The list op ``name``: the one-tensor op of :class:`_Tensor` on each tensor of the
    list arguments, its scalar arguments computed once (:func:`_once`)."""
    one = getattr(_Tensor, name)

    def op(self, xs, *args, **kwargs):
        args = [a if isinstance(a, (list, tuple)) else _once(a) for a in args]
        kwargs = {k: _once(v) for k, v in kwargs.items()}
        outs = [one(x, *(a[i] if isinstance(a, (list, tuple)) else a for a in args), **kwargs)
                for i, x in enumerate(xs)]
        return xs if in_place else outs

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``{name}`` on each tensor of the lists (:class:`course_lib.rules.Ops`)."
    signature = inspect.signature(one)  # the one-tensor op's, as rules.Ops declares it
    op.__signature__ = signature.replace(parameters=[
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        *signature.parameters.values()])
    return op


class _Tensor(_ct.TensorOps):
    """One tensor's ops, with scalar arguments that may be 0-dim tensors: written as
    products, which inductor fuses into the surrounding pass."""

    @staticmethod
    def add(x, y, alpha=1.0):
        return x + y * alpha

    @staticmethod
    def add_(x, y, alpha=1.0):
        return x.add_(y * alpha)

    @staticmethod
    def addcmul(x, a, b, value=1.0):
        return x + a * value * b

    @staticmethod
    def addcmul_(x, a, b, value=1.0):
        return x.add_(a * value * b)

    @staticmethod
    def addcdiv_(x, a, b, value=1.0):
        return x.add_(a * value / b)

    @staticmethod
    def lerp_(x, y, weight):
        return x.add_((y - x) * weight)

    @staticmethod
    def maximum_(x, y):
        return x.copy_(torch.maximum(x, y))  # dynamo refuses out= on a non-contiguous x


class CompiledOps:
    """The ops vocabulary that the compiled graphs trace a rule with: a list of tensors
    (a param group's parameters, gradients or state), each op applied to every tensor, its
    scalar arguments (learning rate, bias corrections: 0-dim tensors, so that a change does
    not recompile) computed once per step. Inductor fuses the rule's ops into one loop per
    tensor, all in one kernel."""


for _name in ("zeros_like", "full_like", "clone", "add", "add_", "mul_", "div_", "addcmul",
              "addcmul_", "addcdiv_", "lerp_", "sqrt", "sqrt_", "maximum_"):
    setattr(CompiledOps, _name, _on_lists(_name, in_place=_name.endswith("_")))

#: The ops vocabulary the compiled graphs trace the rules with.
COMPILED = CompiledOps()


def _group_update(rule, keys, maximize, has_step, static):
    """The function traced for one signature: the rule once, on the batch's lists, and the
    parameters' step counts incremented (in the graph: one kernel, not a call per tensor)."""
    def update(params, grads, states, step, steps, dynamic):
        state = dict(states)
        if has_step:  # a copy: the rule's ``state["step"] += 1`` is in place on a tensor
            state["step"] = step.clone()
            for count in steps:
                count.add_(1)
        if maximize:
            grads = [g.neg() for g in grads]
        rule.update(params, grads, state, COMPILED, **static, **dynamic)
        for k in keys:
            if state[k] is not states[k]:  # a rule that rebinds a state entry
                for mine, new in zip(states[k], state[k]):
                    mine.copy_(new)
    return update


def _guards(entries):
    """The guards a graph keeps: all of dynamo's but its per-tensor checks that no dimension
    was marked dynamic (five ``hasattr`` calls per tensor; the graphs are static, and
    every shape is checked anyway). Measured on Adam with 128 parameters (640 tensors):
    a call of the graph falls from 1.25 to 0.86 ms."""
    return [e.guard_type != "DIMENSION_DYNAMIC_MARKING_GUARD" for e in entries]


_GRAPHS: dict = {}
_FAILED: dict = {}


def _graph(key, rule, keys, maximize, has_step, static):
    """The compiled update for ``key``, compiled on first use and cached. Each signature
    gets its own code object: dynamo limits recompilations per code object, and distinct
    signatures are distinct graphs, not recompilations of one."""
    graph = _GRAPHS.get(key)
    if graph is None:
        fn = _group_update(rule, keys, maximize, has_step, static)
        name = f"{rule.name}_update_{len(_GRAPHS)}"
        fn = types.FunctionType(fn.__code__.replace(co_name=name), fn.__globals__, name,
                                fn.__defaults__, fn.__closure__)
        # no size asserts in the generated code: dynamo's guards check the inputs
        graph = _GRAPHS[key] = torch.compile(
            fn, fullgraph=True, dynamic=False,
            options={"size_asserts": False, "guard_filter_fn": _guards})
    return graph


class CompiledRuleOptimizer:
    """Mixin over a :class:`course_lib.torch.RuleOptimizer`: each batch of a group (same
    device, real dtype and step count) is one compiled graph of the rule."""

    #: A tensor per parameter's state: views of one buffer would be aliased graph inputs.
    flat_state = False

    def _update_group(self, rule, hyper, params, group):
        maximize = bool(group.get("maximize", False))
        for batch in self._batches(params):
            if not self._compiled_batch(rule, hyper, batch, maximize):
                super()._update_group(rule, hyper, batch, group)

    def _compiled_batch(self, rule, hyper, batch, maximize):
        """Run ``batch`` through its graph; False when it must run eagerly."""
        states = [self.state.get(p, {}) for p in batch]
        keys = tuple(k for k, v in states[0].items() if k != "step")
        if any(states[0][k] is None for k in keys):
            return False  # state created by the first update (SGD's momentum buffer)
        has_step = "step" in states[0]
        static = {k: v for k, v in hyper.items() if k not in DYNAMIC}
        real = _ct._reals(batch)
        steps = [s["step"] for s in states] if has_step else []
        reals = real(batch)
        # the graph's code object; dynamo's guards check every input tensor of a call
        key = (rule.name, rule.update, keys, maximize, has_step, tuple(sorted(static.items())),
               reals[0].dtype, reals[0].device, tuple(t.shape for t in reals),
               (steps[0].dtype, steps[0].device) if steps else None)
        if key in _FAILED:
            self._warn_once(_FAILED[key])
            return False
        f64 = functools.partial(torch.tensor, dtype=torch.float64)
        dynamic = {k: (tuple(map(f64, v)) if isinstance(v, tuple) else f64(v))
                   for k, v in hyper.items() if k in DYNAMIC}
        step = f64(steps[0].item()) if has_step else None
        try:
            _graph(key, rule, keys, maximize, has_step, static)(
                reals, real([p.grad for p in batch]),
                {k: real([s[k] for s in states]) for k in keys}, step, steps, dynamic)
        except Exception as error:  # any compile failure: say so once, run eagerly
            _FAILED[key] = error
            self._warn_once(error)
            return False
        return True

    def _warn_once(self, error):
        if not self.__dict__.get("_warned"):
            self._warned = True
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            warnings.warn(f"{type(self).__name__}: torch.compile failed "
                          f"({type(error).__name__}: {first[:200]}); running the same rule "
                          f"eagerly", RuntimeWarning, stacklevel=4)


@functools.cache
def compiled(optimizer: type) -> type:
    """The compiled twin of a course_lib.torch optimizer class (see the module docstring).

    >>> from course_lib.torch import Adam, compiled
    >>> compiled(Adam).__name__, compiled(Adam) is compiled(Adam)
    ('CompiledAdam', True)
    """
    if not (isinstance(optimizer, type) and issubclass(optimizer, _ct.RuleOptimizer)):
        raise ValueError(f"optimizer must be a course_lib.torch optimizer class, such as "
                         f"course_lib.torch.Adam, got {optimizer!r}")
    doc = (f"{optimizer.__name__} through torch.compile (course_lib.torch.compiled): the same "
           f"rule, arguments, state and state_dict.\n\n{optimizer.__doc__}")
    return type(f"Compiled{optimizer.__name__}", (CompiledRuleOptimizer, optimizer),
                {"__doc__": doc, "__module__": __name__})
