"""Experiments of chapter 10: normalization changes the error surface.

Four pieces:

* the error surface of a linear regression whose two features have different scales, as a
  :class:`course_lib.surfaces.Surface` (its Hessian is the features' second-moment matrix,
  so its condition number is set by the scales), before and after standardizing;
* batch normalization written out in numpy (training: batch statistics; inference: running
  averages), checked against PyTorch and MXNet by the tests;
* the learning-rate sweep of a small network with and without batch normalization, in
  PyTorch and in MXNet Gluon, trained with course_lib's SGD;
* the landscape along training: the top Hessian eigenvalue and a condition estimate of
  the training loss (batch normalization on batch statistics, as SGD sees it), with and
  without BN, over several seeds (:func:`landscape_run`).
"""
from __future__ import annotations

import copy
import math
from typing import NamedTuple, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import course_lib.torch as ctorch
from course_lib import _checks, data, descent, gauss_newton, hessian, models
from course_lib.plotting import contour, trajectories
from course_lib.reference import batch_norm as _reference
from course_lib.surfaces import Surface

__all__ = [
    "scaled_features", "standardize", "regression_surface", "condition_number",
    "descent_speed", "draw_scales", "BatchNormState", "batch_norm_train", "batch_norm_eval",
    "LR_GRID", "USABLE_LOSS", "lr_sweep_torch", "lr_sweep_mxnet", "usable_range",
    "draw_lr_sweep", "SEEDS", "largest_usable_lr", "batch_statistics_model", "Curvature",
    "curvature", "LandscapeRun", "landscape_run", "landscape_runs", "landscape_summary",
    "draw_landscape",
]


# --------------------------------------------------------------- feature scales
def scaled_features(scale: float, n: int = 200, w=(1.0, 1.0), noise: float = 0.1, seed: int = 0):
    """Regression data with two independent features of standard deviations 1 and ``scale``,
    both with mean ``1``, and ``y = X w + noise * N(0, 1)``. Returns ``(X, y)`` (float64)."""
    _checks.positive("scale", scale)
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    rng = np.random.default_rng(seed)
    x = 1.0 + rng.standard_normal((n, 2)) * np.array([1.0, scale])
    y = x @ np.asarray(w, dtype=float) + noise * rng.standard_normal(n)
    return x, y


def standardize(x: np.ndarray) -> np.ndarray:
    """Each feature shifted by its mean and divided by its standard deviation:
    ``(x - mean) / std``, what batch normalization does to a layer's inputs."""
    x = np.asarray(x, dtype=float)
    return (x - x.mean(axis=0)) / x.std(axis=0)


def regression_surface(x, y, name: str = "regression") -> Surface:
    """The loss ``L(w) = 1/(2n) |X w + b* - y|^2`` of a 2-feature linear model over ``w``.

    The bias is set to its best value for every ``w`` (``b* = mean(y - X w)``), so the
    surface depends on the *centered* features: ``L(w) = 1/2 (w - w*)^T A (w - w*) + L*``
    with ``A = cov(X)`` (population covariance), the Hessian. Its condition number
    ``lambda_max / lambda_min`` is set by the feature scales.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must have shape (n, 2) and y shape (n,), got {x.shape} and {y.shape}")
    xc, yc = x - x.mean(axis=0), y - y.mean()
    A = xc.T @ xc / len(x)
    c = xc.T @ yc / len(x)
    w_star = np.linalg.solve(A, c)
    floor = 0.5 * float(np.mean((xc @ w_star - yc) ** 2))
    (a, b), (_, d) = A

    def f(u, v):
        du, dv = u - w_star[0], v - w_star[1]
        return 0.5 * (a * du * du + 2 * b * du * dv + d * dv * dv) + floor

    def df(u, v):
        du, dv = u - w_star[0], v - w_star[1]
        return a * du + b * dv, b * du + d * dv

    def d2f(u, v):
        return a + 0 * u, b + 0 * u, d + 0 * u

    bounds = ((w_star[0] - 3.0, w_star[0] + 3.0), (w_star[1] - 3.0, w_star[1] + 3.0))
    return Surface(name, f, df, d2f, [w_star], bounds)


def condition_number(surface: Surface) -> float:
    """``lambda_max / lambda_min`` of the Hessian at the surface's minimum."""
    eig = np.linalg.eigvalsh(surface.hessian(surface.minima[0]))
    return float(eig[-1] / eig[0])


def _curvatures(surface: Surface):
    eig = np.linalg.eigvalsh(surface.hessian(surface.minima[0]))
    return float(eig[-1]), float(eig[0])


def descent_speed(surface: Surface, start, tol: float = 1e-3, max_steps: int | None = None):
    """Gradient descent with the best fixed learning rate ``2 / (L + mu)`` from ``start``:
    returns ``(lr, steps)``, the steps until the distance to the minimum falls (and stays)
    below ``tol`` times the starting distance (-1 if not within ``max_steps``).

    Theory: the error shrinks by ``(kappa - 1) / (kappa + 1)`` per step, so the steps grow
    like ``kappa / 2 * log(1 / tol)`` with the condition number ``kappa``; ``max_steps``
    defaults to twice that.
    """
    L, mu = _curvatures(surface)
    if max_steps is None:
        max_steps = int(2 * (L / mu / 2 * math.log(1 / tol))) + 20
    lr = 2.0 / (L + mu)
    start = np.asarray(start, dtype=float).reshape(1, 2)
    radius = tol * float(np.linalg.norm(start[0] - surface.minima[0]))
    result = descent.run("sgd", surface, start, max_steps, lr=lr)
    return lr, int(result.steps_to(tol=radius)[0])


def draw_scales(scale: float = 10.0, inputs: str = "raw", steps: int = 40, lr_factor: float = 0.9):
    """Figure for the chapter's playground: the error surface of :func:`scaled_features`
    (``inputs`` ``"raw"`` or ``"standardized"``) with gradient descent at
    ``lr = lr_factor * 2 / L`` from the corner of the window, and its loss per step."""
    _checks.one_of("inputs", inputs, ("raw", "standardized"))
    x, y = scaled_features(scale)
    if inputs == "standardized":
        x = standardize(x)
    surface = regression_surface(x, y, f"{inputs} features")
    L, mu = _curvatures(surface)
    lr = lr_factor * 2.0 / L
    (x0, _), (_, y1) = surface.bounds
    start = np.array([[x0 + 0.3, y1 - 0.3]])
    result = descent.run("sgd", surface, start, steps, lr=lr)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1, 1.3]})
    contour(left, surface, levels=20, n=120)
    trajectories(left, result.trajectory)
    left.set_aspect("equal")
    which = " (standardized)" if inputs == "standardized" else ""
    left.set_xlabel(f"weight $w_1$ of feature 1{which}")
    left.set_ylabel(f"weight $w_2$ of feature 2{which}")
    left.set_title(f"{inputs}: condition number {L / mu:.3g}")
    gap = result.loss[:, 0] - surface.value(surface.minima[0])
    right.semilogy(np.maximum(gap, 1e-12), marker=".")
    right.set_xlabel("gradient-descent step")
    right.set_ylabel("loss minus its minimum (log scale)")
    right.set_ylim(1e-12, 1e3)
    right.set_title(f"std of feature 2 = {scale:g}; lr = {lr_factor:g} x 2/L = {lr:.2g}")
    right.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------- batch normalization
class BatchNormState(NamedTuple):
    """The running statistics a batch-normalization layer keeps for inference."""

    running_mean: np.ndarray
    running_var: np.ndarray

    @classmethod
    def fresh(cls, n_features: int) -> "BatchNormState":
        """Mean 0, variance 1: the initial state in PyTorch and MXNet."""
        return cls(np.zeros(n_features), np.ones(n_features))


def batch_norm_train(x, gamma, beta, state: BatchNormState, momentum: float = 0.1,
                     eps: float = 1e-5, unbiased_running_var: bool = True):
    """Batch normalization in training mode; returns ``(output, new_state)``::

        mu_B = mean_i x_i          var_B = mean_i (x_i - mu_B)^2
        out  = gamma (x - mu_B) / sqrt(var_B + eps) + beta
        running <- (1 - momentum) running + momentum * batch statistic

    ``momentum`` is PyTorch's (the weight of the new batch; MXNet's ``momentum`` is the
    weight of the old average, ``1 -`` this). PyTorch puts the unbiased variance
    ``var_B * B / (B - 1)`` into the running average, MXNet the biased ``var_B``
    (``unbiased_running_var=False``).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"x must have shape (batch, features) with batch >= 2, got {x.shape}")
    _checks.probability("momentum", momentum, include_one=True)
    out, mean, var = _reference.batch_norm_train(x, gamma, beta, eps)
    batch = len(x)
    var_for_running = var * batch / (batch - 1) if unbiased_running_var else var
    new_state = BatchNormState(
        _reference.running_average(state.running_mean, mean, momentum),
        _reference.running_average(state.running_var, var_for_running, momentum))
    return out, new_state


def batch_norm_eval(x, gamma, beta, state: BatchNormState, eps: float = 1e-5) -> np.ndarray:
    """Batch normalization at inference: the running averages replace the batch statistics,
    ``gamma (x - running_mean) / sqrt(running_var + eps) + beta``, so each example's output
    no longer depends on the other examples of its batch."""
    x = np.asarray(x, dtype=float)
    return _reference.batch_norm_eval(x, gamma, beta, state.running_mean, state.running_var,
                                      eps)


# --------------------------------------------------------------- learning-rate sweep
#: Learning rates of the sweep, half a decade apart.
LR_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: A run is usable when its training loss after the sweep's epochs is below this.
USABLE_LOSS = 0.5
#: The network of the sweep: 64 pixels, three hidden layers of 64 ReLU units, 10 classes.
SIZES = (64, 64, 64, 64, 10)


def _digits(n_train: int):
    # n_train a multiple of the batch size: a last batch of a few examples would give batch
    # normalization the statistics of those few, which ruins it at large learning rates
    return data.digits(n_train=n_train)


def _final_loss(history) -> float:
    loss = history.train_loss[-1] if history.train_loss else math.inf
    return loss if np.isfinite(loss) else math.inf


def lr_sweep_torch(
    batch_norm: bool,
    lrs: Sequence[float] = LR_GRID,
    epochs: int = 3,
    batch_size: int = 64,
    n_train: int = 1280,
    sizes=SIZES,
    seed: int = 0,
):
    """Training loss (evaluation mode, whole training set) after ``epochs``
    epochs of plain SGD (:class:`course_lib.torch.SGD`) at each learning rate;
    ``inf`` where it diverged.
    """
    split = _digits(n_train)
    x, y = data.to_torch(split.x_train, split.y_train, device=ctorch.device())
    out = []
    for lr in lrs:
        model = models.torch_mlp(
            list(sizes), batch_norm=batch_norm, seed=seed
        ).to(x.device)
        history = models.train_torch(
            model,
            ctorch.SGD(model.parameters(), lr=lr),
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
        )
        out.append(_final_loss(history))
    return np.array(out)


def lr_sweep_mxnet(
    batch_norm: bool,
    lrs: Sequence[float] = LR_GRID,
    epochs: int = 3,
    batch_size: int = 64,
    n_train: int = 1280,
    sizes=SIZES,
    seed: int = 0,
):
    """The Gluon twin of :func:`lr_sweep_torch` (:class:`course_lib.mxnet.SGD`,
    ``SoftmaxCrossEntropyLoss``)."""
    import course_lib.mxnet as cmx
    import mxnet as mx

    split = _digits(n_train)
    x, y = data.to_mxnet(split.x_train, split.y_train, ctx=cmx.context())
    out = []
    for lr in lrs:
        net = models.mxnet_mlp(
            list(sizes), batch_norm=batch_norm, seed=seed, ctx=cmx.context()
        )
        trainer = mx.gluon.Trainer(
            net.collect_params(), cmx.SGD(learning_rate=lr)
        )
        history = models.train_mxnet(
            net, trainer, x, y, epochs=epochs, batch_size=batch_size, seed=seed
        )
        out.append(_final_loss(history))
    return np.array(out)


def usable_range(lrs: Sequence[float], final_losses, threshold: float = USABLE_LOSS):
    """``(smallest, largest, count)`` of the learning rates whose final loss is below
    ``threshold``; ``(nan, nan, 0)`` when none is."""
    lrs = np.asarray(lrs, dtype=float)
    ok = np.asarray(final_losses, dtype=float) < threshold
    if not ok.any():
        return math.nan, math.nan, 0
    return float(lrs[ok].min()), float(lrs[ok].max()), int(ok.sum())


def draw_lr_sweep(lrs, sweeps: dict, threshold: float = USABLE_LOSS):
    """Figure: final training loss against learning rate, one line per ``{label: losses}``
    (diverged runs drawn at the top edge), with the usability threshold."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    top = 10.0
    for (label, losses), style in zip(sweeps.items(), ("o-", "s--", "o-", "s--")):
        losses = np.asarray(losses, dtype=float)
        shown = np.where(np.isfinite(losses), np.minimum(losses, top), top)
        line, = ax.loglog(lrs, shown, style, label=label)
        diverged = ~np.isfinite(losses)
        if diverged.any():
            ax.scatter(np.asarray(lrs)[diverged], shown[diverged], marker="x", s=80,
                       color=line.get_color(), zorder=5)
    ax.axhline(threshold, color="k", linewidth=0.8)
    ax.axhspan(1e-3, threshold, color="g", alpha=0.08, label=f"usable: loss < {threshold:g}")
    ax.set_ylim(1e-2, top * 1.5)
    ax.set_xlabel("learning rate of SGD (log scale)")
    ax.set_ylabel("training loss after the sweep's epochs (log scale)")
    ax.set_title("usable learning rates with and without batch normalization (x: diverged)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------- the landscape along training
#: Learning rates are compared on this many seeds.
SEEDS = (0, 1, 2)


def largest_usable_lr(batch_norm: bool, seeds: Sequence[int] = SEEDS, lrs: Sequence[float] = LR_GRID,
                      threshold: float = USABLE_LOSS, sweeps: dict | None = None) -> float:
    """The largest learning rate of ``lrs`` at which *every* seed is usable (training loss
    after :func:`lr_sweep_torch`'s 3 epochs below ``threshold``); ``nan`` if none is.

    Rates are tried from the largest down, and at each rate the seeds one after the other
    until one fails, so only the runs that can change the answer are made. ``sweeps`` may
    hold already computed ``{seed: final losses over lrs}``, which are read instead.
    """
    sweeps = dict(sweeps or {})
    for i in np.argsort(lrs)[::-1]:
        for seed in seeds:
            loss = (sweeps[seed][i] if seed in sweeps
                    else lr_sweep_torch(batch_norm, (lrs[i],), seed=seed)[0])
            if not loss < threshold:
                break
        else:
            return float(lrs[i])
    return math.nan


def batch_statistics_model(model):
    """A copy of ``model`` whose batch-normalization layers always use the
    statistics of the batch they are given, as in training, and keep no running
    averages.

    The loss SGD descends is this one (each step normalizes with its batch's
    mean and variance); :mod:`course_lib.hessian` evaluates a model in
    ``eval()`` mode, where a BN layer would use its running averages instead: a
    different function of the weights, without BN's invariance to the scale of
    the weights before it.
    """
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.track_running_stats = False
            module.running_mean = module.running_var = (
                module.num_batches_tracked
            ) = None
    return twin


class Curvature(NamedTuple):
    """Curvature of the training loss at one point: ``loss``; ``top``, the largest eigenvalue
    of the Hessian H; ``ggn_top`` and ``ggn_trace``, the largest eigenvalue and the trace of
    the Gauss-Newton matrix G; and ``condition`` :math:`= n\\,\\lambda_{max}(G) / \\operatorname{tr} G`."""

    loss: float
    top: float
    ggn_top: float
    ggn_trace: float
    condition: float


def curvature(model, x, y, trace_hvps: int = 18, seed: int = 0) -> Curvature:
    """The sharpness and a condition estimate of the mean cross-entropy on the
    batch ``(x, y)``, BN layers on that batch's statistics
    (:func:`batch_statistics_model`).

    * ``top``: :math:`\\lambda_{max}(H)`, which bounds the stable learning rate
      of gradient descent, :math:`\\eta < 2/\\lambda_{max}`.
    * ``condition``: :math:`\\lambda_{max}(G) / (\\operatorname{tr} G / n)`, how
      far the steepest direction stands above the *average* curvature, on the
      positive semi-definite Gauss-Newton part G of the Hessian
      (:mod:`course_lib.gauss_newton`). Not
      :math:`\\lambda_{max}/\\lambda_{min}`: a network's smallest Hessian
      eigenvalues are zero or negative. Not :math:`\\operatorname{tr} H`:
      positive and negative curvature cancel in it (at the initialization of the
      BN network of chapter 10, tr H is about -19 while tr G is about 160), so
      its Hutch++ estimates even change sign, while those of the PSD G scatter
      by a few percent with 18 products.

    Lanczos stops at a relative residual of 1e-2, which gives the top eigenvalue
    to about 1e-4 (see :func:`course_lib.hessian.top_eigenvalues`).
    """
    twin = batch_statistics_model(model)
    op = hessian.HessianOperator(twin, F.cross_entropy, (x, y))
    ggn = gauss_newton.GGNOperator(twin, F.cross_entropy, (x, y))
    top = float(hessian.top_eigenvalues(op, k=1, tol=1e-2, seed=seed).values[0])
    ggn_top = float(
        hessian.top_eigenvalues(ggn, k=1, tol=1e-2, seed=seed).values[0]
    )
    ggn_trace = hessian.trace(ggn, num_hvps=trace_hvps, seed=seed)
    return Curvature(
        op.loss, top, ggn_top, ggn_trace, op.n * ggn_top / ggn_trace
    )


class LandscapeRun(NamedTuple):
    """One SGD run of :func:`landscape_run`: the steps at which the landscape was measured,
    the :class:`Curvature` fields there (arrays), and ``weight_norm``, the norm of the hidden
    layers' weight matrices (the ones a BN layer follows)."""

    batch_norm: bool
    lr: float
    seed: int
    steps: np.ndarray
    loss: np.ndarray
    top: np.ndarray
    ggn_top: np.ndarray
    ggn_trace: np.ndarray
    condition: np.ndarray
    weight_norm: np.ndarray


def _hidden_weight_norm(model) -> float:
    linear = [m for m in model if isinstance(m, torch.nn.Linear)][:-1]
    return float(torch.sqrt(sum((m.weight.detach() ** 2).sum() for m in linear)))


def landscape_run(batch_norm: bool, lr: float, seed: int = 0, epochs: int = 3, every: int = 10,
                  batch_size: int = 64, n_train: int = 1280, n_measure: int = 256,
                  sizes=SIZES) -> LandscapeRun:
    """Train as :func:`lr_sweep_torch` does (same network, seed, batches and SGD) and measure
    :func:`curvature` on the first ``n_measure`` training examples every ``every`` steps
    and at the end."""
    split = _digits(n_train)
    x, y = data.to_torch(split.x_train, split.y_train, device=ctorch.device())
    model = models.torch_mlp(list(sizes), batch_norm=batch_norm, seed=seed).to(x.device)
    optimizer = ctorch.SGD(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    steps, rows = [], []
    step = 0
    for _ in range(epochs):
        for idx in data.batches(len(x), batch_size, rng):
            if step % every == 0:
                steps.append(step)
                rows.append((*curvature(model, x[:n_measure], y[:n_measure], seed=step),
                             _hidden_weight_norm(model)))
            model.train()
            idx = torch.as_tensor(idx, device=x.device)
            optimizer.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
            step += 1
    steps.append(step)
    rows.append((*curvature(model, x[:n_measure], y[:n_measure], seed=step), _hidden_weight_norm(model)))
    columns = np.array(rows).T
    return LandscapeRun(batch_norm, float(lr), seed, np.array(steps), *columns)


def landscape_runs(configs, seeds: Sequence[int] = SEEDS, **kwargs) -> dict:
    """``{(batch_norm, lr): [LandscapeRun per seed]}`` for each ``(batch_norm, lr)`` in
    ``configs`` (:func:`landscape_run`, the other arguments passed on)."""
    return {(bool(b), float(lr)): [landscape_run(b, lr, seed=s, **kwargs) for s in seeds]
            for b, lr in configs}


def landscape_summary(runs: Sequence[LandscapeRun], late: int = 3) -> dict:
    """Per-seed numbers of a list of runs (arrays over seeds): ``top_start`` and ``top_late``
    (:math:`\\lambda_{max}` at step 0 and averaged over the last ``late`` measurements),
    ``top_max`` (largest along the run), ``condition_start`` and ``condition_late`` (the same
    for the condition estimate), ``weight_growth`` (hidden weight norm at the end over its
    start) and ``final_loss``."""
    def stack(field):
        return np.array([getattr(run, field) for run in runs])

    top, condition, norm = stack("top"), stack("condition"), stack("weight_norm")
    return {"top_start": top[:, 0], "top_late": top[:, -late:].mean(axis=1),
            "top_max": top.max(axis=1), "condition_start": condition[:, 0],
            "condition_late": condition[:, -late:].mean(axis=1),
            "weight_growth": norm[:, -1] / norm[:, 0], "final_loss": stack("loss")[:, -1]}


def draw_landscape(runs: dict):
    """Figure: :math:`\\lambda_{max}` (with :math:`2/\\eta`), the condition estimate and the
    hidden weight norm against the SGD step, one color per ``(batch_norm, lr)`` of ``runs``
    (:func:`landscape_runs`), one thin line per seed and a thick one for their median."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    for k, ((batch_norm, lr), seeds) in enumerate(runs.items()):
        color = f"C{k}"
        label = f"{'BN' if batch_norm else 'no BN'}, lr {lr:g}"
        steps = seeds[0].steps
        for ax, field in zip(axes, ("top", "condition", "weight_norm")):
            values = np.array([getattr(run, field) for run in seeds])
            for row in values:
                ax.plot(steps, row, color=color, lw=0.7, alpha=0.5)
            ax.plot(steps, np.median(values, axis=0), color=color, lw=2.2, marker="o",
                    markersize=4, label=f"{label} ({len(seeds)} seeds, median)")
    for lr in sorted({lr for _, lr in runs}):
        axes[0].axhline(2 / lr, color="k", ls="--", lw=1)
        axes[0].text(0, 2 / lr, f"2/lr = {2 / lr:.3g} (lr {lr:g})", ha="left", va="bottom",
                     fontsize="small")
    axes[0].set_yscale("log")
    axes[0].set_ylabel(r"largest Hessian eigenvalue $\lambda_{max}$ (units of 1/lr)")
    axes[0].set_title("sharpness of the training loss")
    axes[1].set_yscale("log")
    axes[1].set_ylabel(r"$\lambda_{max}(G)\,/\,(\mathrm{tr}\,G / n)$ (ratio)")
    axes[1].set_title("condition estimate: top over mean curvature")
    axes[2].set_ylabel("Frobenius norm of the hidden weights")
    axes[2].set_title("weights of the three hidden layers")
    for ax, ticks in zip(axes[:2], ([0.3, 1, 3, 10], [100, 200, 500, 1000, 2000])):
        ax.set_yticks(ticks)
        ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    for ax in axes:
        ax.set_xlabel("SGD step (batches of 64)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig
