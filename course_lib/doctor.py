"""The training doctor: name the likely reason a network fails, from its learning curves.

:func:`diagnose` follows the general guide of chapter 1, in this order:

1. **diverged** - the training loss (or the gradient norm) became NaN or infinite, or
   ended far above where it started;
2. the training loss is *high* (above ``target_loss``):

   * **lr_too_large** - the loss zig-zags instead of falling, while the gradient norm stays
     large (the steps bounce across a valley rather than descend into it);
   * **optimization** - a simpler baseline reached a lower training loss (a more flexible
     model could at least copy it, so the optimizer failed), or the loss is still falling
     steeply when training stopped;
   * **model_bias** - otherwise: the model converged, but even its best fit of the training
     set is poor, so it is too simple;

3. the training loss is low:

   * **overfitting** - the validation loss (held out from the *training* distribution) is
     high;
   * **mismatch** - validation is fine but the loss on the data the model must serve
     (``test_loss``, drawn from another distribution) is high;
   * **healthy** - otherwise.

Curves hold one point per epoch (any regular interval works; evidence calls it an epoch).

Example
-------
>>> d = diagnose([2.3, 0.9, 0.4, 0.2, 0.1, 0.05], [2.3, 1.0, 0.7, 0.8, 1.0, 1.3])
>>> d.verdict
'overfitting'
>>> print(d.evidence[0])
the final validation loss 1.3 is 26x the final training loss 0.05 (and above the target 0.23)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from course_lib import _checks

__all__ = ["VERDICTS", "ADVICE", "Diagnosis", "diagnose"]

#: The verdicts :func:`diagnose` can return.
VERDICTS = ("diverged", "lr_too_large", "optimization", "model_bias", "overfitting",
            "mismatch", "healthy")

#: What to try for each verdict (the remedies of the general guide).
ADVICE = {
    "diverged": ("lower the learning rate (by 10x)", "check the initial scale of the weights "
                 "and of the inputs", "clip gradients or normalize the inputs"),
    "lr_too_large": ("lower the learning rate", "use a per-parameter adaptive rate "
                     "(Adagrad, RMSProp, Adam)", "decay the learning rate over time"),
    "optimization": ("train longer or with a larger learning rate if the loss is still "
                     "falling", "use momentum or an adaptive optimizer",
                     "normalize layers (batch normalization), use residual connections or "
                     "better initialization"),
    "model_bias": ("make the model more flexible: more features, more neurons, more layers",),
    "overfitting": ("more training data, or data augmentation", "less flexibility: fewer "
                    "parameters, shared parameters (convolutions), fewer features",
                    "early stopping, regularization (weight decay), dropout"),
    "mismatch": ("collect training data from the distribution the model will serve; more "
                 "data of the old kind does not help",),
    "healthy": ("nothing to fix: check the test set only once, at the very end",),
}


@dataclass(frozen=True)
class Diagnosis:
    """The doctor's answer.

    Attributes
    ----------
    verdict : str
        One of :data:`VERDICTS`.
    evidence : tuple of str
        Sentences, with the numbers read off the curves, that support the verdict.
    advice : tuple of str
        What to try next (:data:`ADVICE`).
    measurements : dict
        The numbers the verdict was based on (final losses, oscillation statistics...).
    """

    verdict: str
    evidence: tuple
    advice: tuple
    measurements: dict = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        lines = [f"verdict: {self.verdict}"]
        lines += [f"  - {sentence}" for sentence in self.evidence]
        lines += [f"  try: {self.advice[0]}"] if self.advice else []
        return "\n".join(lines)


# ------------------------------------------------------------------------------ helpers
def _curve(name: str, values, allow_scalar: bool = False, min_length: int = 1) -> np.ndarray:
    if values is None:
        return None
    if allow_scalar and np.ndim(values) == 0:
        values = [values]
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from None
    if array.ndim != 1 or array.size < min_length:
        kind = "a number or a 1-D sequence" if allow_scalar else "a 1-D sequence"
        raise ValueError(f"{name} must be {kind} with at least {min_length} value(s), "
                         f"got shape {array.shape}")
    return array


def _g(x: float) -> str:
    """A number as a reader wants it: 3 significant digits."""
    return f"{x:.3g}"


def _oscillation(window: np.ndarray) -> dict:
    """How much a stretch of a curve zig-zags instead of moving one way.

    ``sign_changes``: share of consecutive steps that reverse direction;
    ``jump``: mean absolute step relative to the mean level;
    ``efficiency``: net change over the total path length (1 = monotone, 0 = back where
    it started).
    """
    steps = np.diff(window)
    path = float(np.abs(steps).sum())
    moving = steps[steps != 0]
    reversals = float(np.mean(np.sign(moving[1:]) != np.sign(moving[:-1]))) if moving.size > 1 else 0.0
    level = float(np.mean(np.abs(window))) or 1.0
    return {"sign_changes": reversals,
            "jump": float(np.mean(np.abs(steps))) / level,
            "efficiency": abs(float(window[-1] - window[0])) / path if path > 0 else 1.0}


# ------------------------------------------------------------------------------ doctor
def diagnose(train_loss: Sequence[float], val_loss=None, *, test_loss=None, grad_norm=None,
             baseline_train_loss=None, target_loss: float | None = None,
             window: int | None = None, gap_factor: float = 2.0,
             baseline_margin: float = 0.25, divergence_factor: float = 10.0) -> Diagnosis:
    """Name the likely failure of a training run from its curves (see the module docstring).

    Parameters
    ----------
    train_loss : sequence of float
        Loss on the training set, one value per epoch (at least 2 values).
    val_loss : float or sequence, optional
        Loss on held-out data from the *same* distribution as the training set.
    test_loss : float or sequence, optional
        Loss on the data the model must serve, possibly from another distribution.
        High here while ``val_loss`` is fine means mismatch.
    grad_norm : sequence of float, optional
        Gradient norm per epoch. A large gradient while the loss stalls points to a
        learning rate too large rather than to a flat region.
    baseline_train_loss : float or sequence, optional
        Training loss of a simpler model (fewer layers, a linear model) on the same data.
    target_loss : float, optional
        The loss regarded as low. Default: 10% of the first training loss.
    window : int, optional
        Number of final points examined for zig-zag and progress. Default: the last third
        of the curve (at least 4 points).
    gap_factor : float
        Held-out loss counts as high when above both ``target_loss`` and ``gap_factor``
        times the final training loss.
    baseline_margin : float
        The model counts as worse than the baseline when its final training loss exceeds the
        baseline's by more than this fraction.
    divergence_factor : float
        A final training loss above this multiple of the first counts as diverged.

    Returns
    -------
    Diagnosis
    """
    train = _curve("train_loss", train_loss, min_length=2)
    val = _curve("val_loss", val_loss, allow_scalar=True)
    test = _curve("test_loss", test_loss, allow_scalar=True)
    grads = _curve("grad_norm", grad_norm)
    baseline = _curve("baseline_train_loss", baseline_train_loss, allow_scalar=True)
    _check_settings(gap_factor, divergence_factor, baseline_margin, target_loss, window)
    measured: dict = {}
    found = _divergence(train, grads, divergence_factor, measured)       # 1. divergence
    if found is not None:
        return found
    (target, note), final = _target(train, target_loss, measured), float(train[-1])
    if final > target:                                                    # 2. high training loss
        high = f"the final training loss {_g(final)} is above the target {_g(target)}{note}"
        return _high_training_loss(train, grads, baseline, window, baseline_margin, high, measured)
    # 3. low training loss: compare with held-out data
    low = f"the final training loss {_g(final)} is below the target {_g(target)}{note}"
    limit = max(target, gap_factor * final)
    return (_overfitting(train, val, test, limit, measured)
            or _mismatch(val, test, limit, low, measured)
            or _healthy(val, test, low, measured))


def _verdict(measured: dict, name: str, *evidence: str) -> Diagnosis:
    return Diagnosis(name, tuple(evidence), ADVICE[name], measured)


def _target(train, target_loss, measured: dict) -> tuple:
    """The loss regarded as low (given, or 10% of the first) and how it was chosen."""
    start = float(train[0])
    target = 0.1 * start if target_loss is None else float(target_loss)
    measured["target"] = target
    note = ("" if target_loss is not None else f" (10% of the first training loss "
            f"{_g(start)}; set target_loss to choose your own)")
    return target, note


def _check_settings(gap_factor, divergence_factor, baseline_margin, target_loss, window) -> None:
    for name, value in (("gap_factor", gap_factor), ("divergence_factor", divergence_factor)):
        _checks.number(name, value, 1.0, low_open=True, requirement="a number > 1")
    _checks.nonnegative("baseline_margin", baseline_margin)
    if target_loss is not None:
        _checks.positive("target_loss", target_loss)
    if window is not None:
        _checks.integer("window", window, 3)


def _divergence(train, grads, divergence_factor: float, measured: dict):
    """Step 1: a non-finite loss or gradient, or a loss that grew by ``divergence_factor``."""
    bad = np.flatnonzero(~np.isfinite(train))
    if bad.size:
        first = int(bad[0])
        before = train[:first][-3:]
        history = (f" after {', '.join(_g(v) for v in before)}" if before.size else "")
        measured["diverged_at"] = first + 1
        return _verdict(measured, "diverged",
                        f"the training loss is {train[first]} at epoch {first + 1}{history}")
    if grads is not None and not np.all(np.isfinite(grads)):
        first = int(np.flatnonzero(~np.isfinite(grads))[0])
        measured["diverged_at"] = first + 1
        return _verdict(measured, "diverged", f"the gradient norm is {grads[first]} at epoch {first + 1}")
    start, final = float(train[0]), float(train[-1])
    measured.update(initial_train=start, final_train=final)
    if start > 0 and final > divergence_factor * start:
        return _verdict(measured, "diverged", f"the training loss grew from {_g(start)} to "
                        f"{_g(final)} ({_g(final / start)}x): each step makes things worse")
    return None


def _high_training_loss(train, grads, baseline, window, baseline_margin: float, high: str,
                        measured: dict) -> Diagnosis:
    """Step 2: zig-zag (lr too large), behind a simpler model, still falling, or flat."""
    n = len(train)
    size = max(4, n // 3) if window is None else window
    tail = train[-min(size, n):]
    found = _zigzag(tail, grads, size, high, measured)
    if found is not None:
        return found
    final = float(train[-1])
    if baseline is not None:
        reference = float(baseline[-1])
        measured["baseline_train"] = reference
        if final > (1 + baseline_margin) * reference:
            return _verdict(measured, "optimization", high, f"a simpler model reached a training "
                            f"loss of {_g(reference)}, {_g(final / reference)}x lower: this model "
                            "can represent at least as much, so the optimizer, not the model, "
                            "failed", "this is not overfitting: the loss is high on the training "
                            "set itself")
    progress = (tail[0] - tail[-1]) / tail[0] if tail[0] > 0 else 0.0
    measured["recent_progress"] = float(progress)
    if progress >= 0.1:
        return _verdict(measured, "optimization", high, f"the loss fell another {progress:.0%} "
                        f"over the last {tail.size} epochs: training stopped before it converged")
    evidence = [high, f"the loss has flattened (it moved {progress:.1%} over the last "
                f"{tail.size} epochs): the model is as good as it gets"]
    if baseline is not None:
        evidence.append(f"a simpler model reached {_g(float(baseline[-1]))}, no better: "
                        "more flexibility is needed")
    else:
        evidence.append("no simpler baseline was given: if a smaller model trains to a lower "
                        "loss, the verdict is optimization instead")
    return _verdict(measured, "model_bias", *evidence)


def _zigzag(tail, grads, size: int, high: str, measured: dict):
    """A final stretch that reverses direction often, by large jumps, on a steep slope."""
    shape = _oscillation(tail)
    measured.update(shape)
    if not (shape["sign_changes"] >= 0.5 and shape["jump"] >= 0.1 and shape["efficiency"] < 0.5):
        return None
    evidence = [high, f"over the last {tail.size} epochs the loss reversed direction on "
                f"{shape['sign_changes']:.0%} of the steps, jumping by {shape['jump']:.0%} "
                f"of its level each time, yet moved only {shape['efficiency']:.0%} of "
                "that path in net"]
    if grads is None:
        return _verdict(measured, "lr_too_large", *evidence, "no gradient norm was given: pass "
                        "grad_norm to confirm the slope is not flat")
    recent, peak = float(np.mean(grads[-min(size, grads.size):])), float(np.max(grads))
    measured.update(recent_grad_norm=recent, peak_grad_norm=peak)
    if recent >= 0.25 * peak:
        return _verdict(measured, "lr_too_large", *evidence, f"the gradient norm is still "
                        f"{_g(recent)} ({recent / peak:.0%} of its largest value "
                        f"{_g(peak)}): the loss stalls on a slope, not on a flat spot")
    return None


def _overfitting(train, val, test, limit: float, measured: dict):
    """Step 3a: the validation loss ends above ``limit`` (target and gap_factor x train)."""
    if val is None:
        return None
    final, final_val = float(train[-1]), float(val[-1])
    measured["final_val"] = final_val
    if np.isfinite(final_val) and not final_val > limit:
        return None
    times = f"{_g(final_val / final)}x" if final > 0 else "far above"
    evidence = [f"the final validation loss {_g(final_val)} is {times} the final "
                f"training loss {_g(final)} (and above the target {_g(measured['target'])})"]
    best = int(np.argmin(val))
    if val.size > 2 and best < val.size - 1 and val[best] < final_val:
        measured["best_val_epoch"] = best + 1
        evidence.append(f"the validation loss was lowest ({_g(float(val[best]))}) at epoch "
                        f"{best + 1} and rose {final_val / val[best] - 1:.0%} since, while "
                        "the training loss kept falling: stopping early there keeps the "
                        "better model")
    if test is not None:
        evidence.append(f"the test loss {_g(float(test[-1]))} is high too; fix the "
                        "overfitting first, then look for mismatch")
    return _verdict(measured, "overfitting", *evidence)


def _mismatch(val, test, limit: float, low: str, measured: dict):
    """Step 3b: the test loss ends high while the validation loss does not."""
    if test is None:
        return None
    final_test = float(test[-1])
    measured["final_test"] = final_test
    if np.isfinite(final_test) and not final_test > limit:
        return None
    if val is not None:
        return _verdict(measured, "mismatch", low, f"validation data from the training "
                        f"distribution is fine ({_g(float(val[-1]))}), but the test loss is "
                        f"{_g(final_test)}, {_g(final_test / max(float(val[-1]), 1e-300))}x "
                        "higher: the test data come from a different distribution")
    return _verdict(measured, "overfitting", low, f"the test loss {_g(final_test)} is high, and "
                    "there is no validation set from the training distribution to tell "
                    "overfitting from mismatch: assuming overfitting (hold out part of the "
                    "training set to check)")


def _healthy(val, test, low: str, measured: dict) -> Diagnosis:
    """Step 3c: low training loss and nothing high on held-out data."""
    evidence = [low]
    if val is not None:
        evidence.append(f"the validation loss {_g(float(val[-1]))} stays close to it")
    else:
        evidence.append("no validation loss was given: hold out data to check for overfitting")
    if test is not None:
        evidence.append(f"the test loss {_g(float(test[-1]))} is fine too")
    return _verdict(measured, "healthy", *evidence)
