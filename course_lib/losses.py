"""Classification losses written out in numpy, with their gradients with respect to the logits.

These are the formulas of chapter 9, kept next to each other so that a reader can compare
them with PyTorch's and MXNet's built-in losses (the tests do)::

    softmax(z)_c      = exp(z_c - m) / sum_k exp(z_k - m),        m = max_k z_k
    log_softmax(z)_c  = z_c - m - log sum_k exp(z_k - m)
    cross_entropy     = - w_y log_softmax(z)_y        (LogSoftmax followed by NLL)
    squared error     = sum_c (softmax(z)_c - [c == y])^2     (MSE on the probabilities)

Shapes: ``logits`` is ``(..., N, C)`` (N examples, C classes) and ``labels`` holds integer
classes of shape ``(N,)`` (or anything broadcastable to ``logits.shape[:-1]``). Extra leading
dimensions are kept, so a whole grid of parameter settings is evaluated at once: with
``reduction="mean"`` a ``(G, N, C)`` array of logits gives ``G`` losses.

Example
-------
>>> import numpy as np
>>> softmax(np.array([3.0, 1.0, -3.0])).round(3).tolist()
[0.879, 0.119, 0.002]
>>> float(cross_entropy(np.array([[3.0, 1.0, -3.0]]), np.array([0]))).__round__(4)
0.1291
"""
from __future__ import annotations

import numpy as np

from course_lib import _checks

__all__ = [
    "softmax", "log_softmax", "nll", "cross_entropy", "cross_entropy_grad",
    "squared_error", "squared_error_grad", "balanced_class_weights", "REDUCTIONS",
]

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    _checks.one_of("reduction", reduction, REDUCTIONS)


def _as_logits(logits) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.result_type(np.asarray(logits).dtype, np.float32))
    if logits.ndim < 1:
        raise ValueError(f"logits must have a class axis (shape (..., C)), got shape {logits.shape}")
    return logits


def _as_labels(labels, logits: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    n_classes = logits.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}] (logits have {n_classes} classes), "
                         f"got values in [{labels.min()}, {labels.max()}]")
    return np.broadcast_to(labels, logits.shape[:-1])


def _class_weights(class_weights, n_classes: int, dtype) -> np.ndarray | None:
    if class_weights is None:
        return None
    weights = np.asarray(class_weights, dtype=dtype)
    if weights.shape != (n_classes,):
        raise ValueError(f"class_weights must have one entry per class, shape ({n_classes},), "
                         f"got shape {weights.shape}")
    if np.any(weights < 0):
        raise ValueError("class_weights must be >= 0")
    return weights


def softmax(logits, axis: int = -1) -> np.ndarray:
    """``exp(z_c) / sum_k exp(z_k)``, computed after subtracting ``max_k z_k`` so that no
    ``exp`` overflows (the result is unchanged: the factor ``exp(-m)`` cancels)."""
    logits = _as_logits(logits)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(logits, axis: int = -1) -> np.ndarray:
    """``z_c - m - log sum_k exp(z_k - m)`` with ``m = max_k z_k``.

    Unlike ``np.log(softmax(z))`` it stays finite when a probability underflows to 0:
    for float32 logits ``z = (0, 200)`` it returns ``(-200, 0)``, where ``log(softmax(z))``
    gives ``-inf`` because ``exp(-200)`` is below the smallest float32 number.
    """
    logits = _as_logits(logits)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _reduce(per_example: np.ndarray, weights: np.ndarray | None, reduction: str):
    """Reduce over the example axis (the last one); a weighted mean divides by sum of weights."""
    if reduction == "none":
        return per_example
    if reduction == "sum":
        return per_example.sum(axis=-1)
    if weights is None:
        return per_example.mean(axis=-1)
    return per_example.sum(axis=-1) / weights.sum(axis=-1)


def nll(log_probs, labels, class_weights=None, reduction: str = "mean"):
    """Negative log-likelihood of the labels: ``l_n = - w_{y_n} log p_n[y_n]``.

    ``reduction="mean"`` follows ``torch.nn.NLLLoss``: with class weights it is the
    *weighted* mean ``sum_n l_n / sum_n w_{y_n}``, so the loss stays on the same scale
    whatever the weights.
    """
    _check_reduction(reduction)
    log_probs = _as_logits(log_probs)
    labels = _as_labels(labels, log_probs)
    picked = np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    weights = _class_weights(class_weights, log_probs.shape[-1], log_probs.dtype)
    w = None if weights is None else weights[labels]
    per_example = -picked if w is None else -w * picked
    return _reduce(per_example, w, reduction)


def cross_entropy(logits, labels, class_weights=None, reduction: str = "mean"):
    """Cross-entropy of integer labels under ``softmax(logits)``: LogSoftmax, then NLL.

    Same convention as ``torch.nn.functional.cross_entropy(logits, labels, weight=...)``.
    """
    return nll(log_softmax(logits), labels, class_weights, reduction)


def cross_entropy_grad(logits, labels, class_weights=None, reduction: str = "mean") -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to the logits:
    ``w_{y_n} (softmax(z_n) - onehot(y_n))``, divided by ``N`` (or ``sum_n w_{y_n}``) for
    ``reduction="mean"``.

    It never vanishes while the prediction is wrong: ``|p - onehot|`` is close to 1 there.
    """
    _check_reduction(reduction)
    logits = _as_logits(logits)
    labels = _as_labels(labels, logits)
    grad = softmax(logits)
    np.put_along_axis(grad, labels[..., None],
                      np.take_along_axis(grad, labels[..., None], axis=-1) - 1, axis=-1)
    weights = _class_weights(class_weights, logits.shape[-1], logits.dtype)
    w = None if weights is None else weights[labels]
    if w is not None:
        grad = grad * w[..., None]
    if reduction == "mean":
        grad = grad / (logits.shape[-2] if w is None else w.sum(axis=-1)[..., None, None])
    return grad


def squared_error(logits, labels, reduction: str = "mean"):
    """Squared error between the probabilities and the one-hot labels (MSE on the softmax):
    ``l_n = sum_c (softmax(z_n)_c - [c == y_n])^2``.

    ``reduction="mean"`` averages over examples, so it equals ``C`` times
    ``torch.nn.functional.mse_loss(softmax(z), onehot)`` (which averages over N*C entries).
    """
    _check_reduction(reduction)
    logits = _as_logits(logits)
    labels = _as_labels(labels, logits)
    diff = softmax(logits)
    np.put_along_axis(diff, labels[..., None],
                      np.take_along_axis(diff, labels[..., None], axis=-1) - 1, axis=-1)
    return _reduce((diff ** 2).sum(axis=-1), None, reduction)


def squared_error_grad(logits, labels, reduction: str = "mean") -> np.ndarray:
    """Gradient of :func:`squared_error` with respect to the logits:
    ``2 p_k (d_k - sum_c p_c d_c)`` with ``p = softmax(z)``, ``d = p - onehot(y)``.

    Every term carries a factor ``p_k``: where the softmax saturates on a wrong class
    (``p_y`` and all wrong ``p_k`` except one near 0, that one near 1) the gradient vanishes
    although the loss is at its maximum. This is MSE's plateau.
    """
    _check_reduction(reduction)
    logits = _as_logits(logits)
    labels = _as_labels(labels, logits)
    p = softmax(logits)
    d = p.copy()
    np.put_along_axis(d, labels[..., None],
                      np.take_along_axis(d, labels[..., None], axis=-1) - 1, axis=-1)
    grad = 2 * p * (d - (p * d).sum(axis=-1, keepdims=True))
    if reduction == "mean":
        grad = grad / logits.shape[-2]
    return grad


def balanced_class_weights(labels, n_classes: int) -> np.ndarray:
    """Weights ``w_c = N / (C * N_c)`` that make every class contribute equally to the loss
    (scikit-learn's ``class_weight="balanced"``). A class absent from ``labels`` gets 0."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if int(n_classes) < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    if labels.size == 0:
        raise ValueError("labels must not be empty")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes - 1}], got values in "
                         f"[{labels.min()}, {labels.max()}]")
    counts = np.bincount(labels.ravel(), minlength=n_classes).astype(np.float64)
    weights = np.zeros(n_classes)
    present = counts > 0
    weights[present] = labels.size / (n_classes * counts[present])
    return weights
