"""The claims of chapter 7 (lectures/07_adaptive.md), recomputed with course_lib.

- On the gutter at lr 0.25 the loss is stuck at 3.51 with gradient norm 7.1 (the predicted
  bounce), while 0.15 converges: test_loss_stuck_while_gradient_norm_stays_large
  (the bounce needs lr > 2/c: test_two_cycle_needs_lr_above_two_over_c).
- The w/b valley: condition number 139; too small a rate is not there in 3000 steps, the best
  single rate needs about 600, past 2/L diverges: test_no_single_learning_rate_fits_the_wb_valley.
- Adagrad's effective rates never grow, b gets about 3 times w's rate:
  test_adagrad_effective_step_decreases_monotonically_on_a_surface; on the network no
  weight's rate grows and the median falls more slowly than 1/sqrt(t) (slope about -0.3):
  test_adagrad_effective_step_decreases_monotonically_on_a_network.
- Adam without bias correction: (1 - beta1^t)/sqrt(1 - beta2^t) times the corrected step,
  3.16 at step 1, more than 6 at its peak, 3.2 to 6.6 in the first hundred steps, 1.26 at
  step 1000; RMSProp's first step is 10 eta: test_adam_bias_correction_factor_matches_the_math,
  test_adam_first_step_without_correction_default_betas_is_316x,
  test_adam_without_correction_takes_smaller_steps_when_beta2_equals_beta1,
  test_adam_first_step_on_a_surface; measured 3.16 in PyTorch and MXNet:
  test_adam_first_step_ratio_on_the_network_torch_and_mxnet.
- On the network the uncorrected Adam loses its first epoch (three seeds, both frameworks):
  test_uncorrected_adam_loses_its_first_epoch_torch_and_mxnet; Adagrad, RMSProp and Adam
  start far faster than SGD: test_adaptive_methods_start_far_faster_than_sgd_on_the_network.
- The race: adaptive methods solve the gutter, beat gradient descent on the w/b valley and
  survive where it diverges, Adadelta is the slowest on the valleys, the two Adams go
  furthest on Rosenbrock, the uncorrected Adam happens to do better on the surfaces:
  test_race_gutter_adaptive_methods_beat_gradient_descent, test_race_wb_valley,
  test_race_without_bias_correction_happens_to_help_on_the_surfaces,
  test_race_rosenbrock_adams_go_furthest_adadelta_slowest_on_gutter.
"""
import numpy as np
import pytest

from course_lib import descent, surfaces
from course_lib.experiments import adaptive as ada

WB = surfaces.wb_valley()
pytestmark = pytest.mark.filterwarnings("ignore:Please import `csr_matrix`:DeprecationWarning")


def test_loss_stuck_while_gradient_norm_stays_large():
    stuck = ada.stuck_run(0.25)
    bounce = ada.two_cycle(10.0, 0.25)
    assert bounce["loss"] == pytest.approx(3.51, abs=0.01)
    assert bounce["grad_norm"] == pytest.approx(7.10, abs=0.01)
    # from step 100 on: the loss barely moves, the gradient norm stays at the bounce's
    assert np.all(stuck.loss[100:, 0] - bounce["loss"] < 0.03)
    assert np.all(np.abs(stuck.grad_norm[100:, 0] - bounce["grad_norm"]) < 0.01)
    assert stuck.loss[-1, 0] == pytest.approx(bounce["loss"], abs=1e-3)
    # below 2/c the same start converges
    fine = ada.stuck_run(0.15)
    assert fine.loss[-1, 0] < 0.01 and fine.grad_norm[-1, 0] < 0.05


def test_two_cycle_needs_lr_above_two_over_c():
    with pytest.raises(ValueError, match="lr"):
        ada.two_cycle(10.0, 0.15)


def test_no_single_learning_rate_fits_the_wb_valley():
    assert WB.condition == pytest.approx(139, abs=1)
    needed = ada.gd_steps_vs_lr(WB, [0.25, 1.0, 1.98, 2.02], steps=3000)
    assert needed[0] == -1                                   # too small: not there in 3000 steps
    assert needed[1] > 1000
    assert needed[2] == pytest.approx(600, abs=30)           # the best single rate: ~600 steps
    assert needed[3] == -1                                   # past 2/L: diverges


def test_adagrad_effective_step_decreases_monotonically_on_a_surface():
    effective, lengths = ada.adagrad_effective_steps(WB, ada.wb_start(WB)[0], 300, lr=1.0)
    assert np.all(np.diff(effective, axis=0) < 0)            # strictly, every coordinate, every step
    assert effective[-1, 1] / effective[-1, 0] == pytest.approx(3.2, abs=0.2)   # b gets ~3x w's rate
    assert lengths[0] == pytest.approx(np.sqrt(2), rel=1e-6)  # first step: lr * sign(g) per coordinate
    assert lengths[99] < 0.05 * lengths[0]


def test_adagrad_effective_step_decreases_monotonically_on_a_network():
    quartiles = ada.adagrad_network_effective_lr(steps=100)
    assert np.all(np.diff(quartiles, axis=0) <= 0)
    assert quartiles[-1, 1] < 0.2 * quartiles[0, 1]
    # "more slowly than the 1/sqrt(t) of a constant gradient size (a log-log slope of about
    # -0.3 over the 100 steps)": measured -0.34
    t = np.arange(1, 101)
    slope = np.polyfit(np.log(t), np.log(quartiles[:, 1]), 1)[0]
    assert -0.4 < slope < -0.25
    every = ada.adagrad_network_effective_lr(steps=60, per_weight=True)
    assert every.shape[1] == 64 * 32 + 32 + 32 * 10 + 10
    assert np.all(np.diff(every, axis=0) <= 0)               # no weight's rate ever grows
    assert np.all(np.diff(every.mean(axis=1)) < 0)           # and on average it falls every step


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.9, 0.9), (0.8, 0.99)])
def test_adam_bias_correction_factor_matches_the_math(betas):
    t = np.arange(1, 2001)
    np.testing.assert_allclose(ada.adam_step_ratio(2000, betas=betas), ada.bias_factor(t, betas), rtol=1e-5)


def test_adam_first_step_without_correction_default_betas_is_316x():
    assert ada.bias_factor(1) == pytest.approx(0.1 / np.sqrt(0.001))
    assert ada.adam_step_ratio(1)[0] == pytest.approx(3.1623, abs=1e-3)
    factor = ada.bias_factor(np.arange(1, 1001))
    assert 6 < factor.max() < 7                               # "grows to more than 6"
    # "3.2 to 6.6 times larger during the first hundred steps (and still 1.26 times at step
    # 1000)"
    assert 3.15 < factor[:100].min() and factor[:100].max() < 6.6
    assert factor[999] == pytest.approx(1.26, abs=0.005)
    # "(RMSProp ... its first step is eta / sqrt(1 - alpha) = 10 eta)"
    first = descent.run("rmsprop", WB, ada.wb_start(WB), 1, lr=0.01, alpha=0.99)
    step = np.abs(np.diff(first.trajectory[:, 0], axis=0))[0]
    np.testing.assert_allclose(step, 0.1, rtol=1e-6)


def test_adam_without_correction_takes_smaller_steps_when_beta2_equals_beta1():
    ratio = ada.adam_step_ratio(50, betas=(0.9, 0.9))
    assert np.all(ratio < 1)
    np.testing.assert_allclose(ratio, np.sqrt(1 - 0.9 ** np.arange(1, 51)), rtol=1e-6)


def test_adam_first_step_on_a_surface():
    steps = ada.first_adam_steps(WB, ada.wb_start(WB), 1, lr=0.1)
    assert steps[False][0] / steps[True][0] == pytest.approx(ada.bias_factor(1), rel=1e-6)


def test_adam_first_step_ratio_on_the_network_torch_and_mxnet():
    assert ada.first_step_ratio_torch() == pytest.approx(ada.bias_factor(1), rel=0.01)
    assert ada.first_step_ratio_mxnet() == pytest.approx(ada.bias_factor(1), rel=0.01)


@pytest.mark.parametrize("seed", range(3))
def test_uncorrected_adam_loses_its_first_epoch_torch_and_mxnet(seed):
    for train in (ada.train_network_torch, ada.train_network_mxnet):
        corrected = train("Adam", seed=seed, epochs=1).train_loss[0]
        uncorrected = train("Adam, no bias correction", seed=seed, epochs=1).train_loss[0]
        assert corrected < 0.5
        assert uncorrected > 4 * corrected


@pytest.mark.parametrize("seed", range(3))
def test_adaptive_methods_start_far_faster_than_sgd_on_the_network(seed):
    """ "Adagrad, RMSProp and Adam start far faster than plain SGD here": first-epoch
    training loss (measured: SGD 1.72-1.75, the three 0.16-0.40)."""
    first = {label: ada.train_network_torch(label, seed=seed, epochs=1).train_loss[0]
             for label in ("SGD", "Adagrad", "RMSProp", "Adam")}
    for label in ("Adagrad", "RMSProp", "Adam"):
        assert first[label] < 0.3 * first["SGD"]


def test_race_gutter_adaptive_methods_beat_gradient_descent():
    runs = ada.race("gutter")
    gap = {k: r.loss[-1, 0] for k, r in runs.items()}
    for label in ("Adagrad", "RMSProp", "Adam"):
        assert gap[label] < 1e-10 < 1e-3 < gap["gradient descent"]


def test_race_rejects_unknown_surface():
    with pytest.raises(ValueError, match="surface_name"):
        ada.race("nowhere")


def _gaps(name, scale=1.0):
    runs = ada.race(name, scale)
    surface = runs["Adam"].surface
    minimum = surface.value(surface.minima).min()
    return {k: r.loss[-1, 0] - minimum for k, r in runs.items()}, {k: r.diverged[0] for k, r in runs.items()}


def test_race_wb_valley():
    gap, _ = _gaps("w/b valley")
    for label in ("Adagrad", "RMSProp", "Adam"):
        assert gap[label] < gap["gradient descent"]
    assert gap["Adadelta"] == max(gap.values())              # slowest on the valleys
    _, diverged = _gaps("w/b valley", 3.0)
    assert diverged["gradient descent"]
    assert not any(v for k, v in diverged.items() if k != "gradient descent")


def test_race_without_bias_correction_happens_to_help_on_the_surfaces():
    """ "Without bias correction Adam takes larger early steps, which on these deterministic
    surfaces happens to help"."""
    for name in ("w/b valley", "rosenbrock"):
        gap, _ = _gaps(name)
        assert gap["Adam, no bias correction"] < 0.5 * gap["Adam"]
    gap, _ = _gaps("gutter")
    assert gap["Adam, no bias correction"] < 1e-10 and gap["Adam"] < 1e-10


def test_race_rosenbrock_adams_go_furthest_adadelta_slowest_on_gutter():
    gap, _ = _gaps("rosenbrock")
    best_two = sorted(gap, key=gap.get)[:2]
    assert set(best_two) == {"Adam", "Adam, no bias correction"}
    assert gap["Adagrad"] > 3.0                              # its steps shrank long before the minimum
    gap, _ = _gaps("gutter")
    assert gap["Adadelta"] == max(gap.values())


# -------------------------------------------------- appendix: one rule, two conventions
def _steps(name, grads, lrs, **hyper):
    """The page's helper: the steps of a rule from w = 0, one per (gradient, lr)."""
    from course_lib import rules
    rule, w, out = rules.get(name), np.zeros(1), []
    state = rule.init(w, rules.NUMPY, **hyper)
    for g, lr in zip(grads, lrs):
        before = w.copy()
        rule.update(w, np.array([g]), state, rules.NUMPY, **rule.hyper(lr=lr, **hyper))
        out.append(float(before - w))
    return out


def test_appendix_adam_first_step_16x_smaller_with_mxnets_eps():
    torch_like = _steps("adam", [1e-3], [0.1], eps=1e-3)[0]
    mxnet_like = _steps("adam", [1e-3], [0.1], eps=1e-3, bias_correction_in_lr=True)[0]
    assert torch_like == pytest.approx(0.05)
    assert torch_like / mxnet_like >= 16
    assert 31 < 1 / np.sqrt(1 - 0.999) < 32          # "about 32 eps"


def test_appendix_momentum_after_a_tenfold_drop_mxnet_step_7x():
    grads, lrs = [1.0] * 4, [0.1] * 3 + [0.01]
    torch_like = _steps("momentum", grads, lrs)
    mxnet_like = _steps("momentum", grads, lrs, lr_in_buffer=True)
    assert torch_like[:3] == pytest.approx(mxnet_like[:3])   # same while the rate is constant
    assert torch_like[3] == pytest.approx(0.01 * (0.9 * torch_like[2] / 0.1 + 1.0))
    assert mxnet_like[3] / torch_like[3] >= 7


def test_appendix_adagrad_eps_inside_the_root_3x_smaller_first_step():
    torch_like = _steps("adagrad", [1e-4], [0.01], eps=1e-7)[0]
    mxnet_like = _steps("adagrad", [1e-4], [0.01], eps=1e-7, eps_inside_sqrt=True)[0]
    assert np.sqrt(1e-7) == pytest.approx(3.2e-4, rel=0.02)
    assert torch_like / mxnet_like >= 3
