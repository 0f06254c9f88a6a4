"""course_lib.diagnose: each failure of the general guide, on curves made to show it."""
import numpy as np
import pytest

import course_lib
from course_lib.doctor import ADVICE, VERDICTS, Diagnosis, diagnose
from course_lib.experiments import general_guide as guide

T = np.arange(30, dtype=float)
FALLING = 2.3 * np.exp(-T / 4) + 0.02           # trains well
GOOD_VAL = 1.3 * FALLING + 0.03


def test_diagnose_is_exported_at_the_top_level():
    assert course_lib.diagnose is diagnose
    assert set(ADVICE) == set(VERDICTS)


@pytest.mark.parametrize("seed", range(10))
def test_example_curves_get_the_verdict_they_were_made_for(seed):
    cases = guide.example_curves(seed=seed)
    assert set(cases) == set(VERDICTS)
    for name, kwargs in cases.items():
        assert diagnose(**kwargs).verdict == name, name


def test_nan_loss_is_divergence_and_names_the_epoch():
    loss = [2.3, 3.0, 9.0, 80.0, float("nan"), float("nan")]
    d = diagnose(loss)
    assert d.verdict == "diverged"
    assert d.measurements["diverged_at"] == 5
    assert "epoch 5" in d.evidence[0]


def test_inf_loss_and_inf_gradient_are_divergence():
    assert diagnose([2.3, 1.0, float("inf")]).verdict == "diverged"
    d = diagnose(FALLING, GOOD_VAL, grad_norm=np.r_[np.ones(29), np.inf])
    assert d.verdict == "diverged" and d.measurements["diverged_at"] == 30


def test_growing_but_finite_loss_is_divergence():
    assert diagnose(2.3 * 1.5 ** np.arange(10)).verdict == "diverged"


def test_zigzag_with_large_gradient_is_lr_too_large():
    zigzag = 1.0 + 0.4 * (-1.0) ** T
    d = diagnose(zigzag, zigzag + 0.05, grad_norm=np.full(30, 5.0))
    assert d.verdict == "lr_too_large"
    assert d.measurements["sign_changes"] == pytest.approx(1.0)
    assert d.measurements["recent_grad_norm"] == pytest.approx(5.0)


def test_zigzag_with_vanished_gradient_is_not_lr_too_large():
    zigzag = 1.0 + 0.4 * (-1.0) ** T
    grads = np.r_[np.full(20, 5.0), np.full(10, 0.01)]     # the slope is flat now
    assert diagnose(zigzag, grad_norm=grads).verdict != "lr_too_large"


def test_higher_training_loss_than_a_simpler_model_is_optimization():
    stuck = np.full(30, 2.25) + 0.01 * np.exp(-T)
    d = diagnose(stuck, stuck + 0.01, baseline_train_loss=FALLING + 0.2)
    assert d.verdict == "optimization"
    assert any("not overfitting" in sentence for sentence in d.evidence)


def test_still_falling_at_the_end_is_optimization():
    slow = 2.3 * np.exp(-T / 40)                   # has not converged after 30 epochs
    assert diagnose(slow).verdict == "optimization"


def test_converged_high_loss_no_better_than_baseline_is_model_bias():
    flat = 1.1 + 1.2 * np.exp(-T / 3)
    d = diagnose(flat, flat + 0.05, baseline_train_loss=flat + 0.1)
    assert d.verdict == "model_bias"
    assert d.advice == ADVICE["model_bias"]


def test_validation_loss_rising_is_overfitting_with_early_stopping_epoch():
    val = 2.0 * np.exp(-T / 4) + 0.3 + 0.04 * np.clip(T - 8, 0, None)
    d = diagnose(FALLING, val)
    assert d.verdict == "overfitting"
    assert d.measurements["best_val_epoch"] == int(np.argmin(val)) + 1


def test_fine_validation_but_high_shifted_test_is_mismatch():
    d = diagnose(FALLING, GOOD_VAL, test_loss=1.2)
    assert d.verdict == "mismatch"
    # without validation data the doctor cannot tell mismatch from overfitting
    assert diagnose(FALLING, test_loss=1.2).verdict == "overfitting"


def test_low_train_and_val_is_healthy():
    d = diagnose(FALLING, GOOD_VAL, test_loss=GOOD_VAL[-1])
    assert d.verdict == "healthy"
    assert isinstance(d, Diagnosis) and str(d).startswith("verdict: healthy")


def test_target_loss_changes_what_counts_as_high():
    flat = 1.1 + 1.2 * np.exp(-T / 3)
    assert diagnose(flat, flat + 0.05).verdict == "model_bias"
    assert diagnose(flat, flat + 0.05, target_loss=2.0).verdict == "healthy"


@pytest.mark.parametrize("kwargs, name", [
    (dict(train_loss=[1.0]), "train_loss"),
    (dict(train_loss=[[1.0, 2.0]]), "train_loss"),
    (dict(train_loss=[1.0, 0.5], gap_factor=1.0), "gap_factor"),
    (dict(train_loss=[1.0, 0.5], target_loss=-1), "target_loss"),
    (dict(train_loss=[1.0, 0.5], window=2), "window"),
    (dict(train_loss=[1.0, 0.5], baseline_margin=-0.1), "baseline_margin"),
    (dict(train_loss=[1.0, 0.5], divergence_factor=0.5), "divergence_factor"),
])
def test_bad_input_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        diagnose(**kwargs)


def test_non_numeric_curve_is_rejected():
    with pytest.raises(TypeError, match="val_loss"):
        diagnose([1.0, 0.5], val_loss=["a", "b"])
