"""The claims of chapter 5 (lectures/05_batch_size.md), recomputed with course_lib.

Each claim of the text, and the test that asserts it at the strength written:

Time per update and per epoch
  T1  An epoch takes ceil(N/B) updates, 1348 at B = 1 and one at B = N; no timed batch is
      larger than the training set. -> test_updates_per_epoch_and_no_batch_beyond_the_data
      (the wall times are measurements printed on the page, not claims: no threshold.)
Gradient noise (seeds 0, 1, 2)
  N1  The measured E|g_B - g|^2 (400 batches) follows Eq. bs-noise within 15% from B = 16 on,
      within 45% at B = 1 and 4; it falls with B, the cosine rises.
  N2  One example's gradient has a cosine of "about 0.2" with g (0.21-0.25): in [0.15, 0.3].
  N3  The noise equals the signal at B = sigma^2/|g|^2, "a few dozen" (28-36): in [20, 50].
      -> test_gradient_noise_follows_the_sampling_formula
  N4  At a critical point of batch A, every other batch's gradient is of the same order as at
      the start. -> test_a_critical_point_of_one_batch_is_not_one_of_the_others
Comparison, tuned rate per batch size (seeds 0, 1, 2)
  C1  The grid's runs are the runs train_torch makes one by one. -> test_runs_trained_together_equal_runs_alone
  C2  Largest stable rate of the grid: 0.4 at B = 32, 0.8 for every larger batch (1.6
      diverges everywhere). -> test_largest_stable_rate
  C3  Equal epochs: full batch has more than twice the training loss of B = 32 and a test
      accuracy more than 5 points lower; the loss grows with every step of B.
      -> test_equal_epochs_small_batches_win
  C4  Equal updates: B = 512 and N reach less than half the training loss of B = 32, after 14
      and 43 times the epochs; test accuracies within 2 points. -> test_equal_updates_large_batches_optimize_better
  C5  Equal loss: eta = 0.4 for every batch size; the full batch needs hardly fewer updates
      (at least 80% of B = 32's) and more than 30 times the epochs; test accuracies within a
      point. -> test_equal_loss_same_test_accuracy
Linear scaling (seeds 0, 1, 2)
  S1  Fixed eta = 0.05, 10 epochs: the loss grows with B, full batch more than 4 times B = 32.
  S2  eta = 0.05 B/32: B = 128 and 512 within 10% of B = 32; the full batch (2.1) diverges
      for every seed. -> test_linear_scaling_rule
  S3  MXNet Gluon gives the same per-epoch losses. -> test_mxnet_twin_of_the_scaled_runs
Edge of stability (seeds 0, 1, 2)
  E1  Full-batch GD at eta = 0.2, 0.4: lambda_max rises by 4% to 17% and stays below
      0.85 * 2/eta. At 0.8: starts above 2/eta, below 3 by update 20, then between 0.94 and
      1.02 times 2/eta from update 100 on. -> test_edge_of_stability_paths
  E2  No run of the comparison ends more than 5% above 2/eta; full batch at 0.8 ends at the
      edge (0.98-1.03); the smaller the batch the further below (means, eta = 0.4 and 0.8);
      B = 32 at 0.4 ends at about half (each seed in [0.4, 0.6]); for every batch size a larger
      rate ends flatter (mean lambda_max falls with eta). -> test_sharpness_capped_by_two_over_eta
Sharp and flat minima (eta = 0.4, training loss 0.05, seeds 0, 1, 2)
  K1  lambda_max grows with B; every full-batch seed is sharper than every B = 32 seed.
  K2  eps-sharpness of every larger batch exceeds B = 32's (mean, by more than 10%).
  K3  Test accuracy the same within a point. -> test_large_batches_sharper_at_same_rate_and_loss
  K4  lambda_max at the loose Lanczos tolerance is accurate. -> test_top_eigenvalue_at_the_loose_tolerance_is_accurate
  K5  In every seed the loss grows 4.5 to 10 times more one unit beyond the large-batch end
      than beyond the small-batch end. -> test_interpolation_large_batch_valley_is_narrower
"""
import math

import numpy as np
import pytest
import torch

from course_lib.experiments import batch_comparison as bc
from course_lib.experiments import batch_size as bs

SEEDS = [0, 1, 2]
LRS = [0.1, 0.2, 0.4, 0.8, 1.6]
EPOCHS, TARGET = 10, 0.05


@pytest.fixture(scope="module")
def split():
    return bs.load()


@pytest.fixture(scope="module")
def batches(split):
    return [32, 128, 512, len(split.y_train)]


@pytest.fixture(scope="module")
def cmp(split, batches):
    updates = EPOCHS * math.ceil(len(split.y_train) / 32)
    assert updates == 430
    return bc.compare(split, batches, LRS, SEEDS, epochs=EPOCHS, updates=updates, target=TARGET)


# ---------------------------------------------------------------------------- timing
def test_updates_per_epoch_and_no_batch_beyond_the_data(split):
    n = len(split.y_train)
    assert n == 1348
    sizes = np.array([1, 4, 16, 64, 256, 1024, n])
    per_epoch = np.ceil(n / sizes)
    assert per_epoch[0] == 1348 and per_epoch[-1] == 1
    assert np.all(np.diff(per_epoch) < 0)
    with pytest.raises(ValueError, match="batch_sizes"):
        bs.time_per_update([n + 1], "torch", n=n)            # B = 4096 is no batch size here
    for fw in ("torch", "mxnet"):                            # runs, one positive time per size
        t = bs.time_per_update([1, n], fw, updates=2, n=n)
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


# ----------------------------------------------------------------------------- noise
def test_gradient_noise_follows_the_sampling_formula(split):
    x, y = (torch.as_tensor(a) for a in split[:2])
    sizes = [1, 4, 16, 64, 256, 1024]
    for seed in SEEDS:
        noise = bs.gradient_noise(bs.torch_net(seed=seed), x, y, sizes, samples=400, seed=seed)
        theory = bs.noise_theory(sizes, len(y), noise["example_variance"])
        np.testing.assert_allclose(noise["mse"][2:], theory[2:], rtol=0.15)   # B >= 16
        np.testing.assert_allclose(noise["mse"][:2], theory[:2], rtol=0.45)   # heavy tails
        assert np.all(np.diff(noise["mse"]) < 0) and np.all(np.diff(noise["cosine"]) > 0)
        assert 0.15 < noise["cosine"][0] < 0.3                         # "about 0.2"
        crossing = noise["example_variance"] / noise["full_norm"] ** 2
        assert 20 < crossing < 50                                      # "a few dozen"
    assert bs.noise_theory([len(y)], len(y), 1.0)[0] == 0.0
    with pytest.raises(ValueError):
        bs.noise_theory([0], 10, 1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_critical_point_of_one_batch_is_not_one_of_the_others(split, seed):
    """Measured (seed 0): |g_A| 1.4 -> 3.1e-6; the 20 other batches 1.21-2.34 at the start,
    0.62-2.24 at A's critical point."""
    crit = bs.batch_critical_point(split, batch_size=32, others=20, seed=seed)
    assert crit["batch"] < 1e-4 * crit["batch_start"]              # A: critical point
    assert crit["others"].shape == (20,)
    assert crit["others"].min() > 0.2 * crit["others_start"].min()  # the others: same order
    assert crit["others"].min() > 1e4 * crit["batch"]
    with pytest.raises(ValueError):
        bs.batch_critical_point(split, batch_size=500, others=20)


# ------------------------------------------------------------------------ comparison
def test_runs_trained_together_equal_runs_alone(split):
    n = len(split.y_train)
    x, y = torch.as_tensor(split.x_train), torch.as_tensor(split.y_train)
    for batch, lr in ((32, 0.4), (n, 0.8)):
        runs = bc.train_many(split, batch, [0.1, lr], [0, 2], 60, every=5)
        for m, (rate, seed) in enumerate(zip(runs.lrs, runs.seeds)):
            alone = bs.train_torch(split, batch, updates=60, lr=rate, seed=seed).model
            together = runs.snapshots["updates"][m][1]
            for p, q in zip(alone.parameters(), together.parameters()):
                np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), atol=1e-5)
            with torch.no_grad():
                loss = float(bs.squared_error(together(x), y))
            assert runs.train_loss[-1, m] == pytest.approx(loss, rel=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        bc.train_many(split, n + 1, [0.1], [0], 10)
    with pytest.raises(ValueError, match="lrs"):
        bc.train_many(split, 32, [0.0], [0], 10)
    with pytest.raises(ValueError, match="epochs"):
        bc.train_many(split, 32, [0.1], [0], 10, epochs=1)     # 43 updates > 10
    with pytest.raises(ValueError, match="criterion"):
        bc.tuned(None, "wall time")


def test_largest_stable_rate(cmp):
    assert list(bc.largest_stable(cmp)) == [0.4, 0.8, 0.8, 0.8]
    for runs in cmp.runs:                                       # 1.6 diverges everywhere
        assert runs.diverged[runs.lrs == 1.6].all()


def _at_tuned(cmp, criterion, name):
    best = bc.tuned(cmp, criterion)
    assert np.all(best >= 0)
    return np.stack([cmp.metrics[criterion][name][b, l] for b, l in enumerate(best)])  # (B, seeds)


def test_equal_epochs_small_batches_win(cmp):
    loss = _at_tuned(cmp, "epochs", "train_loss").mean(axis=1)
    test = _at_tuned(cmp, "epochs", "test_accuracy").mean(axis=1)
    assert loss[-1] > 2 * loss[0]                       # chapter: 0.165 against 0.063
    assert test[0] - test[-1] > 0.05                    # chapter: 87.7% against 95.7%
    assert np.all(np.diff(loss) > 0)                    # 0.063, 0.075, 0.103, 0.165
    updates = _at_tuned(cmp, "epochs", "update")
    assert list(updates[:, 0]) == [430, 110, 30, 10]


def test_equal_updates_large_batches_optimize_better(cmp):
    loss = _at_tuned(cmp, "updates", "train_loss").mean(axis=1)
    assert loss[2] < 0.5 * loss[0] and loss[3] < 0.5 * loss[0]   # chapter: 0.026 against 0.063
    epochs = cmp.updates / np.ceil(cmp.n_train / cmp.batch_sizes)
    assert np.round(epochs[2] / epochs[0]) == 14 and np.round(epochs[3] / epochs[0]) == 43
    test = _at_tuned(cmp, "updates", "test_accuracy").mean(axis=1)
    assert test.max() - test.min() < 0.02                        # chapter: 95.7% to 97.2%


def test_equal_loss_same_test_accuracy(cmp):
    best = bc.tuned(cmp, "loss")
    assert np.all(cmp.lrs[best] == 0.4)
    loss = _at_tuned(cmp, "loss", "train_loss")
    assert np.all(loss <= TARGET)
    updates = _at_tuned(cmp, "loss", "update").mean(axis=1)
    assert updates[-1] < updates[0] and updates[-1] >= 0.8 * updates[0]   # 260 against 307
    epochs = updates / np.ceil(cmp.n_train / cmp.batch_sizes)
    assert epochs[-1] > 30 * epochs[0]                                    # 260 against 7.1
    test = _at_tuned(cmp, "loss", "test_accuracy").mean(axis=1)
    assert test.max() - test.min() < 0.01                                 # 96.3% to 96.7%


# ------------------------------------------------------------------- linear scaling
@pytest.fixture(scope="module")
def scaling(split, batches):
    def runs_at(lr_of):
        return {b: [bs.train_torch(split, b, epochs=EPOCHS, lr=lr_of(b), seed=s) for s in SEEDS]
                for b in batches}
    return runs_at(lambda b: 0.05), runs_at(lambda b: 0.05 * b / 32)


def test_linear_scaling_rule(scaling, batches):
    fixed, scaled = scaling
    final = {b: np.array([r.train_loss[-1] for r in fixed[b]]).mean() for b in batches}
    assert np.all(np.diff([final[b] for b in batches]) > 0)          # grows with B
    assert final[batches[-1]] > 4 * final[32]                         # 0.48 against 0.099
    ref = np.array([r.train_loss[-1] for r in scaled[32]]).mean()
    for b in (128, 512):
        loss = np.array([r.train_loss[-1] for r in scaled[b]]).mean()
        assert abs(loss / ref - 1) < 0.1                              # 0.098, 0.103 vs 0.099
    full = scaled[batches[-1]]
    assert full[0].lr == pytest.approx(2.1, abs=0.01)
    assert all(not np.isfinite(r.train_loss[-1]) or r.train_loss[-1] > bc.DIVERGED for r in full)


def test_mxnet_twin_of_the_scaled_runs(split, scaling):
    _, scaled = scaling
    for b in (32, 512):
        twin = bs.train_mxnet(split, b, epochs=EPOCHS, lr=0.05 * b / 32)
        np.testing.assert_allclose(twin.train_loss, scaled[b][0].train_loss, atol=1e-5)


def test_training_arguments_are_checked(split):
    with pytest.raises(ValueError):
        bs.train_torch(split, 32)                     # neither epochs nor updates
    with pytest.raises(ValueError):
        bs.train_torch(split, 0, epochs=1)


# ------------------------------------------------------------------ edge of stability
@pytest.mark.parametrize("seed", SEEDS)
def test_edge_of_stability_paths(split, seed):
    for lr in (0.2, 0.4):
        p = bc.sharpness_path(split, lr, updates=430, every=20, seed=seed)
        lam = p["top_eigenvalue"]
        assert lam.max() >= 1.03 * lam[0]                       # progressive sharpening
        assert lam.max() <= 1.2 * lam[0]                        # "by 4% to 17%"
        assert lam.max() < 0.85 * 2 / lr                        # well below the edge
    p = bc.sharpness_path(split, 0.8, updates=430, every=20, seed=seed)
    lam, at = p["top_eigenvalue"], p["lambda_at"]
    assert lam[0] > 2 / 0.8                                     # starts above the edge
    assert lam[at == 20][0] < 3.0                               # "below 3 within 20 updates"
    late = lam[at >= 100] * 0.8 / 2
    assert late.min() >= 0.93 and late.max() <= 1.03            # 0.94 to 1.02
    assert p["train_loss"][-1] < 0.1 * p["train_loss"][0]       # the loss keeps falling


def test_sharpness_capped_by_two_over_eta(cmp):
    ratio = bc.edge_ratio(cmp)                                  # (B, lr, seed)
    assert np.isfinite(ratio).sum() == 45
    assert np.nanmax(ratio) <= 1.05
    l4, l8 = LRS.index(0.4), LRS.index(0.8)
    assert np.all((ratio[-1, l8] > 0.98) & (ratio[-1, l8] < 1.03))
    assert np.all(np.diff(ratio[:, l4].mean(axis=1)) > 0)
    assert np.all(np.diff(ratio[1:, l8].mean(axis=1)) > 0)      # B = 32 diverges at 0.8
    assert np.all((ratio[0, l4] > 0.4) & (ratio[0, l4] < 0.6))  # "about half"
    top = cmp.metrics["updates"]["top_eigenvalue"].mean(axis=2)  # (B, lr), NaN: diverged
    for row in top:                                             # "a larger rate ... flatter"
        trained = row[np.isfinite(row)]
        assert len(trained) >= 3 and np.all(np.diff(trained) < 0)


# ----------------------------------------------------------------- sharp and flat minima
@pytest.fixture(scope="module")
def eps(cmp, split):
    return bc.eps_sharpness(cmp, split, "loss", LRS.index(0.4))


def test_large_batches_sharper_at_same_rate_and_loss(cmp, eps):
    l = LRS.index(0.4)
    top = cmp.metrics["loss"]["top_eigenvalue"][:, l]           # (B, seeds)
    assert np.all(np.diff(top.mean(axis=1)) > 0)                # 2.60, 3.53, 3.78, 3.89
    assert top[-1].min() > top[0].max()                         # every seed
    assert np.all(eps[1:].mean(axis=1) > 1.1 * eps[0].mean())   # 14.2-15.1 against 12.0
    test = cmp.metrics["loss"]["test_accuracy"][:, l].mean(axis=1)
    assert test.max() - test.min() < 0.01


def test_top_eigenvalue_at_the_loose_tolerance_is_accurate(split, cmp):
    """The chapter's Lanczos tolerance (1e-2, a residual bound) against a run converged to
    1e-10 from another start (tests/test_hessian.py checks Lanczos against exact Hessians)."""
    from course_lib import hessian

    model = cmp.models["loss"][-1][LRS.index(0.4)][0]
    data = (torch.as_tensor(split.x_train, dtype=torch.float64), torch.as_tensor(split.y_train))
    exact = hessian.top_eigenvalues(model.double(), bs.squared_error, data, k=1, tol=1e-10,
                                    seed=7).values[0]
    assert bs.top_eigenvalue(model, split, tol=bc.LANCZOS_TOL) == pytest.approx(exact, rel=1e-3)
    assert cmp.metrics["loss"]["top_eigenvalue"][-1, LRS.index(0.4), 0] == pytest.approx(exact, rel=1e-3)


def test_interpolation_large_batch_valley_is_narrower(split, cmp):
    l = LRS.index(0.4)
    models = cmp.models["loss"]
    for s in range(len(SEEDS)):
        curves = bs.interpolation(models[0][l][s], models[-1][l][s], split)
        a, loss = curves["alphas"], curves["train_loss"]
        at = {v: loss[int(np.argmin(abs(a - v)))] for v in (-1.0, 0.0, 1.0, 2.0)}
        assert at[0.0] == pytest.approx(cmp.metrics["loss"]["train_loss"][0, l, s], rel=1e-3)
        assert at[1.0] == pytest.approx(cmp.metrics["loss"]["train_loss"][-1, l, s], rel=1e-3)
        factor = (at[2.0] / at[1.0]) / (at[-1.0] / at[0.0])
        assert 4.5 <= factor <= 10                              # chapter: 5 to 9 times
