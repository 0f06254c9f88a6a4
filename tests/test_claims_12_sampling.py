"""The claims of chapter 12 (lectures/12_sampling.md), recomputed with course_lib and
checked against closed forms (Newton's step, the minimiser, the exact mean on a ball) and
PyTorch/MXNet. Where randomness enters, every claim is checked on three seeds.

Each claim of the chapter, and the test that checks it:

- alpha -> 0: the mean becomes the jump theta* - theta; for a quadratic loss the mean is
  Newton's step at every temperature (and lands on theta*); on a ball it shrinks to 0 as
  alpha grows -> test_quadratic_mean_is_newton_at_every_alpha_and_a_ball_mean_shrinks_to_zero
- the toy's Hessian at theta has condition number 13; the angle between -g and Newton's
  step: 59 degrees -> test_gradient_and_newton_directions_differ_by_a_wide_angle
- theta is 0.7 from theta*; Newton's step misses theta* by O(|theta - theta*|^2), 16% of
  the distance on the toy -> test_newton_misses_the_minimiser_by_the_square_of_the_distance
- toy: cos(Newton, theta* - theta) = 0.9995; the mean's distance to theta* - theta falls
  about in proportion to alpha, about 30% at alpha = 0.1, at most 5% at 0.01; its distance
  to Newton's step approaches the 16% gap; cos(mean, Newton) > 0.99 from alpha = 0.1 down;
  alpha = 1: the mean points elsewhere
  -> test_toy_mean_approaches_the_minimiser_step_and_stops_short_of_newton
- Rosenbrock at (-0.5, 0.25): Newton's step (1.5, -1.5), theta* - theta = (1.5, 0.75),
  cosine 0.32; from alpha = 0.1 down the mean is within 6% of theta* - theta, about 1.3
  |theta* - theta| from Newton's step, cos > 0.999 with theta* - theta and < 0.35 with
  Newton's step, every seed. The old claim ("the mean tends to Newton's step") fails here
  -> test_rosenbrock_mean_approaches_the_minimiser_step_not_newtons
- ball: the mean is along -g to a cosine >= 0.999 at every alpha and seed, its length within
  5% of the exact curve; large alpha: gradient descent with lr r^2 / ((d + 2) alpha);
  small alpha: length r -> test_sampled_ball_mean_follows_the_gradient_and_the_exact_length
- 1348 training and 449 test images; alpha = 0.002 on 1348 images: one image multiplies a
  weight by e^0.37 -> test_alpha_in_units_of_one_image
- toy sliders: larger n steadier, a larger sigma needs more samples, a large alpha ignores
  the metric -> test_toy_sliders_more_samples_help_and_a_hot_alpha_ignores_the_metric;
  the optimizer reaches the best error of the map
  -> test_importance_sampling_on_the_toy_reaches_the_best_error
- digits: the sampler raises the training accuracy in every run by more than 5 points
  -> test_importance_sampling_raises_the_accuracy_it_optimizes (PyTorch),
  test_mxnet_twin_raises_the_accuracy_too, test_mxnet_comparison_tells_the_same_story
- every run of the sampler ends above every run of the equal-weight control, on average by
  about 2 points (PyTorch) and about 1 point (MXNet); cross-entropy descent is not beaten
  -> test_metric_weights_beat_equal_weights_and_ranking_of_methods,
  test_mxnet_comparison_tells_the_same_story
- REINFORCE ends highest, first loses accuracy, is above every other method after 17
  updates -> test_reinforce_dips_first_then_overtakes_every_method_after_17_updates
- step along the guide: about half with equal weights, about 0.6 with the metric's
  -> test_sampler_step_along_the_guide, test_mxnet_comparison_tells_the_same_story
- flat base: about one effective sample of four; the proposal base the most
  -> test_base_measures
- flat base: ln(1/q) scatters by about sqrt(d/2) = 35 nats in d = 2410, the metric's part
  by a little over one nat, more than 20 times less
  -> test_flat_base_log_weights_scatter_by_sqrt_d_over_2_the_metric_by_about_one
- REINFORCE's noise-to-signal ratio more than 50 times smaller at every n, the sampler's
  about six at n = 4, both fall as n grows, REINFORCE unbiased
  -> test_variance_of_the_two_estimators
- the cross-entropy loops of the two frameworks take the same steps
  -> test_cross_entropy_twins_take_the_same_step
"""
import functools
import math

import numpy as np
import pytest
import torch

from course_lib import data, models, surfaces
from course_lib import sampling as S
from course_lib.experiments import sampling as ex

torch.set_num_threads(1)
STEPS = 60        # the chapter's fast-mode number of updates
SEEDS = (0, 1, 2)
ALPHAS = [1.0, 0.3, 0.1, 0.03, 0.01]
FAR = np.array([-0.5, 0.25])   # the chapter's point on Rosenbrock's valley


@pytest.fixture(scope="module")
def toy():
    return ex.logistic_toy()


@pytest.fixture(scope="module")
def near(toy):
    return ex.expected_vs_alpha(toy.surface, toy.theta, ALPHAS, n_samples=40_000,
                                seeds=SEEDS)


@pytest.fixture(scope="module")
def far():
    return ex.expected_vs_alpha(surfaces.rosenbrock, FAR, ALPHAS, n_samples=100_000,
                                scale=1.5, seeds=SEEDS)


# ------------------------------------------------------------------- the two limits
def test_gradient_and_newton_directions_differ_by_a_wide_angle(toy):
    g = toy.surface.grad(toy.theta)
    newton = S.second_order_update(g, toy.surface.hessian(toy.theta))
    assert np.allclose(newton, -np.linalg.solve(toy.surface.hessian(toy.theta), g))
    angle = math.degrees(math.acos(S.cosine(-g, newton)))
    assert 58.5 <= angle < 59.5                                          # "59 degrees"
    eig = np.linalg.eigvalsh(toy.surface.hessian(toy.theta))
    assert 12.5 <= eig[1] / eig[0] < 13.5                                # "condition number 13"


def test_newton_misses_the_minimiser_by_the_square_of_the_distance(toy):
    """theta* - theta = -H^-1 g + O(|theta - theta*|^2): 16% of a 0.7 step on the toy, and
    halving the distance quarters the miss."""
    s, star = toy.surface, toy.surface.minima[0]
    assert np.allclose(toy.theta - star, [0.7, 0.0])                     # "0.7 from theta*"
    misses = []
    for t in (0.7, 0.35, 0.175):
        theta = star + np.array([t, 0.0])
        newton = S.second_order_update(s.grad(theta), s.hessian(theta))
        misses.append(np.linalg.norm(theta + newton - star))
    assert 0.155 <= misses[0] / 0.7 < 0.165                             # "16%"
    assert 3.5 < misses[0] / misses[1] < 4.5 and 3.5 < misses[1] / misses[2] < 4.5


def test_quadratic_mean_is_newton_at_every_alpha_and_a_ball_mean_shrinks_to_zero():
    """For a quadratic loss (flat base) the mean is Newton's step at small and large alpha
    alike; on a ball it shrinks to 0 as alpha grows."""
    bowl = surfaces.quadratic(condition=4.0)
    theta = np.array([1.0, 1.0])
    newton = S.second_order_update(bowl.grad(theta), bowl.hessian(theta))
    assert np.allclose(theta + newton, 0.0)                              # lands on theta*
    for alpha in (0.01, 1.0, 10.0):
        for seed in SEEDS:
            est = S.expected_update(bowl.value, theta, alpha, 100_000,
                                    scale=2.0 + 2 * math.sqrt(alpha), rng=seed)
            assert np.linalg.norm(est.mean - newton) < 0.05 * np.linalg.norm(newton)
    lengths = [np.linalg.norm(S.expected_update(bowl.value, theta, a, 20_000, radius=0.5,
                                                rng=0).mean) for a in (0.1, 10.0, 1e4)]
    assert lengths[0] > 10 * lengths[1] > 100 * lengths[2]


def test_toy_mean_approaches_the_minimiser_step_and_stops_short_of_newton(near):
    assert S.cosine(near["newton"], near["minimiser"]) > 0.9995          # "0.9995"
    gap = np.linalg.norm(near["newton"] - near["minimiser"]) / 0.7
    alpha = near["alpha"]
    to_min, to_newton = near["dist_minimiser"], near["dist_newton"]
    small = alpha <= 0.1
    # the distance to theta* - theta falls about in proportion to alpha
    assert np.all(np.diff(to_min[:, 1:], axis=1) < 0)                   # monotone, every seed
    i01, i001 = list(alpha).index(0.1), list(alpha).index(0.01)
    assert ((0.225 < to_min[:, i01]) & (to_min[:, i01] < 0.375)).all()   # "about 30%"
    assert (to_min[:, i001] <= 0.05).all()                               # "at most 5%"
    ratio = to_min[:, i01].mean() / to_min[:, i001].mean()
    assert 5 < ratio < 20                                                # ~ alpha ratio 10
    # the distance to Newton's step approaches the gap (16%) between the two steps
    assert 0.155 < gap < 0.165
    assert (gap < to_newton[:, i001]).all() and (to_newton[:, i001] < gap + 0.05).all()
    assert np.all(np.diff(to_newton[:, 1:], axis=1) < 0)
    assert (to_newton[:, small] > to_min[:, small]).all()
    # and a cosine cannot tell them apart
    assert (near["cos_newton"][:, small] > 0.99).all()
    assert (near["cos_minimiser"][:, 0] < 0.5).all()                     # alpha = 1: elsewhere


def test_rosenbrock_mean_approaches_the_minimiser_step_not_newtons(far):
    assert np.allclose(far["newton"], [1.5, -1.5]) and np.allclose(far["minimiser"], [1.5, 0.75])
    assert 0.31 < S.cosine(far["newton"], far["minimiser"]) < 0.325     # "0.32", < 0.9
    small = far["alpha"] <= 0.1
    assert (far["cos_minimiser"][:, small] > 0.999).all()
    assert (far["cos_newton"][:, small] < 0.35).all()
    # the claim the chapter used to make, "the mean tends to Newton's step", fails here
    assert ((1.25 < far["dist_newton"][:, small]) & (far["dist_newton"][:, small] < 1.45)).all()
    assert (far["dist_minimiser"][:, small] < 0.06).all()                # "within 6%"
    assert (far["ess"] > 10).all()                                       # enough samples count


def test_sampled_ball_mean_follows_the_gradient_and_the_exact_length(toy):
    f = ex.first_order_vs_alpha(toy, [10.0, 1.0, 0.1, 0.01, 0.001], n_samples=40_000,
                                seeds=SEEDS)
    assert f["sampled"].shape == (3, 5)
    assert (f["cos_gradient"] >= 0.999).all()                            # every alpha, seed
    assert (np.abs(f["sampled"] / f["exact"] - 1) < 0.05).all()          # "within 5%"
    # large alpha: gradient descent with lr r^2 / ((d + 2) alpha); small: length -> r
    assert math.isclose(f["exact"][0], f["radius"] ** 2 * f["grad_norm"] / (4 * 10.0), rel_tol=1e-3)
    assert f["exact"][-1] > 0.75 * f["radius"]
    assert math.isclose(np.linalg.norm(S.first_order_update(toy.surface.grad(toy.theta), 1e-6,
                                                            f["radius"])), f["radius"], rel_tol=1e-3)


def test_alpha_in_units_of_one_image():
    assert math.isclose(math.exp(1 / 1348 / 0.002), math.exp(0.37), rel_tol=0.01)
    split = data.digits(seed=0)
    assert len(split.y_train) == 1348 and len(split.y_test) == 449     # "1348 and 449 images"


def test_importance_sampling_on_the_toy_reaches_the_best_error(toy):
    _, err = ex.error_map(toy)
    finals = [ex.is_path(toy, 0.03, 0.1, 4, seed=s)[1][-1] for s in range(4)]
    start = ex.is_path(toy, 0.03, 0.1, 4, steps=0)[1][0]
    assert np.mean(finals) < start - 0.1
    assert np.mean(finals) < err.min() + 0.03


def test_toy_sliders_more_samples_help_and_a_hot_alpha_ignores_the_metric(toy):
    @functools.lru_cache(maxsize=None)
    def errors(alpha, sigma, n):
        return np.array([ex.is_path(toy, alpha, sigma, n, seed=s)[1] for s in range(5)])

    def mean_final(alpha, sigma, n):
        return errors(alpha, sigma, n)[:, -1].mean()

    def jitter(alpha, sigma, n):    # how much the error still moves over the last 10 steps
        return errors(alpha, sigma, n)[:, -10:].std(axis=1).mean()

    # "larger n makes it steadier", at every slider setting
    for alpha in (0.003, 0.03, 0.3):
        for sigma in (0.1, 1.0):
            assert jitter(alpha, sigma, 16) < jitter(alpha, sigma, 1)
            assert mean_final(alpha, sigma, 16) < mean_final(alpha, sigma, 1)
    for sigma in (0.1, 1.0):
        assert mean_final(0.03, sigma, 16) < mean_final(0.03, sigma, 1) - 0.05
    # "a larger sigma ... needs more samples": worse alone, as good with n = 16
    assert mean_final(0.03, 1.0, 1) > mean_final(0.03, 0.1, 1) + 0.1
    assert abs(mean_final(0.03, 1.0, 16) - mean_final(0.03, 0.1, 16)) < 0.03
    # "a large alpha ignores the metric"
    assert mean_final(0.3, 1.0, 4) > mean_final(0.003, 1.0, 4) + 0.05


# ------------------------------------------------------------------------- digits
@pytest.fixture(scope="module")
def digits_torch():
    split = data.digits(seed=0)
    x, y, xt, yt = data.to_torch(*split)
    net = models.torch_mlp([64, 32, 10], seed=0).to(x.device)
    models.train_torch(net, torch.optim.SGD(net.parameters(), lr=0.1), x, y, epochs=2, batch_size=64, seed=0)
    return net, S.torch_flat_problem(net, x, y), S.torch_flat_problem(net, xt, yt), x, y


@pytest.fixture(scope="module")
def comparison(digits_torch):
    net, flat, test, x, y = digits_torch
    return ex.compare_on_digits(net, flat, x, y, STEPS, seeds=(0, 1, 2), test=test)


def test_importance_sampling_raises_the_accuracy_it_optimizes(digits_torch, comparison):
    _, flat, test, _, _ = digits_torch
    start = flat.error(flat.theta)
    is_final = comparison["importance sampling"]["errors"][:, -1]
    assert (is_final < start - 0.05).all()                     # every seed, "by more than 5 points"
    assert comparison["importance sampling"]["test"].mean() < test.error(flat.theta)


def _every_run_above_the_control(results, low, high):
    """Every sampler run ends above every equal-weight run; the mean gap is in [low, high]."""
    final = {k: 1 - v["errors"][:, -1] for k, v in results.items()}
    sampler, control = final["importance sampling"], final["equal weights"]
    assert len(sampler) == len(control) == 3
    assert sampler.min() > control.max()
    assert low <= sampler.mean() - control.mean() <= high


def test_metric_weights_beat_equal_weights_and_ranking_of_methods(comparison):
    _every_run_above_the_control(comparison, 0.015, 0.025)             # "about 2 points"
    final = {k: v["errors"][:, -1].mean() for k, v in comparison.items()}
    assert final["cross-entropy"] < final["importance sampling"]      # "does not beat" plain CE
    assert final["REINFORCE"] == min(final.values())                  # "ends highest"
    assert comparison["equal weights"]["ess"] == pytest.approx(4.0)
    assert 2.0 < comparison["importance sampling"]["ess"] < 4.0


def test_reinforce_dips_first_then_overtakes_every_method_after_17_updates(comparison):
    mean = {k: 1 - v["errors"].mean(0) for k, v in comparison.items()}
    reinforce = mean.pop("REINFORCE")
    best_other = np.max(list(mean.values()), axis=0)
    assert reinforce[1:6].min() < reinforce[0]                         # "first loses accuracy"
    above = reinforce > best_other
    assert above[17:].all() and not above[16]                          # "after about 17 updates"


def test_base_measures(digits_torch):
    _, flat, _, _, _ = digits_torch
    bases = ex.compare_bases(flat, 30, seeds=SEEDS)
    assert bases["flat"]["ess"] < 1.3                                  # "about one of four"
    assert bases["proposal"]["ess"] == max(b["ess"] for b in bases.values())


def test_flat_base_log_weights_scatter_by_sqrt_d_over_2_the_metric_by_about_one(digits_torch):
    _, flat, _, _, _ = digits_torch
    guide = -0.1 * flat.surrogate_grad(flat.theta)
    d = guide.size
    assert d == 2410 and math.isclose(math.sqrt(d / 2), 35, abs_tol=0.5)     # "35 nats"
    assert np.linalg.norm(guide) / 0.003 > 10          # the centres are many sigma apart
    for seed in SEEDS:
        draws = S.sample_mixture(guide, 0.003, 0.5, 1000, np.random.default_rng(seed),
                                 base="flat")
        spread = draws.log_base_over_q.std()
        assert 0.93 * math.sqrt(d / 2) < spread < 1.07 * math.sqrt(d / 2)   # "about sqrt(d/2)"
        metric = np.array([flat.error(flat.theta + x) for x in draws.deltas[:200]]) / 0.002
        assert 1.0 < metric.std() < 2.0                                  # "a little over one nat"
        assert spread > 20 * metric.std()                                # "more than 20 times less"
    flat.load(flat.theta)


def test_variance_of_the_two_estimators(digits_torch):
    net, flat, _, x, y = digits_torch
    for seed in SEEDS:
        spreads = {n: ex.estimator_spread(net, flat, x, y, repeats=30, n=n, seed=seed)
                   for n in (2, 4, 16)}
        for n, sp in spreads.items():
            assert sp["importance_sampling"] > 50 * sp["reinforce"]   # "more than 50 times"
            assert sp["reinforce_bias_cosine"] > 0.99                  # unbiased
        assert 4.5 < spreads[4]["importance_sampling"] < 8.0          # "about six times over"
        for key in ("importance_sampling", "reinforce"):               # "both fall as n grows"
            assert spreads[2][key] > spreads[4][key] > spreads[16][key]


def _pretrained_mxnet():
    """The chapter's MXNet network after 2 epochs of SGD, and the digits as NDArrays."""
    pytest.importorskip("mxnet")
    import course_lib.mxnet as cmx

    xm, ym, xt, yt = data.to_mxnet(*data.digits(seed=0))
    net = models.mxnet_mlp([64, 32, 10], seed=0)
    trainer = cmx.mx.gluon.Trainer(net.collect_params(), cmx.SGD(learning_rate=0.1))
    models.train_mxnet(net, trainer, xm, ym, epochs=2, batch_size=64, seed=0)
    return net, xm, ym, xt, yt


def test_mxnet_twin_raises_the_accuracy_too():
    net, xm, ym, _, _ = _pretrained_mxnet()
    flat = S.mxnet_flat_problem(net, xm, ym)
    run = ex.train_importance_sampling(flat, STEPS, n=4, sigma=0.003, mix=0.5, alpha=0.002)
    assert run.errors[-1] < run.errors[0] - 0.05 and 2.0 < run.ess < 4.0


def test_sampler_step_along_the_guide(comparison):
    # "with equal weights its step covers about half of a guide step along the guide, and
    # the metric's weights ... raise that only to about 0.6"
    weighted = comparison["importance sampling"]["along_guide"]
    equal = comparison["equal weights"]["along_guide"]
    assert 0.4 < equal < 0.6
    assert 0.5 < weighted < 0.7
    assert weighted > equal + 0.05


@pytest.fixture(scope="module")
def comparison_mxnet():
    net, xm, ym, xt, yt = _pretrained_mxnet()
    flat, test = S.mxnet_flat_problem(net, xm, ym), S.mxnet_flat_problem(net, xt, yt)
    results = ex.compare_on_digits_mxnet(net, flat, xm, ym, STEPS, seeds=(0, 1, 2), test=test)
    return flat, test, results


def test_mxnet_comparison_tells_the_same_story(comparison_mxnet):
    flat, test, results = comparison_mxnet
    assert set(results) == {"importance sampling", "equal weights", "cross-entropy"}
    start = flat.error(flat.theta)
    final = {k: v["errors"][:, -1] for k, v in results.items()}
    assert (final["importance sampling"] < start - 0.05).all()         # "in every run, > 5 points"
    assert results["importance sampling"]["test"].mean() < test.error(flat.theta)
    _every_run_above_the_control(results, 0.005, 0.015)                # "about 1 point"
    assert final["cross-entropy"].mean() < final["importance sampling"].mean()  # CE still wins
    assert 0.5 < results["importance sampling"]["along_guide"] < 0.7
    assert 0.4 < results["equal weights"]["along_guide"] < 0.6
    assert results["equal weights"]["ess"] == pytest.approx(4.0)
    # the network is left as it was found
    assert flat.error(flat.theta) == start


def test_cross_entropy_twins_take_the_same_step():
    """train_cross_entropy_torch and train_cross_entropy_mxnet are the same full-batch gradient
    descent: from the same parameters they reach the same parameters."""
    pytest.importorskip("mxnet")
    split = data.digits(seed=0)
    x, y, _, _ = data.to_torch(*split)
    xm, ym, _, _ = data.to_mxnet(*split)
    net = models.torch_mlp([64, 32, 10], seed=0).to(x.device)
    net_mx = models.mxnet_mlp([64, 32, 10], seed=0)
    flat, flat_mx = S.torch_flat_problem(net, x, y), S.mxnet_flat_problem(net_mx, xm, ym)
    assert flat.theta.shape == flat_mx.theta.shape
    flat_mx.load(flat.theta)   # same layout: weight (out, in) then bias, layer by layer
    e_torch, theta_torch = ex.train_cross_entropy_torch(net, x, y, 5, lr=0.1)
    e_mx, theta_mx = ex.train_cross_entropy_mxnet(net_mx, xm, ym, 5, lr=0.1)
    np.testing.assert_allclose(theta_mx, theta_torch, atol=1e-5)
    np.testing.assert_allclose(e_mx, e_torch, atol=1.5 / len(y))
