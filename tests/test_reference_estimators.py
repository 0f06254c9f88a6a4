"""The reference code that chapters show (course_lib.reference) against the fast code that
computes the chapters' numbers, on random inputs, and each against a case that a plausible
slip (a dropped term, a wrong constant) would fail.

Update rules (course_lib.reference.update_rules) are tested elsewhere; this file covers the
estimators, losses, schedules and derivation helpers of chapters 3-5 and 8-12.
"""
import itertools

import numpy as np
import pytest
import torch

from course_lib import constrained, hessian, losses, sampling, schedules, surfaces
from course_lib.experiments import batch_norm as bn
from course_lib.experiments import batch_size as bs
from course_lib.experiments import critical_points as cp
from course_lib.experiments import sgd
from course_lib.reference import batch_norm as ref_bn
from course_lib.reference import constrained as ref_con
from course_lib.reference import curvature as ref_curv
from course_lib.reference import landscape as ref_land
from course_lib.reference import losses as ref_loss
from course_lib.reference import minibatch as ref_mb
from course_lib.reference import model_selection as ref_ms
from course_lib.reference import sampling as ref_smp
from course_lib.reference import scaling as ref_scale
from course_lib.reference import schedules as ref_sch

SEEDS = (0, 1, 2)


# ------------------------------------------------------------ minibatch (chapters 3, 5)
def _regression(seed, n=30):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = x @ np.array([2.0, -3.4]) + 4.2 + rng.normal(scale=0.5, size=n)
    return x, y, rng.normal(size=2), float(rng.normal())


@pytest.mark.parametrize("seed", SEEDS)
def test_minibatch_gradient_is_the_chapter_gradient_of_the_batch(seed):
    x, y, w, b = _regression(seed)
    rows = sgd.per_example_gradients(x, y, w, b)
    batch = np.random.default_rng(seed).choice(len(y), 7, replace=False)
    np.testing.assert_allclose(ref_mb.minibatch_gradient(rows, batch),
                               sgd.full_gradient(x[batch], y[batch], w, b), rtol=1e-12)
    everything = np.arange(len(y))
    np.testing.assert_allclose(ref_mb.minibatch_gradient(rows, everything),
                               sgd.full_gradient(x, y, w, b), rtol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_minibatch_variance_matches_the_chapters_formula(seed):
    x, y, w, b = _regression(seed)
    rows = sgd.per_example_gradients(x, y, w, b)
    sizes = [1, 2, 5, 10, 29, 30]
    exact = sgd.minibatch_gradient_variance(x, y, w, b, sizes, n_draws=2)["exact"]
    ours = [ref_mb.minibatch_variance(rows, B) for B in sizes]
    np.testing.assert_allclose(ours, exact, rtol=1e-12, atol=1e-15)
    sigma2 = float(((rows - rows.mean(0)) ** 2).sum(1).mean())
    np.testing.assert_allclose(ours, bs.noise_theory(sizes, len(y), sigma2), rtol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_minibatch_variance_is_the_mean_over_every_batch(seed):
    """Enumerate all C(n, B) batches of n = 8 rows: the mean of g_B is g and the mean of
    |g_B - g|^2 is the formula. Dropping (n - B)/(n - 1), or dividing sigma^2 by n - 1
    instead of n, misses by far more than the rounding tolerance."""
    rows = np.random.default_rng(seed).normal(size=(8, 3)) * [1.0, 5.0, 0.2]
    n, g = len(rows), rows.mean(0)
    sigma2 = ((rows - g) ** 2).sum(1).mean()
    for B in range(1, n + 1):
        grads = np.array([ref_mb.minibatch_gradient(rows, list(c))
                          for c in itertools.combinations(range(n), B)])
        np.testing.assert_allclose(grads.mean(0), g, atol=1e-12)
        exact = ((grads - g) ** 2).sum(1).mean()
        assert ref_mb.minibatch_variance(rows, B) == pytest.approx(exact, abs=1e-12)
        if B < n:
            sample_var = sigma2 * n / (n - 1)
            assert abs(sample_var / B * (n - B) / (n - 1) - exact) > 0.1 * exact
        assert B == 1 or abs(sigma2 / B - exact) > 0.1 * sigma2 / B


def _per_example_torch(model, x, y):
    """Per-example gradients of 0.5 |f(x_i) - e_{y_i}|^2, one backward pass per example."""
    rows = []
    for xi, yi in zip(x, y):
        model.zero_grad()
        out = model(xi[None])[0]
        (0.5 * ((out - torch.nn.functional.one_hot(yi, 10)) ** 2).sum()).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    return torch.stack(rows).double().numpy()


def test_noise_scale_matches_chapter_5_measurement():
    """sigma^2 / |g|^2 from per-example gradients taken one backward pass at a time
    equals the chapter's crossing point computed from vmap's per-example gradients."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(24, 64, generator=gen)
    y = torch.randint(0, 10, (24,), generator=gen)
    for seed in SEEDS:
        model = bs.torch_net(hidden=8, seed=seed)
        noise = bs.gradient_noise(model, x, y, [1], samples=2, seed=seed)
        rows = _per_example_torch(model, x, y)
        expected = noise["example_variance"] / noise["full_norm"] ** 2
        assert ref_mb.noise_scale(rows) == pytest.approx(expected, rel=1e-5)
        # at B = 1 the error of a batch gradient is exactly sigma^2: B_noise says where
        # it would equal |g|^2 without the finite-population factor
        g2 = np.sum(rows.mean(0) ** 2)
        assert ref_mb.minibatch_variance(rows, 1) / g2 == pytest.approx(
            ref_mb.noise_scale(rows), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_eps_sharpness_matches_course_lib_landscape(seed):
    """A least-squares minimum of a linear model (float64): the reference, from the point
    of the box that course_lib's generator draws first, finds what landscape.sharpness finds:
    for this convex loss the value at a corner of the box (a lower bound: in one seed not the
    highest corner); a box without the + 1, |delta_i| <= eps |theta_i|, gives less."""
    from course_lib import landscape

    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    a = np.hstack([x, np.ones((40, 1))])
    theta = np.linalg.lstsq(a, y[:, 0], rcond=None)[0]
    theta[0] = 0.01 * theta[0]                       # a small weight: the + 1 matters

    def L(t):
        return np.mean((a @ t - y[:, 0]) ** 2)

    def grad(t):
        return 2 * a.T @ (a @ t - y[:, 0]) / 40

    model = torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor(theta[None, :3]))
        model.bias.copy_(torch.tensor(theta[3:]))
    data = (torch.tensor(x), torch.tensor(y))
    fast = landscape.sharpness(model, torch.nn.functional.mse_loss, data, epsilon=1e-2,
                               maxiter=200, seed=seed)
    r = 1e-2 * (np.abs(theta) + 1)
    delta0 = np.random.default_rng(seed).uniform(-r, r)
    ours = ref_land.eps_sharpness(L, grad, theta, 1e-2, delta0)
    assert ours == pytest.approx(fast, rel=1e-6)
    corners = [L(theta + np.array(signs) * r)
               for signs in itertools.product((-1, 1), repeat=4)]
    corners = 100 * (np.array(corners) - L(theta)) / (1 + L(theta))
    assert np.min(np.abs(corners - ours)) < 1e-6 * ours     # it stops on a corner,
    assert ours <= corners.max() * (1 + 1e-9)                # not always the highest
    no_one = [L(theta + np.array(signs) * 1e-2 * np.abs(theta))
              for signs in itertools.product((-1, 1), repeat=4)]
    assert 100 * (max(no_one) - L(theta)) / (1 + L(theta)) < 0.9 * ours


# ----------------------------------------------------------------- curvature (chapter 4)
@pytest.mark.parametrize("seed", SEEDS)
def test_classify_and_minimum_ratio_match_course_lib_hessian(seed):
    rng = np.random.default_rng(seed)
    cases = [rng.normal(size=5), np.abs(rng.normal(size=5)), -np.abs(rng.normal(size=5)),
             np.r_[0.0, np.abs(rng.normal(size=4))], np.r_[0.0, -np.abs(rng.normal(size=4))],
             np.zeros(5), np.r_[1e-9, -1e-9, 2.0, 3.0, 1.0]]
    kinds = set()
    for lam in cases:
        kind = ref_curv.classify(lam, tol=1e-6)
        assert kind == hessian.classify(lam, tol=1e-6)
        kinds.add(kind)
        assert ref_curv.minimum_ratio(lam) == pytest.approx(hessian.minimum_ratio(lam))
    assert kinds == {"minimum", "maximum", "saddle", "degenerate"}


def test_escape_steps_match_gradient_descent_on_the_saddle():
    """On x^2 - y^2 (lambda = -2 along y), eta = 0.1: gradient descent started eps from the
    saddle along y leaves the radius-0.5 ball at the first whole step past the formula.
    The tempting log(r/eps) / (eta |lambda|) misses from eps = 1e-2 on, by 9 steps at 1e-8."""
    eps = np.array([1e-1, 1e-2, 1e-4, 1e-8])
    values, vectors = cp.unit_eigenvectors(surfaces.saddle, [0.0, 0.0])
    assert values[0] == pytest.approx(-2.0)
    measured = cp.escape_steps(surfaces.saddle, [0.0, 0.0], vectors[:, 0], eps, lr=0.1)
    ours = ref_curv.escape_steps(-2.0, 0.1, eps, 0.5)
    np.testing.assert_allclose(ours, cp.predicted_escape_steps(-2.0, 0.1, eps), rtol=1e-12)
    np.testing.assert_array_equal(measured, np.ceil(ours))
    naive = np.log(0.5 / eps) / (0.1 * 2.0)
    assert np.all(np.ceil(naive)[1:] != measured[1:])
    assert measured[-1] - np.ceil(naive[-1]) >= 8


@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_norm_gradient_is_the_hessian_times_the_gradient(seed):
    """On Himmelblau's function, at random points: H g from the surface's exact Hessian,
    and central differences of (1/2)|grad L|^2 itself; the slips 2 H g and H alone miss."""
    surface = surfaces.himmelblau
    theta = np.random.default_rng(seed).uniform(-4, 4, size=2)
    ours = ref_curv.gradient_norm_gradient(surface.grad, theta, eps=1e-6)
    g, H = surface.grad(theta), surface.hessian(theta)
    np.testing.assert_allclose(ours, H @ g, rtol=1e-6)
    h = 1e-6

    def half_norm2(point):
        return 0.5 * np.sum(surface.grad(point) ** 2)

    numeric = np.array([(half_norm2(theta + h * e) - half_norm2(theta - h * e)) / (2 * h)
                        for e in np.eye(2)])
    np.testing.assert_allclose(ours, numeric, rtol=1e-5)
    assert np.linalg.norm(2 * ours - numeric) > 0.5 * np.linalg.norm(numeric)


# ---------------------------------------------------------------- schedules (chapter 8)
def test_rms_adagrad_follows_the_chapters_run_up_to_the_burst():
    """The reference path and course_lib's (Adagrad with lr eta sqrt(t + 1)) on the w/b
    valley agree to 1e-9 for 700 steps; both arrive at the same step and burst before step
    900. (Past the stability limit the burst grows from rounding-level differences, so its
    exact step differs between two correct codes.) Adagrad on the sum at lr eta, the form
    it is easily confused with, is elsewhere after 50 steps."""
    from course_lib.experiments import schedules as sch

    valley = sch.burst_surface()
    start = sch.burst_start(valley)
    fast = sch.rms_adagrad(valley, start, 900, eta=0.1).trajectory[:, 0]
    ours = ref_sch.rms_adagrad(valley.grad, start, 0.1, 900)
    np.testing.assert_allclose(ours[:700], fast[:700], rtol=0, atol=1e-9)
    arrived, burst = [], []
    for path in (ours, fast):
        excess = valley.value(path) - valley.value(valley.minima[0])
        t0 = np.flatnonzero(excess < 1e-6)[0]
        arrived.append(t0)
        burst.append(np.any(excess[t0:] > 1e-2))
    assert arrived[0] == arrived[1] and all(burst)
    summed, s = [start], 0.0
    for _ in range(50):
        g = valley.grad(summed[-1])
        s = s + g ** 2
        summed.append(summed[-1] - 0.1 / np.sqrt(s) * g)
    assert np.linalg.norm(summed[-1] - ours[50]) > 0.1


def test_schedules_match_course_lib_schedules():
    t = np.arange(0, 1201)
    pairs = [
        (ref_sch.step_decay(t, 0.1, 0.5, 250), schedules.step_decay(0.1, 250, 0.5)),
        (ref_sch.exponential(t, 0.1, 0.995), schedules.exponential(0.1, 0.995)),
        (ref_sch.cosine(t, 0.1, 1000), schedules.cosine(0.1, 1000)),
        (ref_sch.inverse_power(t, 0.1, 20, 0.5), schedules.inverse_power(0.1, 20, 0.5)),
        (ref_sch.inverse_power(t, 0.1, 20, 1), schedules.inverse_power(0.1, 20, 1)),
        (ref_sch.linear_warmup(t, ref_sch.cosine(t, 0.1, 1000), 100),
         schedules.linear_warmup(schedules.cosine(0.1, 1000), 100)),
        (ref_sch.inverse_sqrt(t, 2.0, 512, 100), schedules.inverse_sqrt(512, 100, 2.0)),
    ]
    for ours, fast in pairs:
        np.testing.assert_allclose(ours, [fast(int(s)) for s in t], rtol=1e-12, atol=0)


def test_schedule_edges_that_an_off_by_one_would_move():
    """Warm-up never gives 0 at t = 0 and reaches the peak at t = w - 1; the inverse square
    root peaks at s = w (t = w - 1) and is sqrt(w / s) of its peak later (45% at t = 499);
    the step schedule changes at t = s, not t = s + 1; the cosine reaches 0 at T."""
    t = np.arange(1000)
    warm = ref_sch.linear_warmup(t, 1.0, 100)
    assert warm[0] == pytest.approx(0.01) and warm[99] == 1.0 and warm[98] < 1.0
    inv = ref_sch.inverse_sqrt(t, 1.0, 512, 100)
    assert int(np.argmax(inv)) == 99
    assert inv[499] / inv[99] == pytest.approx(np.sqrt(100 / 500))
    assert round(inv[499] / inv[99], 2) == 0.45
    steps = ref_sch.step_decay(np.array([249, 250]), 1.0, 0.5, 250)
    np.testing.assert_array_equal(steps, [1.0, 0.5])
    assert ref_sch.cosine(np.array([1000, 1500]), 1.0, 1000) == pytest.approx([0.0, 0.0])


# ------------------------------------------------------------------- losses (chapter 9)
@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_cross_entropy_and_gradient_match_course_lib_losses(seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=4.0, size=(16, 7))
    y = rng.integers(0, 7, size=16)
    w = rng.uniform(0.2, 3.0, size=7)
    np.testing.assert_allclose([ref_loss.softmax(zi) for zi in z], losses.softmax(z),
                               rtol=1e-12)
    ours = [ref_loss.cross_entropy(zi, yi, w[yi]) for zi, yi in zip(z, y)]
    fast = losses.cross_entropy(z, y, class_weights=w, reduction="none")
    np.testing.assert_allclose(ours, fast, rtol=1e-12)
    ours = [ref_loss.cross_entropy_grad(zi, yi, w[yi]) for zi, yi in zip(z, y)]
    fast = losses.cross_entropy_grad(z, y, class_weights=w, reduction="none")
    np.testing.assert_allclose(ours, fast, rtol=1e-12, atol=1e-15)


def test_cross_entropy_is_finite_where_log_softmax_underflows():
    z = np.array([0.0, 200.0])
    assert ref_loss.cross_entropy(z, 0) == pytest.approx(200.0)
    assert np.isfinite(ref_loss.softmax(z + 1000.0)).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_cross_entropy_gradient_by_finite_differences(seed):
    """Central differences of the loss; a gradient without w_y (here w_y = 2.5) fails."""
    rng = np.random.default_rng(seed)
    z, y, w_y, h = rng.normal(size=5), int(rng.integers(5)), 2.5, 1e-6
    numeric = np.array([(ref_loss.cross_entropy(z + h * e, y, w_y)
                         - ref_loss.cross_entropy(z - h * e, y, w_y)) / (2 * h)
                        for e in np.eye(5)])
    np.testing.assert_allclose(ref_loss.cross_entropy_grad(z, y, w_y), numeric, atol=1e-7)
    assert np.abs(ref_loss.cross_entropy_grad(z, y) - numeric).max() > 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_gradients_match_the_two_class_losses(seed):
    """For logits (0, z) the two-class softmax is sigma(z): the derivative in z of
    course_lib's cross-entropy and squared error (of the probabilities) is the reference's,
    and finite differences of 2 (p - y)^2 tell its factor 4 from a factor 2."""
    rng = np.random.default_rng(seed)
    z, y = rng.normal(scale=3.0, size=20), rng.integers(0, 2, size=20)
    logits = np.column_stack([np.zeros_like(z), z])
    ce, mse = ref_loss.binary_gradients(z, y)
    fast_ce = losses.cross_entropy_grad(logits, y, reduction="none")[:, 1]
    fast_mse = losses.squared_error_grad(logits, y, reduction="none")[:, 1]
    np.testing.assert_allclose(ce, fast_ce, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(mse, fast_mse, rtol=1e-10, atol=1e-14)
    h = 1e-6

    def squared(zz):
        return 2 * (1 / (1 + np.exp(-zz)) - y) ** 2

    numeric = (squared(z + h) - squared(z - h)) / (2 * h)
    np.testing.assert_allclose(mse, numeric, atol=1e-7)
    assert np.abs(mse / 2 - numeric).max() > 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_balanced_weights_and_weighted_mean_match_course_lib_and_torch(seed):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=50, p=[0.7, 0.2, 0.1])
    z = rng.normal(size=(50, 3))
    w = ref_loss.balanced_weights(y, 3)
    np.testing.assert_allclose(w, losses.balanced_class_weights(y, 3), rtol=1e-12)
    np.testing.assert_allclose([np.sum(w[y] == wc) * wc for wc in w], [50 / 3] * 3)
    plain = losses.cross_entropy(z, y, reduction="none")
    # balanced weights sum to N over the examples: there the weighted mean is the plain mean
    assert np.sum(w[y]) == pytest.approx(50)
    w = rng.uniform(0.5, 4.0, size=3)
    ours = ref_loss.weighted_mean(plain, w[y])
    assert ours == pytest.approx(losses.cross_entropy(z, y, class_weights=w), rel=1e-12)
    expected = torch.nn.functional.cross_entropy(
        torch.tensor(z), torch.tensor(y), weight=torch.tensor(w)).item()
    assert ours == pytest.approx(expected, rel=1e-10)
    assert abs(np.mean(w[y] * plain) - ours) > 0.05 * ours    # MXNet's .mean() is not it


# --------------------------------------------------------------- batch norm (chapter 10)
@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_matches_the_chapter_and_torch(seed):
    """Five batches through the reference, the chapter's numpy layer and PyTorch's
    BatchNorm1d (momentum 0.1, unbiased variance in its running average): outputs in
    training, running averages, outputs at inference."""
    rng = np.random.default_rng(seed)
    batches = [rng.normal(3.0, 2.0, size=(16, 4)) for _ in range(5)]
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    layer = torch.nn.BatchNorm1d(4, momentum=0.1).double().train()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(gamma))
        layer.bias.copy_(torch.tensor(beta))
    state = bn.BatchNormState.fresh(4)
    mu_hat, var_hat = np.zeros(4), np.ones(4)
    for x in batches:
        y, mu_B, var_B = ref_bn.batch_norm_train(x, gamma, beta)
        mu_hat = ref_bn.running_average(mu_hat, mu_B, 0.1)
        var_hat = ref_bn.running_average(var_hat, var_B * 16 / 15, 0.1)
        fast, state = bn.batch_norm_train(x, gamma, beta, state, momentum=0.1)
        np.testing.assert_allclose(y, fast, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(y, layer(torch.tensor(x)).detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(mu_hat, layer.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var_hat, layer.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(mu_hat, state.running_mean, rtol=1e-12)
    x_new = rng.normal(3.0, 2.0, size=(3, 4))
    ours = ref_bn.batch_norm_eval(x_new, gamma, beta, mu_hat, var_hat)
    np.testing.assert_allclose(ours, bn.batch_norm_eval(x_new, gamma, beta, state), rtol=1e-12)
    np.testing.assert_allclose(ours, layer.eval()(torch.tensor(x_new)).detach().numpy(),
                               atol=1e-12)


def test_running_average_lags_its_target():
    """From 0, k batches of mean 3 with m = 0.1 reach (1 - 0.9^k) 3: 41% of the way at
    k = 5 (the chapter's 1.2), not the batch mean that a bias-free average would give."""
    mu_hat = 0.0
    for k in range(1, 6):
        mu_hat = ref_bn.running_average(mu_hat, 3.0, 0.1)
        assert mu_hat == pytest.approx((1 - 0.9 ** k) * 3.0, rel=1e-12)
    assert mu_hat == pytest.approx(1.22, abs=0.01)


# ------------------------------------------------------------ feature scales (chapter 10)
@pytest.mark.parametrize("seed", SEEDS)
def test_profile_loss_is_a_quadratic_with_the_feature_covariance(seed):
    """Features with means far from 0 and scales 1 and 10: central second differences of the
    profiled loss give Sigma (1/n, centred), as does bn.regression_surface; the uncentred
    second moment x^T x / n and the 1/(n - 1) covariance miss."""
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=[3.0, -2.0], scale=[1.0, 10.0], size=(20, 2))
    y = x @ [1.0, 0.5] + rng.normal(size=20)
    w, h = rng.normal(size=2), 1e-3
    E = np.eye(2) * h
    numeric = np.array([[(ref_scale.profile_loss(w + E[i] + E[j], x, y)
                          - ref_scale.profile_loss(w + E[i] - E[j], x, y)
                          - ref_scale.profile_loss(w - E[i] + E[j], x, y)
                          + ref_scale.profile_loss(w - E[i] - E[j], x, y)) / (4 * h * h)
                         for j in range(2)] for i in range(2)])
    sigma = ref_scale.feature_covariance(x)
    np.testing.assert_allclose(sigma, numeric, rtol=1e-5, atol=1e-6)
    surface = bn.regression_surface(x, y)
    np.testing.assert_allclose(sigma, surface.hessian(np.zeros(2)), rtol=1e-12)
    assert ref_scale.profile_loss(w, x, y) == pytest.approx(surface.value(w), rel=1e-12)
    for wrong in (x.T @ x / 20, sigma * 20 / 19):
        assert np.abs(wrong - numeric).max() > 0.04 * np.abs(numeric).max()


# -------------------------------------------------------------- constrained (chapter 11)
@pytest.mark.parametrize("c", [0.0, 0.5, 1.5, 2.0])
def test_toy_losses_match_course_lib_problem(c):
    rng = np.random.default_rng(0)
    theta = np.column_stack([rng.uniform(-0.5, 1.5, 50), rng.uniform(-1, 1, 50)])
    problem = constrained.two_objectives(c)
    p = problem.position(theta)
    l0, l1 = ref_con.toy_losses(p, theta[:, 1], c)
    np.testing.assert_allclose(np.column_stack([l0, l1]), problem.losses(theta), rtol=1e-12)


@pytest.mark.parametrize("c", [0.0, 0.5, 1.5, 1.9])
def test_front_curvature_by_finite_differences(c):
    """d^2 L1/dL0^2 along the front from central differences in p, against the formula;
    the tempting (d^2 L1/dp^2) / (dL0/dp)^2 = 2 (1 - c) / a^2 misses on every case."""
    p, h = np.linspace(0.05, 0.95, 19), 1e-4

    def slope(q):          # dL1/dL0 at q, by central differences in p
        l0a, l1a = ref_con.toy_losses(q - h, 0.0, c)
        l0b, l1b = ref_con.toy_losses(q + h, 0.0, c)
        return (l1b - l1a) / (l0b - l0a)

    l0a, _ = ref_con.toy_losses(p - h, 0.0, c)
    l0b, _ = ref_con.toy_losses(p + h, 0.0, c)
    numeric = (slope(p + h) - slope(p - h)) / (l0b - l0a)
    ours = ref_con.front_curvature(p, c)
    np.testing.assert_allclose(ours, numeric, rtol=1e-4, atol=1e-6)
    a = 2 * (1 - c) * p + c
    if c != 1:
        assert np.all(np.abs(2 * (1 - c) / a ** 2 - numeric) > 1e-2 * np.abs(numeric))
    assert np.all(np.sign(ours) == np.sign(1 - c))   # convex below c = 1, concave above


@pytest.mark.parametrize("c", [0.0, 0.5, 1.5])
def test_stationary_position_matches_course_lib_and_zeroes_the_slope(c):
    problem = constrained.two_objectives(c)
    for alpha in (0.4, 1.0, 2.0, 2.9):
        p_s = ref_con.stationary_position(alpha, c)
        fast = problem.stationary_position(alpha)
        if fast is None:
            assert not 0 < p_s < 1
            continue
        assert p_s == pytest.approx(fast, rel=1e-12)
        h = 1e-6
        lo, hi = (ref_con.toy_losses(q, 0.0, c) for q in (p_s - h, p_s + h))
        assert (hi[0] + alpha * hi[1] - lo[0] - alpha * lo[1]) / (2 * h) == pytest.approx(
            0.0, abs=1e-8)


# ---------------------------------------------------------------- sampling (chapter 12)
def _quadratic(g, H):
    return lambda pts: np.atleast_2d(pts) @ g + 0.5 * np.einsum(
        "ni,ij,nj->n", np.atleast_2d(pts), H, np.atleast_2d(pts))


@pytest.mark.parametrize("seed", SEEDS)
def test_snis_mean_matches_expected_update(seed):
    """The reference recomputes course_lib's estimate from its own samples (flat base,
    Gaussian proposal of scale s: log q = -|Delta|^2 / (2 s^2) up to a constant), and on a
    quadratic loss both find Newton's step -H^-1 g; leaving out the 1/q factor shrinks the
    estimate towards 0 by far more than its noise."""
    g, H = np.array([1.0, -0.5]), np.array([[2.0, 0.6], [0.6, 1.0]])
    loss = _quadratic(g, H)
    est = sampling.expected_update(loss, np.zeros(2), alpha=0.5, n_samples=40_000,
                                   scale=1.5, rng=seed)
    Delta = est.samples
    change = loss(Delta) - loss(np.zeros((1, 2)))[0]
    log_q = -0.5 * (Delta ** 2).sum(1) / 1.5 ** 2
    mean, ess = ref_smp.snis_mean(Delta, change, log_q, 0.5)
    np.testing.assert_allclose(mean, est.mean, rtol=1e-9, atol=1e-12)
    assert ess == pytest.approx(est.ess, rel=1e-9)
    newton = -np.linalg.solve(H, g)
    error = np.linalg.norm(mean - newton)
    assert error < 0.05 * np.linalg.norm(newton)
    biased, _ = ref_smp.snis_mean(Delta, change, np.zeros(len(Delta)), 0.5)
    assert np.linalg.norm(biased - newton) > max(0.15 * np.linalg.norm(newton), 4 * error)


@pytest.mark.parametrize("d", [2, 5])
def test_first_order_limits_match_the_exact_ball_mean(d):
    """At alpha = 1e4 the exact mean is gradient descent with rate r^2/((d+2) alpha) (d or
    d + 1 in place of d + 2 misses by >= 15%); at alpha = 1e-6 it is a step of length r."""
    g = np.random.default_rng(d).normal(size=d)
    hot, cold = ref_smp.first_order_limits(g, 1e4, 0.05)
    np.testing.assert_allclose(sampling.first_order_update(g, 1e4, 0.05), hot, rtol=1e-6)
    for wrong in (d, d + 1):
        assert np.linalg.norm(hot) * (d + 2) / wrong > 1.15 * np.linalg.norm(hot)
    np.testing.assert_allclose(sampling.first_order_update(g, 1e-6, 0.05), cold, rtol=1e-4)
    assert np.linalg.norm(cold) == pytest.approx(0.05)


@pytest.mark.parametrize("seed", SEEDS)
def test_mixture_log_q_matches_the_samplers_flat_weights(seed):
    """With a flat base measure the sampler's log-weight is -log q(Delta) plus one constant;
    with lam = 1 the mixture is the Gaussian N(0, sigma^2 I) (scipy's density)."""
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(seed)
    center = rng.normal(scale=0.3, size=6)
    proposal = sampling.sample_mixture(center, 0.1, 0.5, 200, rng=seed, base="flat")
    ours = ref_smp.mixture_log_q(proposal.deltas, center, 0.1, 0.5)
    offset = proposal.log_base_over_q + ours
    np.testing.assert_allclose(offset, offset[0], atol=1e-8)
    exact = multivariate_normal(np.zeros(6), 0.01 * np.eye(6)).logpdf(proposal.deltas)
    np.testing.assert_allclose(ref_smp.mixture_log_q(proposal.deltas, center, 0.1, 1.0),
                               exact, rtol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_reinforce_gradient_matches_course_lib_reinforce_loss(seed):
    """Same samples (the same torch generator): the gradient of course_lib's surrogate loss
    in the logits is minus the mean over examples of the reference estimate."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(6, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 5, (6,), generator=gen)
    loss, _ = sampling.reinforce_loss(logits, labels, n=4,
                                      generator=torch.Generator().manual_seed(seed + 10))
    loss.backward()
    probs = torch.softmax(logits.detach(), dim=1)
    y_hat = torch.multinomial(probs, 4, replacement=True,
                              generator=torch.Generator().manual_seed(seed + 10)).numpy()
    z, y = logits.detach().numpy(), labels.numpy()
    ours = np.array([ref_smp.reinforce_gradient(z[i], y[i], y_hat[i]) for i in range(6)])
    np.testing.assert_allclose(-logits.grad.numpy() * 6, ours, rtol=1e-10, atol=1e-14)


def test_reinforce_gradient_is_unbiased_over_every_sample_tuple():
    """Averaged over all C^n tuples of n = 3 samples with their probabilities, the estimate
    is exactly grad_z p_y = p_y (e_y - p); a baseline that counted the sample's own reward
    would shrink it by (n - 1) / n."""
    z, y, n = np.array([0.3, -1.0, 1.2, 0.1]), 2, 3
    p = np.exp(z) / np.exp(z).sum()
    mean = np.zeros(4)
    for tup in itertools.product(range(4), repeat=n):
        mean += np.prod(p[list(tup)]) * ref_smp.reinforce_gradient(z, y, np.array(tup))
    exact = p[y] * (np.eye(4)[y] - p)
    np.testing.assert_allclose(mean, exact, atol=1e-14)
    shrunk = exact * (n - 1) / n
    assert np.abs(shrunk - mean).max() > 0.1 * np.abs(exact).max()


# -------------------------------------------------------- model selection (chapter 1)
def test_bias_variance_matches_the_chapter_and_adds_up():
    """The chapter's decomposition, recomputed from the same draws; and for any fits, with
    f_bar their mean, mean (f_hat - f)^2 = bias^2 + variance exactly, which a variance with
    the 1/(S - 1) of an unbiased estimate would break."""
    from course_lib.experiments import general_guide as guide

    degrees, n_sets, n_points = [1, 3, 7], 12, 50
    fast = guide.bias_variance(degrees, n_train=20, noise=0.3, n_sets=n_sets,
                               n_points=n_points, seed=3)
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.0, 1.0, n_points)
    f = guide.target_function(x)
    sets = [guide.sample_regression(20, 0.3, rng) for _ in range(n_sets)]
    for i, degree in enumerate(degrees):
        fits = np.array([guide.fit_polynomial(xs, ys, degree)(x) for xs, ys in sets])
        f_bar = np.mean([guide.fit_polynomial(xs, guide.target_function(xs), degree)(x)
                         for xs, _ in sets], axis=0)
        bias2, variance = ref_ms.bias_variance(fits, f_bar, f)
        assert bias2 == pytest.approx(fast["bias2"][i], rel=1e-12)
        assert variance == pytest.approx(fast["variance"][i], rel=1e-12)
        f_bar = fits.mean(axis=0)
        bias2, variance = ref_ms.bias_variance(fits, f_bar, f)
        assert np.mean((fits - f) ** 2) == pytest.approx(bias2 + variance, rel=1e-12)
        unbiased = variance * n_sets / (n_sets - 1)
        assert abs(bias2 + unbiased - np.mean((fits - f) ** 2)) > 1e-3 * variance


@pytest.mark.parametrize("seed", SEEDS)
def test_kfold_cv_matches_the_chapter(seed):
    """Same folds as course_lib (the permutation of the same generator); with 32 examples
    the five folds hold 7, 7, 6, 6, 6, so the mean over folds differs from the pooled
    squared error of all held-out predictions."""
    from course_lib.experiments import general_guide as guide

    x, y = guide.sample_regression(32, 0.3, np.random.default_rng(seed))
    order = np.random.default_rng(seed).permutation(32)
    for degree in (1, 3, 6):
        def fit(xs, ys):
            return guide.fit_polynomial(xs, ys, degree)

        ours = ref_ms.kfold_cv(x, y, fit, 5, order)
        fast = guide.cross_validation_error(x, y, degree, 5, np.random.default_rng(seed))
        assert ours == pytest.approx(fast, rel=1e-12)
        pooled = np.mean(np.concatenate([
            (fit(x[train], y[train])(x[val]) - y[val]) ** 2
            for train, val in guide.kfold_indices(32, 5, np.random.default_rng(seed))]))
        assert abs(pooled - ours) > 1e-4 * ours
