"""Offline data sets: scikit-learn's bundled digits and synthetic problems made in code.

Nothing here downloads anything. Arrays are numpy (float32 features, int64 labels) so that
both frameworks can take them: see :func:`to_torch` and :func:`to_mxnet`.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

from course_lib import _checks


class Split(NamedTuple):
    """A train/test split of a classification or regression set."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def digits(test_size: float = 0.25, seed: int = 0, standardize: bool = True,
           n_train: int | None = None) -> Split:
    """The 8x8 handwritten digits of scikit-learn (1797 images, 10 classes), split at random.

    Features are the 64 pixel intensities (0..16) as float32; with ``standardize`` each
    pixel is shifted and scaled by the *training* mean and standard deviation.
    ``n_train`` keeps only the first ``n_train`` training examples (fast experiments).
    """
    from sklearn.datasets import load_digits

    _checks.number("test_size", test_size, 0, 1, low_open=True, high_open=True)
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_size * len(y)))
    test, train = order[:n_test], order[n_test:]
    if n_train is not None:
        _checks.integer("n_train", n_train, 1)
        train = train[:n_train]
    x = x.astype(np.float32)
    x_train, x_test = x[train], x[test]
    if standardize:
        mean = x_train.mean(axis=0)
        std = x_train.std(axis=0) + 1e-6  # some border pixels are always 0
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return Split(x_train.astype(np.float32), y[train].astype(np.int64),
                 x_test.astype(np.float32), y[test].astype(np.int64))


def synthetic_regression(n: int = 1000, w=(2.0, -3.4), b: float = 4.2, noise: float = 0.01,
                         seed: int = 0):
    """Linear-regression data ``y = X w + b + noise * N(0, 1)`` with ``X ~ N(0, I)``.

    The defaults are the course's standard problem: 1000 examples, 2 features,
    ``w = [2, -3.4]``, ``b = 4.2``, noise 0.01. Returns ``(X, y)`` as float32 arrays of
    shapes ``(n, d)`` and ``(n,)``.
    """
    _checks.integer("n", n, 1)
    _checks.nonnegative("noise", noise)
    rng = np.random.default_rng(seed)
    w = np.asarray(w, dtype=np.float64)
    x = rng.standard_normal((n, w.size))
    y = x @ w + b + noise * rng.standard_normal(n)
    return x.astype(np.float32), y.astype(np.float32)


def shifted_digits(shift: float = 1.5, seed: int = 0) -> Split:
    """Digits whose *test* images are brighter and blurrier than the training images.

    A controlled train/test mismatch: the test set is drawn from a different distribution
    (pixel intensities scaled by ``shift`` and smoothed), while the labels mean the same.
    """
    split = digits(seed=seed, standardize=False)
    images = split.x_test.reshape(-1, 8, 8) * shift
    blurred = images.copy()
    blurred[:, 1:, :] += 0.5 * images[:, :-1, :]
    blurred[:, :, 1:] += 0.5 * images[:, :, :-1]
    x_test = np.clip(blurred.reshape(-1, 64), 0, None)
    mean = split.x_train.mean(axis=0)
    std = split.x_train.std(axis=0) + 1e-6
    return Split(((split.x_train - mean) / std).astype(np.float32), split.y_train,
                 ((x_test - mean) / std).astype(np.float32), split.y_test)


def batches(n: int, batch_size: int, rng: np.random.Generator | None = None,
            drop_last: bool = False) -> Iterator[np.ndarray]:
    """Yield index arrays of minibatches covering ``range(n)`` once (shuffled when ``rng``)."""
    _checks.integer("batch_size", batch_size, 1)
    order = rng.permutation(n) if rng is not None else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def to_torch(*arrays, device=None):
    """Convert numpy arrays to torch tensors on ``device`` (default: course_lib.torch.device())."""
    import torch
    from course_lib.torch import device as default_device

    device = default_device() if device is None else device
    out = tuple(torch.as_tensor(a, device=device) for a in arrays)
    return out[0] if len(out) == 1 else out


def to_mxnet(*arrays, ctx=None):
    """Convert numpy arrays to MXNet NDArrays on ``ctx`` (default: course_lib.mxnet.context())."""
    from course_lib.mxnet import context, mx

    ctx = context() if ctx is None else ctx
    out = tuple(mx.nd.array(a, ctx=ctx, dtype=a.dtype) for a in arrays)
    return out[0] if len(out) == 1 else out
