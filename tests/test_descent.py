"""course_lib.descent.run: many starts at once == one start at a time (bit for bit),
divergence detection without warnings, schedules, bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from course_lib import descent, rules, schedules, surfaces

HYPER = {
    "sgd": dict(lr=1e-3), "momentum": dict(lr=5e-4, momentum=0.9),
    "nesterov": dict(lr=5e-4, momentum=0.9), "adagrad": dict(lr=0.2),
    "rmsprop": dict(lr=1e-2, centered=True, momentum=0.3), "adam": dict(lr=2e-2, amsgrad=True),
    "adamw": dict(lr=2e-2), "adadelta": dict(lr=1.0), "newton": dict(lr=0.5),
}


def _starts(n=64, seed=0):
    return np.random.default_rng(seed).uniform([-2.0, -1.0], [2.0, 3.0], (n, 2))


def _one_start(rule, surface, start, steps, lrs, **hyper):
    """The reference: one start, a plain loop, the rule applied to a (1, 2) array."""
    rule = rules.get(rule)
    hyper = rule.hyper(**hyper)
    x = np.array([start], dtype=float)
    state = rule.init(x, rules.NUMPY, **hyper)
    path = [x.copy()]
    with np.errstate(all="ignore"):
        for t in range(steps):
            hyper["lr"] = lrs[t]
            if rule is rules.newton:
                hyper["hessian"] = surface.hessian(x)
            rule.update(x, surface.grad(x), state, rules.NUMPY, **hyper)
            path.append(x.copy())
    return np.concatenate(path)


@pytest.mark.parametrize("surface", [surfaces.rosenbrock, surfaces.beale, surfaces.himmelblau,
                                     surfaces.quadratic(20.0, 0.3)], ids=lambda s: s.name)
@pytest.mark.parametrize("name", sorted(HYPER))
def test_many_starts_equal_one_start_loops_exactly(name, surface):
    starts = _starts(40)
    steps = 60
    result = descent.run(name, surface, starts, steps, **HYPER[name])
    lrs = np.full(steps, HYPER[name]["lr"])
    for i in (0, 7, 39):
        expected = _one_start(name, surface, starts[i], steps, lrs, **HYPER[name])
        d = result.diverged_at[i]
        upto = steps + 1 if d < 0 else d + 1
        np.testing.assert_array_equal(result.trajectory[:upto, i], expected[:upto])


def test_plain_python_gradient_descent_and_momentum_exactly():
    """Independent of the rules: scalar Python loops give the same floats."""
    start = (-1.2, 1.0)
    lr, mu = 1e-3, 0.9
    res_gd = descent.run("sgd", surfaces.rosenbrock, [start], 100, lr=lr)
    res_hb = descent.run("momentum", surfaces.rosenbrock, [start], 100, lr=lr, momentum=mu)
    x, y = start
    vx = vy = None
    px, py = start
    for t in range(100):
        gx, gy = -2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)
        x, y = x - lr * gx, y - lr * gy
        assert (x, y) == tuple(res_gd.trajectory[t + 1, 0])
        gx, gy = -2 * (1 - px) - 400 * px * (py - px * px), 200 * (py - px * px)
        vx, vy = (gx, gy) if vx is None else (mu * vx + gx, mu * vy + gy)
        px, py = px - lr * vx, py - lr * vy
        assert (px, py) == tuple(res_hb.trajectory[t + 1, 0])


def test_chunking_does_not_change_results(monkeypatch):
    starts = _starts(50)
    whole = descent.run("adam", surfaces.rosenbrock, starts, 30, lr=0.05)
    monkeypatch.setattr(descent, "CHUNK", 7)
    parts = descent.run("adam", surfaces.rosenbrock, starts, 30, lr=0.05)
    np.testing.assert_array_equal(whole.trajectory, parts.trajectory)


def test_result_fields():
    starts = _starts(5)
    r = descent.run("momentum", surfaces.rosenbrock, starts, 20, lr=2e-4)
    assert r.trajectory.shape == (21, 5, 2) and r.loss.shape == (21, 5)
    assert r.grad_norm.shape == (21, 5) and r.lr.shape == (20,)
    np.testing.assert_array_equal(r.trajectory[0], starts)
    np.testing.assert_allclose(r.loss, surfaces.rosenbrock.value(r.trajectory))
    g = surfaces.rosenbrock.grad(r.trajectory)
    np.testing.assert_allclose(r.grad_norm, np.linalg.norm(g, axis=-1))
    np.testing.assert_array_equal(r.final, r.trajectory[-1])
    assert r.rule == "momentum" and r.surface is surfaces.rosenbrock
    assert (r.diverged_at == -1).all()
    # starts were copied, not modified
    np.testing.assert_array_equal(starts, _starts(5))


def test_divergence_is_detected_per_start_without_warnings():
    q = surfaces.quadratic(condition=10.0)  # L = 1: gd diverges for lr > 2
    starts = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1e-3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = descent.run("sgd", q, starts, 2000, lr=2.5)
    # the x direction (mu = 0.1) converges; the y direction (L = 1) grows by 1.5 per step
    assert r.diverged_at[1] == -1 and r.converged()[1]
    # |y_t| = |y_0| 1.5^t first exceeds the bound 1e6
    expected = [int(np.floor(np.log(1e6 / y0) / np.log(1.5))) + 1 for y0 in (1.0, 1e-3)]
    assert [r.diverged_at[0], r.diverged_at[2]] == expected
    # frozen at the point where it diverged
    d = r.diverged_at[0]
    assert np.all(r.trajectory[d:, 0] == r.trajectory[d, 0])
    assert np.isfinite(r.trajectory[d, 0]).all() and abs(r.trajectory[d, 0, 1]) > 1e6
    assert not r.converged()[0]


def test_nan_and_inf_count_as_divergence():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = descent.run("sgd", surfaces.rosenbrock, [[3.0, -3.0], [1.0, 1.0]], 50, lr=0.1,
                        bound=np.inf)
    assert r.diverged_at[0] > 0 and r.diverged_at[1] == -1
    d = r.diverged_at[0]
    assert not np.isfinite(r.trajectory[d, 0]).all()
    assert np.isfinite(r.trajectory[d - 1, 0]).all()


def test_bound_is_a_box():
    r = descent.run("sgd", surfaces.saddle, [[0.0, 0.1]], 200, lr=0.1, bound=5.0)
    # y grows as 1.2^t: 0.1 * 1.2^t > 5 from t = 22 on
    assert r.diverged_at[0] == 22


def test_schedule_sets_the_lr_of_each_step():
    sched = schedules.step_decay(0.02, step_size=10, gamma=0.5)
    starts = _starts(8)
    r = descent.run("adam", surfaces.rosenbrock, starts, 35, schedule=sched)
    lrs = np.array([sched(t) for t in range(35)])
    np.testing.assert_array_equal(r.lr, lrs)
    expected = _one_start("adam", surfaces.rosenbrock, starts[3], 35, lrs)
    np.testing.assert_array_equal(r.trajectory[:, 3], expected)
    constant = descent.run("adam", surfaces.rosenbrock, starts, 35, lr=0.02)
    assert not np.array_equal(constant.trajectory[-1], r.trajectory[-1])


def test_newton_converges_fast_on_rosenbrock():
    r = descent.run("newton", surfaces.rosenbrock, [[-1.2, 1.0]], 10, lr=1.0)
    assert r.converged(tol=1e-8)[0]
    assert r.steps_to(1e-6)[0] <= 7


def test_steps_to_and_converged():
    r = descent.run("sgd", surfaces.quadratic(condition=4.0), [[1.0, 1.0]], 200, lr=1.0)
    # x contracts by 1 - lr mu = 0.75 per step, y reaches 0 in one step
    k = int(np.ceil(np.log(1e-6) / np.log(0.75)))
    assert r.steps_to(1e-6)[0] in (k, k + 1)
    assert r.converged(1e-6)[0]


@pytest.mark.parametrize("kwargs,param", [
    (dict(starts=np.zeros((3, 3))), "starts"),
    (dict(starts=np.zeros(3)), "starts"),
    (dict(starts=np.zeros((0, 2))), "starts"),
    (dict(starts=np.zeros((2, 2, 2))), "starts"),
    (dict(starts=np.array([[0.0, np.nan]])), "starts"),
    (dict(starts=np.array([[np.inf, 0.0]])), "starts"),
    (dict(rule="adamax"), "rule"),
    (dict(lr=0.0), "lr"),
    (dict(lr=-1.0), "lr"),
    (dict(steps=-1), "steps"),
    (dict(steps=2.5), "steps"),
    (dict(surface="rosenbrock"), "surface"),
    (dict(schedule=0.1), "schedule"),
    (dict(schedule=lambda t: -1.0), "schedule"),
    (dict(bound=0.0), "bound"),
    (dict(rule="adam", betas=(0.9, 1.0)), "betas"),
    (dict(rule="adam", eps=0.0), "eps"),
    (dict(rule="momentum", momentum=-0.5), "momentum"),
    (dict(rule="momentum", momentum=0.0, nesterov=True), "nesterov"),
])
def test_bad_input_raises_value_error_naming_the_parameter(kwargs, param):
    args = dict(rule="sgd", surface=surfaces.rosenbrock, starts=np.zeros((2, 2)), steps=5,
                lr=0.01)
    args.update(kwargs)
    if "schedule" in kwargs:
        args.pop("lr")
    with pytest.raises(ValueError, match=param):
        descent.run(args.pop("rule"), args.pop("surface"), args.pop("starts"), args.pop("steps"),
                    **args)


def test_a_single_point_is_accepted_as_one_start():
    r = descent.run("sgd", surfaces.rosenbrock, [0.5, 0.5], 3, lr=1e-3)
    assert r.trajectory.shape == (4, 1, 2)
