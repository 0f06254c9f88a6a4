"""Experiments of chapter 1: a general guide to a network that fails to train.

* :func:`example_curves` - learning curves made to show each failure the doctor
  (:func:`course_lib.doctor.diagnose`) names; :func:`print_wrapped` prints a diagnosis
  within the page's 80 columns;
* :func:`train_plain_mlp`, :func:`depth_sweep` - plain sigmoid MLPs on digits: deeper nets
  reach a *higher training* loss on the same budget (an optimization problem);
* :func:`mismatch_experiment` (one run: :func:`mismatch_run_torch`,
  :func:`mismatch_run_mxnet`) - more training data lowers the validation error but not the
  error on test images from a shifted distribution;
* polynomial regression (:func:`capacity_curve`, :func:`bias_variance`,
  :func:`cross_validation_error`) - overfitting over model capacity and its cure by an L2
  penalty (``weight_decay``), the bias-complexity trade-off and k-fold cross-validation;
* :func:`leaderboard` - picking the best of many random submissions on a public test set.
"""
from __future__ import annotations

import functools
import textwrap
import warnings
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogFormatter
from numpy.polynomial import Legendre, legendre

import course_lib.torch as ctorch
from course_lib import _checks, config, data, models

__all__ = ["example_curves", "print_wrapped", "PLAIN_MLP", "train_plain_mlp", "depth_sweep",
           "MISMATCH_MLP", "mismatch_run_torch", "mismatch_run_mxnet", "mismatch_experiment",
           "target_function", "sample_regression", "fit_polynomial",
           "capacity_curve", "bias_variance", "kfold_indices", "cross_validation_error",
           "model_selection", "split_estimates", "leaderboard", "plot_curves", "draw_capacity",
           "draw_leaderboard"]


# ------------------------------------------------------------------ curves for the doctor
def example_curves(epochs: int = 30, seed: int = 0) -> dict:
    """Synthetic learning curves, one per verdict of the doctor.

    Returns ``{verdict: kwargs}`` where ``kwargs`` are the arguments of
    :func:`course_lib.doctor.diagnose` (``train_loss``, and ``val_loss``, ``test_loss``,
    ``grad_norm``, ``baseline_train_loss`` where they matter). Curves start near
    ``log(10) = 2.3`` (the cross-entropy of a 10-class guess) and carry 2% noise.
    """
    if epochs < 12:
        raise ValueError(f"epochs must be >= 12 for the curves to show their shape, got {epochs}")
    rng = np.random.default_rng(seed)
    t = np.arange(epochs, dtype=float)

    def noisy(curve):
        return curve * (1 + 0.02 * rng.standard_normal(curve.shape))

    falling = 2.28 * np.exp(-t / 4) + 0.02
    good_val = 1.3 * falling + 0.03
    # the validation loss of an overfitting run bottoms out, then climbs back
    overfit_val = 2.0 * np.exp(-t / 4) + 0.3 + 0.04 * np.clip(t - 8, 0, None)
    bias_train = 1.1 + 1.2 * np.exp(-t / 3)
    stuck = 2.3 - 0.05 * (1 - np.exp(-t / 10))
    # a large learning rate: the loss jumps between the valley walls around a high level
    zigzag = 1.0 + 1.3 * np.exp(-t / 2) + 0.35 * (-1.0) ** t
    exploding = 2.3 * 1.6 ** t
    exploding[epochs // 2:] = np.nan
    return {
        "healthy": dict(train_loss=noisy(falling), val_loss=noisy(good_val)),
        "overfitting": dict(train_loss=noisy(falling), val_loss=noisy(overfit_val)),
        "mismatch": dict(train_loss=noisy(falling), val_loss=noisy(good_val),
                         test_loss=noisy(1.2 + 1.1 * np.exp(-t / 4))),
        "model_bias": dict(train_loss=noisy(bias_train), val_loss=noisy(bias_train + 0.05),
                           baseline_train_loss=noisy(bias_train + 0.1)),
        "optimization": dict(train_loss=noisy(stuck), val_loss=noisy(stuck + 0.02),
                             baseline_train_loss=noisy(falling + 0.2)),
        "lr_too_large": dict(train_loss=noisy(zigzag), val_loss=noisy(zigzag + 0.05),
                             grad_norm=noisy(np.full(epochs, 4.0))),
        "diverged": dict(train_loss=exploding, val_loss=exploding),
    }


def plot_curves(cases: dict, diagnoses: dict | None = None, ncols: int = 4):
    """One small panel per case of :func:`example_curves` (log-scale loss per epoch), titled
    with the doctor's verdict when ``diagnoses`` maps the same keys to Diagnosis objects."""
    nrows = -(-len(cases) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), sharex=True)
    axes = np.atleast_1d(axes).ravel()
    styles = {"train_loss": ("training", "C0", "-"), "val_loss": ("validation", "C1", "-"),
              "test_loss": ("test (shifted)", "C3", "-"),
              "baseline_train_loss": ("simpler model, training", "C2", "--"),
              "grad_norm": ("gradient norm", "C7", ":")}
    for ax, (name, kwargs) in zip(axes, cases.items()):
        for key, (label, color, ls) in styles.items():
            if key in kwargs and np.ndim(kwargs[key]) == 1:
                curve = np.asarray(kwargs[key], dtype=float)
                ax.semilogy(np.arange(1, curve.size + 1), curve, color=color, ls=ls, label=label)
        # plain numbers ("0.6", "2") on the log axis, on minor ticks only when the range is
        # under a decade: the default "2.4 x 10^0" labels crowd the small panels
        for which in ("major", "minor"):
            formatter = LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4))
            getattr(ax.yaxis, f"set_{which}_formatter")(formatter)
        title = name if diagnoses is None else f"{name}\ndoctor: {diagnoses[name].verdict}"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (log scale)")
        ax.grid(True, which="both", alpha=0.2)
    for ax in axes[len(cases):]:
        ax.axis("off")
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), loc="lower right", fontsize=8,
               bbox_to_anchor=(0.98, 0.08))
    fig.suptitle("Learning curves made to show each failure, and the doctor's verdicts")
    fig.tight_layout()
    return fig


def print_wrapped(report, width: int = 80) -> None:
    """Print ``str(report)`` (e.g. a :class:`course_lib.doctor.Diagnosis`) with every line
    longer than ``width`` broken between words; a continuation is indented two spaces
    past its line's own indent, so the evidence lines of a diagnosis stay apart."""
    _checks.integer("width", width, 20)
    for line in str(report).splitlines():
        indent = " " * (len(line) - len(line.lstrip()) + 2)
        print(textwrap.fill(line, width, subsequent_indent=indent,
                            break_long_words=False, break_on_hyphens=False) or line)


# ------------------------------------------------------------- deep plain MLPs on digits
#: The budget and architecture of the depth experiment: hidden layers of 64 sigmoid units,
#: plain SGD, learning rate 0.5, batches of 128, 15 epochs.
PLAIN_MLP = dict(width=64, activation="sigmoid", lr=0.5, batch_size=128, epochs=15)


def train_plain_mlp(depth: int, seed: int = 0, framework: str = "torch",
                    batch_norm: bool = False, split: data.Split | None = None) -> models.History:
    """Train a plain MLP with ``depth`` hidden layers (settings :data:`PLAIN_MLP`) on digits.

    ``framework`` is ``"torch"`` (course_lib.torch.SGD) or ``"mxnet"``
    (course_lib.mxnet.SGD in a Gluon Trainer). Returns the per-epoch History (training and
    validation loss and accuracy).
    """
    _checks.integer("depth", depth, 0)
    _checks.one_of("framework", framework, ("torch", "mxnet"))
    split = data.digits() if split is None else split
    cfg = PLAIN_MLP
    sizes = [split.x_train.shape[1]] + [cfg["width"]] * int(depth) + [10]
    if framework == "torch":
        x, y, x_val, y_val = data.to_torch(*split)
        net = models.torch_mlp(sizes, activation=cfg["activation"], batch_norm=batch_norm,
                               seed=seed).to(x.device)
        optimizer = ctorch.SGD(net.parameters(), lr=cfg["lr"])
        return models.train_torch(net, optimizer, x, y, cfg["epochs"], cfg["batch_size"],
                                  x_val=x_val, y_val=y_val, seed=seed)
    import course_lib.mxnet as cmx
    import mxnet as mx

    x, y, x_val, y_val = data.to_mxnet(*split)
    net = models.mxnet_mlp(sizes, activation=cfg["activation"], batch_norm=batch_norm, seed=seed)
    trainer = mx.gluon.Trainer(net.collect_params(), cmx.SGD(learning_rate=cfg["lr"]))
    return models.train_mxnet(net, trainer, x, y, cfg["epochs"], cfg["batch_size"],
                              x_val=x_val, y_val=y_val, seed=seed)


def depth_sweep(depths: Sequence[int], seeds: Sequence[int] = (0,), framework: str = "torch",
                progress: bool = False) -> dict:
    """Final training and validation loss of :func:`train_plain_mlp` for each depth and seed.

    Returns ``{"depths", "seeds", "train", "val"}`` with ``train``/``val`` arrays of shape
    ``(len(depths), len(seeds))``.
    """
    split = data.digits()
    jobs = [(d, s) for d in depths for s in seeds]
    if progress:
        jobs = config.progress(jobs, desc=f"depth sweep ({framework})")
    train, val = np.zeros((len(depths), len(seeds))), np.zeros((len(depths), len(seeds)))
    for d, s in jobs:
        history = train_plain_mlp(d, seed=s, framework=framework, split=split)
        i, j = list(depths).index(d), list(seeds).index(s)
        train[i, j], val[i, j] = history.train_loss[-1], history.val_loss[-1]
    return {"depths": list(depths), "seeds": list(seeds), "train": train, "val": val}


# --------------------------------------------------------------------------- mismatch
#: The network and budget of the mismatch experiment: a 64-64-10 ReLU MLP, plain SGD with
#: learning rate 0.1, batches of 32.
MISMATCH_MLP = dict(sizes=[64, 64, 10], lr=0.1, batch_size=32)


def mismatch_run_torch(
    split: data.Split, n: int, n_val: int = 300, epochs: int = 20, seed: int = 0
):
    """PyTorch: train the :data:`MISMATCH_MLP` on ``n`` training images of
    ``split`` (validated on its first ``n_val``); returns ``(history, accuracy
    on split's test set)``.
    """
    cfg = MISMATCH_MLP
    x_all, y_all, x_test, y_test = data.to_torch(*split)
    x, y = x_all[n_val : n_val + n], y_all[n_val : n_val + n]
    net = models.torch_mlp(cfg["sizes"], activation="relu", seed=seed).to(
        x.device
    )
    history = models.train_torch(
        net,
        ctorch.SGD(net.parameters(), lr=cfg["lr"]),
        x,
        y,
        epochs,
        cfg["batch_size"],
        x_val=x_all[:n_val],
        y_val=y_all[:n_val],
        seed=seed,
    )
    return history, models.torch_accuracy(net, x_test, y_test)


def mismatch_run_mxnet(
    split: data.Split, n: int, n_val: int = 300, epochs: int = 20, seed: int = 0
):
    """MXNet Gluon twin of :func:`mismatch_run_torch` (``course_lib.mxnet.SGD``
    in a ``gluon.Trainer``); returns ``(history, accuracy on split's test
    set)``.
    """
    import course_lib.mxnet as cmx
    import mxnet as mx

    cfg = MISMATCH_MLP
    x_all, y_all, x_test, y_test = data.to_mxnet(*split)
    x, y = x_all[n_val : n_val + n], y_all[n_val : n_val + n]
    net = models.mxnet_mlp(cfg["sizes"], activation="relu", seed=seed)
    trainer = mx.gluon.Trainer(
        net.collect_params(), cmx.SGD(learning_rate=cfg["lr"])
    )
    history = models.train_mxnet(
        net,
        trainer,
        x,
        y,
        epochs,
        cfg["batch_size"],
        x_val=x_all[:n_val],
        y_val=y_all[:n_val],
        seed=seed,
    )
    predicted = net(x_test).argmax(axis=1)
    return history, float(
        (predicted == y_test.astype(predicted.dtype)).mean().asscalar()
    )


def mismatch_experiment(train_sizes: Sequence[int] = (100, 300, 1000), n_val: int = 300,
                        epochs: int = 20, seed: int = 0, framework: str = "torch") -> dict:
    """Train a one-hidden-layer ReLU MLP on growing subsets of digits; measure error rates
    on the training set, on validation images from the *same* distribution, and on test images
    from a shifted one (:func:`course_lib.data.shifted_digits`: brighter and blurred).

    ``framework`` is ``"torch"`` (:func:`mismatch_run_torch`) or ``"mxnet"``
    (:func:`mismatch_run_mxnet`). Returns ``{"sizes", "train_error", "val_error",
    "test_error", "histories"}``, errors as fractions of misclassified images (arrays over
    ``train_sizes``), and the per-epoch histories of the runs.
    """
    runs = {"torch": mismatch_run_torch, "mxnet": mismatch_run_mxnet}
    _checks.one_of("framework", framework, tuple(runs))
    split = data.shifted_digits(seed=seed)
    available = len(split.y_train) - n_val
    if n_val <= 0 or available <= 0:
        raise ValueError(f"n_val must be in [1, {len(split.y_train) - 1}], got {n_val}")
    if min(train_sizes) <= 0 or max(train_sizes) > available:
        raise ValueError(f"train_sizes must lie in [1, {available}], got {list(train_sizes)}")
    out = {"sizes": list(train_sizes), "train_error": [], "val_error": [], "test_error": [],
           "histories": []}
    for n in train_sizes:
        history, test_accuracy = runs[framework](split, n, n_val=n_val, epochs=epochs, seed=seed)
        out["train_error"].append(1 - history.train_accuracy[-1])
        out["val_error"].append(1 - history.val_accuracy[-1])
        out["test_error"].append(1 - test_accuracy)
        out["histories"].append(history)
    for key in ("train_error", "val_error", "test_error"):
        out[key] = np.array(out[key])
    return out


# ---------------------------------------------------------------- polynomial regression
def target_function(x):
    """The curve the polynomial experiments try to learn: ``sin(pi x) + 0.3 sin(3 pi x)``."""
    return np.sin(np.pi * x) + 0.3 * np.sin(3 * np.pi * x)


def sample_regression(n: int, noise: float = 0.3, rng: np.random.Generator | None = None):
    """``n`` points ``x ~ U(-1, 1)``, ``y = target_function(x) + noise * N(0, 1)``."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(0) if rng is None else rng
    x = rng.uniform(-1.0, 1.0, n)
    return x, target_function(x) + noise * rng.standard_normal(n)


def fit_polynomial(x, y, degree: int, weight_decay: float = 0.0):
    """Least-squares polynomial of ``degree`` on [-1, 1] (Legendre basis, for conditioning).

    ``weight_decay`` > 0 adds an L2 penalty: the fit minimizes
    ``mean((p(x) - y)^2) + weight_decay * sum_{k >= 1} c_k^2`` over the Legendre coefficients
    ``c`` (the constant ``c_0`` is not penalized), the minimum that gradient descent with
    weight decay converges to.
    """
    _checks.integer("degree", degree, 0)
    _checks.nonnegative("weight_decay", weight_decay)
    if weight_decay > 0:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        basis = legendre.legvander(x, int(degree))
        penalty = np.eye(int(degree) + 1)
        penalty[0, 0] = 0.0
        coef = np.linalg.solve(basis.T @ basis / len(x) + weight_decay * penalty,
                               basis.T @ y / len(x))
        return Legendre(coef, domain=[-1, 1])
    with warnings.catch_warnings():
        # a degree close to the number of points is exactly the ill-posed fit we want to show
        # (matched by message: the warning class moved between numpy 1.x and 2.x)
        warnings.filterwarnings("ignore", message="The fit may be poorly conditioned")
        return Legendre.fit(x, y, int(degree), domain=[-1, 1])


def _mse(poly, x, y):
    return float(np.mean((poly(x) - y) ** 2))


def capacity_curve(degrees: Sequence[int], n_train: int = 15, noise: float = 0.3,
                   n_val: int = 2000, repeats: int = 50, seed: int = 0,
                   weight_decay: float = 0.0) -> dict:
    """Training and validation mean squared error against polynomial degree.

    Each of ``repeats`` training sets of ``n_train`` points is fitted at every degree (with
    the L2 penalty ``weight_decay`` of :func:`fit_polynomial`); the medians over repeats are
    returned (the mean is dominated by a few wild fits) as ``{"degrees", "train", "val"}``.
    The training error is the mean squared error alone, without the penalty.
    """
    rng = np.random.default_rng(seed)
    x_val, y_val = sample_regression(n_val, noise, rng)
    train = np.zeros((repeats, len(degrees)))
    val = np.zeros_like(train)
    for r in range(repeats):
        x, y = sample_regression(n_train, noise, rng)
        for j, degree in enumerate(degrees):
            poly = fit_polynomial(x, y, degree, weight_decay)
            train[r, j], val[r, j] = _mse(poly, x, y), _mse(poly, x_val, y_val)
    return {"degrees": list(degrees), "train": np.median(train, axis=0),
            "val": np.median(val, axis=0)}


def bias_variance(degrees: Sequence[int], n_train: int = 30, noise: float = 0.3,
                  n_sets: int = 200, n_points: int = 400, seed: int = 0) -> dict:
    """The bias-variance decomposition of the expected test error, per polynomial degree.

    For ``n_sets`` independent training sets, fit each degree and predict at ``n_points``
    fresh inputs ``x ~ U(-1, 1)``. With ``f`` the target and ``fbar(x)`` the average fit,

    ``E[(y - fhat(x))^2] = E_x[(fbar - f)^2] + E_x[E (fhat - fbar)^2] + noise^2``
    (bias squared + variance + irreducible noise).

    A least-squares fit is linear in the targets, so the average over the noise of a fit is
    the fit of the noise-free targets; ``fbar`` is estimated as the mean of those noise-free
    fits, which keeps the bias estimate free of the (large) variance of flexible models.
    Returns ``{"degrees", "bias2", "variance", "noise2", "test"}`` where ``test`` is measured
    directly on fresh noisy targets, so it can be compared with the sum of the three parts.
    """
    if n_sets < 2:
        raise ValueError(f"n_sets must be >= 2, got {n_sets}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n_points)
    truth = target_function(x)
    sets = [sample_regression(n_train, noise, rng) for _ in range(n_sets)]
    fresh = truth + noise * rng.standard_normal((n_sets, n_points))
    bias2, variance, test = [], [], []
    for degree in degrees:
        predictions = np.array([fit_polynomial(xs, ys, degree)(x) for xs, ys in sets])
        clean = np.array([fit_polynomial(xs, target_function(xs), degree)(x) for xs, _ in sets])
        mean_fit = clean.mean(axis=0)
        bias2.append(float(np.mean((mean_fit - truth) ** 2)))
        variance.append(float(np.mean((predictions - mean_fit) ** 2)))
        test.append(float(np.mean((predictions - fresh) ** 2)))
    return {"degrees": list(degrees), "bias2": np.array(bias2), "variance": np.array(variance),
            "noise2": noise ** 2, "test": np.array(test)}


def kfold_indices(n: int, k: int, rng: np.random.Generator | None = None) -> list:
    """Split ``range(n)`` into ``k`` folds of (nearly) equal size, shuffled when ``rng``.

    Returns a list of ``(train_index, val_index)`` pairs: fold ``i`` is validated on its own
    part and trained on the other ``k - 1`` parts.
    """
    _checks.integer("k", k, 2, n)
    order = rng.permutation(n) if rng is not None else np.arange(n)
    folds = np.array_split(order, k)
    return [(np.concatenate(folds[:i] + folds[i + 1:]), folds[i]) for i in range(k)]


def cross_validation_error(x, y, degree: int, k: int = 5,
                           rng: np.random.Generator | None = None) -> float:
    """k-fold estimate of the validation MSE of a polynomial of ``degree``: the mean over the
    folds of the error on the held-out fold."""
    errors = [_mse(fit_polynomial(x[train], y[train], degree), x[val], y[val])
              for train, val in kfold_indices(len(x), k, rng)]
    return float(np.mean(errors))


def model_selection(x, y, degrees: Sequence[int], k: int = 5, noise: float = 0.3,
                    n_fresh: int = 5000, seed: int = 0) -> dict:
    """Three ways to score each polynomial degree on one data set ``(x, y)``:

    ``train`` - the training error of the fit on all the data; ``cv`` - the k-fold
    cross-validation error (:func:`cross_validation_error`); ``true`` - the error of the fit
    on all the data measured on ``n_fresh`` new examples (what we actually care about, and
    never have in practice). Returns ``{"degrees", "train", "cv", "true"}``.
    """
    rng = np.random.default_rng(seed)
    x_fresh, y_fresh = sample_regression(n_fresh, noise, rng)
    train, cv, true = [], [], []
    for degree in degrees:
        poly = fit_polynomial(x, y, degree)
        train.append(_mse(poly, x, y))
        true.append(_mse(poly, x_fresh, y_fresh))
        cv.append(cross_validation_error(x, y, degree, k, np.random.default_rng(seed)))
    return {"degrees": list(degrees), "train": np.array(train), "cv": np.array(cv),
            "true": np.array(true)}


def split_estimates(x, y, degree: int, k: int = 5, repeats: int = 200, seed: int = 0) -> dict:
    """Spread of two validation estimates over random re-partitions of the *same* data.

    ``single``: train on ``1 - 1/k`` of the data, validate on the remaining ``1/k`` (one
    hold-out split); ``kfold``: the k-fold average (:func:`cross_validation_error`). Returns
    ``{"single", "kfold"}``, arrays of ``repeats`` estimates each.
    """
    rng = np.random.default_rng(seed)
    single, kfold = [], []
    for _ in range(repeats):
        train, val = kfold_indices(len(x), k, rng)[0]
        single.append(_mse(fit_polynomial(x[train], y[train], degree), x[val], y[val]))
        kfold.append(cross_validation_error(x, y, degree, k, rng))
    return {"single": np.array(single), "kfold": np.array(kfold)}


@functools.lru_cache(maxsize=16)
def _capacity_for_playground(n_train, noise, max_degree, seed, weight_decay):
    # every frame with the same amount of data and penalty shares one curve
    return capacity_curve(list(range(max_degree + 1)), n_train=n_train, noise=noise,
                          repeats=20, seed=seed, weight_decay=weight_decay)


def _plain_log_axis(ax):
    """Log y axis with plain '1e-03' labels and no minor ticks: a playground draws many
    frames, and mathtext tick labels triple the time of each."""
    ax.minorticks_off()
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0e}"))


def draw_capacity(degree: int, n_train: int, weight_decay: float = 0.0, noise: float = 0.3,
                  max_degree: int = 14, seed: int = 0):
    """Playground figure: a polynomial fit of ``degree`` to ``n_train`` noisy points (left)
    and the training/validation error against degree for that amount of data (right), both
    with the L2 penalty ``weight_decay`` of :func:`fit_polynomial`."""
    rng = np.random.default_rng(seed)
    x, y = sample_regression(n_train, noise, rng)
    degrees = list(range(max_degree + 1))
    curve = _capacity_for_playground(n_train, noise, max_degree, seed, float(weight_decay))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    grid = np.linspace(-1, 1, 400)
    left.plot(grid, target_function(grid), "k--", lw=1, label="true function")
    left.plot(grid, fit_polynomial(x, y, degree, weight_decay)(grid), "C0",
              label=f"degree-{degree} fit")
    left.plot(x, y, "o", color="C1", ms=4, label=f"{n_train} training points")
    left.set_ylim(-2.5, 2.5)
    left.set_xlabel("input x")
    left.set_ylabel("output y")
    penalty = f", weight decay {weight_decay:g}" if weight_decay else ""
    left.set_title(f"Degree {degree} fitted to {n_train} points{penalty}")
    left.legend(fontsize=8, loc="upper left")
    right.semilogy(degrees, curve["train"], "o-", label="training error")
    right.semilogy(degrees, curve["val"], "s-", label="validation error")
    _plain_log_axis(right)
    right.axvline(degree, color="k", lw=0.8, ls=":")
    right.axhline(noise ** 2, color="gray", lw=0.8, ls="--", label="noise level")
    right.set_ylim(1e-3, 1e3)
    right.set_xlabel("polynomial degree (capacity)")
    right.set_ylabel("mean squared error (median of 20 sets)")
    right.set_title(f"Error against capacity{penalty}")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- leaderboard
def leaderboard(n_submissions: int, n_public: int = 200, n_private: int = 200,
                trials: int = 1, seed: int = 0) -> dict:
    """Pick the best of ``n_submissions`` random guesses on a public test set.

    A hidden binary test set is split into a public part (scores visible) and a private
    part (scored once at the end). Every submission guesses each label with a fair coin, so
    its true accuracy is exactly 0.5. Returns arrays over ``trials``:
    ``best_public`` (the winner's public accuracy), ``its_private`` (the same submission's
    private accuracy), and ``public_scores`` of the last trial (all submissions).
    """
    for name, value in (("n_submissions", n_submissions), ("n_public", n_public),
                        ("n_private", n_private), ("trials", trials)):
        _checks.integer(name, value, 1)
    rng = np.random.default_rng(seed)
    best_public, its_private = np.empty(trials), np.empty(trials)
    for t in range(trials):
        # a guess is right with probability 1/2 whatever the labels, so we draw
        # correctness directly: (submissions, examples) booleans
        public = rng.random((n_submissions, n_public)) < 0.5
        scores = public.mean(axis=1)
        winner = int(np.argmax(scores))
        best_public[t] = scores[winner]
        its_private[t] = (rng.random(n_private) < 0.5).mean()
    return {"best_public": best_public, "its_private": its_private, "public_scores": scores}


def draw_leaderboard(n_submissions: int, n_public: int = 200, seed: int = 0):
    """Playground figure: the public scores of ``n_submissions`` random submissions, the one
    picked for its public score, and its private score."""
    board = leaderboard(n_submissions, n_public=n_public, seed=seed)
    scores = board["public_scores"]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    bins = np.arange(0.3, 0.72, 1 / n_public * 2)
    ax.hist(scores, bins=bins, color="C0", alpha=0.7, label="public accuracy of each submission")
    ax.axvline(board["best_public"][0], color="C3", lw=2,
               label=f"best on public: {board['best_public'][0]:.3f}")
    ax.axvline(board["its_private"][0], color="k", lw=2, ls="--",
               label=f"same submission on private: {board['its_private'][0]:.3f}")
    ax.set_xlim(0.3, 0.72)
    ax.set_xlabel("accuracy (true accuracy of every submission: 0.5)")
    ax.set_ylabel("number of submissions")
    ax.set_title(f"{n_submissions} random submissions, {n_public} public test examples")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
