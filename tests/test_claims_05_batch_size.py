"""The numbers chapter 5 states, recomputed with course_lib and asserted with margins."""
import numpy as np
import pytest
import torch

from course_lib.experiments import batch_size as bs


@pytest.fixture(scope="module")
def split():
    return bs.load()


def test_gradient_noise_follows_the_sampling_formula(split):
    x, y = (torch.as_tensor(a) for a in split[:2])
    sizes = [1, 4, 16, 64, 256, 1024]
    noise = bs.gradient_noise(bs.torch_net(), x, y, sizes, samples=100)
    theory = bs.noise_theory(sizes, len(y), noise["example_variance"])
    np.testing.assert_allclose(noise["mse"], theory, rtol=0.35)       # 100 samples per size
    assert np.all(np.diff(noise["mse"]) < 0) and np.all(np.diff(noise["cosine"]) > 0)
    assert 0.1 < noise["cosine"][0] < 0.35                             # chapter: about 0.2
    crossover = noise["example_variance"] / noise["full_norm"] ** 2
    assert 10 < crossover < 60                                         # "a few dozen examples"
    assert bs.noise_theory([len(y)], len(y), 1.0)[0] == 0.0
    with pytest.raises(ValueError):
        bs.noise_theory([0], 10, 1.0)


def test_time_per_update_runs_in_both_frameworks():
    # it runs and returns one positive time per batch size; no thresholds on the times
    # themselves (shared machines are noisy: the chapter prints them, says they vary)
    for fw in ("torch", "mxnet"):
        t = bs.time_per_update([1, 64], fw, updates=2)
        assert t.shape == (2,) and np.all(t > 0)
    with pytest.raises(ValueError):
        bs.time_per_update([1], "jax")


@pytest.mark.parametrize("framework", ["torch", pytest.param("mxnet", marks=pytest.mark.mxnet)])
def test_time_per_update_on_the_cpu_and_on_a_gpu_when_present(framework):
    if framework == "mxnet":
        pytest.importorskip("mxnet")
    t = bs.time_per_update([1, 4], framework, updates=2, device="cpu")
    assert t.shape == (2,) and np.all(t > 0)
    with pytest.raises(ValueError):
        bs.time_per_update([1], framework, device="tpu")
    if bs.gpu_available(framework):
        assert np.all(bs.time_per_update([1, 4], framework, updates=2, device="cuda") > 0)
    else:                                       # CPU-only machines: the chapter skips the GPU
        with pytest.raises(RuntimeError):
            bs.time_per_update([1], framework, device="cuda")


@pytest.mark.parametrize("seed", [0, 1])
def test_a_critical_point_of_one_batch_is_not_one_of_the_others(split, seed):
    """Chapter: where batch A's gradient has all but vanished, every other batch's gradient is
    of the same order as at the start. Measured (seed 0): |g_A| 1.4 -> 3.1e-6; the 20 other
    batches 1.21-2.34 at the start, 0.62-2.24 at A's critical point (seed 1: 0.49 at least)."""
    crit = bs.batch_critical_point(split, batch_size=32, others=20, seed=seed)
    assert crit["batch"] < 1e-4 * crit["batch_start"]              # A: critical point
    assert crit["others"].shape == (20,)
    assert crit["others"].min() > 0.2 * crit["others_start"].min()  # the others: same order
    assert crit["others"].min() > 1e4 * crit["batch"]
    with pytest.raises(ValueError):
        bs.batch_critical_point(split, batch_size=500, others=20)


def test_same_epoch_budget_small_batch_wins_in_both_frameworks(split):
    n = len(split.y_train)
    torch_runs = [bs.train_torch(split, b, epochs=10) for b in (32, n)]
    mxnet_runs = [bs.train_mxnet(split, b, epochs=10) for b in (32, n)]
    for t, m in zip(torch_runs, mxnet_runs):
        assert abs(t.train_loss[-1] - m.train_loss[-1]) < 1e-4
        assert abs(t.test_accuracy[-1] - m.test_accuracy[-1]) < 0.005
    small, large = torch_runs
    assert small.updates == 430 and large.updates == 10
    assert small.train_accuracy[-1] > large.train_accuracy[-1] + 0.05   # chapter: 98.8% vs 82.6%
    assert small.test_accuracy[-1] > large.test_accuracy[-1] + 0.05     # chapter: 97.1% vs 79.7%


def test_training_arguments_are_checked(split):
    with pytest.raises(ValueError):
        bs.train_torch(split, 32)                     # neither epochs nor updates
    with pytest.raises(ValueError):
        bs.train_torch(split, 0, epochs=1)


@pytest.fixture(scope="module")
def sweep(split):
    return bs.sharpness_sweep(split, [32, 128, len(split.y_train)], updates=1000, seeds=[0, 1, 2])


def test_large_batch_is_sharper_and_not_better_on_test(sweep):
    """Headline claim: trained to the same loss, large batches land in sharper minima and their
    test accuracy is no better."""
    loss = sweep.train_loss.mean(0)
    assert np.all(np.abs(loss - loss.mean()) < 0.2 * loss.mean())      # about the same training loss
    assert np.all(sweep.train_accuracy > 0.99)
    top = sweep.top_eigenvalue.mean(0)
    assert np.all(np.diff(top) > 0)                                     # grows with B
    assert top[-1] > 1.15 * top[0]                                      # chapter: x1.37
    eps = sweep.eps_sharpness.mean(0)
    assert np.all(np.diff(eps) > 0)                                     # chapter: 13.6, 15.9, 17.1 %
    assert eps[-1] > 1.1 * eps[0]
    test = sweep.test_accuracy.mean(0)
    assert test[-1] <= test[0] + 0.005                                  # not better (chapter: 97.2% vs 97.3%)
    assert abs(test[-1] - test[0]) < 0.01                               # "within a point"


def test_top_eigenvalue_matches_the_full_hessian(split, sweep):
    from course_lib import hessian
    m = sweep.models[0].double()
    data = (torch.as_tensor(split.x_train, dtype=torch.float64), torch.as_tensor(split.y_train))
    lam = np.linalg.eigvalsh(hessian.full_hessian(m, bs.squared_error, data))
    top = bs.sharpness(sweep.models[0], split)["top_eigenvalue"]
    assert top == pytest.approx(lam[-1], rel=1e-3)
    assert top == pytest.approx(sweep.top_eigenvalue[0, 0], rel=1e-3)


def test_interpolation_large_batch_valley_is_narrower(split, sweep):
    curves = bs.interpolation(sweep.models[0], sweep.models[-1], split)
    a, loss = curves["alphas"], curves["train_loss"]
    at = {v: loss[int(np.argmin(abs(a - v)))] for v in (-1.0, 0.0, 1.0, 2.0)}
    assert at[0.0] == pytest.approx(sweep.train_loss[0, 0], rel=1e-3)
    assert at[1.0] == pytest.approx(sweep.train_loss[0, -1], rel=1e-3)
    assert at[2.0] / at[1.0] > 1.3 * at[-1.0] / at[0.0]                # chapter: x8.9 vs x5.0
