"""The claims of chapter 2 (lectures/02_gradient_descent.md), recomputed with course_lib.

- The first-order prediction of a step is off by exactly eta L / 2:
  test_first_order_error_is_lr_L_over_two.
- The four regimes of 1 - eta L (creep, one step at 1/L, zig-zag, divergence past 2/L):
  test_four_regimes_of_the_contraction_factor.
- The measured stability threshold is 2/L within one part in 10^4 at condition numbers 1,
  10, 100: test_measured_stability_bound_is_two_over_L; below it converges, above it
  diverges: test_above_the_bound_diverges_below_converges.
- Fig. gd-lr-sweep: the best learning rate is 2/(L + mu) (0.91 x 2/L), past the bound every
  run ends above its start, the engine stops runs from 1.08 on: test_the_sweep_figure.
- x^4/4: stable only for |x0| < sqrt(2/eta); at eta = 0.1 a start at 4.4 converges and 4.5
  diverges; the threshold from 4.4 is 2/4.4^2: test_quartic_start_boundary_is_sqrt_two_over_lr,
  test_quartic_starts_4_4_and_4_5_at_lr_01, test_quartic_threshold_from_4_4_is_two_over_x0_squared.
- PyTorch's mse_loss has twice the curvature of MXNet's L2Loss; at 0.9 x 2/L both reach the
  noise floor (about 1e-4 and half of it), at 1.1 x 2/L both blow up:
  test_regression_curvature_of_the_two_loss_conventions, test_regression_bound_in_both_frameworks.
- Newton solves a quadratic in one step; gradient descent at 2/(L + mu) needs steps
  proportional to kappa (7.4 kappa, as predicted): test_newton_solves_a_quadratic_in_one_step_gd_needs_order_kappa;
  Newton reaches Rosenbrock's minimum in 10 steps, gradient descent not in 5000:
  test_newton_beats_gd_on_rosenbrock.
"""
import numpy as np
import pytest

from course_lib import descent, surfaces
from course_lib.experiments import gradient_descent as gd


@pytest.mark.parametrize("condition", [1.0, 10.0, 100.0])
def test_measured_stability_bound_is_two_over_L(condition):
    q = surfaces.quadratic(condition=condition, angle=np.pi / 6)
    measured = gd.stability_threshold(q, start=[-2.5, 1.5], low=0.1, high=3.0)
    # chapter: "within one part in 10^4" (measured gaps 2.5e-7, 7.6e-5, 7.9e-6; deterministic)
    assert measured == pytest.approx(2 / q.L, rel=1e-4)


def test_above_the_bound_diverges_below_converges():
    q = surfaces.quadratic(condition=10.0, angle=np.pi / 6)
    losses = gd.final_loss(q, [-2.5, 1.5], np.array([0.95, 1.05]) * 2 / q.L, steps=400)
    assert losses[0] < 1e-2 * q.value(np.array([-2.5, 1.5]))
    assert not np.isfinite(losses[1]) or losses[1] > q.value(np.array([-2.5, 1.5]))


def test_the_sweep_figure():
    """Fig. gd-lr-sweep: "the best learning rate sits below the bound, at 2/(L + mu) (here
    0.91 x 2/L)"; "past the dashed line every run ends above its starting loss; from 1.08
    on the engine stops the runs as diverged"."""
    q = surfaces.quadratic(condition=10.0, angle=np.pi / 6)
    factors = np.linspace(0.02, 1.2, 60)
    losses = gd.final_loss(q, [-2.5, 1.5], factors * 2 / q.L, steps=100)
    best = factors[np.argmin(np.where(np.isfinite(losses), losses, np.inf))]
    assert q.L / (q.L + q.mu) == pytest.approx(0.91, abs=0.005)
    assert abs(best - q.L / (q.L + q.mu)) <= 0.02
    above = factors > 1 + 1e-9
    assert np.all(~np.isfinite(losses[above]) | (losses[above] > q.value(np.array([-2.5, 1.5]))))
    assert factors[~np.isfinite(losses)].min() == pytest.approx(1.08)
    assert np.all(np.isfinite(losses[factors < 1.07]))


def test_first_order_error_is_lr_L_over_two():
    bowl = surfaces.quadratic(condition=1.0, scale=2.0)
    lrs = np.array([0.05, 0.25, 0.5, 1.0, 1.2])
    np.testing.assert_allclose(gd.first_order_error(bowl, np.array([1.0, 0.0]), lrs), lrs * bowl.L / 2,
                               rtol=1e-12)


def test_four_regimes_of_the_contraction_factor():
    bowl = surfaces.quadratic(condition=1.0, scale=2.0)
    start = np.array([[3.0, 0.0]])
    x = {f: descent.run("sgd", bowl, start, 30, lr=f / bowl.L, bound=1e3) for f in (0.05, 1.0, 1.8, 2.5)}
    assert 0.1 < x[0.05].trajectory[-1, 0, 0] < 3.0            # creeping
    assert abs(x[1.0].trajectory[1, 0, 0]) < 1e-12              # one step
    signs = np.sign(x[1.8].trajectory[:6, 0, 0])
    assert np.all(signs[1:] == -signs[:-1])                      # zig-zag
    assert abs(x[1.8].trajectory[-1, 0, 0]) < 3.0 * 0.8 ** 29
    assert x[2.5].diverged[0]


@pytest.mark.parametrize("lr", [0.1, 0.02])
def test_quartic_start_boundary_is_sqrt_two_over_lr(lr):
    boundary = np.sqrt(2 / lr)
    starts = np.array([[0.98 * boundary, 0.0], [1.02 * boundary, 0.0]])
    result = descent.run("sgd", gd.quartic, starts, steps=300, lr=lr, bound=1e3)
    assert not result.diverged[0] and abs(result.final[0, 0]) < boundary
    assert result.diverged[1]


def test_quartic_starts_4_4_and_4_5_at_lr_01():
    """ "a start at 4.4 converges, a start at 4.5 diverges, with the same learning rate"."""
    result = descent.run("sgd", gd.quartic, np.array([[4.4, 0.0], [4.5, 0.0]]), steps=200,
                         lr=0.1, bound=1e3)
    assert not result.diverged[0] and abs(result.final[0, 0]) < 0.5
    assert result.diverged[1]


def test_quartic_threshold_from_4_4_is_two_over_x0_squared():
    assert gd.stability_threshold(gd.quartic, [4.4, 0.0], 0.01, 0.2) == pytest.approx(2 / 4.4 ** 2, rel=1e-4)


@pytest.mark.parametrize("condition", [10.0, 100.0, 1000.0])
def test_newton_solves_a_quadratic_in_one_step_gd_needs_order_kappa(condition):
    q = surfaces.quadratic(condition=condition, angle=np.pi / 6)
    start = np.array([[-2.5, 1.5]])
    assert np.linalg.norm(descent.run("newton", q, start, steps=1).final[0]) < 1e-10
    steps = descent.run("sgd", q, start, steps=20000, lr=2 / (q.L + q.mu)).steps_to(tol=1e-6)[0]
    # "a number of steps proportional to kappa": 7.4-7.5 kappa at every condition number,
    # as (kappa - 1)/(kappa + 1) per step predicts: kappa/2 log(|x0| / 1e-6)
    predicted = np.log(np.linalg.norm(start) / 1e-6) / -np.log((condition - 1) / (condition + 1))
    assert abs(steps - predicted) <= 0.02 * predicted + 1
    assert 7 * condition < steps < 8 * condition


def test_newton_beats_gd_on_rosenbrock():
    start = np.array([[-1.5, 2.0]])
    newton = descent.run("newton", surfaces.rosenbrock, start, steps=10)
    slow = descent.run("sgd", surfaces.rosenbrock, start, steps=5000, lr=1e-3)
    assert np.linalg.norm(newton.final[0] - 1) < 1e-6
    assert np.linalg.norm(slow.final[0] - 1) > 1e-3


def test_regression_curvature_of_the_two_loss_conventions():
    from course_lib.data import synthetic_regression

    x_np, _ = synthetic_regression()
    assert gd.regression_curvature(x_np, half=True) == pytest.approx(gd.regression_curvature(x_np) / 2)


@pytest.mark.parametrize("framework", ["torch", pytest.param("mxnet", marks=pytest.mark.mxnet)])
def test_regression_bound_in_both_frameworks(framework):
    """Chapter: below 2/L both frameworks converge to the noise floor, above it both blow up,
    each at its own L (MXNet's L2Loss is half of mse_loss, so its L is half as large)."""
    from course_lib.data import synthetic_regression

    x_np, y_np = synthetic_regression()
    L = gd.regression_curvature(x_np, half=(framework == "mxnet"))
    if framework == "mxnet":
        pytest.importorskip("mxnet")
    train = gd.regression_gd_mxnet if framework == "mxnet" else gd.regression_gd_torch
    final = {factor: train(x_np, y_np, lr=factor * 2 / L) for factor in (0.9, 1.1)}
    # "converge to the noise floor (about 1e-4, the noise variance, for PyTorch's loss, and
    # half of that for MXNet's)": measured 9.6e-5 (torch), 4.8e-5 (MXNet)
    floor = 0.01 ** 2 / (2 if framework == "mxnet" else 1)
    assert 0.8 * floor < final[0.9] < 1.2 * floor
    assert not np.isfinite(final[1.1]) or final[1.1] > 1e3     # measured: 8.5e13 (torch), 1.9e15 (MXNet)
