"""Experiments of chapter 9: the loss function shapes the error surface.

The chapter's classifier has two parameters: one input feature ``x`` and the prediction
``p(class 1 | x) = softmax(0, w x + b)_1 = sigmoid(w x + b)``. Its error surface over
``(w, b)`` is a :class:`course_lib.surfaces.Surface`, once with cross-entropy and once with
the squared error of the probabilities (MSE), so that :func:`course_lib.descent.run` drives
gradient descent on both from the same start. Loss formulas come from
:mod:`course_lib.losses`; this module only applies the chain rule through ``z = w x + b``.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import torch

import course_lib.torch as ctorch
from course_lib import _checks, data, descent, losses, models
from course_lib.plotting import contour, trajectories
from course_lib.surfaces import Surface

__all__ = [
    "LOSSES", "PLATEAU_STARTS", "classifier_data", "classifier_logits", "classifier_surface",
    "default_surfaces", "compare_descent", "steps_to_minimum", "draw_descent", "recall",
    "ClassWeightRun", "class_weight_experiment", "draw_class_weights", "torch_linear_classifier", "mxnet_linear_classifier",
    "double_softmax_floor", "train_digits_torch", "train_digits_mxnet",
]

#: The two losses of the comparison, by the name :func:`classifier_surface` takes.
LOSSES = ("cross_entropy", "squared_error")

#: Window of the figures over (w, b).
BOUNDS = ((-8.0, 8.0), (-8.0, 8.0))
#: Grid points per axis of the contour plots (each point costs a pass over the data).
GRID = 90


def classifier_data(n_per_class=(50, 50), center: float = 2.0, std: float = 0.5,
                    flip: float = 0.05, seed: int = 0):
    """One feature, two classes: class 0 around ``-center``, class 1 around ``+center``.

    A share ``flip`` of each class gets the other label, so the classes overlap and
    cross-entropy has a finite minimum. Returns ``(x, y)``: float64 features and int64 labels.
    """
    n0, n1 = (int(n) for n in n_per_class)
    if n0 < 1 or n1 < 1:
        raise ValueError(f"n_per_class must be two positive counts, got {n_per_class!r}")
    _checks.number("flip", flip, 0, 0.5, high_open=True)
    _checks.positive("std", std)
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-center, std, n0), rng.normal(center, std, n1)])
    y = np.repeat(np.array([0, 1], dtype=np.int64), [n0, n1])
    k0, k1 = int(round(flip * n0)), int(round(flip * n1))
    y[:k0] = 1
    y[n0:n0 + k1] = 0
    return x, y


def classifier_logits(w, b, x) -> np.ndarray:
    """Logits ``(0, w x_n + b)`` of every example, shape ``w.shape + (N, 2)``."""
    z = np.asarray(w, dtype=float)[..., None] * x + np.asarray(b, dtype=float)[..., None]
    return np.stack([np.zeros_like(z), z], axis=-1)


def _second_derivative(loss, z, y, sample_weight):
    """d^2 l / dz^2 of each example's loss along ``z = w x + b`` (for the Hessian)."""
    s = 1.0 / (1.0 + np.exp(-z))
    ds = s * (1 - s)
    if loss == "cross_entropy":
        return sample_weight * ds
    # l = (s - y)^2 + ((1 - s) - (1 - y))^2 = 2 (s - y)^2
    return 4.0 * (ds * ds + (s - y) * ds * (1 - 2 * s))


def classifier_surface(x, y, loss: str = "cross_entropy", class_weights=None,
                       bounds=BOUNDS) -> Surface:
    """The error surface ``L(w, b)`` of the two-parameter classifier on data ``(x, y)``.

    ``loss`` is ``"cross_entropy"`` (:func:`course_lib.losses.cross_entropy`, optionally with
    ``class_weights``) or ``"squared_error"`` (:func:`course_lib.losses.squared_error`).
    The gradient is the chain rule ``dL/dw = sum_n dL/dz_n x_n``, ``dL/db = sum_n dL/dz_n``.
    """
    _checks.one_of("loss", loss, LOSSES)
    if class_weights is not None and loss != "cross_entropy":
        raise ValueError("class_weights are only used with loss='cross_entropy'")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y)
    if x.ndim != 1 or y.shape != x.shape:
        raise ValueError(f"x and y must be 1-D of the same length, got shapes {x.shape} and {y.shape}")
    weights = None if class_weights is None else np.asarray(class_weights, dtype=float)
    sample_weight = np.ones_like(x) if weights is None else weights[y]
    sample_weight = sample_weight / sample_weight.mean()  # the weighted mean of the losses

    if loss == "cross_entropy":
        def f(w, b):
            return losses.cross_entropy(classifier_logits(w, b, x), y, weights)

        def dz(w, b):
            return losses.cross_entropy_grad(classifier_logits(w, b, x), y, weights)[..., 1]
    else:
        def f(w, b):
            return losses.squared_error(classifier_logits(w, b, x), y)

        def dz(w, b):
            return losses.squared_error_grad(classifier_logits(w, b, x), y)[..., 1]

    def df(w, b):
        g = dz(w, b)
        return (g * x).sum(axis=-1), g.sum(axis=-1)

    def d2f(w, b):
        z = np.asarray(w, dtype=float)[..., None] * x + np.asarray(b, dtype=float)[..., None]
        h = _second_derivative(loss, z, y, sample_weight) / len(x)
        return (h * x * x).sum(axis=-1), (h * x).sum(axis=-1), h.sum(axis=-1)

    f = _memoize_grids(f)
    name = loss.replace("_", "-") + (" (class weights)" if weights is not None else "")
    surface = Surface(name, f, df, d2f, np.zeros((0, 2)), bounds)
    return Surface(name, f, df, d2f, [_newton_minimum(surface, x, y)], bounds)


def _memoize_grids(f, min_size: int = 1000, max_entries: int = 4):
    """Remember ``f`` on a few large inputs: a figure redrawn by a Playground asks for the
    same contour grid every frame, and each grid point costs a pass over the data."""
    cache: dict = {}

    def cached(w, b):
        w, b = np.asarray(w, dtype=float), np.asarray(b, dtype=float)
        if w.size < min_size:
            return f(w, b)
        key = (w.shape, b.shape, hash(w.tobytes()), hash(b.tobytes()))
        if key not in cache:
            if len(cache) >= max_entries:
                cache.pop(next(iter(cache)))
            cache[key] = f(w, b)
        return cache[key]

    return cached


def _newton_minimum(surface: Surface, x, y) -> np.ndarray:
    """The minimum of the surface near the least-squares fit of the labels, by Newton's method
    (cross-entropy is convex; the squared error is convex near its minimum)."""
    # start from the line fitted to the labels, scaled up to reasonable confidence
    slope, intercept = np.polyfit(x, 2.0 * y - 1.0, 1)
    start = np.array([[4 * slope, 4 * intercept]])
    for _ in range(3):
        result = descent.run("newton", surface, start, 25, lr=1.0)
        point = result.final[0]
        if not result.diverged[0] and result.grad_norm[-1, 0] < 1e-9:
            return point
        start = 0.5 * start  # closer to the origin, where both surfaces are convex
    raise RuntimeError(f"Newton's method did not find the minimum of {surface.name}")


def recall(w: float, b: float, x, y, cls: int) -> float:
    """Share of the examples of class ``cls`` that the classifier ``(w, b)`` gets right."""
    predicted = (w * np.asarray(x) + b > 0).astype(int)
    mask = np.asarray(y) == cls
    return float((predicted[mask] == cls).mean())


def double_softmax_floor(n_classes: int) -> float:
    """The smallest cross-entropy a network with a softmax output layer can reach when the
    loss applies a second softmax: ``log(1 + (C - 1) / e)``.

    Probabilities lie in [0, 1], so the best logits the loss sees are one-hot: ``(1, 0, ..)``.
    """
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    return math.log(1 + (n_classes - 1) / math.e)


#: Starts on MSE's plateau, ever deeper into it (w ever more negative: confidently wrong).
PLATEAU_STARTS = ((-2.0, 1.0), (-4.0, 1.0), (-6.0, 1.0))


@functools.lru_cache(maxsize=4)
def default_surfaces():
    """``{loss: Surface}`` of the chapter's data set :func:`classifier_data` (built once)."""
    x, y = classifier_data()
    return {loss: classifier_surface(x, y, loss) for loss in LOSSES}


def compare_descent(starts=PLATEAU_STARTS, lr: float = 1.0, steps: int = 300, surfaces=None):
    """Gradient descent (:data:`course_lib.rules.sgd`) from the same starts on the
    cross-entropy and the squared-error surface of the same data.

    Returns ``{loss: descent.Result}`` for ``loss`` in :data:`LOSSES`.
    """
    surfaces = default_surfaces() if surfaces is None else surfaces
    starts = np.asarray(starts, dtype=float).reshape(-1, 2)
    return {loss: descent.run("sgd", surfaces[loss], starts, steps, lr=lr) for loss in LOSSES}


def steps_to_minimum(result, tol: float = 0.01) -> np.ndarray:
    """For each start, the first step whose loss is within ``tol`` of the surface's minimum
    value (-1 if never)."""
    gap = result.loss - result.surface.value(result.surface.minima[0])
    reached = gap < tol
    return np.where(reached.any(axis=0), np.argmax(reached, axis=0), -1)


@functools.lru_cache(maxsize=16)
def _plateau_runs(lr: float, steps: int):
    return compare_descent(PLATEAU_STARTS, lr, steps)


def draw_descent(start_w: float = -6.0, lr: float = 1.0, steps: int = 300):
    """Figure: both error surfaces side by side with the gradient-descent path from
    ``(start_w, 1)`` (one of :data:`PLATEAU_STARTS`), and the loss of both runs per step."""
    starts = [s[0] for s in PLATEAU_STARTS]
    _checks.one_of("start_w", start_w, starts)
    i = starts.index(start_w)
    results = _plateau_runs(float(lr), int(steps))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    for ax, (loss, result), color in zip(axes, results.items(), ("C0", "C3")):
        surface = result.surface
        contour(ax, surface, n=GRID)
        trajectories(ax, result.trajectory[:, i], color=color)
        ax.set_xlabel("weight w")
        ax.set_ylabel("bias b")
        ax.set_title(f"{surface.name}: |gradient| at start {result.grad_norm[0, i]:.1e}")
    for (loss, result), color in zip(results.items(), ("C0", "C3")):
        gap = result.loss[:, i] - result.surface.value(result.surface.minima[0])
        axes[2].semilogy(np.maximum(gap, 1e-6), color=color, label=loss.replace("_", " "))
    axes[2].set_xlabel("gradient-descent step")
    axes[2].set_ylabel("loss minus its minimum (log scale)")
    axes[2].set_ylim(1e-6, 30)
    axes[2].set_title(f"start (w, b) = ({start_w:g}, 1), lr = {lr:g}")
    axes[2].legend()
    axes[2].grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


class ClassWeightRun(NamedTuple):
    """What :func:`class_weight_experiment` returns (labels ``"no weights"`` and
    ``"balanced class weights"`` key the dictionaries)."""

    train: tuple
    test: tuple
    class_weights: np.ndarray
    surfaces: dict
    results: dict

    def boundary(self, label: str) -> float:
        """Where the trained classifier switches class: ``x = -b / w``."""
        w, b = self.results[label].final[0]
        return float(-b / w)

    def recalls(self, label: str):
        """``(recall of class 0, recall of class 1)`` on the balanced test set."""
        w, b = self.results[label].final[0]
        return tuple(recall(w, b, *self.test, cls) for cls in (0, 1))


def class_weight_experiment(n_per_class=(180, 20), center: float = 1.0, std: float = 1.0,
                            lr: float = 1.0, steps: int = 300, seed: int = 0) -> ClassWeightRun:
    """Imbalanced, overlapping classes; gradient descent from ``(0, 0)`` on the plain and on
    the class-weighted cross-entropy (:func:`course_lib.losses.balanced_class_weights`);
    recalls measured on a balanced test set of 1000 examples per class."""
    train = classifier_data(n_per_class, center, std, flip=0.0, seed=seed)
    test = classifier_data((1000, 1000), center, std, flip=0.0, seed=seed + 1)
    weights = losses.balanced_class_weights(train[1], 2)
    surfaces = {"no weights": classifier_surface(*train, "cross_entropy"),
                "balanced class weights": classifier_surface(*train, "cross_entropy", weights)}
    results = {label: descent.run("sgd", surface, np.zeros((1, 2)), steps, lr=lr)
               for label, surface in surfaces.items()}
    return ClassWeightRun(train, test, weights, surfaces, results)


def draw_class_weights(run: ClassWeightRun):
    """Figure: the plain and the class-weighted cross-entropy surfaces with the descent
    paths, and the training data with the two decision boundaries ``x = -b / w``."""
    x, y = run.train
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    for ax, (label, surface) in zip(axes, run.surfaces.items()):
        contour(ax, surface, n=GRID)
        trajectories(ax, run.results[label].trajectory)
        ax.set_xlabel("weight w")
        ax.set_ylabel("bias b")
        ax.set_title(f"cross-entropy, {label}")
    ax = axes[2]
    bins = np.linspace(x.min(), x.max(), 25)
    for cls in (0, 1):
        mask = y == cls
        ax.hist(x[mask], bins=bins, alpha=0.6, label=f"class {cls} ({mask.sum()} examples)")
    for label, style in zip(run.results, ("--", "-")):
        ax.axvline(run.boundary(label), linestyle=style, color="k",
                   label=f"boundary, {label}")
    ax.set_xlabel("feature x")
    ax.set_ylabel("training examples per bin")
    ax.set_title("decision boundaries x = -b / w")
    ax.set_ylim(0, 1.7 * ax.get_ylim()[1])  # room for the legend
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------- the frameworks
def torch_linear_classifier(
    x, y, class_weights=None, epochs: int = 200, lr: float = 0.5, seed: int = 0
):
    """Train ``nn.Linear(1, 2)`` (softmax regression, full batch) with PyTorch's
    weighted cross-entropy and :class:`course_lib.torch.SGD`; returns the
    trained model.
    """
    torch.manual_seed(seed)
    model = torch.nn.Linear(1, 2).double()
    inputs = torch.tensor(np.asarray(x, dtype=float)[:, None])
    targets = torch.tensor(np.asarray(y))
    weight = (
        None
        if class_weights is None
        else torch.tensor(np.asarray(class_weights, dtype=float))
    )
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    optimizer = ctorch.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()
    return model


def mxnet_linear_classifier(
    x, y, class_weights=None, epochs: int = 200, lr: float = 0.5, seed: int = 0
):
    """The Gluon twin of :func:`torch_linear_classifier`: ``nn.Dense(2)``
    trained with ``SoftmaxCrossEntropyLoss`` whose ``sample_weight`` carries the
    class weights; the loss is divided by the sum of the weights, like PyTorch's
    weighted mean.
    """
    import course_lib.mxnet as cmx
    import mxnet as mx

    mx.random.seed(seed)
    net = mx.gluon.nn.Dense(2, in_units=1, dtype="float64")
    net.initialize(mx.init.Xavier())
    inputs = mx.nd.array(np.asarray(x, dtype=float)[:, None], dtype="float64")
    targets = mx.nd.array(np.asarray(y), dtype="float64")
    weights = (
        np.ones(2)
        if class_weights is None
        else np.asarray(class_weights, dtype=float)
    )
    sample_weight = mx.nd.array(
        weights[np.asarray(y)][:, None], dtype="float64"
    )
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = mx.gluon.Trainer(net.collect_params(), cmx.SGD(learning_rate=lr))
    total_weight = float(sample_weight.sum().asscalar())
    for _ in range(epochs):
        with mx.autograd.record():
            loss = (
                loss_fn(net(inputs), targets, sample_weight).sum()
                / total_weight
            )
        loss.backward()
        trainer.step(1)
    return net


# ------------------------------------------------------- a softmax too many (digits MLP)
#: The digits network of the double-softmax experiment: 64 pixels, 64 hidden units, 10 classes.
DIGITS_SIZES = (64, 64, 10)


def train_digits_torch(
    extra_softmax: bool,
    epochs: int = 3,
    lr: float = 0.1,
    batch_size: int = 64,
    n_train: int = 1280,
    seed: int = 0,
):
    """Train the digits MLP with ``F.cross_entropy`` and
    :class:`course_lib.torch.SGD`; with ``extra_softmax`` the network ends with
    ``nn.Softmax`` (the mistake: the loss applies a second softmax). Returns the
    :class:`course_lib.models.History`.
    """
    split = data.digits(n_train=n_train)
    x, y, x_test, y_test = data.to_torch(*split, device=ctorch.device())
    model = models.torch_mlp(list(DIGITS_SIZES), seed=seed)
    if extra_softmax:
        model = torch.nn.Sequential(model, torch.nn.Softmax(dim=1))
    model = model.to(x.device)
    return models.train_torch(
        model,
        ctorch.SGD(model.parameters(), lr=lr),
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        x_val=x_test,
        y_val=y_test,
        seed=seed,
    )


def train_digits_mxnet(
    extra_softmax: bool,
    epochs: int = 3,
    lr: float = 0.1,
    batch_size: int = 64,
    n_train: int = 1280,
    seed: int = 0,
):
    """The Gluon twin of :func:`train_digits_torch`
    (``SoftmaxCrossEntropyLoss``, which also takes logits, and
    :class:`course_lib.mxnet.SGD`).
    """
    import course_lib.mxnet as cmx
    import mxnet as mx

    split = data.digits(n_train=n_train)
    x, y, x_test, y_test = data.to_mxnet(*split, ctx=cmx.context())
    net = models.mxnet_mlp(list(DIGITS_SIZES), seed=seed, ctx=cmx.context())
    if extra_softmax:
        net.add(mx.gluon.nn.Lambda(lambda out: mx.nd.softmax(out, axis=1)))
    trainer = mx.gluon.Trainer(net.collect_params(), cmx.SGD(learning_rate=lr))
    return models.train_mxnet(
        net,
        trainer,
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        x_val=x_test,
        y_val=y_test,
        seed=seed,
    )
