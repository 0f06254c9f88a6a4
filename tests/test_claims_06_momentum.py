"""The claims of chapter 6 (lectures/06_momentum.md), recomputed with course_lib.

- EMA weights (1 - gamma) gamma^k; for gamma = 0.95 the 20 newest sum to 0.64, the window is
  1/(1 - gamma) = 20 steps, gamma^(1/(1-gamma)) is about 1/e:
  test_ema_weights_for_gamma_095_over_20_steps (bad input: test_ema_rejects_bad_gamma).
- The momentum buffer is the weighted sum of all past gradients, and the step divided by
  the learning rate: test_buffer_is_the_weighted_sum_of_all_past_gradients.
- Consistent gradients are amplified to 1/(1 - mu), alternating ones damped to 1/(1 + mu):
  test_amplification_and_damping_limits.
- On the valley of condition number 100, momentum 0.9 needs 2.5x fewer steps than the best
  gradient descent: test_heavy_ball_beats_best_gradient_descent_on_the_valley.
- Stable learning rates 2(1 + mu)/L (heavy ball) and 2(1 + mu)/((1 + 2 mu) L) (Nesterov),
  measured by bisection: test_stability_limits_of_heavy_ball_and_nesterov; Nesterov kills
  the oscillation across the valley: test_nesterov_kills_the_oscillation_across_the_valley.
- On the minibatch regression, momentum 0.9 converges and 0.99 blows up (three seeds, both
  frameworks): test_momentum_099_diverges_where_09_converges_torch, ..._mxnet; with exact
  gradients 0.99 is stable: test_momentum_099_with_exact_gradients_is_stable; the full-batch
  bound 2(1 + mu)/L is 3.6 and 3.8 and is the real edge:
  test_full_batch_stability_bound_on_the_regression.
"""
import numpy as np
import pytest

from course_lib import descent, surfaces
from course_lib.experiments import momentum as mom

VALLEY = surfaces.quadratic(condition=100.0, angle=np.pi / 6)
START = np.array([[-2.5, 1.5]])
pytestmark = pytest.mark.filterwarnings("ignore:Please import `csr_matrix`:DeprecationWarning")


def test_ema_weights_for_gamma_095_over_20_steps():
    weights = mom.ema_weights(0.95, 20)
    np.testing.assert_allclose(weights, 0.05 * 0.95 ** np.arange(20), rtol=1e-12)
    assert weights.sum() == pytest.approx(1 - 0.95 ** 20, rel=1e-12)
    assert weights.sum() == pytest.approx(0.64, abs=0.005)          # "sum to 0.64"
    assert weights[-1] / weights[0] == pytest.approx(0.3774, abs=1e-4)
    assert mom.effective_window(0.95) == pytest.approx(20.0)
    # the window: gamma^(1/(1-gamma)) is close to 1/e
    for gamma in (0.9, 0.95, 0.99):
        assert gamma ** mom.effective_window(gamma) == pytest.approx(np.exp(-1), rel=0.06)


def test_ema_rejects_bad_gamma():
    with pytest.raises(ValueError, match="gamma"):
        mom.ema_weights(1.0, 5)
    with pytest.raises(ValueError, match="steps"):
        mom.ema_weights(0.9, 0)


def test_buffer_is_the_weighted_sum_of_all_past_gradients():
    grads, buffers = mom.rule_buffers(VALLEY, START[0], steps=30, lr=1 / VALLEY.L, momentum=0.9)
    np.testing.assert_allclose(buffers, mom.unrolled_sum(grads, 0.9), rtol=0, atol=1e-12)
    run = descent.run("momentum", VALLEY, START, 30, lr=1 / VALLEY.L, momentum=0.9)
    np.testing.assert_allclose(mom.velocity_from_trajectory(run)[:, 0], buffers, rtol=0, atol=1e-12)


def test_amplification_and_damping_limits():
    steps = 200
    along = mom.buffer_response(np.ones((steps, 1)), 0.9)[:, 0]
    across = mom.buffer_response(np.array([(-1.0) ** k for k in range(steps)])[:, None], 0.9)[:, 0]
    assert along[-1] == pytest.approx(1 / (1 - 0.9), rel=1e-6)
    assert abs(across[-1]) == pytest.approx(1 / (1 + 0.9), rel=1e-6)


def test_heavy_ball_beats_best_gradient_descent_on_the_valley():
    gd = [mom.steps_to_tolerance("sgd", VALLEY, START, f / VALLEY.L, 3000, 1e-4) for f in (0.5, 1.0, 1.5, 1.9)]
    hb = mom.steps_to_tolerance("momentum", VALLEY, START, 1 / VALLEY.L, 3000, 1e-4, momentum=0.9)
    assert all(s > 0 for s in gd) and hb > 0
    assert min(gd) / hb == pytest.approx(2.5, abs=0.2)              # "2.5x fewer steps"


@pytest.mark.parametrize("mu", [0.5, 0.9])
def test_stability_limits_of_heavy_ball_and_nesterov(mu):
    hb = mom.stable_lr_limit("momentum", VALLEY, START, 0.1 / VALLEY.L, 5 / VALLEY.L, momentum=mu)
    nag = mom.stable_lr_limit("nesterov", VALLEY, START, 0.1 / VALLEY.L, 5 / VALLEY.L, momentum=mu)
    assert hb * VALLEY.L == pytest.approx(2 * (1 + mu), rel=1e-3)
    assert nag * VALLEY.L == pytest.approx(2 * (1 + mu) / (1 + 2 * mu), rel=1e-3)


def test_nesterov_kills_the_oscillation_across_the_valley():
    steep = np.linalg.eigh(VALLEY.A)[1][:, -1]
    runs = {r: descent.run(r, VALLEY, START, 400, lr=1 / VALLEY.L, momentum=0.9) for r in ("momentum", "nesterov")}
    across = {r: np.abs(run.trajectory[20:, 0] @ steep).max() for r, run in runs.items()}
    assert across["nesterov"] < 1e-10 < 1e-3 < across["momentum"]


@pytest.mark.parametrize("seed", range(3))
def test_momentum_099_diverges_where_09_converges_torch(seed):
    initial, good = mom.regression_torch(0.9, seed=seed)
    _, bad = mom.regression_torch(0.99, seed=seed)
    assert good.train_loss[-1] < 1e-3 * initial                     # converges (noise floor ~5e-5)
    assert max(bad.train_loss) > 100 * initial                      # blows up...
    assert bad.train_loss[-1] > initial                             # ...and ends above its start


@pytest.mark.parametrize("seed", range(3))
def test_momentum_099_diverges_where_09_converges_mxnet(seed):
    initial, good = mom.regression_mxnet(0.9, seed=seed)
    _, bad = mom.regression_mxnet(0.99, seed=seed)
    assert good.train_loss[-1] < 1e-3 * initial
    assert max(bad.train_loss) > 100 * initial
    assert bad.train_loss[-1] > initial


def test_momentum_099_with_exact_gradients_is_stable():
    initial, full = mom.regression_torch(0.99, batch_size=1000, epochs=300, decay_every=None)
    assert full.train_loss[-1] < 0.01 * initial
    assert max(full.train_loss) < 2 * initial


def test_full_batch_stability_bound_on_the_regression():
    # "stable for eta < 2(1 + mu)/L, which is 3.6 for mu = 0.9 and 3.8 for mu = 0.99 here"
    bounds = {mu: mom.regression_lr_bound(mu) for mu in (0.9, 0.99)}
    assert bounds[0.9] == pytest.approx(3.6, abs=0.05)
    assert bounds[0.99] == pytest.approx(3.8, abs=0.05)
    assert min(bounds.values()) > 5 * mom.REGRESSION["lr"]             # "far above our 0.5"
    # the bound is the real edge: full-batch heavy ball just below it trains, just above it diverges
    for mu, bound in bounds.items():
        initial, below = mom.regression_torch(mu, lr=0.95 * bound, batch_size=1000, epochs=300,
                                              decay_every=None)
        _, above = mom.regression_torch(mu, lr=1.05 * bound, batch_size=1000, epochs=300,
                                        decay_every=None)
        assert np.isfinite(below.train_loss).all() and below.train_loss[-1] < initial
        assert not np.isfinite(above.train_loss[-1]) or above.train_loss[-1] > 1e6 * initial
