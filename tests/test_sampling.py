"""course_lib.sampling: the sampled expected update against its closed forms (Newton's step,
the Bessel-function mean on a ball, exact quadrature), the importance weights against
scipy's densities, REINFORCE against the exact gradient, the flat views of a model against
PyTorch and MXNet."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from course_lib import sampling as S
from course_lib import surfaces

torch.set_num_threads(1)


def test_self_normalized_weights_and_effective_sample_size():
    w = S.self_normalized_weights([1000.0, 1000.0, 1000.0 - math.log(2)])
    assert np.allclose(w, [0.4, 0.4, 0.2])                     # stable for huge log-weights
    assert math.isclose(S.effective_sample_size(np.ones(7)), 7.0)
    assert math.isclose(S.effective_sample_size([1.0, 0, 0, 0]), 1.0)
    assert math.isclose(S.cosine([1, 0], [1, 1]), 1 / math.sqrt(2))


def test_sample_ball_is_uniform_in_the_ball():
    pts = S.sample_ball(200_000, 3, 2.0, rng=0)
    r = np.linalg.norm(pts, axis=1)
    assert r.max() <= 2.0
    # uniform in 3-D: P(|x| <= 1) = (1/2)^3
    assert abs((r <= 1.0).mean() - 0.125) < 0.005
    assert np.abs(pts.mean(0)).max() < 0.01


def test_second_order_update_is_newtons_step_and_rejects_indefinite_hessians():
    h = np.array([[3.0, 1.0], [1.0, 0.5]])
    g = np.array([0.4, -0.2])
    assert np.allclose(S.second_order_update(g, h), -np.linalg.solve(h, g))
    with pytest.raises(ValueError, match="hessian"):
        S.second_order_update(g, np.diag([1.0, -1.0]))


@pytest.mark.parametrize("alpha", [0.5, 0.05])
def test_expected_update_on_a_quadratic_is_newtons_step_at_every_temperature(alpha):
    """For a quadratic loss p is exactly N(-H^-1 g, alpha H^-1): its mean is Newton's step."""
    bowl = surfaces.quadratic(condition=10.0)
    theta = np.array([1.0, 0.5])
    newton = S.second_order_update(bowl.grad(theta), bowl.hessian(theta))
    est = S.expected_update(bowl.value, theta, alpha, 200_000, scale=1.5, rng=np.random.default_rng(0))
    assert S.cosine(est.mean, newton) > 0.99
    assert np.linalg.norm(est.mean - newton) < 0.05 * np.linalg.norm(newton) + 0.02


def _ball_mean_by_quadrature(g, alpha, r, n=801):
    """E[Delta] for the linear loss g.Delta on the 2-D disc of radius r, on a fine grid."""
    d = np.linspace(-r, r, n)
    X, Y = np.meshgrid(d, d)
    inside = X ** 2 + Y ** 2 <= r * r
    w = np.where(inside, np.exp(-(g[0] * X + g[1] * Y) / alpha), 0.0)
    return np.array([(w * X).sum(), (w * Y).sum()]) / w.sum()


@pytest.mark.parametrize("alpha", [10.0, 0.1, 0.01])
def test_first_order_update_matches_quadrature_and_its_limits(alpha):
    g, r = np.array([0.3, -0.4]), 0.5
    exact = S.first_order_update(g, alpha, r)
    assert np.allclose(exact, _ball_mean_by_quadrature(g, alpha, r), rtol=1e-2, atol=1e-5)
    assert S.cosine(exact, -g) > 1 - 1e-12
    # limits: gradient descent with lr r^2 / ((d + 2) alpha), and a step of length r
    big = S.first_order_update(g, 1e4, r)
    assert np.allclose(big, -r * r * g / (4 * 1e4), rtol=1e-3)
    assert math.isclose(np.linalg.norm(S.first_order_update(g, 1e-5, r)), r, rel_tol=1e-3)


def test_sampled_ball_mean_matches_the_exact_linear_mean():
    g = np.array([0.3, -0.4])
    est = S.expected_update(lambda p: p @ g, np.zeros(2), 0.1, 100_000, radius=0.5, rng=np.random.default_rng(1))
    exact = S.first_order_update(g, 0.1, 0.5)
    assert S.cosine(est.mean, exact) > 0.999
    assert abs(np.linalg.norm(est.mean) / np.linalg.norm(exact) - 1) < 0.03


def test_mixture_log_ratios_match_scipy_densities():
    rng = np.random.default_rng(0)
    guide, sigma, mix = np.array([0.5, -0.3, 0.2]), 0.4, 0.3
    prop = S.sample_mixture(guide, sigma, mix, 50, rng, base="gaussian")
    cov = sigma ** 2 * np.eye(3)
    q = mix * multivariate_normal(np.zeros(3), cov).pdf(prop.deltas) + \
        (1 - mix) * multivariate_normal(guide, cov).pdf(prop.deltas)
    base = multivariate_normal(np.zeros(3), cov).pdf(prop.deltas)
    assert np.allclose(prop.log_base_over_q, np.log(base / q))
    flat = S.sample_mixture(guide, sigma, mix, 50, np.random.default_rng(0), base="flat")
    # flat base: log(1/q) up to one constant for all samples
    diff = flat.log_base_over_q - np.log(1 / q)
    assert np.allclose(diff, diff[0])


def test_importance_step_weights_follow_the_metric():
    theta = np.zeros(2)
    # metric: 1 where the first coordinate is negative, 0 elsewhere
    metric = lambda t: float(t[0] < 0)
    step = S.importance_sampling_step(metric, theta, guide=np.zeros(2), n=64, sigma=1.0, mix=1.0,
                                      alpha=0.1, rng=0)
    good = step.deltas[:, 0] >= 0
    assert np.allclose(step.weights.sum(), 1.0)
    assert step.weights[good].sum() > 0.99 and step.delta[0] > 0.5
    # a constant metric gives equal weights with the proposal as base
    flat = S.importance_sampling_step(lambda t: 0.3, theta, np.ones(2), n=4, rng=0)
    assert np.allclose(flat.weights, 0.25)


def test_importance_step_validation_names_the_parameter():
    for kwargs, name in ((dict(n=0), "n"), (dict(sigma=0.0), "sigma"), (dict(mix=1.5), "mix"),
                         (dict(alpha=-1.0), "alpha"), (dict(base="uniform"), "base")):
        with pytest.raises(ValueError, match=name):
            S.importance_sampling_step(lambda t: 0.0, np.zeros(2), np.zeros(2), **kwargs)
    with pytest.raises(ValueError, match="guide"):
        S.importance_sampling_step(lambda t: 0.0, np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="radius"):
        S.expected_update(lambda p: p.sum(1), np.zeros(2), 1.0, 10)


def test_reinforce_is_unbiased_for_the_expected_accuracy():
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 3).double()
    x = torch.randn(40, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (40,))
    exact_loss = -torch.softmax(model(x), 1).gather(1, y[:, None]).mean()
    exact = torch.autograd.grad(exact_loss, model.weight)[0]
    gen = torch.Generator().manual_seed(0)
    total = torch.zeros_like(exact)
    repeats = 400
    for _ in range(repeats):
        loss, reward = S.reinforce_loss(model(x), y, n=4, generator=gen)
        total += torch.autograd.grad(loss, model.weight)[0]
        assert 0.0 <= reward <= 1.0
    mean = total / repeats
    assert S.cosine(mean.numpy(), exact.numpy()) > 0.99
    assert abs(mean.norm() / exact.norm() - 1) < 0.1


def test_relative_variance():
    est = np.array([[1.0, 0.0], [3.0, 0.0]])
    assert math.isclose(S.relative_variance(est), 1 / 4)          # mean (2, 0), spread 1
    assert math.isclose(S.relative_variance(est, reference=[1.0, 0.0]), 2.0)
    with pytest.raises(ValueError, match="estimates"):
        S.relative_variance(np.ones(3))


@pytest.fixture(scope="module")
def digits_small():
    from course_lib import data

    return data.digits(seed=0, n_train=200)


def test_torch_flat_problem_matches_the_model(digits_small):
    from course_lib import data, models

    x, y, _, _ = data.to_torch(*digits_small)
    model = models.torch_mlp([64, 16, 10], seed=0).to(x.device)
    flat = S.torch_flat_problem(model, x, y)
    assert flat.theta.size == 64 * 16 + 16 + 16 * 10 + 10
    assert math.isclose(flat.error(flat.theta), 1 - models.torch_accuracy(model, x, y), abs_tol=1e-6)
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    expected = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).double().cpu().numpy()
    assert np.allclose(flat.surrogate_grad(flat.theta), expected)
    shifted = flat.theta + 0.01
    flat.load(shifted)
    assert np.allclose(torch.nn.utils.parameters_to_vector(model.parameters()).detach().cpu().numpy(), shifted,
                       atol=1e-6)


def test_mxnet_flat_problem_matches_the_model(digits_small):
    mx = pytest.importorskip("mxnet")
    from course_lib import data, models

    xm, ym, _, _ = data.to_mxnet(*digits_small)
    net = models.mxnet_mlp([64, 16, 10], seed=0)
    flat = S.mxnet_flat_problem(net, xm, ym)
    assert flat.theta.size == 64 * 16 + 16 + 16 * 10 + 10
    acc = float((net(xm).argmax(axis=1) == ym.astype("float32")).mean().asscalar())
    assert math.isclose(flat.error(flat.theta), 1 - acc, abs_tol=1e-6)
    # the gradient against finite differences of the mean cross-entropy along a random direction
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    direction = np.random.default_rng(0).standard_normal(flat.theta.size)

    def ce(theta):
        flat.load(theta)
        return float(loss_fn(net(xm), ym).mean().asscalar())

    h = 1e-2
    fd = (ce(flat.theta + h * direction) - ce(flat.theta - h * direction)) / (2 * h)
    assert math.isclose(flat.surrogate_grad(flat.theta) @ direction, fd, rel_tol=2e-2, abs_tol=1e-3)


def test_expected_vs_alpha_needs_a_known_minimiser():
    from course_lib.experiments import sampling as ex

    with pytest.raises(ValueError, match="no known minimiser"):
        ex.expected_vs_alpha(surfaces.saddle, [0.5, 0.5], [0.1], n_samples=10)


@pytest.mark.parametrize("kwargs, word", [(dict(sigma=0.0), "sigma"), (dict(mix=1.5), "mix"),
                                          (dict(base="uniform"), "base"), (dict(n=0), "n")])
def test_sample_mixture_names_bad_input(kwargs, word):
    args = dict(guide=np.ones(3), sigma=0.1, mix=0.5, n=4, rng=0, base="flat")
    with pytest.raises(ValueError, match=word):
        S.sample_mixture(**{**args, **kwargs})
