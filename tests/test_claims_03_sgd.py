"""The claims of chapter 3 (lectures/03_sgd.md), recomputed with course_lib.

- The standard problem: 1000 examples, w = [2, -3.4], b = 4.2, noise 0.01 (noise floor half
  its variance): test_data_is_the_standard_problem.
- Per-example gradients (checked against torch.autograd) average to the full gradient:
  test_per_example_gradients_match_torch_autograd.
- The stochastic gradient is unbiased: the mean of 100,000 samples is within a few standard
  errors and its error decays like m^-1/2, five seeds: test_stochastic_gradient_is_unbiased;
  the check can fail (a biased sampler does): test_a_biased_sampler_would_fail_the_same_check.
- The minibatch variance follows sigma^2 / B (n - B)/(n - 1), zero at B = n:
  test_minibatch_variance_follows_the_formula.
- B = n for one epoch is one gradient-descent step: test_batch_n_for_one_epoch_is_one_gradient_descent_step.
- The learning rate is multiplied by 0.1 per epoch after the second:
  test_learning_rate_decays_by_ten_after_epoch_two.
- Batches 1 and 10 reach the noise floor within the first epoch and the true parameters:
  test_small_batches_reach_the_noise_floor_and_the_true_parameters; batch 1000 is far at lr
  0.2 and done at lr 1: test_full_batch_is_far_at_lr_02_and_done_at_lr_1; PyTorch, MXNet
  and numpy compute the same runs: test_frameworks_and_numpy_compute_the_same_runs, and the
  frameworks' final losses agree to float32 rounding: test_frameworks_agree_to_float32_rounding.
- L of the mean loss is about 1.06 (1/L = 0.95), E[L_i] = 3: test_curvature_of_the_mean_loss.
- lr 3 gives NaN within the first epoch, lr 0.002 crawls: test_too_large_lr_gives_nan_too_small_crawls.
- One batch-1 step multiplies its example's residual by 1 - eta L_i (fit at 1/L_i, worse past
  2/L_i): test_one_step_scales_the_example_residual_by_one_minus_lr_L_i.
- The three edges: every order safe below 2/max L_i = 0.12, mean square below 0.40, a
  typical run's growth changes sign between 0.6 and 0.7 (three orders):
  test_the_three_edges_of_batch_one.
- Batch 1 converges at 0.5 and diverges from 0.8 while batches 10, 100 and 1000 survive 1.5
  (three shuffling seeds): test_batch_one_diverges_where_larger_batches_converge; batch 1000
  at 1.5 falls at each update, from about 16 to below 1:
  test_full_batch_at_lr_15_falls_at_every_update.
- Wall times (gradient cost, seconds per epoch) are illustrations on the page and are not
  asserted: timing thresholds do not belong in unit tests.
"""
import numpy as np
import pytest
from scipy.optimize import brentq

from course_lib import data
from course_lib.config import pick
from course_lib.experiments import sgd
from course_lib.experiments.gradient_descent import regression_curvature

EPOCHS = pick(fast=3, full=5)
SETTINGS = [(1, 0.2), (10, 0.2), (1000, 0.2), (1000, 1.0)]


@pytest.fixture(scope="module")
def problem():
    x, y = data.synthetic_regression(n=1000, w=(2, -3.4), b=4.2, noise=0.01, seed=0)
    w0, b0 = sgd.initial_parameters()
    return x, y, w0, b0


@pytest.fixture(scope="module")
def floor(problem):
    x, y, _, _ = problem
    return sgd.regression_loss(x, y, [2, -3.4], 4.2)


def _runs(problem, train):
    x, y, _, _ = problem
    return {setting: train(x, y, batch_size=setting[0], lr=setting[1], epochs=EPOCHS)
            for setting in SETTINGS}


@pytest.fixture(scope="module")
def torch_runs(problem):
    return _runs(problem, sgd.train_torch)


@pytest.fixture(scope="module")
def mxnet_runs(problem):
    pytest.importorskip("mxnet")       # GPU machines have no MXNet; the CPU environment does
    return _runs(problem, sgd.train_mxnet)


# PyTorch always; MXNet where it is installed (marked, so `-m "not mxnet"` deselects it)
FRAMEWORKS = ["torch", pytest.param("mxnet", marks=pytest.mark.mxnet)]


def test_data_is_the_standard_problem(problem, floor):
    x, y, _, _ = problem
    assert x.shape == (1000, 2) and y.shape == (1000,)
    coef, *_ = np.linalg.lstsq(np.hstack([x, np.ones((1000, 1))]), y, rcond=None)
    np.testing.assert_allclose(coef, [2, -3.4, 4.2], atol=2e-3)
    assert floor == pytest.approx(0.01 ** 2 / 2, rel=0.15)       # half the noise variance


def test_per_example_gradients_match_torch_autograd(problem):
    torch = pytest.importorskip("torch")
    x, y, w0, b0 = problem
    rows = sgd.per_example_gradients(x, y, w0, b0)
    w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(float(b0), dtype=torch.float64, requires_grad=True)
    for i in (0, 17, 999):
        xi, yi = torch.as_tensor(x[i], dtype=torch.float64), float(y[i])
        loss = (xi @ w + b - yi) ** 2 / 2
        gw, gb = torch.autograd.grad(loss, (w, b))
        np.testing.assert_allclose(rows[i], np.append(gw.numpy(), gb.item()), rtol=1e-6)
    np.testing.assert_allclose(rows.mean(axis=0), sgd.full_gradient(x, y, w0, b0), rtol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_stochastic_gradient_is_unbiased(problem, seed):
    """Headline claim: the mean of 100,000 sampled gradients is within a few standard errors
    of the full gradient, and its error decays like m^-1/2 (no bias floor)."""
    x, y, w0, b0 = problem
    check = sgd.sampled_gradient_error(x, y, w0, b0, n_samples=100_000, seed=seed)
    assert np.all(np.abs(check["z"]) < 3.0), check["z"]       # "|z| < 3 expected" (max 1.55)
    slope = np.polyfit(np.log(check["counts"]), np.log(check["error"]), 1)[0]
    assert -0.65 < slope < -0.35
    assert check["error"][-1] < 0.02 * np.linalg.norm(check["full"])


def test_a_biased_sampler_would_fail_the_same_check(problem):
    """The unbiasedness check can fail: sampling only examples with x_1 > 0 is biased."""
    x, y, w0, b0 = problem
    keep = x[:, 0] > 0
    biased = sgd.sampled_gradient_error(x[keep], y[keep], w0, b0, n_samples=100_000)
    full = sgd.full_gradient(x, y, w0, b0)
    std = sgd.per_example_gradients(x[keep], y[keep], w0, b0).std(axis=0) / np.sqrt(100_000)
    assert np.max(np.abs(biased["mean"] - full) / std) > 20


def test_minibatch_variance_follows_the_formula(problem):
    x, y, w0, b0 = problem
    var = sgd.minibatch_gradient_variance(x, y, w0, b0, [1, 10, 100, 500, 1000], n_draws=2000)
    ratio = var["measured"][:-1] / var["exact"][:-1]
    assert np.all((ratio > 0.85) & (ratio < 1.15)), ratio
    assert np.all(np.diff(var["measured"][:-1]) < 0)                # falls with B
    assert var["exact"][-1] == 0 and var["measured"][-1] < 1e-20    # B = n: no noise
    assert np.all(var["bias"] < 4.0)                                 # unbiased at every B


def test_batch_n_for_one_epoch_is_one_gradient_descent_step(problem):
    x, y, w0, b0 = problem
    run = sgd.train_numpy(x, y, batch_size=1000, lr=0.2, epochs=1)
    by_hand = np.append(w0, b0) - 0.2 * sgd.full_gradient(x, y, w0, b0)
    np.testing.assert_allclose(np.append(run.w, run.b), by_hand, atol=1e-5)


def test_learning_rate_decays_by_ten_after_epoch_two(torch_runs):
    run = torch_runs[(10, 0.2)]
    np.testing.assert_allclose(run.lrs, [0.2 * 0.1 ** max(0, e - 1) for e in range(EPOCHS)])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_small_batches_reach_the_noise_floor_and_the_true_parameters(request, floor, framework):
    runs = request.getfixturevalue(f"{framework}_runs")
    for batch in (1, 10):
        run = runs[(batch, 0.2)]
        assert run.final_loss < 1.2 * floor
        np.testing.assert_allclose(run.w, [2, -3.4], atol=5e-3)
        assert run.b == pytest.approx(4.2, abs=5e-3)
        # within the first epoch already
        assert run.loss[np.searchsorted(run.epochs_seen, 1.0)] < 2 * floor


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_full_batch_is_far_at_lr_02_and_done_at_lr_1(request, floor, framework):
    runs = request.getfixturevalue(f"{framework}_runs")
    assert runs[(1000, 0.2)].final_loss > 1.0
    assert runs[(1000, 1.0)].final_loss < 1.2 * floor


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_frameworks_and_numpy_compute_the_same_runs(request, problem, framework):
    x, y, _, _ = problem
    runs = request.getfixturevalue(f"{framework}_runs")
    for setting in SETTINGS:
        reference = sgd.train_numpy(x, y, batch_size=setting[0], lr=setting[1], epochs=EPOCHS)
        assert runs[setting].final_loss == pytest.approx(reference.final_loss, rel=1e-3)
        np.testing.assert_allclose(runs[setting].w, reference.w, atol=1e-4)


@pytest.mark.mxnet
def test_frameworks_agree_to_float32_rounding(torch_runs, mxnet_runs):
    """ "Both frameworks print the same final losses to within float32 rounding" (7.7e-8)."""
    for setting in SETTINGS:
        t, m = torch_runs[setting].final_loss, mxnet_runs[setting].final_loss
        assert abs(t - m) <= 1e-6 * t


def test_curvature_of_the_mean_loss(problem):
    x, *_ = problem
    L = regression_curvature(x, half=True)
    assert 1.0 < L < 1.12                         # 1/L = 0.95: lr 1.0 is about the optimum
    curv = sgd.example_curvatures(x)
    assert curv.mean() == pytest.approx(3.0, abs=0.15)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_too_large_lr_gives_nan_too_small_crawls(problem, floor, framework):
    x, y, _, _ = problem
    if framework == "mxnet":
        pytest.importorskip("mxnet")
    train = sgd.train_torch if framework == "torch" else sgd.train_mxnet
    big = train(x, y, batch_size=10, lr=3.0, epochs=EPOCHS)
    assert big.diverged and big.epochs_seen[-1] < 1.0
    small = train(x, y, batch_size=10, lr=0.002, epochs=EPOCHS)
    assert not small.diverged
    assert small.loss[np.searchsorted(small.epochs_seen, 2.0)] > 1e4 * floor
    assert small.final_loss < small.loss[0]       # stable: it does go down, slowly


def test_one_step_scales_the_example_residual_by_one_minus_lr_L_i(problem):
    """Eq. (sgd-example-step): r_i <- (1 - lr L_i) r_i; fit at 1/L_i, loss up past 2/L_i."""
    x, y, w0, b0 = problem
    a = np.append(x[3], 1.0)
    L_i = sgd.example_curvatures(x)[3]
    theta = np.append(w0, b0).astype(np.float64)
    r = a @ theta - y[3]
    for lr in (0.5 / L_i, 1 / L_i, 1.5 / L_i, 2.5 / L_i):
        after = theta - lr * r * a
        assert a @ after - y[3] == pytest.approx((1 - lr * L_i) * r, rel=1e-9)
    assert abs(a @ (theta - r * a / L_i) - y[3]) < 1e-9 * abs(r)       # 1/L_i: fitted
    assert abs(a @ (theta - 2.5 * r * a / L_i) - y[3]) > abs(r)          # past 2/L_i: worse


def test_the_three_edges_of_batch_one(problem):
    """Every order below 2/max L_i (0.12); mean square below 0.40; typical run between
    0.6 and 0.7 (growth changes sign in three orders)."""
    x, *_ = problem
    curv = sgd.example_curvatures(x)
    assert 2 / curv.max() == pytest.approx(0.12, abs=0.005)
    # below 2/max L_i no step lengthens the error, in any order: every step matrix has
    # spectral norm <= 1
    a = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    lr = 0.99 * 2 / curv.max()
    norms = [np.linalg.norm(np.eye(3) - lr * np.outer(ai, ai), 2) for ai in a]
    assert max(norms) <= 1 + 1e-12
    # the mean-square factor is the exact expectation over the examples
    rng = np.random.default_rng(0)
    e = rng.standard_normal(3)
    direct = np.mean([np.sum((e - 0.5 * ai * (ai @ e)) ** 2) for ai in a])
    m = np.eye(3) - 2 * 0.5 * a.T @ a / len(a) + 0.25 * (a * curv[:, None]).T @ a / len(a)
    assert direct == pytest.approx(e @ m @ e, rel=1e-10)
    edge = brentq(lambda lr: sgd.mean_square_factor(x, lr) - 1, 0.01, 1.0)
    assert edge == pytest.approx(0.40, abs=0.005)
    for seed in range(3):
        assert sgd.error_growth(x, 0.5, seed=seed) < 0 < sgd.error_growth(x, 0.8, seed=seed)
        assert sgd.error_growth(x, 0.6, seed=seed) < 0 < sgd.error_growth(x, 0.7, seed=seed)
    with pytest.raises(ValueError, match="lr"):
        sgd.error_growth(x, 0.0)
    with pytest.raises(ValueError, match="lr"):
        sgd.mean_square_factor(x, -1.0)


@pytest.mark.parametrize("seed", range(3))
def test_batch_one_diverges_where_larger_batches_converge(problem, floor, seed):
    x, y, w0, b0 = problem
    grid = sgd.stability_grid(x, y, lrs=[0.5, 0.8, 1.0, 1.5], batch_sizes=[1, 10, 100, 1000],
                              epochs=EPOCHS, seed=seed)
    diverged = np.isfinite(grid["diverged_at"])
    assert not diverged[0].any()                      # lr 0.5: all converge
    assert diverged[1:, 0].all()                      # batch 1 blows up from lr 0.8
    assert not diverged[1:, 1:].any()                 # batches 10, 100 and 1000 survive lr 1.5
    assert np.all(grid["final"][:, 1:3] < 1.5 * floor)
    assert grid["final"][0, 0] < 1.5 * floor          # batch 1 at 0.5 reaches the floor
    assert 0.8 < 1 / regression_curvature(x, half=True)   # below GD's optimal rate 1/L
    # batch 1000 is stable at every lr of the grid (all below 2/L = 1.89), but with one update
    # per epoch it is not at the floor
    start = sgd.regression_loss(x, y, w0, b0)
    assert 1.5 < 2 / regression_curvature(x, half=True)
    assert np.all(grid["final"][:, 3] < 0.1 * start)
    assert np.all(grid["final"][[0, 1, 3], 3] > 10 * floor)


def test_full_batch_at_lr_15_falls_at_every_update(problem):
    x, y, *_ = problem
    full_batch = sgd.train_numpy(x, y, batch_size=1000, lr=1.5, epochs=EPOCHS)
    assert np.all(np.diff(full_batch.loss) < 0)       # "its loss falls at each of its updates"
    assert full_batch.loss[0] > 10 and full_batch.final_loss < 1.0    # "from about 16 to below 1"
