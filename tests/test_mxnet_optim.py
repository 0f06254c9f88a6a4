"""course_lib.mxnet adapters: the same trajectories as the numpy rule (1e-5), Gluon Trainer
use by instance and by registered name, MXNet's options (rescale_grad, clip_gradient, wd,
lr_mult, lr_scheduler), the documented differences from MXNet's built-ins, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")  # MXNet is optional: GPU machines run without it
from mxnet import autograd, gluon  # noqa: E402

import course_lib.mxnet as cm  # noqa: E402
from course_lib import rules  # noqa: E402

STEPS = 200
RTOL = 1e-5

rng = np.random.default_rng(0)
X0 = [rng.standard_normal((5, 3)), rng.standard_normal(7)]
CENTERS = [rng.standard_normal(x.shape) for x in X0]
CURV = [rng.uniform(0.5, 1.5, x.shape) for x in X0]


def _grad(i, x):
    return CURV[i] * (x - CENTERS[i]) + 0.04 * x ** 3


def _numpy(rule, steps=STEPS, transform=lambda i, g: g, lrs=None, wd=(0.0, 0.0), **hyper):
    """The reference: course_lib.rules on numpy arrays."""
    rule = rules.get(rule)
    xs = [x.copy() for x in X0]
    full = [rule.hyper(**{**hyper, "weight_decay": w}) for w in wd]
    states = [rule.init(x, rules.NUMPY, **h) for x, h in zip(xs, full)]
    for t in range(steps):
        for i, (x, s, h) in enumerate(zip(xs, states, full)):
            if lrs is not None:
                h["lr"] = lrs[i][t] if isinstance(lrs[i], (list, np.ndarray)) else lrs[i]
            rule.update(x, transform(i, _grad(i, x)), s, rules.NUMPY, **h)
    return xs


def _mxnet(optimizer, steps=STEPS, dtype="float64"):
    """The adapter through MXNet's updater (what Gluon's Trainer calls)."""
    ws = [mx.nd.array(x, dtype=dtype) for x in X0]
    updater = mx.optimizer.get_updater(optimizer)
    for _ in range(steps):
        for i, w in enumerate(ws):
            updater(i, mx.nd.array(_grad(i, w.asnumpy().astype(np.float64)), dtype=dtype), w)
    return [w.asnumpy().astype(np.float64) for w in ws]


def _assert_match(got, expected, rtol=RTOL, atol=1e-7):
    for g, e, x0 in zip(got, expected, X0):
        assert np.isfinite(e).all() and np.abs(e - x0).max() > 1e-2  # it moved
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


CASES = [
    ("SGD", dict(learning_rate=0.05), "sgd", dict(lr=0.05)),
    ("SGD", dict(learning_rate=0.02, momentum=0.9), "momentum", dict(lr=0.02, momentum=0.9)),
    ("SGD", dict(learning_rate=0.02, momentum=0.8, dampening=0.3), "momentum",
     dict(lr=0.02, momentum=0.8, dampening=0.3)),
    ("SGD", dict(learning_rate=0.02, momentum=0.9, nesterov=True), "momentum",
     dict(lr=0.02, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(learning_rate=0.3), "adagrad", dict(lr=0.3)),
    ("Adagrad", dict(learning_rate=0.3, eps=1e-3, lr_decay=0.01, initial_accumulator_value=0.1),
     "adagrad", dict(lr=0.3, eps=1e-3, lr_decay=0.01, initial_accumulator_value=0.1)),
    ("RMSProp", dict(learning_rate=0.01), "rmsprop", dict(lr=0.01)),
    ("RMSProp", dict(learning_rate=0.01, gamma1=0.9, gamma2=0.5, epsilon=1e-4, centered=True),
     "rmsprop", dict(lr=0.01, alpha=0.9, momentum=0.5, eps=1e-4, centered=True)),
    ("Adam", dict(learning_rate=0.02), "adam", dict(lr=0.02)),
    ("Adam", dict(learning_rate=0.02, beta1=0.5, beta2=0.9, epsilon=1e-3, amsgrad=True),
     "adam", dict(lr=0.02, betas=(0.5, 0.9), eps=1e-3, amsgrad=True)),
    ("Adam", dict(learning_rate=0.02, bias_correction=False), "adam",
     dict(lr=0.02, bias_correction=False)),
    ("AdaDelta", dict(), "adadelta", dict()),
    ("AdaDelta", dict(learning_rate=0.5, rho=0.5, epsilon=1e-3), "adadelta",
     dict(lr=0.5, rho=0.5, eps=1e-3)),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("cls,kw,rule,hyper", CASES, ids=IDS)
def test_adapter_matches_numpy_rule_200_steps(cls, kw, rule, hyper):
    expected = _numpy(rule, **hyper)
    _assert_match(_mxnet(getattr(cm, cls)(**kw)), expected)
    if kw.get("centered"):
        return  # s - gbar^2 cancels badly in float32; float64 above is the comparison
    # float32 NDArrays follow too (float32 rounding over 200 steps)
    _assert_match(_mxnet(getattr(cm, cls)(**kw), dtype="float32"), expected, rtol=1e-3,
                  atol=1e-4)


@pytest.mark.parametrize("cls,kw,rule,hyper", [CASES[1], CASES[5], CASES[7], CASES[9], CASES[12]],
                         ids=[IDS[i] for i in (1, 5, 7, 9, 12)])
def test_rescale_clip_weight_decay_and_multipliers(cls, kw, rule, hyper):
    """MXNet's own options: g <- clip(rescale_grad * g) + wd * w, lr and wd scaled per
    parameter by lr_mult / wd_mult. (MXNet clips at float32(clip_gradient): 0.75 is exact,
    0.8 would not be, and centered RMSprop amplifies such differences.)"""
    opt = getattr(cm, cls)(**kw, rescale_grad=0.5, clip_gradient=0.75, wd=0.01)
    opt.set_lr_mult({1: 0.5})
    opt.set_wd_mult({1: 3.0})
    hyper = dict(hyper)
    lr = hyper.pop("lr", rules.get(rule).defaults["lr"])
    expected = _numpy(rule, transform=lambda i, g: np.clip(0.5 * g, -0.75, 0.75),
                      lrs=[lr, 0.5 * lr], wd=(0.01, 0.03), **hyper)
    _assert_match(_mxnet(opt), expected)


def _net_and_data(seed=0):
    mx.random.seed(seed)
    net = gluon.nn.Dense(1, in_units=4)
    net.initialize(mx.init.Normal(0.5))
    r = np.random.default_rng(seed)
    x = mx.nd.array(r.standard_normal((32, 4)))
    y = mx.nd.array(r.standard_normal((32, 1)))
    return net, x, y


def _train(trainer_args, steps=50):
    net, x, y = _net_and_data()
    trainer = gluon.Trainer(net.collect_params(), *trainer_args)
    loss_fn = gluon.loss.L2Loss()
    for _ in range(steps):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0])
    return [p.data().asnumpy() for p in net.collect_params().values()], trainer


def test_gluon_trainer_by_instance_and_by_registered_name():
    by_instance, _ = _train([cm.Adam(learning_rate=0.05, beta1=0.8)])
    by_name, trainer = _train(["course_adam", {"learning_rate": 0.05, "beta1": 0.8}])
    assert isinstance(trainer._optimizer, cm.Adam)
    for a, b in zip(by_instance, by_name):
        np.testing.assert_array_equal(a, b)
    start, _ = _train([cm.Adam(learning_rate=0.05)], steps=0)
    assert max(np.abs(a - s).max() for a, s in zip(by_instance, start)) > 1e-2


@pytest.mark.parametrize("name,cls", [("course_sgd", "SGD"), ("course_adagrad", "Adagrad"),
                                      ("course_rmsprop", "RMSProp"), ("course_adam", "Adam"),
                                      ("course_adadelta", "AdaDelta")])
def test_registered_names(name, cls):
    opt = mx.optimizer.create(name, learning_rate=0.5)
    assert type(opt) is getattr(cm, cls) and opt.learning_rate == 0.5
    assert isinstance(opt, mx.optimizer.Optimizer)
    # MXNet's own optimizers are untouched
    assert type(mx.optimizer.create(cls.lower())).__module__.startswith("mxnet")


def test_trainer_states_round_trip(tmp_path):
    """Save the Trainer's optimizer states halfway, load them into a fresh Trainer: the same
    as one uninterrupted run."""
    full, _ = _train([cm.Adam(learning_rate=0.05, amsgrad=True)], steps=40)
    net, x, y = _net_and_data()
    loss_fn = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), cm.Adam(learning_rate=0.05, amsgrad=True))

    def steps(trainer, n):
        for _ in range(n):
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(x.shape[0])

    steps(trainer, 20)
    trainer.save_states(str(tmp_path / "adam.states"))
    fresh = gluon.Trainer(net.collect_params(), cm.Adam(learning_rate=0.05, amsgrad=True))
    fresh.load_states(str(tmp_path / "adam.states"))
    steps(fresh, 20)
    for a, b in zip(full, [p.data().asnumpy() for p in net.collect_params().values()]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_adam_eps_convention_differs_from_mxnet_builtin_as_documented():
    """MXNet's built-in adam uses lr_t = lr sqrt(1 - b2^t) / (1 - b1^t) and eps as given,
    i.e. the paper's formula with eps_t = eps / sqrt(1 - b2^t); ours uses eps itself."""
    eps, lr, b1, b2 = 1e-2, 0.02, 0.9, 0.999
    builtin = _mxnet(mx.optimizer.Adam(learning_rate=lr, epsilon=eps))
    ours = _mxnet(cm.Adam(learning_rate=lr, epsilon=eps))

    # the paper's Adam with eps_t = eps / sqrt(1 - b2^t): written out here
    xs = [x.copy() for x in X0]
    ms, vs = [np.zeros_like(x) for x in xs], [np.zeros_like(x) for x in xs]
    for t in range(1, STEPS + 1):
        for i, x in enumerate(xs):
            g = _grad(i, x)
            ms[i] = b1 * ms[i] + (1 - b1) * g
            vs[i] = b2 * vs[i] + (1 - b2) * g * g
            m_hat, v_hat = ms[i] / (1 - b1 ** t), vs[i] / (1 - b2 ** t)
            x -= lr * m_hat / (np.sqrt(v_hat) + eps / math.sqrt(1 - b2 ** t))
    # (MXNet passes lr, betas and eps to its kernel as float32: hence the looser tolerance)
    _assert_match(builtin, xs, rtol=1e-4, atol=2e-5)
    _assert_match(ours, _numpy("adam", lr=lr, eps=eps))
    # with this eps the two conventions are clearly apart ...
    assert max(np.abs(a - b).max() for a, b in zip(ours, builtin)) > 1e-3
    # ... and with a tiny eps they agree
    tiny = dict(learning_rate=lr, epsilon=1e-12)
    _assert_match(_mxnet(cm.Adam(**tiny)), _mxnet(mx.optimizer.Adam(**tiny)), rtol=1e-4,
                  atol=1e-5)


def test_sgd_momentum_agrees_with_builtin_at_constant_lr_not_under_a_schedule():
    kw = dict(learning_rate=0.02, momentum=0.9)
    _assert_match(_mxnet(cm.SGD(**kw)), _mxnet(mx.optimizer.SGD(**kw)), rtol=1e-9)
    sched = lambda: mx.lr_scheduler.FactorScheduler(step=10, factor=0.5, base_lr=0.02)  # noqa
    ours = _mxnet(cm.SGD(**kw, lr_scheduler=sched()))
    theirs = _mxnet(mx.optimizer.SGD(**kw, lr_scheduler=sched()))
    assert max(np.abs(a - b).max() for a, b in zip(ours, theirs)) > 1e-4


def test_lr_scheduler_sets_each_steps_lr():
    sched = mx.lr_scheduler.FactorScheduler(step=20, factor=0.5, base_lr=0.05)
    got = _mxnet(cm.Adam(learning_rate=0.05, lr_scheduler=sched))
    # MXNet counts updates from 1: update t (0-based) uses 0.05 * 0.5 ** (t // 20), with
    # FactorScheduler's "num_update > count + step" meaning the change comes one update late
    lrs = [0.05 * 0.5 ** max(0, (t - 1) // 20) for t in range(1, STEPS + 1)]
    _assert_match(got, _numpy("adam", lrs=[lrs, lrs]))


@pytest.mark.parametrize("cls,kw,param", [
    ("SGD", dict(learning_rate=0.0), "learning_rate"),
    ("SGD", dict(learning_rate=-0.1), "learning_rate"),
    ("SGD", dict(momentum=-0.5), "momentum"),
    ("SGD", dict(momentum=0.0, nesterov=True), "nesterov"),
    ("SGD", dict(wd=-1.0), "wd"),
    ("Adam", dict(beta1=1.0), "beta1"),
    ("Adam", dict(beta2=-0.1), "beta2"),
    ("Adam", dict(epsilon=0.0), "epsilon"),
    ("Adam", dict(learning_rate=-1e-3), "learning_rate"),
    ("Adagrad", dict(eps=-1.0), "eps"),
    ("RMSProp", dict(gamma1=1.5), "gamma1"),
    ("RMSProp", dict(gamma2=-0.5), "gamma2"),
    ("RMSProp", dict(epsilon=0.0), "epsilon"),
    ("AdaDelta", dict(rho=2.0), "rho"),
    ("AdaDelta", dict(epsilon=-1.0), "epsilon"),
    ("Adam", dict(clip_gradient=-1.0), "clip_gradient"),
])
def test_bad_input_raises_value_error_naming_the_parameter(cls, kw, param):
    with pytest.raises(ValueError, match=rf"\b{param}\b"):
        getattr(cm, cls)(**kw)


def test_context_is_cpu_or_gpu():
    assert cm.context().device_type in ("cpu", "gpu")
