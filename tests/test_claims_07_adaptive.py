"""The numbers chapter 7 (adaptive learning rates) states, recomputed with course_lib and
asserted with margins."""
import numpy as np
import pytest

from course_lib import surfaces
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
    quartiles = ada.adagrad_network_effective_lr(steps=60)
    assert np.all(np.diff(quartiles, axis=0) <= 0)
    assert quartiles[-1, 1] < 0.2 * quartiles[0, 1]
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
    peak = ada.bias_factor(np.arange(1, 1001)).max()
    assert 6 < peak < 7                                       # "grows to more than 6"


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


def test_uncorrected_adam_loses_its_first_epoch_torch_and_mxnet():
    for train in (ada.train_network_torch, ada.train_network_mxnet):
        corrected = train("Adam", epochs=1).train_loss[0]
        uncorrected = train("Adam, no bias correction", epochs=1).train_loss[0]
        assert corrected < 0.5
        assert uncorrected > 4 * corrected


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


def test_race_rosenbrock_adams_go_furthest_adadelta_slowest_on_gutter():
    gap, _ = _gaps("rosenbrock")
    best_two = sorted(gap, key=gap.get)[:2]
    assert set(best_two) == {"Adam", "Adam, no bias correction"}
    assert gap["Adagrad"] > 3.0                              # its steps shrank long before the minimum
    gap, _ = _gaps("gutter")
    assert gap["Adadelta"] == max(gap.values())
