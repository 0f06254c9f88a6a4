"""The claims of chapter 6 (lectures/06_momentum.md), recomputed with course_lib.

Each claim of the text, and the test that asserts it at the strength written (everything here
is deterministic: quadratics from fixed starts, and seeded regressions):

  V1  Valley of condition 100: heavy ball (1/L, 0.9) needs 2.5x fewer steps than the best of
      four gradient-descent rates. -> test_heavy_ball_beats_best_gradient_descent_on_the_valley
  B1  The buffer is the weighted sum of all past gradients, to the last bit; the step over the
      rate is the buffer. -> test_buffer_is_the_weighted_sum_of_all_past_gradients
  E1  EMA weights for gamma 0.95 over 20 steps sum to 1 - 0.95^20 = 0.64; window 1/(1-gamma);
      gamma^(1/(1-gamma)) near 1/e. -> test_ema_weights_for_gamma_095_over_20_steps
  A1  Constant gradients amplified to 1/(1-mu), alternating ones damped to 1/(1+mu).
      -> test_amplification_and_damping_limits
  R1  Regression, lr 0.5, batch 10: momentum 0.9 converges, 0.99 blows up, in PyTorch and in
      MXNet (three seeds each). -> test_momentum_099_diverges_where_09_converges_{torch,mxnet}
  R2  Full-batch bound 2(1+mu)/L is 3.6 and 3.8, far above 0.5, and is the real edge; full-batch
      momentum 0.99 is stable. -> test_full_batch_stability_bound_on_the_regression,
      test_momentum_099_with_exact_gradients_is_stable
  N1  Largest stable rates 2(1+mu)/L (heavy ball) and 2(1+mu)/((1+2mu)L) (Nesterov), measured
      by bisection. -> test_stability_limits_of_heavy_ball_and_nesterov
  N2  Nesterov at 1/L, 0.9 kills the oscillation across the valley after 20 steps.
      -> test_nesterov_kills_the_oscillation_across_the_valley
Momentum at its best (Polyak 1964; Goh 2017)
  P1  Along every eigen-direction heavy ball is the 2x2 system M(lambda); inside the band
      (1-sqrt(mu))^2 < lr lambda < (1+sqrt(mu))^2 its rate is sqrt(mu) whatever lambda, outside
      it is worse. -> test_band_of_complex_roots
  P2  Polyak's tuning gives rate (sqrt(kappa)-1)/(sqrt(kappa)+1) for every curvature (kappa 10,
      100, 1000); lr 3.306/L and momentum 0.6694 at kappa 100; tuned GD's rate is
      (kappa-1)/(kappa+1) at both ends. -> test_polyak_tuning_equalizes_the_rates
  P3  On the valley the measured contraction is the predicted rate within 1% (0.818 for Polyak,
      not mu* = 0.669 nor GD's 0.980); the 2-D run along an eigenvector is the scalar recurrence
      to rounding. -> test_measured_rates_and_decoupling
  P4  Steps to 1e-4 at kappa 10/100/1000: GD 52/515/5141, momentum 0.9 196/196/865, Polyak
      21/76/259; 6.8x and 2.6x fewer at kappa 100; slopes 1.00 and 0.55 (theory 1 and 1/2:
      asserted within 0.05 and 0.1). -> test_steps_against_the_condition_number
  P5  The slider: below mu* the flattest direction is slower than sqrt(mu) (dots split), above
      it every direction converges at sqrt(mu) > sqrt(mu*); at mu = 0 the flattest creeps at
      1 - 1/kappa. -> test_momentum_slider_tradeoff
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


# ------------------------------------------------------------------ momentum at its best
def _sqrt_kappa_rate(kappa):
    return (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)


def test_band_of_complex_roots():
    lr, mu = 1.0, 0.9
    low, high = (1 - np.sqrt(mu)) ** 2, (1 + np.sqrt(mu)) ** 2
    inside = np.linspace(low, high, 52)[1:-1]
    np.testing.assert_allclose(mom.rate(lr, mu, inside), np.sqrt(mu), rtol=1e-6)
    outside = np.array([0.5 * low, 0.9 * low, 1.05 * high])
    assert np.all(mom.rate(lr, mu, outside) > np.sqrt(mu) + 1e-4)
    M = mom.heavy_ball_matrix(0.3, 0.5, 2.0)
    assert np.allclose(M, [[1 + 0.5 - 0.6, -0.5], [1, 0]])
    assert 1 / low == pytest.approx(380, abs=1)                      # "up to kappa about 380"


@pytest.mark.parametrize("kappa", [10.0, 100.0, 1000.0])
def test_polyak_tuning_equalizes_the_rates(kappa):
    L, lam_min = 1.0, 1.0 / kappa
    lr, mu = mom.optimal_heavy_ball(L, lam_min)
    assert lr == pytest.approx(4 / (1 + np.sqrt(lam_min)) ** 2)
    assert np.sqrt(mu) == pytest.approx(_sqrt_kappa_rate(kappa))
    lams = np.geomspace(lam_min, L, 50)
    np.testing.assert_allclose(mom.rate(lr, mu, lams), _sqrt_kappa_rate(kappa), rtol=1e-6)
    gd = mom.rate(mom.tuned_gd(L, lam_min), 0.0, [lam_min, L])
    np.testing.assert_allclose(gd, (kappa - 1) / (kappa + 1), rtol=1e-12)
    if kappa == 100.0:
        assert lr * L == pytest.approx(3.306, abs=5e-4) and mu == pytest.approx(0.6694, abs=5e-5)
    with pytest.raises(ValueError, match="lam_min"):
        mom.optimal_heavy_ball(1.0, 2.0)


def test_measured_rates_and_decoupling():
    lr_star, mu_star = mom.optimal_heavy_ball(VALLEY.L, VALLEY.mu)
    measured = {}
    for name, method in mom.METHODS.items():
        rule, hyper = method(VALLEY.L, VALLEY.mu)
        beta = hyper.get("momentum", 0.0)
        z = mom.eigen_errors(descent.run(rule, VALLEY, START, 300, **hyper), VALLEY)
        predicted = mom.rate(hyper["lr"], beta, [VALLEY.mu, VALLEY.L]).max()
        measured[name] = mom.measured_rate(z)
        assert measured[name] == pytest.approx(predicted, rel=0.01)
        for i, lam in enumerate((VALLEY.mu, VALLEY.L)):
            alone = mom.scalar_recurrence(z[0, i], hyper["lr"], beta, lam, 300)
            np.testing.assert_allclose(alone, z[:, i], rtol=0, atol=1e-12)
    polyak = measured["heavy ball, Polyak's lr and momentum"]
    assert polyak == pytest.approx(0.818, abs=0.005)
    assert abs(polyak - mu_star) > 0.1 and abs(polyak - 99 / 101) > 0.1   # the wrong answers


def test_steps_against_the_condition_number():
    kappas = [10, 100, 1000]
    steps = mom.steps_vs_condition(kappas, START, 1e-4)
    gd, hb, best = steps.values()
    assert list(gd) == [52, 515, 5141]
    assert list(hb) == [196, 196, 865]
    assert list(best) == [21, 76, 259]
    assert round(gd[1] / best[1], 1) == 6.8 and round(hb[1] / best[1], 1) == 2.6
    assert abs(mom.fit_slope(kappas, gd) - 1.0) < 0.05              # theory: slope 1
    assert abs(mom.fit_slope(kappas, best) - 0.5) < 0.1             # theory: slope 1/2
    assert round(mom.fit_slope(kappas, gd), 2) == 1.00
    assert round(mom.fit_slope(kappas, best), 2) == 0.55
    assert hb[0] > 3 * gd[0]                                        # "much slower" at kappa 10


def test_momentum_slider_tradeoff():
    _, mu_star = mom.optimal_heavy_ball(VALLEY.L, VALLEY.mu)
    for mu in (0.0, 0.3, 0.5, mu_star, 0.8, 0.9, 0.95):              # the slider's values
        lr = (1 + np.sqrt(mu)) ** 2 / VALLEY.L                       # draw_beta's rule
        flat, steep = mom.rate(lr, mu, [VALLEY.mu, VALLEY.L])
        assert steep == pytest.approx(np.sqrt(mu), abs=1e-6)        # L on the band's edge
        if mu < mu_star - 1e-9:
            assert flat > np.sqrt(mu_star) > np.sqrt(mu) - 1e-12    # the dots split
        elif mu > mu_star + 1e-9:
            assert flat == pytest.approx(np.sqrt(mu), rel=1e-6) and flat > np.sqrt(mu_star)
        else:
            assert flat == pytest.approx(np.sqrt(mu_star), rel=1e-6)
    assert mom.rate(1 / VALLEY.L, 0.0, [VALLEY.mu])[0] == pytest.approx(0.99)
