"""course_lib.torch.compiled (issue 23): the rule through torch.compile equals the eager rule
and torch.optim, keeps torch.optim's state layout, does not recompile under a scheduler,
and falls back to eager with one warning when compiling fails.

Compiling costs 10-40 s a graph on this machine, so by default a representative set runs
(each optimizer's all-options configuration for Adam, SGD and RMSprop, float64, two groups,
complex and real parameters mixed): a few graphs, shared by the tests of this file (one
xdist group, one process cache). ``COURSE_LIB_TEST_COMPILED=full`` runs every optimizer's
every option (OPTION_CASES of test_torch_optim) in float32 and float64.
"""
from __future__ import annotations

import os
import warnings

import pytest
import torch
from torch._dynamo.utils import counters

import course_lib.torch as ct
from course_lib import torch_compiled
from test_torch_optim import (OPTION_CASES, _assert_same_state_layout, _assert_trajectories_match,
                              _complex_problem, _real_flat, _trajectory, _two_groups)

pytestmark = pytest.mark.xdist_group("torch_compiled")

FULL = os.environ.get("COURSE_LIB_TEST_COMPILED") == "full"
_DEFAULT = {("Adam", "all-options"), ("SGD", "all-options"), ("RMSprop", "all-options")}
CASES = [(n, label, kw, dtype) for n, label, kw in OPTION_CASES
         for dtype in ((torch.complex64, torch.complex128) if FULL else (torch.complex128,))
         if FULL or (n, label) in _DEFAULT]


def _runs(name, kwargs, dtype, scheduler=None):
    """Trajectories (20 steps) and optimizers: compiled, eager course_lib, torch.optim. A
    fallback to eager (its RuntimeWarning) is an error here: the graph must have run."""
    problem = _complex_problem(dtype)
    out = []
    for cls in (ct.compiled(getattr(ct, name)), getattr(ct, name), getattr(torch.optim, name)):
        params = [p.clone().requires_grad_() for p in problem[0]]
        opt = cls(_two_groups(params, kwargs), **kwargs)
        if scheduler is not None:
            opt = _Scheduled(opt, scheduler(opt))
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*torch.compile failed",
                                    category=RuntimeWarning)
            out.append((_trajectory(opt, params, problem, kwargs), opt))
    return out, _real_flat(problem[0])


class _Scheduled:
    """An optimizer whose step() also steps its lr scheduler."""

    def __init__(self, opt, scheduler):
        self.opt, self.scheduler = opt, scheduler

    def step(self):
        self.opt.step()
        self.scheduler.step()


@pytest.mark.parametrize("name,label,kwargs,dtype", CASES,
                         ids=[f"{n}-{label}-{d}" for n, label, _, d in CASES])
def test_compiled_equals_eager_and_torch_optim(name, label, kwargs, dtype):
    """20 steps, two groups, complex and real parameters in one group: the compiled rule's
    trajectory equals the eager rule's and torch.optim's to 1e-6 relative at every step, and
    its state_dict has torch.optim's keys, dtypes and shapes."""
    ((compiled, c_opt), (eager, _), (theirs, t_opt)), start = _runs(name, kwargs, dtype)
    _assert_trajectories_match(compiled, eager, start)
    _assert_trajectories_match(compiled, theirs, start)
    _assert_same_state_layout(c_opt.state_dict(), t_opt.state_dict())


def test_scheduler_does_not_recompile():
    """20 steps of compiled Adam under an lr scheduler compile at most one graph per group
    (two groups: <= 2; none when test_compiled_equals_eager_and_torch_optim compiled the same
    signatures first), and still equal torch.optim with the same scheduler."""
    kwargs = next(kw for n, label, kw in OPTION_CASES if (n, label) == ("Adam", "all-options"))
    graphs = counters["stats"]["unique_graphs"]
    def lambda_lr(opt):
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + t))
    ((compiled, c_opt), _, (theirs, _)), start = _runs("Adam", kwargs, torch.complex128,
                                                       scheduler=lambda_lr)
    assert counters["stats"]["unique_graphs"] - graphs <= 2
    assert c_opt.opt.param_groups[0]["lr"] != kwargs["lr"]  # the scheduler did change it
    _assert_trajectories_match(compiled, theirs, start)


def test_compile_failure_warns_once_and_runs_eagerly(monkeypatch):
    """No C++ compiler (simulated): one RuntimeWarning naming the failure, then the eager rule,
    with the eager rule's numbers."""
    def broken(fn, **kwargs):
        def call(*args):
            raise RuntimeError("simulated: no C++ compiler found")
        return call

    monkeypatch.setattr(torch_compiled, "_GRAPHS", {})
    monkeypatch.setattr(torch_compiled, "_FAILED", {})
    monkeypatch.setattr(torch, "compile", broken)
    kwargs = dict(lr=0.02, weight_decay=0.1)
    problem = _complex_problem(torch.float64)
    results, messages = [], []
    for cls in (ct.compiled(ct.Adam), ct.Adam):
        params = [p.clone().requires_grad_() for p in problem[0]]
        opt = cls(_two_groups(params, kwargs), **kwargs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results.append(_trajectory(opt, params, problem, kwargs, steps=5))
        messages.append([str(w.message) for w in caught if w.category is RuntimeWarning])
    assert len(messages[0]) == 1 and "no C++ compiler" in messages[0][0], messages[0]
    assert messages[1] == []
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)


def test_compiled_keeps_the_signature_and_refuses_other_classes():
    import inspect
    for name in ("SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta"):
        cls = getattr(ct, name)
        twin = ct.compiled(cls)
        assert issubclass(twin, cls) and ct.compiled(cls) is twin
        assert inspect.signature(twin) == inspect.signature(cls)
    with pytest.raises(ValueError, match="optimizer"):
        ct.compiled(torch.optim.Adam)


def _barriers_in_graph(n_params):
    """The number of ``course_lib::scalar`` calls in the graph that dynamo traces for one
    Adam step on ``n_params`` parameters (captured by a backend that compiles nothing)."""
    graphs = []

    def capture(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    params = [torch.nn.Parameter(torch.randn(3 + i)) for i in range(n_params)]
    for p in params:
        p.grad = torch.randn_like(p)
    opt = ct.Adam(params, lr=1e-3)
    rule, hyper = opt.rule_for(opt.param_groups[0])
    opt._init_state(rule, hyper, params)
    update = torch_compiled._group_update(
        rule, ("exp_avg", "exp_avg_sq"), False, True,
        {k: v for k, v in hyper.items() if k not in torch_compiled.DYNAMIC})
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    states = {k: [opt.state[p][k] for p in params] for k in ("exp_avg", "exp_avg_sq")}
    with torch.no_grad():
        torch.compile(update, backend=capture, fullgraph=True)(
            list(params), [p.grad for p in params], states, f64(0.0),
            [opt.state[p]["step"] for p in params],
            {"lr": f64(1e-3), "betas": (f64(0.9), f64(0.999))})
    barrier = torch.ops.course_lib.scalar.default
    return sum(node.target is barrier for gm in graphs for node in gm.graph.nodes)


def test_scalars_are_computed_once_per_step_not_per_tensor():
    """The rule runs once on the group's lists, so Adam's bias corrections and step size are
    traced once, each behind one ``course_lib::scalar`` barrier (outside inductor's loops
    over elements, where two pow calls per 8 elements made a step 5x slower than torch's
    fused Adam): as many barriers for 6 parameters as for 1."""
    one, six = _barriers_in_graph(1), _barriers_in_graph(6)
    assert one == 5  # lerp weight 1 - beta1, beta2, 1 - beta2, eps c2, -lr c2 / c1
    assert six == one


def test_state_is_a_tensor_per_parameter():
    """The compiled optimizers keep a tensor per parameter's state: views of one buffer
    (the eager path's layout) would be aliased graph inputs, measured 11.0 against 7.1 ms
    an Adam step. SGD's momentum buffer, made by its eager first step, too."""
    params = [torch.zeros(3, requires_grad=True) for _ in range(3)]
    for p in params:
        p.grad = torch.ones(3)
    sgd = ct.compiled(ct.SGD)(params, lr=0.1, momentum=0.9)
    sgd.step()  # eager: creates the buffer
    adam = ct.compiled(ct.Adam)(params)
    rule, hyper = adam.rule_for(adam.param_groups[0])
    adam._init_state(rule, hyper, params)  # what its first step does before compiling
    eager = ct.Adam(params)
    eager._init_state(rule, hyper, params)
    for opt, key, buffers in ((sgd, "momentum_buffer", 3), (adam, "exp_avg", 3),
                              (eager, "exp_avg", 1)):
        storages = {opt.state[p][key].untyped_storage().data_ptr() for p in params}
        assert len(storages) == buffers, (type(opt).__name__, key)
