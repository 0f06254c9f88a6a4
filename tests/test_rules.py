"""course_lib.rules: each rule against a textbook (out-of-place) reference, the same rule on
numpy and torch, validation, lookup; numpy 2.x and no-MXNet hygiene of the package."""
from __future__ import annotations

import importlib.util
import inspect
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_lib import rules

ROOT = Path(__file__).resolve().parents[1]


def _grad(x):
    """Gradient of a separable non-quadratic test function (a x^2 / 2 + x^4 / 4 - x)."""
    a = np.linspace(0.5, 3.0, x.size).reshape(x.shape)
    return a * x + x ** 3 - 1.0


# ------------------------------------------------------------- textbook references
def ref_sgd(x, steps, lr, weight_decay=0.0):
    for _ in range(steps):
        g = _grad(x) + weight_decay * x
        x = x - lr * g
    return x


def ref_momentum(x, steps, lr, momentum, dampening=0.0, nesterov=False, weight_decay=0.0):
    v = None
    for _ in range(steps):
        g = _grad(x) + weight_decay * x
        v = g.copy() if v is None else momentum * v + (1 - dampening) * g
        x = x - lr * (g + momentum * v if nesterov else v)
    return x


def ref_adagrad(x, steps, lr, lr_decay=0.0, eps=1e-10, initial_accumulator_value=0.0,
                weight_decay=0.0):
    s = np.full_like(x, initial_accumulator_value)
    for t in range(1, steps + 1):
        g = _grad(x) + weight_decay * x
        s = s + g * g
        x = x - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
    return x


def ref_rmsprop(x, steps, lr, alpha=0.99, eps=1e-8, momentum=0.0, centered=False,
                weight_decay=0.0):
    s, gbar, b = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for _ in range(steps):
        g = _grad(x) + weight_decay * x
        s = alpha * s + (1 - alpha) * g * g
        gbar = alpha * gbar + (1 - alpha) * g
        denom = np.sqrt(s - gbar ** 2 if centered else s) + eps
        if momentum:
            b = momentum * b + g / denom
            x = x - lr * b
        else:
            x = x - lr * g / denom
    return x


def ref_adam(x, steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             decoupled=False, bias_correction=True):
    b1, b2 = betas
    m, v, vmax = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for t in range(1, steps + 1):
        g = _grad(x)
        if decoupled:
            x = x * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        vv = vmax if amsgrad else v
        if bias_correction:
            m_hat, v_hat = m / (1 - b1 ** t), vv / (1 - b2 ** t)
        else:
            m_hat, v_hat = m, vv
        x = x - lr * m_hat / (np.sqrt(v_hat) + eps)
    return x


def ref_adadelta(x, steps, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    s, u = np.zeros_like(x), np.zeros_like(x)
    for _ in range(steps):
        g = _grad(x) + weight_decay * x
        s = rho * s + (1 - rho) * g * g
        d = np.sqrt(u + eps) / np.sqrt(s + eps) * g
        u = rho * u + (1 - rho) * d * d
        x = x - lr * d
    return x


def _run(rule, x, steps, ops=rules.NUMPY, **hyper):
    rule = rules.get(rule)
    hyper = rule.hyper(**hyper)
    x = x.copy()
    state = rule.init(x, ops, **hyper)
    for _ in range(steps):
        rule.update(x, _grad(x), state, ops, **hyper)
    return x, state


X0 = np.linspace(-1.5, 2.0, 12).reshape(3, 4)
STEPS = 200

CASES = [
    ("sgd", ref_sgd, dict(lr=0.05)),
    ("sgd", ref_sgd, dict(lr=0.05, weight_decay=0.1)),
    ("momentum", ref_momentum, dict(lr=0.02, momentum=0.9)),
    ("momentum", ref_momentum, dict(lr=0.02, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("nesterov", ref_momentum, dict(lr=0.02, momentum=0.9, nesterov=True)),
    ("adagrad", ref_adagrad, dict(lr=0.3)),
    ("adagrad", ref_adagrad, dict(lr=0.3, lr_decay=0.01, eps=1e-3, initial_accumulator_value=0.5,
                                  weight_decay=0.1)),
    ("rmsprop", ref_rmsprop, dict(lr=0.01)),
    ("rmsprop", ref_rmsprop, dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True,
                                  weight_decay=0.1)),
    ("adam", ref_adam, dict(lr=0.02)),
    ("adam", ref_adam, dict(lr=0.02, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1, amsgrad=True)),
    ("adam", ref_adam, dict(lr=0.02, bias_correction=False)),
    ("adamw", ref_adam, dict(lr=0.02, weight_decay=0.1)),
    ("adadelta", ref_adadelta, dict()),
    ("adadelta", ref_adadelta, dict(lr=0.5, rho=0.5, eps=1e-3, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,ref,hyper", CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_rule_matches_textbook_reference(name, ref, hyper):
    ours, _ = _run(name, X0, STEPS, **hyper)
    ref_hyper = dict(hyper)
    if name == "nesterov":
        ref_hyper["nesterov"] = True
    if name in ("adam", "adamw"):
        ref_hyper["decoupled"] = name == "adamw"
    expected = ref(X0.copy(), STEPS, **ref_hyper)
    assert np.all(np.isfinite(expected))
    assert np.abs(expected - X0).max() > 1e-2  # it moved
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)


def test_adam_eps_is_the_papers_not_mxnets():
    """With a large eps the two conventions differ clearly; ours is m_hat / (sqrt(v_hat) + eps)."""
    x = np.array([1.0])
    state = rules.adam.init(x, rules.NUMPY)
    g = np.array([1e-3])
    rules.adam.update(x, g, state, rules.NUMPY, lr=0.1, eps=1e-3)
    # step 1: m_hat = g, v_hat = g^2 -> step = lr g / (|g| + eps) = 0.1 * 0.5
    assert x[0] == pytest.approx(1 - 0.05, rel=1e-12)
    # MXNet's convention lr * sqrt(1-b2)/(1-b1) * m / (sqrt(v) + eps) gives a much smaller step
    m, v = 0.1 * 1e-3, 0.001 * 1e-6
    mxnet_step = 0.1 * math.sqrt(0.001) / 0.1 * m / (math.sqrt(v) + 1e-3)
    assert mxnet_step < 0.05 / 10


def test_rule_state_uses_torch_key_names():
    x = np.zeros(3)
    assert set(rules.adam.init(x, rules.NUMPY, amsgrad=True)) == {
        "step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert set(rules.rmsprop.init(x, rules.NUMPY, momentum=0.5, centered=True)) == {
        "step", "square_avg", "momentum_buffer", "grad_avg"}
    assert set(rules.adagrad.init(x, rules.NUMPY)) == {"step", "sum"}
    assert set(rules.adadelta.init(x, rules.NUMPY)) == {"step", "square_avg", "acc_delta"}
    assert set(rules.momentum.init(x, rules.NUMPY)) == {"momentum_buffer"}
    _, state = _run("adam", X0, 7, lr=0.1)
    assert state["step"] == 7


def test_newton_solves_a_quadratic_in_one_step():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])
    x = np.array([[5.0, -7.0], [0.3, 0.2]])
    g = x @ A - b
    H = np.broadcast_to(A, (2, 2, 2))
    rules.newton.update(x, g, {}, rules.NUMPY, lr=1.0, hessian=H)
    np.testing.assert_allclose(x, np.tile(np.linalg.solve(A, b), (2, 1)), rtol=1e-12)
    with pytest.raises(ValueError, match="hessian"):
        rules.newton.update(x, g, {}, rules.NUMPY, lr=1.0)


@pytest.mark.parametrize("name,hyper", [(n, h) for n, _, h in CASES])
def test_same_rule_on_torch_tensors_and_tensor_lists(name, hyper):
    """One rule, three array types: numpy, a torch tensor, a list of tensors (foreach)."""
    import torch
    from course_lib.torch import TENSOR, TENSOR_LIST

    expected, _ = _run(name, X0, 50, **hyper)
    rule = rules.get(name)
    full = rule.hyper(**hyper)
    t = torch.tensor(X0)
    state = rule.init(t, TENSOR, **full)
    for _ in range(50):
        rule.update(t, torch.from_numpy(_grad(t.numpy())), state, TENSOR, **full)
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-10, atol=1e-13)
    ts = [torch.tensor(X0[0]), torch.tensor(X0[1:])]
    state = rule.init(ts, TENSOR_LIST, **full)
    for _ in range(50):
        grads = [torch.from_numpy(_grad(np.concatenate([ts[0].numpy()[None], ts[1].numpy()]))[i])
                 for i in (0, slice(1, None))]
        rule.update(ts, grads, state, TENSOR_LIST, **full)
    got = np.concatenate([ts[0].numpy()[None], ts[1].numpy()])
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)


def _complex_grad(z):
    """The gradient of _grad's function of the real and imaginary parts, as one complex
    array (what torch.autograd gives for a real loss of a complex parameter)."""
    return _grad(z.real) + 1j * _grad(z.imag)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("name,hyper", [(n, h) for n, _, h in CASES])
def test_complex_arrays_are_their_real_and_imaginary_parts(name, hyper, dtype):
    """On a complex array every rule acts on the real and the imaginary part as two real
    coordinates (torch.optim's view_as_real semantics): the same numbers as the rule on the
    real array [Re x, Im x]. Complex arithmetic (g * g, eps added to the real part only)
    would differ."""
    z = (X0 + 1j * X0[::-1, ::-1]).astype(dtype)
    rule = rules.get(name)
    full = rule.hyper(**hyper)
    state = rule.init(z, rules.NUMPY, **full)
    pair = np.stack([z.real, z.imag])
    pair_state = rule.init(pair, rules.NUMPY, **full)
    for _ in range(50):
        rule.update(z, _complex_grad(z).astype(dtype), state, rules.NUMPY, **full)
        rule.update(pair, np.stack([_grad(pair[0]), _grad(pair[1])]).astype(pair.dtype),
                    pair_state, rules.NUMPY, **full)
    assert z.dtype == dtype and np.abs(pair[1] - X0[::-1, ::-1]).max() > 1e-2
    np.testing.assert_allclose(np.stack([z.real, z.imag]), pair, rtol=1e-6, atol=1e-7)
    for key, value in state.items():
        if isinstance(value, np.ndarray):  # complex state, as torch.optim keeps it
            assert value.dtype == dtype
            np.testing.assert_allclose(np.stack([value.real, value.imag]), pair_state[key],
                                       rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,torch_name,hyper", [
    ("adam", "Adam", dict(lr=0.02, eps=1e-3, weight_decay=0.1, amsgrad=True)),
    ("adagrad", "Adagrad", dict(lr=0.3, initial_accumulator_value=0.5)),
    ("rmsprop", "RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("adadelta", "Adadelta", dict(eps=1e-3, weight_decay=0.1)),
])
def test_complex_arrays_follow_torch_optim(name, torch_name, hyper):
    """The numpy rules on complex arrays give torch.optim's trajectory on complex tensors."""
    import torch

    z0 = X0 + 1j * X0[::-1, ::-1]
    z = z0.copy()
    rule = rules.get(name)
    full = rule.hyper(**hyper)
    state = rule.init(z, rules.NUMPY, **full)
    t = torch.tensor(z0, requires_grad=True)
    opt = getattr(torch.optim, torch_name)([t], **hyper)
    for _ in range(50):
        rule.update(z, _complex_grad(z), state, rules.NUMPY, **full)
        t.grad = torch.from_numpy(_complex_grad(t.detach().numpy()))
        opt.step()
    assert np.abs(z - z0).max() > 1e-2
    np.testing.assert_allclose(z, t.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_newton_refuses_complex_input():
    z = np.array([[1.0 + 1j, 2.0]])
    with pytest.raises(ValueError, match="complex"):
        rules.newton.update(z, z, {}, rules.NUMPY, hessian=np.eye(2)[None] + 0j)


def test_get_and_names():
    assert set(rules.names()) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
                                  "adamw", "adadelta", "newton"}
    assert rules.get("Adam") is rules.adam
    assert rules.get(rules.sgd) is rules.sgd
    for bad in ("adamax", "", None, 3):
        with pytest.raises(ValueError, match="rule"):
            rules.get(bad)


# Variants: the same update function as a base rule, with these defaults changed.
VARIANTS = {"nesterov": ("momentum", {"nesterov": True}),
            "adamw": ("adam", {"weight_decay": 1e-2, "decoupled_weight_decay": True})}


@pytest.mark.parametrize("name", sorted({"sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                         "adam", "adamw", "adadelta", "newton"}))
def test_defaults_are_the_update_functions_signature(name):
    """Rule.defaults is the public update function's keyword defaults (a variant changes
    only the keys it names), and an update with no hyperparameters is one with the
    defaults: a default written twice and changed in one place fails here."""
    rule = rules.get(name)
    base, changes = VARIANTS.get(name, (name, {}))
    assert rule.update is getattr(rules, f"{base}_update") and rule.name == name
    params = list(inspect.signature(rule.update).parameters.values())
    assert [p.name for p in params[:4]] == ["param", "grad", "state", "ops"]
    from_signature = {p.name: p.default for p in params[4:]}
    assert rule.defaults == {**from_signature, **changes}
    if name == "newton":
        return
    runs = []
    for hyper in ({}, rules.get(base).defaults):
        x = np.linspace(-1.0, 2.0, 6)
        state = rule.init(x, rules.NUMPY, **hyper)
        for _ in range(3):
            rule.update(x, _grad(x), state, rules.NUMPY, **hyper)
        runs.append(x)
    assert np.array_equal(runs[0], runs[1])


def _ops_backends():
    """Every ops vocabulary of course_lib; MXNet's only where MXNet imports."""
    import course_lib.torch as ct
    import course_lib.torch_compiled as tc
    backends = {"numpy": rules.NUMPY, "torch tensor": ct.TENSOR,
                "torch tensor list": ct.TENSOR_LIST,
                "torch tensor list, arena": ct.TensorListOps(arena={}),
                "torch compiled": tc.COMPILED}
    if importlib.util.find_spec("mxnet") is not None:
        import course_lib.mxnet as cm
        backends["mxnet"] = cm.NDARRAY
    return backends


def test_every_backend_implements_every_op_of_the_protocol():
    """rules.Ops declares the vocabulary; each back-end has every op, with the protocol's
    number of parameters and its keyword parameters (the rules pass alpha=, value= by
    keyword) with the same defaults."""
    ops = {name: fn for name, fn in vars(rules.Ops).items()
           if callable(fn) and not name.startswith("_")}
    assert {"zeros_like", "clone", "add_", "addcmul_", "addcdiv_", "lerp_", "sqrt",
            "maximum_"} <= set(ops)
    backends = _ops_backends()
    assert {"numpy", "torch tensor", "torch tensor list"} <= set(backends)
    for label, backend in backends.items():
        for name, fn in ops.items():
            theirs = getattr(backend, name, None)
            assert callable(theirs), f"{label} lacks {name}"
            want = list(inspect.signature(fn).parameters.values())[1:]  # less self
            got = list(inspect.signature(theirs).parameters.values())
            assert len(got) == len(want), (label, name)
            # positional names may differ (xs for a list); keywords and defaults may not
            assert [(p.name, p.default) for p in got if p.default is not p.empty] == \
                [(p.name, p.default) for p in want if p.default is not p.empty], (label, name)


@pytest.mark.parametrize("name,hyper,param", [
    ("sgd", dict(lr=0.0), "lr"),
    ("sgd", dict(lr=-1.0), "lr"),
    ("sgd", dict(lr="fast"), "lr"),
    ("momentum", dict(momentum=-0.1), "momentum"),
    ("momentum", dict(momentum=0.0, nesterov=True), "nesterov"),
    ("nesterov", dict(dampening=0.5), "nesterov"),
    ("momentum", dict(dampening=1.5), "dampening"),
    ("adam", dict(betas=(1.0, 0.999)), "betas"),
    ("adam", dict(betas=(0.9, -0.001)), "betas"),
    ("adam", dict(betas=0.9), "betas"),
    ("adam", dict(eps=0.0), "eps"),
    ("adamw", dict(eps=-1e-8), "eps"),
    ("adam", dict(weight_decay=-0.1), "weight_decay"),
    ("adagrad", dict(eps=0.0), "eps"),
    ("adagrad", dict(lr_decay=-1.0), "lr_decay"),
    ("rmsprop", dict(alpha=1.5), "alpha"),
    ("rmsprop", dict(momentum=-1.0), "momentum"),
    ("adadelta", dict(rho=-0.5), "rho"),
    ("adadelta", dict(eps=0.0), "eps"),
    ("adam", dict(momentum=0.9), "momentum"),  # unknown hyperparameter for this rule
])
def test_bad_hyperparameters_raise_value_error_naming_them(name, hyper, param):
    with pytest.raises(ValueError, match=re.escape(param)):
        rules.get(name).hyper(**hyper)


def test_zero_lr_only_where_asked():
    rules.sgd.hyper(zero_lr_ok=True, lr=0.0)
    with pytest.raises(ValueError, match="lr"):
        rules.sgd.hyper(zero_lr_ok=True, lr=-0.1)


# ------------------------------------------------------------------ package hygiene
_REMOVED_IN_NUMPY_2 = [
    "np.float_", "np.complex_", "np.product", "np.cumproduct", "np.sometrue", "np.alltrue",
    "np.in1d", "np.row_stack", "np.trapz", "np.NaN", "np.NAN", "np.Inf", "np.PINF", "np.NINF",
    "np.infty", "np.Infinity", "np.string_", "np.unicode_", "np.int_0", "np.asfarray",
    "np.msort", "np.round_", "np.find_common_type", "np.cast", "np.mat(", "np.issubclass_",
    "np.source", "np.who", "np.safe_eval", "np.deprecate", "np.longfloat", "np.singlecomplex",
    "np.cfloat", "np.clongfloat", "np.longcomplex", "np.float128_", "np.obj2sctype",
    "np.sctype2char", "np.issctype", "np.maximum_sctype", "np.set_string_function",
    "np.add_newdoc_ufunc", "np.compat", "np.recfromcsv", "np.recfromtxt", "np.disp(",
    "np.byte_bounds", "np.compare_chararrays", "np.format_parser", "np.lookfor",
    "np.tracemalloc_domain", "np.who(", "np.bool8", "np.int0", "np.uint0", "np.object0",
    "np.str0", "np.bytes0", "np.void0", "np.float_power_",
]


def test_no_numpy_aliases_removed_in_numpy_2():
    pattern = re.compile("|".join(re.escape(a) + (r"\b" if a[-1].isalnum() or a[-1] == "_" else "")
                                  for a in _REMOVED_IN_NUMPY_2))
    hits = []
    for path in sorted((ROOT / "course_lib").rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line.replace("numpy.", "np.")):
                hits.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_optimizer_modules_import_without_mxnet():
    """With mxnet unimportable, rules, descent, schedules, surfaces and torch still import
    and work, and importing them never loads mxnet; `import course_lib` loads no framework."""
    code = """
import sys
sys.modules["mxnet"] = None  # import mxnet -> ImportError
import course_lib
assert "torch" not in sys.modules, "course_lib imports torch"
import course_lib.rules, course_lib.descent, course_lib.schedules, course_lib.surfaces
assert "torch" not in sys.modules, "numpy side imports torch"
import course_lib.torch
import numpy as np
r = course_lib.descent.run("adam", course_lib.surfaces.rosenbrock, np.zeros((3, 2)), 5, lr=0.1)
assert r.trajectory.shape == (6, 3, 2)
assert sys.modules["mxnet"] is None
try:
    import course_lib.mxnet
except ImportError:
    pass
else:
    raise AssertionError("course_lib.mxnet imported without mxnet")
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    # and with mxnet installed, these modules do not even try to import it
    code = ("import sys, course_lib.rules, course_lib.descent, course_lib.schedules, "
            "course_lib.surfaces, course_lib.torch; print('mxnet' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]


def test_module_doctests():
    import doctest

    import course_lib.descent
    import course_lib.schedules
    import course_lib.surfaces
    for module in (rules, course_lib.descent, course_lib.schedules, course_lib.surfaces):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
