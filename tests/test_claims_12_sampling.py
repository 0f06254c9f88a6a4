"""Every number chapter 12 (lectures/12_sampling.md) states, recomputed with course_lib and
checked against closed forms (Newton's step, the exact mean on a ball) and PyTorch/MXNet."""
import math

import numpy as np
import pytest
import torch

from course_lib import data, models
from course_lib import sampling as S
from course_lib.experiments import sampling as ex

torch.set_num_threads(1)
STEPS = 60        # the chapter's fast-mode number of updates


@pytest.fixture(scope="module")
def toy():
    return ex.logistic_toy()


# ------------------------------------------------------------------- the two limits
def test_gradient_and_newton_directions_differ_by_a_wide_angle(toy):
    g = toy.surface.grad(toy.theta)
    newton = S.second_order_update(g, toy.surface.hessian(toy.theta))
    assert np.allclose(newton, -np.linalg.solve(toy.surface.hessian(toy.theta), g))
    angle = math.degrees(math.acos(S.cosine(-g, newton)))
    assert 50 < angle < 70                                               # "59 degrees"


def test_sampled_mean_converges_to_newtons_step_as_alpha_shrinks(toy):
    r = ex.expected_vs_alpha(toy, [1.0, 0.3, 0.1, 0.03, 0.01], n_samples=100_000)
    assert (r["cos_newton"][2:] >= 0.99).all()                           # alpha <= 0.1
    assert r["cos_newton"][0] < 0.5                                       # alpha = 1: elsewhere
    assert np.all(np.diff(r["cos_newton"]) > 0)                          # monotone in alpha
    assert (r["cos_gradient"][1:] < 0.6).all()                           # the angle to -g stays wide


def test_sampled_ball_mean_follows_the_gradient_and_the_exact_length(toy):
    f = ex.first_order_vs_alpha(toy, [10.0, 1.0, 0.1, 0.01, 0.001], n_samples=100_000)
    assert (f["cos_gradient"] >= 0.999).all()
    assert np.allclose(f["sampled"], f["exact"], rtol=0.05)
    # large alpha: gradient descent with lr r^2 / ((d + 2) alpha); small: length -> r
    assert math.isclose(f["exact"][0], f["radius"] ** 2 * f["grad_norm"] / (4 * 10.0), rel_tol=1e-3)
    assert f["exact"][-1] > 0.75 * f["radius"]


def test_alpha_in_units_of_one_image():
    assert math.isclose(math.exp(1 / 1348 / 0.002), math.exp(0.37), rel_tol=0.01)
    assert len(data.digits(seed=0).y_train) == 1348


def test_importance_sampling_on_the_toy_reaches_the_best_error(toy):
    _, err = ex.error_map(toy)
    finals = [ex.is_path(toy, 0.03, 0.1, 4, seed=s)[1][-1] for s in range(4)]
    start = ex.is_path(toy, 0.03, 0.1, 4, steps=0)[1][0]
    assert np.mean(finals) < start - 0.1
    assert np.mean(finals) < err.min() + 0.03


def test_toy_sliders_more_samples_help_and_a_hot_alpha_ignores_the_metric(toy):
    def mean_final(alpha, sigma, n):
        return np.mean([ex.is_path(toy, alpha, sigma, n, seed=s)[1][-1] for s in range(5)])

    for sigma in (0.1, 1.0):
        assert mean_final(0.03, sigma, 16) < mean_final(0.03, sigma, 1) - 0.05
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
    assert (is_final < start - 0.03).all()                      # every seed, by 3 points or more
    assert 1 - is_final.mean() > 1 - start + 0.05               # "0.842 -> about 0.93"
    assert comparison["importance sampling"]["test"].mean() < test.error(flat.theta)


def test_metric_weights_beat_equal_weights_and_ranking_of_methods(comparison):
    final = {k: v["errors"][:, -1].mean() for k, v in comparison.items()}
    assert final["importance sampling"] < final["equal weights"] - 0.005
    assert final["cross-entropy"] < final["importance sampling"]      # "does not beat" plain CE
    assert final["REINFORCE"] == min(final.values())                  # "climbs fastest"
    assert comparison["equal weights"]["ess"] == pytest.approx(4.0)
    assert 2.0 < comparison["importance sampling"]["ess"] < 4.0


def test_base_measures(digits_torch):
    _, flat, _, _, _ = digits_torch
    bases = ex.compare_bases(flat, 30, seeds=(0, 1))
    assert bases["flat"]["ess"] < 1.3                                  # "about one of four"
    assert bases["proposal"]["ess"] == max(b["ess"] for b in bases.values())
    assert bases["proposal"]["error"] == min(b["error"] for b in bases.values())


def test_variance_of_the_two_estimators(digits_torch):
    net, flat, _, x, y = digits_torch
    spreads = {n: ex.estimator_spread(net, flat, x, y, repeats=30, n=n) for n in (2, 4, 16)}
    for n, sp in spreads.items():
        assert sp["importance_sampling"] > 20 * sp["reinforce"]       # "at every n"
        assert sp["reinforce_bias_cosine"] > 0.99                      # unbiased
    assert spreads[4]["importance_sampling"] > 2.0                     # "several times over"
    for key in ("importance_sampling", "reinforce"):                   # "both fall as n grows"
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
    assert run.errors[-1] < run.errors[0] - 0.03 and 2.0 < run.ess < 4.0


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
    assert (final["importance sampling"] < start - 0.03).all()         # "in every run"
    assert results["importance sampling"]["test"].mean() < test.error(flat.theta)
    # the metric's weights beat equal weights, in every seed and on average
    assert (final["importance sampling"] < final["equal weights"]).all()
    assert final["importance sampling"].mean() < final["equal weights"].mean() - 0.004
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
