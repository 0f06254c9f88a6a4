"""course_lib.torch optimizers against torch.optim: same trajectories, state dicts, groups,
schedulers, validation (issue 3's bars)."""
from __future__ import annotations

import copy
import functools
import inspect
import io
import itertools

import numpy as np
import pytest
import torch

import course_lib.torch as ct

STEPS = 200
RTOL = 1e-6
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _problem(device="cpu", dtype=torch.float64, seed=0):
    """A random separable problem: f(p) = sum a (p - c)^2 / 2 + 0.01 p^4 over 3 tensors."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(5, 3), (7,), (2, 2, 2)]
    make = lambda s, lo=0.0: (torch.rand(s, generator=g, dtype=torch.float64) + lo)  # noqa: E731
    params = [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]
    centers = [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]
    curv = [make(s, 0.5) for s in shapes]
    to = lambda ts: [t.to(device=device, dtype=dtype) for t in ts]  # noqa: E731
    return to(params), to(centers), to(curv)


def _grads(params, centers, curv, sign=1.0):
    return [sign * (a * (p - c) + 0.04 * p ** 3) for p, c, a in zip(params, centers, curv)]


def _train(cls, kwargs, steps=STEPS, device="cpu", dtype=torch.float64, opt=None,
           params=None, start=0, scheduler=None):
    """Run `steps` steps; gradients are set by hand (maximize: the gradient of -f, so the
    run still minimizes f and stays bounded)."""
    base, centers, curv = _problem(device, dtype)
    if params is None:
        params = [p.clone().requires_grad_() for p in base]
    if opt is None:
        opt = cls(params, **kwargs)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    for _ in range(steps):
        with torch.no_grad():
            for p, g in zip(params, _grads(params, centers, curv, sign)):
                p.grad = g.clone()
        opt.step()
        if scheduler is not None:
            scheduler.step()
    return params, opt


def _flat(params):
    return torch.cat([p.detach().reshape(-1).cpu() for p in params])


def _assert_match(ours, theirs, rtol=RTOL):
    a, b = _flat(ours), _flat(theirs)
    assert torch.isfinite(b).all()
    # the runs must have moved (a no-op optimizer would otherwise "match")
    start = _flat(_problem()[0])
    assert (b - start).abs().max() > 1e-3
    torch.testing.assert_close(a, b, rtol=rtol, atol=1e-12)


def _combos(**axes):
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*axes.values())]


CASES = []
for kw in _combos(lr=[0.02], momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                  weight_decay=[0.0, 0.05], maximize=[False, True]):
    if kw["nesterov"] and (kw["momentum"] == 0 or kw["dampening"] != 0):
        continue
    CASES.append(("SGD", kw))
for name in ("Adam", "AdamW"):
    for kw in _combos(lr=[0.01], betas=[(0.8, 0.99)], weight_decay=[0.0, 0.1],
                      amsgrad=[False, True], maximize=[False, True]):
        CASES.append((name, kw))
CASES.append(("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)))
for kw in _combos(lr=[0.1], lr_decay=[0.0, 0.01], weight_decay=[0.0, 0.05],
                  initial_accumulator_value=[0.0, 0.1], maximize=[False, True]):
    CASES.append(("Adagrad", kw))
CASES.append(("Adagrad", dict(lr=0.1, eps=1e-3)))
for kw in _combos(lr=[0.01], alpha=[0.9], momentum=[0.0, 0.5], centered=[False, True],
                  weight_decay=[0.0, 0.05], maximize=[False, True]):
    CASES.append(("RMSprop", kw))
CASES.append(("RMSprop", dict(lr=0.01, eps=1e-3)))
for kw in _combos(lr=[0.5], rho=[0.9, 0.5], weight_decay=[0.0, 0.05], maximize=[False, True]):
    CASES.append(("Adadelta", kw))
CASES.append(("Adadelta", dict(eps=1e-3)))


def _id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


# The richest combination of each optimizer once more through the one-tensor-at-a-time
# path (foreach=False) as well as the default (batched torch._foreach_*) path.
_RICHEST = {}
for _name, _kw in CASES:
    if sum(map(bool, _kw.values())) > sum(map(bool, _RICHEST.get(_name, {}).values())):
        _RICHEST[_name] = _kw
CASES += [(n, {**kw, "foreach": False}) for n, kw in _RICHEST.items()]


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_matches_torch_optim_200_steps(case):
    name, kw = case
    ours, _ = _train(getattr(ct, name), kw)
    theirs, _ = _train(getattr(torch.optim, name), kw)
    _assert_match(ours, theirs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta"])
def test_defaults_match_torch_optim(name, device):
    """Default hyperparameters (only lr given where torch requires it), float32 and float64."""
    kw = {"lr": 0.01} if name == "SGD" else {}
    for dtype in (torch.float64, torch.float32):
        ours, _ = _train(getattr(ct, name), kw, steps=50, device=device, dtype=dtype)
        theirs, _ = _train(getattr(torch.optim, name), kw, steps=50, device=device, dtype=dtype)
        rtol = RTOL if dtype == torch.float64 else 1e-5
        torch.testing.assert_close(_flat(ours), _flat(theirs), rtol=rtol,
                                   atol=1e-12 if dtype == torch.float64 else 1e-6)


def test_signatures_and_defaults_match_torch_optim():
    for name in ("SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta"):
        ours = inspect.signature(getattr(ct, name)).parameters
        theirs = inspect.signature(getattr(torch.optim, name)).parameters
        for pname, p in ours.items():
            if pname in theirs and p.default is not inspect.Parameter.empty:
                assert p.default == theirs[pname].default or (
                    pname == "lr" and name == "SGD"), (name, pname)
        for pname in ("lr", "weight_decay", "eps", "betas", "momentum", "rho", "alpha"):
            if pname in theirs:
                assert pname in ours, (name, pname)


def test_param_groups_with_different_hyperparameters():
    def make(mod):
        base, centers, curv = _problem()
        params = [p.clone().requires_grad_() for p in base]
        opt = mod.Adam([{"params": params[:2], "lr": 0.05, "amsgrad": True},
                        {"params": params[2:], "weight_decay": 0.1}], lr=0.01)
        return params, opt

    p1, o1 = make(ct)
    p2, o2 = make(torch.optim)
    _train(None, {}, opt=o1, params=p1)
    _train(None, {}, opt=o2, params=p2)
    _assert_match(p1, p2)
    assert [g["lr"] for g in o1.param_groups] == [0.05, 0.01]


def test_mixed_dtypes_and_missing_grads():
    """Tensors of different dtypes in one group, and a parameter whose gradient is None on
    some steps (its step count falls behind: per-tensor step counts, as in torch)."""
    def run(mod):
        torch.manual_seed(3)
        a = torch.randn(4, dtype=torch.float64, requires_grad=True)
        b = torch.randn(3, dtype=torch.float32, requires_grad=True)
        c = torch.randn(2, dtype=torch.float64, requires_grad=True)
        opt = mod.Adam([a, b, c], lr=0.05)
        for t in range(60):
            for p in (a, b, c):
                p.grad = (2 * p).detach()
            if t % 3 == 0:
                c.grad = None
            opt.step()
        return [a, b, c], opt

    ours, o1 = run(ct)
    theirs, o2 = run(torch.optim)
    for x, y in zip(ours, theirs):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-7)
    steps = [float(o1.state[p]["step"]) for p in ours]
    assert steps == [60.0, 60.0, 40.0]
    assert steps == [float(o2.state[p]["step"]) for p in theirs]


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adadelta", dict(lr=1.0)),
])
def test_state_dict_round_trips(name, kw):
    """Stop after 100 steps, save, load into a fresh optimizer, go on for 100 more: the same
    as 200 uninterrupted steps. Both directions with torch.optim, too."""
    full, _ = _train(getattr(torch.optim, name), kw, steps=STEPS)
    for first, second in [(ct, ct), (torch.optim, ct), (ct, torch.optim)]:
        params, opt = _train(getattr(first, name), kw, steps=STEPS // 2)
        saved = opt.state_dict()
        assert set(saved) == {"state", "param_groups"}
        fresh = getattr(second, name)(params, **kw)
        fresh.load_state_dict(saved)
        assert fresh.state_dict()["param_groups"] == saved["param_groups"]
        params, _ = _train(None, kw, steps=STEPS // 2, opt=fresh, params=params)
        _assert_match(params, full)


def test_state_dict_has_torch_optim_keys():
    for name, kw in [("Adam", dict(amsgrad=True)), ("RMSprop", dict(momentum=0.5, centered=True)),
                     ("SGD", dict(lr=0.1, momentum=0.9)), ("SGD", dict(lr=0.1)),
                     ("Adagrad", {}), ("Adadelta", {})]:
        # plain SGD keeps no state: torch.optim's state_dict has no entry per parameter
        _, o1 = _train(getattr(ct, name), kw, steps=3)
        _, o2 = _train(getattr(torch.optim, name), kw, steps=3)
        s1, s2 = o1.state_dict(), o2.state_dict()
        assert s1["param_groups"] == s2["param_groups"]
        assert s1["state"].keys() == s2["state"].keys()
        for i in s1["state"]:
            assert s1["state"][i].keys() == s2["state"][i].keys()
            for key in s1["state"][i]:
                a, b = s1["state"][i][key], s2["state"][i][key]
                assert a.dtype == b.dtype and a.shape == b.shape, (name, key)


@pytest.mark.parametrize("make_scheduler", [
    lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=30, gamma=0.5),
    lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS),
    lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=STEPS),
    lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + t)),
], ids=["StepLR", "CosineAnnealingLR", "OneCycleLR", "LambdaLR"])
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_lr_schedulers_drive_our_optimizers(name, make_scheduler):
    kw = dict(lr=0.02, momentum=0.9) if name != "Adam" else dict(lr=0.02)
    runs = []
    for mod in (ct, torch.optim):
        base, _, _ = _problem()
        params = [p.clone().requires_grad_() for p in base]
        opt = getattr(mod, name)(params, **kw)
        sched = make_scheduler(opt)
        _train(None, kw, opt=opt, params=params, scheduler=sched)
        runs.append((params, opt))
    (p1, o1), (p2, o2) = runs
    _assert_match(p1, p2)
    assert o1.param_groups[0]["lr"] == pytest.approx(o2.param_groups[0]["lr"], rel=1e-12)
    assert o1.param_groups[0]["lr"] != kw["lr"]  # the scheduler did change it


def test_closure_and_autograd_loop():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1).double()
    x, y = torch.randn(32, 4, dtype=torch.float64), torch.randn(32, 1, dtype=torch.float64)
    clone = torch.nn.Linear(4, 1).double()
    clone.load_state_dict(model.state_dict())
    o1, o2 = ct.Adam(model.parameters(), lr=0.05), torch.optim.Adam(clone.parameters(), lr=0.05)
    for _ in range(50):
        for m, o in ((model, o1), (clone, o2)):
            def closure(m=m, o=o):
                o.zero_grad()
                loss = torch.nn.functional.mse_loss(m(x), y)
                loss.backward()
                return loss
            loss = o.step(closure)
            assert torch.is_tensor(loss)
    for a, b in zip(model.parameters(), clone.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_is_a_torch_optimizer_and_skips_params_without_grad():
    w = torch.ones(3, requires_grad=True)
    frozen = torch.ones(2, requires_grad=True)
    opt = ct.Adam([w, frozen], lr=0.1)
    assert isinstance(opt, torch.optim.Optimizer)
    w.grad = torch.ones(3)
    opt.step()
    assert torch.equal(frozen.detach(), torch.ones(2))
    assert not opt.state[frozen]
    opt.zero_grad()
    assert w.grad is None


@pytest.mark.parametrize("name,kw,param", [
    ("SGD", dict(lr=-0.1), "lr"),
    ("SGD", dict(lr=0.1, momentum=-0.5), "momentum"),
    ("SGD", dict(lr=0.1, nesterov=True), "nesterov"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, nesterov=True), "nesterov"),
    ("SGD", dict(lr=0.1, weight_decay=-1.0), "weight_decay"),
    ("Adam", dict(lr=-1e-3), "lr"),
    ("Adam", dict(betas=(1.0, 0.999)), "betas"),
    ("Adam", dict(betas=(0.9, -0.1)), "betas"),
    ("Adam", dict(eps=0.0), "eps"),
    ("Adam", dict(eps=-1e-8), "eps"),
    ("AdamW", dict(betas=(0.9, 1.5)), "betas"),
    ("Adagrad", dict(eps=0.0), "eps"),
    ("Adagrad", dict(lr=-0.1), "lr"),
    ("RMSprop", dict(momentum=-0.1), "momentum"),
    ("RMSprop", dict(eps=-1.0), "eps"),
    ("RMSprop", dict(alpha=-0.1), "alpha"),
    ("Adadelta", dict(rho=1.5), "rho"),
    ("Adadelta", dict(eps=0.0), "eps"),
    ("Adadelta", dict(lr=-1.0), "lr"),
    ("Adam", dict(fused=True), "fused"),
])
def test_bad_input_raises_value_error_naming_the_parameter(name, kw, param):
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=param):
        getattr(ct, name)([w], **kw)


def test_zero_lr_is_legal_like_torch():
    w = torch.ones(2, requires_grad=True)
    for name in ("SGD", "Adam", "Adagrad", "RMSprop", "Adadelta"):
        opt = getattr(ct, name)([w], lr=0.0)
        w.grad = torch.ones(2)
        opt.step()
        assert torch.equal(w.detach(), torch.ones(2))


def test_sparse_gradients_are_refused():
    w = torch.zeros(3, requires_grad=True)
    opt = ct.Adam([w])
    w.grad = torch.sparse_coo_tensor([[0]], [1.0], (3,))
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()


def test_device_is_cpu_or_cuda():
    assert ct.device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("unit_size", [1, 4, 6, 1 << 16])
@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.05, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.05)),
    ("Adadelta", dict(weight_decay=0.05)),
])
def test_cpu_work_units_change_no_result(name, kw, unit_size, monkeypatch):
    """The CPU path cuts tensors into work units (slices of big tensors, groups of small
    ones); any unit size gives torch.optim's trajectory."""
    monkeypatch.setattr(ct.RuleOptimizer, "unit_size", unit_size)
    ours, _ = _train(getattr(ct, name), kw, steps=60)
    theirs, _ = _train(getattr(torch.optim, name), kw, steps=60)
    _assert_match(ours, theirs)


def test_cpu_scratch_arena_is_reused_and_not_state(monkeypatch):
    """On the CPU, temporaries live in one scratch arena reused every step; it is not
    optimizer state (state_dict keys are torch's) and is not copied with the optimizer."""
    monkeypatch.setattr(ct.RuleOptimizer, "unit_size", 1000)
    w = torch.randn(2500, dtype=torch.float64, requires_grad=True)
    opt = ct.Adadelta([w], weight_decay=0.1)
    pointers, entries = [], []
    for _ in range(3):
        w.grad = 2 * w.detach()
        opt.step()
        buffers = [b for b in opt._arena.values() if isinstance(b, torch.Tensor)]
        pointers.append(sorted(b.data_ptr() for b in buffers))
        entries.append(len(opt._arena))
    assert len(pointers[0]) == 3 and pointers[0] == pointers[1] == pointers[2]
    # three slots of one unit each, not three copies of the parameter
    assert sum(b.numel() for b in buffers) == 3 * 1000
    # the views of a slot for each layout of a unit (slices of 1000 and of 500) are made
    # once, at the first step
    assert entries[0] == entries[2] == 3 + 3 * 2
    assert set(opt.state_dict()["state"][0]) == {"step", "square_avg", "acc_delta"}
    clone = copy.deepcopy(opt)
    assert not getattr(clone, "_arena", None)


def _sqrt_calls(opt):
    """The number of aten::sqrt calls in one ``opt.step()``."""
    with torch.profiler.profile() as prof:
        opt.step()
    return sum(e.count for e in prof.key_averages() if e.key.startswith("aten::sqrt"))


def test_state_is_one_buffer_and_state_ops_run_once_per_unit():
    """The state of a batch of parameters is one flat buffer, views back to back, and an op
    on state alone (RMSprop's ``sqrt(s)``) runs once per work unit: one aten::sqrt for six
    parameters, where torch.optim's foreach step makes six. Trajectories are unchanged."""
    shapes = [(3, 4), (7,), (2, 2, 2), (5,), (1,), (6, 1)]
    g = torch.Generator().manual_seed(0)
    init = [torch.randn(shape, generator=g, dtype=torch.float64) for shape in shapes]
    runs = []
    for make in (ct.RMSprop, functools.partial(torch.optim.RMSprop, foreach=True)):
        params = [p.clone().requires_grad_() for p in init]
        opt = make(params, lr=0.01, momentum=0.5)
        calls = []
        for _ in range(4):
            for p in params:
                p.grad = torch.sin(3 * p.detach()) + 0.1
            calls.append(_sqrt_calls(opt))
        runs.append((params, opt, calls))
    (ours, opt, calls), (theirs, _, torch_calls) = runs
    assert calls == [1] * 4 and torch_calls == [len(shapes)] * 4
    for key in ("square_avg", "momentum_buffer"):
        states = [opt.state[p][key] for p in ours]
        assert len({s.untyped_storage().data_ptr() for s in states}) == 1
        # back to back, each at an even offset (an odd size is padded by one element)
        ends = [s.data_ptr() + (s.numel() + s.numel() % 2) * s.element_size()
                for s in states]
        assert [s.data_ptr() for s in states[1:]] == ends[:-1]
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0)


def test_state_loaded_from_torch_optim_runs_per_tensor_with_the_same_result():
    """State that is not one buffer (loaded from torch.optim's state_dict) takes the
    per-tensor path: six aten::sqrt, and the trajectory continues as torch.optim's."""
    g = torch.Generator().manual_seed(1)
    init = [torch.randn(shape, generator=g) for shape in [(4,), (3, 2), (5,)] * 2]
    theirs = [p.clone().requires_grad_() for p in init]
    ref = torch.optim.RMSprop(theirs, lr=0.01)
    for p in theirs:
        p.grad = torch.cos(p.detach())
    ref.step()
    ours = [p.detach().clone().requires_grad_() for p in theirs]
    opt = ct.RMSprop(ours, lr=0.01)
    opt.load_state_dict(copy.deepcopy(ref.state_dict()))  # load shares tensors
    for p, q in zip(ours, theirs):
        p.grad = q.grad = torch.cos(p.detach())
    assert _sqrt_calls(opt) == len(init)
    ref.step()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)


def _side_by_side(name, init, steps=3, **kwargs):
    """course_lib.torch's and torch.optim's optimizer ``name`` from copies of ``init``, the
    gradient ``i p`` of a complex p and ``sin p`` of a real one; returns our parameters,
    our optimizer and torch.optim's parameters."""
    runs = []
    for cls in (getattr(ct, name), getattr(torch.optim, name)):
        params = [p.clone().requires_grad_() for p in init]
        opt = cls(params, **kwargs)
        for _ in range(steps):
            for p in params:
                p.grad = p.detach() * 1j if p.is_complex() else torch.sin(p.detach())
            opt.step()
        runs.append((params, opt))
    return runs[0][0], runs[0][1], runs[1][0]


def test_complex_state_after_an_odd_sized_real_parameter_stays_complex():
    """A real parameter of odd size before a complex one: the complex one's state must not
    start at an odd offset of a shared buffer (it could not be viewed as complex)."""
    g = torch.Generator().manual_seed(2)
    init = [torch.randn(5, generator=g), torch.randn(2, 3, dtype=torch.complex64, generator=g)]
    ours, opt, theirs = _side_by_side("Adam", init, lr=0.05)
    assert opt.state[ours[1]]["exp_avg_sq"].dtype == torch.complex64
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kw", [dict(), dict(maximize=True), dict(weight_decay=0.1)],
                         ids=["plain", "maximize", "weight_decay"])
def test_momentum_buffer_of_a_complex_parameter_after_an_odd_real_one(kw):
    """SGD's buffer is made at the first step from the gradients (new real tensors when
    negated or decayed), in one buffer: the complex parameter's part must still start at
    an even offset, to be stored as complex."""
    g = torch.Generator().manual_seed(3)
    init = [torch.randn(3, generator=g, dtype=torch.float64),
            torch.randn(2, dtype=torch.complex128, generator=g)]
    ours, opt, theirs = _side_by_side("SGD", init, lr=0.1, momentum=0.9, **kw)
    assert opt.state[ours[1]]["momentum_buffer"].dtype == torch.complex128
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_complex_parameter_that_views_a_real_tensor():
    """A complex parameter made with view_as_complex of a real tensor, after an odd real
    one: its state starts at an even offset too."""
    a = torch.randn(3, dtype=torch.float64)
    c = torch.view_as_complex(torch.randn(2, 2, dtype=torch.float64))
    ours, _, theirs = _side_by_side("Adam", [a, c], lr=0.1)
    for x, y in zip(ours, theirs):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14)


def test_parameters_that_view_a_user_buffer_are_updated_one_by_one():
    """Parameters (and gradients) that are views of the user's own flat buffer are not run
    as one flat tensor: a parameter lying between two others but without a gradient (not
    in the step) keeps its value, which a flat op over the span would change."""
    g = torch.Generator().manual_seed(4)
    flat = torch.randn(7, dtype=torch.float64, generator=g)
    grad_flat = torch.randn(7, dtype=torch.float64, generator=g)
    views = [flat[0:3], flat[3:4], flat[4:7]]  # the middle one is left out of the step
    grads = [grad_flat[0:3], grad_flat[3:4], grad_flat[4:7]]
    kept = flat[3].item()
    theirs = [v.clone().requires_grad_() for v in views]
    ours = [torch.nn.Parameter(v) for v in views]  # shares the buffer
    opt, ref = ct.Adagrad(ours, lr=0.1), torch.optim.Adagrad(theirs, lr=0.1)
    for _ in range(3):
        for params in (ours, theirs):
            params[0].grad, params[1].grad, params[2].grad = grads[0], None, grads[2]
        opt.step()
        ref.step()
    assert flat[3].item() == kept
    for x, y in zip(ours, theirs):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adadelta"])
def test_saved_state_of_real_and_complex_parameters_continues_in_torch_optim(name):
    """``torch.save`` of the state of a group with real and complex parameters (it refuses
    views of one storage as two dtypes, so their state may not share a buffer), loaded
    into torch.optim, which then continues as course_lib does."""
    g = torch.Generator().manual_seed(5)
    init = [torch.randn(3, dtype=torch.float64, generator=g),
            torch.randn(2, dtype=torch.complex128, generator=g),
            torch.randn(4, dtype=torch.float64, generator=g)]
    kw = dict(lr=0.05, momentum=0.9) if name == "SGD" else dict(lr=0.05)
    ours, opt, _ = _side_by_side(name, init, **kw)
    saved = io.BytesIO()
    torch.save(opt.state_dict(), saved)
    saved.seek(0)
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    ref = getattr(torch.optim, name)(theirs, **kw)
    ref.load_state_dict(torch.load(saved))
    for _ in range(3):
        for params, o in ((ours, opt), (theirs, ref)):
            for p in params:
                p.grad = p.detach() * 1j if p.is_complex() else torch.sin(p.detach())
            o.step()
    for x, y in zip(ours, theirs):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14)


def test_module_doctest():
    import doctest
    result = doctest.testmod(ct)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------- every input torch.optim accepts
# Issue 20: complex parameters (torch.optim views each as its real and imaginary parts),
# every option of every optimizer, mixed real and complex parameters in one group, two
# groups with different hyperparameters, both paths; and torch's own test configurations.

CSTEPS = 20

# For each optimizer: a base configuration and the values tried for each option of its
# signature, one option at a time. The implementation flags are covered by IMPL_FLAGS.
OPTIONS = {
    "SGD": (dict(lr=0.05, momentum=0.9), dict(
        lr=[0.02, torch.tensor(0.02)], momentum=[0.0], dampening=[0.3], nesterov=[True],
        weight_decay=[0.1], maximize=[True])),
    "Adam": (dict(lr=0.02), dict(
        lr=[0.05], betas=[(0.8, 0.99)], eps=[1e-3], weight_decay=[0.1], amsgrad=[True],
        maximize=[True], decoupled_weight_decay=[True])),
    "AdamW": (dict(lr=0.02), dict(
        lr=[0.05], betas=[(0.8, 0.99)], eps=[1e-3], weight_decay=[0.0, 0.1], amsgrad=[True],
        maximize=[True])),
    "Adagrad": (dict(lr=0.1), dict(
        lr=[0.3, torch.tensor(0.3)], lr_decay=[0.1], weight_decay=[0.1],
        initial_accumulator_value=[0.2], eps=[1e-3], maximize=[True])),
    "RMSprop": (dict(lr=0.01), dict(
        lr=[0.03], alpha=[0.9], eps=[1e-3], weight_decay=[0.1], momentum=[0.5],
        centered=[True], maximize=[True])),
    "Adadelta": (dict(lr=1.0), dict(
        lr=[0.5], rho=[0.5], eps=[1e-3], weight_decay=[0.1], maximize=[True])),
}
# How the implementation flags are covered: foreach by running both paths everywhere,
# capturable by test_capturable_keeps_torch_optim_state_layout, the rest by refusal.
IMPL_FLAGS = {"foreach": "both paths", "capturable": "accepted", "differentiable": "refused",
              "fused": "refused"}
# Options of ours that torch.optim has not, each with a test of its own
# (bias_correction: test_adam_without_bias_correction_is_the_uncorrected_formula).
EXTENSIONS = {"Adam": {"bias_correction"}, "AdamW": {"bias_correction"}}
# Options left out of the all-at-once configuration: SGD's nesterov needs momentum > 0 and
# no dampening.
_NOT_TOGETHER = {"SGD": ("momentum", "dampening")}


def _signature_options(name):
    """The options of torch.optim.<name>'s signature, less params and IMPL_FLAGS."""
    return [option for option in inspect.signature(getattr(torch.optim, name)).parameters
            if option != "params" and option not in IMPL_FLAGS]


def _option_cases():
    """One case per value of each signature option, tried on the base configuration, and
    one with all options at once (test_every_signature_option_is_covered fails where an
    option has no values)."""
    cases = []
    for name, (base, options) in OPTIONS.items():
        for option in _signature_options(name):
            for value in options.get(option, []):
                label = f"{option}={'tensor' if torch.is_tensor(value) else value}"
                cases.append((name, label, {**base, option: value}))
        together = {k: v[-1] for k, v in options.items() if k not in _NOT_TOGETHER.get(name, ())}
        cases.append((name, "all-options", {**base, **together}))
    return cases


OPTION_CASES = _option_cases()


def _complex_problem(dtype, seed=0):
    """Parameters, centers and curvatures of f(p) = sum a |p - c|^2 / 2 + 0.01 |p|^4: three
    tensors of ``dtype`` (one transposed, so not contiguous) and one of its real dtype."""
    g = torch.Generator().manual_seed(seed)
    real = dtype.to_real()
    params = [torch.randn(3, 4, dtype=dtype, generator=g),
              torch.randn(4, 3, dtype=dtype, generator=g).t(),
              torch.randn(5, dtype=real, generator=g),
              torch.randn(2, 2, 2, dtype=dtype, generator=g)]
    centers = [torch.randn(p.shape, dtype=p.dtype, generator=g) for p in params]
    curv = [torch.rand(p.shape, dtype=real, generator=g) + 0.5 for p in params]
    return params, centers, curv


def _complex_grads(params, centers, curv, sign):
    """torch.autograd's gradient of f for a complex p: df/dRe(p) + i df/dIm(p)."""
    return [sign * (a * (p - c) + 0.04 * (p.abs() ** 2) * p)
            for p, c, a in zip(params, centers, curv)]


def _real_flat(params):
    return torch.cat([(torch.view_as_real(p) if p.is_complex() else p).detach().reshape(-1)
                      .to(torch.float64) for p in params])


def _trajectory(opt, params, problem, kwargs, steps=CSTEPS):
    """Positions (all parameters, real components, float64) after each of ``steps`` steps;
    gradients set by hand (maximize: of -f, so that the run stays bounded)."""
    _, centers, curv = problem
    sign = -1.0 if kwargs.get("maximize") else 1.0
    out = []
    for _ in range(steps):
        with torch.no_grad():
            for p, g in zip(params, _complex_grads(params, centers, curv, sign)):
                p.grad = g
        opt.step()
        out.append(_real_flat(params))
    return torch.stack(out)


def _two_groups(params, kwargs):
    """Group 1 mixes complex and real parameters; group 2 changes lr and weight_decay."""
    lr = kwargs.get("lr", 1e-3)
    return [{"params": params[:3]},
            {"params": params[3:], "lr": 0.5 * lr,
             "weight_decay": float(kwargs.get("weight_decay", 0.0)) + 0.05}]


def _assert_trajectories_match(ours, theirs, start, rtol=RTOL):
    """Equal to ``rtol`` relative (to the parameters' scale), at every step; and moved."""
    assert torch.isfinite(theirs).all()
    scale = theirs.abs().max()
    assert (theirs[-1] - start).abs().max() > 100 * rtol * scale  # far beyond the tolerance
    torch.testing.assert_close(ours, theirs, rtol=rtol, atol=rtol * scale)


def _run_pair(name, kwargs, dtype, foreach, groups=_two_groups):
    problem = _complex_problem(dtype)
    runs = []
    for mod in (ct, torch.optim):
        params = [p.clone().requires_grad_() for p in problem[0]]
        opt = getattr(mod, name)(groups(params, kwargs), **kwargs, foreach=foreach)
        runs.append(_trajectory(opt, params, problem, kwargs))
    return runs, _real_flat(problem[0])


@pytest.mark.parametrize("foreach", [True, False], ids=["foreach", "single"])
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128], ids=str)
@pytest.mark.parametrize("name,label,kwargs", OPTION_CASES,
                         ids=[f"{n}-{label}" for n, label, _ in OPTION_CASES])
def test_complex_and_mixed_parameters_match_torch_optim(name, label, kwargs, dtype, foreach):
    """Every option of every optimizer, complex parameters (one not contiguous) mixed with a
    real one in one group, a second group with other lr and weight_decay: torch.optim's
    trajectory to 1e-6 relative at each of 20 steps, batched and one tensor at a time."""
    (ours, theirs), start = _run_pair(name, kwargs, dtype, foreach)
    _assert_trajectories_match(ours, theirs, start)


def test_every_signature_option_is_covered():
    """A new option of torch.optim (or of ours), or a new optimizer in course_lib.torch,
    fails here until OPTIONS or IMPL_FLAGS covers it."""
    optimizers = {name for name, obj in vars(ct).items() if isinstance(obj, type)
                  and issubclass(obj, torch.optim.Optimizer) and obj.__module__ == ct.__name__
                  and obj is not ct.RuleOptimizer}
    assert optimizers == set(OPTIONS)
    for name, (base, options) in OPTIONS.items():
        theirs = set(inspect.signature(getattr(torch.optim, name)).parameters) - {"params"}
        ours = set(inspect.signature(getattr(ct, name)).parameters) - {"params"}
        assert ours - EXTENSIONS.get(name, set()) == theirs, (name, ours ^ theirs)
        in_signature = set(_signature_options(name))
        assert in_signature == set(options), (name, in_signature ^ set(options))
        assert all(options.values()), name
        # each value tried changes the configuration it is tried on
        defaults = getattr(ct, name)([torch.zeros(1, requires_grad=True)], **base).defaults
        for option, values in options.items():
            assert all(_differs(v, defaults[option]) for v in values), (name, option)


def _differs(value, default):
    if isinstance(value, tuple):
        return any(_differs(v, d) for v, d in zip(value, default))
    return float(value) != float(default)


@pytest.mark.parametrize("foreach", [True, False], ids=["foreach", "single"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_complex_state_dict_interchanges_with_torch_optim(name, foreach):
    """Complex state is stored as torch.optim stores it (complex tensors, same keys and
    dtypes): stop after 10 steps, load the state into the other library, continue 10 more;
    the same trajectory as 20 uninterrupted steps of torch.optim."""
    kwargs = next(kw for n, label, kw in OPTION_CASES if n == name and label == "all-options")
    problem = _complex_problem(torch.complex64)
    full = _trajectory(*_fresh(torch.optim, name, problem, kwargs, foreach), problem, kwargs)
    for first, second in [(ct, torch.optim), (torch.optim, ct)]:
        opt, params = _fresh(first, name, problem, kwargs, foreach)
        head = _trajectory(opt, params, problem, kwargs, steps=CSTEPS // 2)
        saved = opt.state_dict()
        again, _ = _fresh(second, name, problem, kwargs, foreach, params=params)
        again.load_state_dict(saved)
        _assert_same_state_layout(again.state_dict(), saved)
        tail = _trajectory(again, params, problem, kwargs, steps=CSTEPS // 2)
        _assert_trajectories_match(torch.cat([head, tail]), full, _real_flat(problem[0]))


def _fresh(mod, name, problem, kwargs, foreach, params=None):
    if params is None:
        params = [p.clone().requires_grad_() for p in problem[0]]
    return getattr(mod, name)(_two_groups(params, kwargs), **kwargs, foreach=foreach), params


def _assert_same_state_layout(a, b):
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i, state in a["state"].items():
        assert state.keys() == b["state"][i].keys()
        for key, value in state.items():
            other = b["state"][i][key]
            assert (value.dtype, value.shape, value.device) == \
                (other.dtype, other.shape, other.device), (i, key)


def test_complex_state_is_per_real_component():
    """The second moments of a complex parameter hold Re(g)^2 and Im(g)^2 in the real and
    imaginary parts (torch.optim's layout), not |g|^2 or g^2; Adagrad's initial
    accumulator is v + vi."""
    g = torch.tensor([3.0 - 4.0j])
    for mod in (ct, torch.optim):
        w = torch.zeros(1, dtype=torch.complex64, requires_grad=True)
        adam = mod.Adam([w], betas=(0.0, 0.0), amsgrad=True)
        w.grad = g.clone()
        adam.step()
        for key in ("exp_avg_sq", "max_exp_avg_sq"):
            assert adam.state[w][key].tolist() == [9.0 + 16.0j], (mod, key)
        adagrad = mod.Adagrad([w], initial_accumulator_value=0.5)
        assert adagrad.state[w]["sum"].tolist() == [0.5 + 0.5j], mod


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adadelta"])
def test_capturable_keeps_torch_optim_state_layout(name):
    """capturable=True is accepted (torch.optim's state layout: the step count on the
    parameter's device) and changes no number."""
    problem = _complex_problem(torch.complex64)
    kwargs = dict(OPTIONS[name][0])
    ours, params = _fresh(ct, name, problem, {**kwargs, "capturable": True}, None)
    moved = _trajectory(ours, params, problem, kwargs)
    theirs = _trajectory(*_fresh(torch.optim, name, problem, kwargs, None), problem, kwargs)
    _assert_trajectories_match(moved, theirs, _real_flat(problem[0]))
    step = ours.state[params[0]]["step"]
    assert step.device == params[0].device and step.dtype == torch.float32
    assert ours.state_dict()["param_groups"][0]["capturable"] is True


def test_cuda_graph_capture_is_refused(monkeypatch):
    """Our rules read the step count on the host: a step inside a CUDA graph capture is
    refused with a message that says so (simulated: this test needs no GPU)."""
    w = torch.zeros(2, dtype=torch.complex64, requires_grad=True)
    opt = ct.Adam([w], capturable=True)
    w.grad = torch.ones(2, dtype=torch.complex64)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
    with pytest.raises(RuntimeError, match="CUDA graph"):
        opt.step()


@pytest.mark.parametrize("flag", ["differentiable", "fused"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_unsupported_implementations_are_refused_by_name(name, flag):
    if flag not in inspect.signature(getattr(torch.optim, name)).parameters:
        assert flag not in inspect.signature(getattr(ct, name)).parameters
        return
    with pytest.raises(ValueError, match=flag):
        getattr(ct, name)([torch.zeros(2, requires_grad=True)], **{flag: True})


# torch's own optimizer test configurations: optim_inputs_func_<name> in the installed torch's
# torch/testing/_internal/common_optimizers.py. That module imports test-only packages
# (expecttest), so its configuration functions are read from the source and run alone.
def _torch_test_configs(device="cpu"):
    import ast
    from pathlib import Path

    source = Path(torch.__file__).parent / "testing" / "_internal" / "common_optimizers.py"
    wanted = {f"optim_inputs_func_{n.lower()}" for n in OPTIONS} | {"_get_device_type"}
    tree = ast.parse(source.read_text())
    body = [node for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name in wanted
            or isinstance(node, ast.Assign)
            and any(getattr(t, "id", None) == "CUDA_CONFIG_GPUS" for t in node.targets)]

    class OptimizerInput:
        def __init__(self, params, kwargs, desc=""):
            self.params, self.kwargs, self.desc = params, kwargs, desc

    namespace = {"torch": torch, "OptimizerInput": OptimizerInput}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(source), "exec"), namespace)
    configs = []
    for name in OPTIONS:
        inputs = namespace[f"optim_inputs_func_{name.lower()}"](device, None)
        assert inputs and all(i.params is None for i in inputs), name
        configs += [(name, i.desc, i.kwargs) for i in inputs]
    return configs


TORCH_CONFIGS = _torch_test_configs()


def _torch_style_groups(params, kwargs):
    """Two groups as torch's tests build them: the second with its own lr."""
    return [{"params": params[:3]}, {"params": params[3:], "lr": 0.003}]


@pytest.mark.parametrize("foreach", [True, False], ids=["foreach", "single"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64], ids=str)
@pytest.mark.parametrize("name,desc,kwargs", TORCH_CONFIGS,
                         ids=[f"{n}-{d}" for n, d, _ in TORCH_CONFIGS])
def test_torch_own_test_configurations(name, desc, kwargs, dtype, foreach):
    """Every configuration torch's optimizer tests use on this device, in two groups."""
    (ours, theirs), start = _run_pair(name, kwargs, dtype, foreach, _torch_style_groups)
    _assert_trajectories_match(ours, theirs, start)


@pytest.mark.parametrize("name,decoupled", [("Adam", False), ("AdamW", True)])
@pytest.mark.parametrize("foreach", [True, False], ids=["foreach", "single"])
def test_adam_without_bias_correction_is_the_uncorrected_formula(name, decoupled, foreach):
    """``bias_correction=False`` (not in torch.optim): p <- p - lr m / (sqrt(v) + eps), with
    m and v the raw moving averages, against the textbook reference of test_rules in
    float64; with the correction (the default) the first step differs by far more than
    rounding."""
    from test_rules import _grad, ref_adam

    hyper = dict(lr=0.05, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.1)
    start = np.linspace(-2.0, 3.0, 7)
    for correct, steps in ((False, 15), (True, 1), (False, 1)):
        w = torch.tensor(start, requires_grad=True)
        opt = getattr(ct, name)([w], **hyper, foreach=foreach, bias_correction=correct)
        for _ in range(steps):
            w.grad = torch.from_numpy(_grad(w.detach().numpy()))
            opt.step()
        expected = ref_adam(start.copy(), steps, **hyper, decoupled=decoupled,
                            bias_correction=correct)
        np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    corrected = ref_adam(start.copy(), 1, **hyper, decoupled=decoupled)
    uncorrected = ref_adam(start.copy(), 1, **hyper, decoupled=decoupled,
                           bias_correction=False)
    assert np.abs(corrected - uncorrected).max() > 1e-3
