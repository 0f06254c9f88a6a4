"""course_lib.torch optimizers against torch.optim: same trajectories, state dicts, groups,
schedulers, validation (issue 3's bars)."""
from __future__ import annotations

import itertools

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
    import inspect
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
                     ("SGD", dict(lr=0.1, momentum=0.9)), ("Adagrad", {}), ("Adadelta", {})]:
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
    pointers = []
    for _ in range(3):
        w.grad = 2 * w.detach()
        opt.step()
        pointers.append(sorted(b.data_ptr() for b in opt._arena.values()))
    assert len(pointers[0]) == 3 and pointers[0] == pointers[1] == pointers[2]
    # three slots of one unit each, not three copies of the parameter
    assert sum(b.numel() for b in opt._arena.values()) == 3 * 1000
    assert set(opt.state_dict()["state"][0]) == {"step", "square_avg", "acc_delta"}
    import copy
    clone = copy.deepcopy(opt)
    assert not getattr(clone, "_arena", None)


def test_module_doctest():
    import doctest
    result = doctest.testmod(ct)
    assert result.attempted > 0 and result.failed == 0
