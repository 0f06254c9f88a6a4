"""course_lib.schedules: values against closed forms and torch's schedulers; the LambdaLR and
MXNet lr_scheduler adapters; bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lr_trace import torch_lrs

from course_lib import schedules as S


def _values(schedule, n):
    return np.array([schedule(t) for t in range(n)])


def test_constant():
    assert np.all(_values(S.constant(0.3), 50) == 0.3)


def test_step_decay_matches_closed_form_and_torch_steplr():
    s = S.step_decay(0.1, step_size=7, gamma=0.3)
    v = _values(s, 40)
    np.testing.assert_allclose(v, [0.1 * 0.3 ** (t // 7) for t in range(40)], rtol=1e-15)
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 7, gamma=0.3), 40, 0.1)
    np.testing.assert_allclose(v, ref, rtol=1e-12)
    assert s(6) == 0.1 and s(7) == pytest.approx(0.03)


def test_exponential_matches_torch():
    v = _values(S.exponential(0.5, 0.95), 60)
    np.testing.assert_allclose(v, 0.5 * 0.95 ** np.arange(60), rtol=1e-14)
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.95), 60, 0.5)
    np.testing.assert_allclose(v, ref, rtol=1e-12)


def test_cosine_matches_torch_and_ends_at_min_lr():
    s = S.cosine(0.2, total_steps=50, min_lr=0.01)
    v = _values(s, 80)
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 50, eta_min=0.01),
                    51, 0.2)
    np.testing.assert_allclose(v[:51], ref, rtol=1e-10)
    assert v[0] == pytest.approx(0.2) and v[25] == pytest.approx(0.105)
    assert np.all(v[50:] == pytest.approx(0.01))
    assert np.all(np.diff(v[:51]) < 0)


def test_linear_warmup_wraps_any_schedule():
    inner = S.cosine(1.0, total_steps=100)
    s = S.linear_warmup(inner, warmup_steps=10)
    v = _values(s, 100)
    np.testing.assert_allclose(v[:10], [(t + 1) / 10 * inner(t) for t in range(10)], rtol=1e-15)
    np.testing.assert_array_equal(v[10:], _values(inner, 100)[10:])
    assert v[0] > 0 and np.all(np.diff(v[:10]) > 0)
    w = S.linear_warmup(S.constant(0.5), 4)
    assert [w(t) for t in range(6)] == [0.125, 0.25, 0.375, 0.5, 0.5, 0.5]


def test_inverse_power_matches_its_formula():
    lr = S.inverse_power(0.1, 20, 1)
    assert lr(0) == 0.1 and math.isclose(lr(20), 0.05) and math.isclose(lr(60), 0.025)
    assert S.inverse_power(0.1, 20, 0)(10 ** 6) == 0.1              # power 0: constant
    assert math.isclose(S.inverse_power(0.1, 20, 2)(20), 0.025)
    assert math.isclose(S.inverse_power(0.1, 20, 0.5)(60), 0.05)


def test_inverse_sqrt_is_the_transformer_schedule():
    d, warm = 512, 4000
    s = S.inverse_sqrt(d, warm)
    v = _values(s, 20000)
    ref = [d ** -0.5 * min((t + 1) ** -0.5, (t + 1) * warm ** -1.5) for t in range(20000)]
    np.testing.assert_allclose(v, ref, rtol=1e-15)
    assert int(np.argmax(v)) == warm - 1
    assert v[warm - 1] == pytest.approx(d ** -0.5 * warm ** -0.5)
    # after the peak it decays as 1/sqrt(step): lr(4s) = lr(s) / 2
    assert s(4 * 8000 - 1) == pytest.approx(s(8000 - 1) / 2)
    assert S.inverse_sqrt(d, warm, scale=2.0)(10) == pytest.approx(2 * s(10))


@pytest.mark.parametrize("make", [
    lambda: S.step_decay(0.1, 10, 0.5),
    lambda: S.linear_warmup(S.cosine(0.1, 60), 10),
    lambda: S.inverse_sqrt(64, 10),
], ids=["step_decay", "warmup_cosine", "inverse_sqrt"])
@pytest.mark.parametrize("module", ["torch.optim", "course_lib.torch"])
def test_to_torch_lambdalr_sets_lr_to_the_schedule(make, module):
    import importlib
    schedule = make()
    mod = importlib.import_module(module)
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = mod.SGD([{"params": [w]}, {"params": [b], "lr": 1.0}], lr=0.01)
    sched = S.to_torch(opt, schedule)
    assert isinstance(sched, torch.optim.lr_scheduler.LambdaLR)
    total = 0.0
    for t in range(60):
        for group in opt.param_groups:
            assert group["lr"] == pytest.approx(schedule(t), rel=1e-12)
        w.grad = torch.ones(3, dtype=torch.float64)
        b.grad = torch.ones(2, dtype=torch.float64)
        opt.step()
        sched.step()
        total += schedule(t)
    # plain SGD with gradient 1: w = -sum of the learning rates
    assert w.detach().numpy() == pytest.approx(-total, rel=1e-10)
    assert b.detach().numpy() == pytest.approx(-total, rel=1e-10)


def test_to_mxnet_scheduler_drives_mxnet_optimizers():
    mx = pytest.importorskip("mxnet")  # MXNet is optional (not on GPU machines)
    schedule = S.linear_warmup(S.step_decay(0.1, 5, 0.5), 3)
    sched = S.to_mxnet(schedule)
    assert isinstance(sched, mx.lr_scheduler.LRScheduler)
    assert [sched(t) for t in (1, 2, 3)] == [schedule(0), schedule(1), schedule(2)]
    totals = []
    for opt in (mx.optimizer.SGD(learning_rate=0.1, lr_scheduler=S.to_mxnet(schedule)),
                _course_sgd(S.to_mxnet(schedule))):
        w = mx.nd.zeros((4,))
        updater = mx.optimizer.get_updater(opt)
        for _ in range(20):
            updater(0, mx.nd.ones((4,)), w)
        totals.append(w.asnumpy())
    expected = -sum(schedule(t) for t in range(20))
    for got in totals:
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def _course_sgd(scheduler):
    from course_lib.mxnet import SGD
    return SGD(learning_rate=0.1, lr_scheduler=scheduler)


@pytest.mark.parametrize("call,param", [
    (lambda: S.constant(0.0), "lr"),
    (lambda: S.constant(-1.0), "lr"),
    (lambda: S.step_decay(0.1, 0), "step_size"),
    (lambda: S.step_decay(0.1, 2.5), "step_size"),
    (lambda: S.step_decay(0.1, 5, gamma=1.5), "gamma"),
    (lambda: S.exponential(0.1, 0.0), "gamma"),
    (lambda: S.exponential(-0.1, 0.9), "lr"),
    (lambda: S.cosine(0.1, 0), "total_steps"),
    (lambda: S.cosine(0.1, 10, min_lr=0.2), "min_lr"),
    (lambda: S.linear_warmup(0.1, 10), "schedule"),
    (lambda: S.linear_warmup(S.constant(0.1), 0), "warmup_steps"),
    (lambda: S.inverse_power(0.0, 10, 1), "lr"),
    (lambda: S.inverse_power(0.1, 0, 1), "tau"),
    (lambda: S.inverse_power(0.1, 10, -1), "power"),
    (lambda: S.inverse_sqrt(0, 10), "d_model"),
    (lambda: S.inverse_sqrt(64, -1), "warmup_steps"),
    (lambda: S.inverse_sqrt(64, 10, scale=0.0), "scale"),
    (lambda: S.to_torch(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), 0.1),
     "schedule"),
])
def test_bad_input_raises_value_error_naming_the_parameter(call, param):
    with pytest.raises(ValueError, match=param):
        call()


def test_schedules_have_readable_names():
    assert S.step_decay(0.1, 10, 0.5).__name__ == "step_decay(0.1, 10, 0.5)"
    assert "cosine" in S.linear_warmup(S.cosine(0.1, 10), 3).__name__
    assert math.isclose(S.constant(0.1)(10 ** 9), 0.1)
