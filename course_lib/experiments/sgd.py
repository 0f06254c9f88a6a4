"""Experiments of chapter 3: stochastic and minibatch gradient descent on linear regression.

The model is ``yhat = x . w + b`` with the per-example loss ``f_i = (yhat_i - y_i)^2 / 2``
(MXNet's ``L2Loss``; the ``1/2`` makes the gradient ``(yhat_i - y_i) [x_i, 1]``), and the
training loss is their mean ``f = (1/n) sum_i f_i``.

* :func:`per_example_gradients`, :func:`full_gradient`, :func:`gradient_cost` - the
  per-example sum and what a full gradient costs as ``n`` grows;
* :func:`sampled_gradient_error`, :func:`minibatch_gradient_variance` - the stochastic
  gradient is unbiased, and its variance falls with the batch size (to 0 at ``n``);
* :func:`train_numpy`, :func:`train_torch`, :func:`train_mxnet` - the same minibatch SGD
  run (same initial point, same shuffling, same learning-rate schedule) in numpy with
  :data:`course_lib.rules.sgd`, in PyTorch with :class:`course_lib.torch.SGD`, and in MXNet
  Gluon with :class:`course_lib.mxnet.SGD`. Batch size 1 is SGD; batch size ``n`` is
  gradient descent;
* :func:`example_curvatures`, :func:`mean_square_factor`, :func:`error_growth`,
  :func:`stability_grid` - which learning rates batch 1 tolerates, and why it tolerates
  less than larger batches.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FuncFormatter

import course_lib.torch as ctorch
from course_lib import _checks, data, rules, schedules

__all__ = ["per_example_gradients", "full_gradient", "regression_loss", "gradient_cost",
           "sampled_gradient_error", "minibatch_gradient_variance", "decayed_lr",
           "initial_parameters", "RegressionRun", "train_numpy", "train_torch", "train_mxnet",
           "example_curvatures", "mean_square_factor", "error_growth", "stability_grid",
           "plot_runs", "draw_batch_lr"]


# ------------------------------------------------------------------- gradients by hand
def _params(w, b):
    return np.asarray(w, dtype=np.float64).ravel(), float(b)


def regression_loss(x, y, w, b) -> float:
    """Training loss ``f = mean_i (x_i . w + b - y_i)^2 / 2``."""
    w, b = _params(w, b)
    residual = np.asarray(x, dtype=np.float64) @ w + b - y
    return float(np.mean(residual ** 2) / 2)


def per_example_gradients(x, y, w, b) -> np.ndarray:
    """Gradient of each ``f_i`` with respect to ``(w, b)``: row ``i`` is
    ``(x_i . w + b - y_i) [x_i, 1]``, shape ``(n, d + 1)``."""
    w, b = _params(w, b)
    x = np.asarray(x, dtype=np.float64)
    residual = x @ w + b - y
    return np.hstack([residual[:, None] * x, residual[:, None]])


def full_gradient(x, y, w, b) -> np.ndarray:
    """``grad f = (1/n) sum_i grad f_i``, without storing the ``n`` rows: ``[X^T r, sum r] / n``."""
    w, b = _params(w, b)
    x = np.asarray(x, dtype=np.float64)
    residual = x @ w + b - y
    return np.append(x.T @ residual, residual.sum()) / len(residual)


def gradient_cost(sizes, repeats: int = 5, seed: int = 0) -> dict:
    """Seconds for one full gradient on ``n`` examples (best of ``repeats``) for each ``n`` in
    ``sizes``, and for one single-example gradient. Returns ``{"sizes", "full", "single"}``."""
    rng = np.random.default_rng(seed)
    w, b = np.array([0.5, 0.5]), 0.0
    full, single = [], []
    for n in sizes:
        x, y = data.synthetic_regression(n=int(n), seed=seed)
        x = x.astype(np.float64)
        best_full, best_single = np.inf, np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            full_gradient(x, y, w, b)
            best_full = min(best_full, time.perf_counter() - start)
            i = int(rng.integers(n))
            start = time.perf_counter()
            full_gradient(x[i:i + 1], y[i:i + 1], w, b)
            best_single = min(best_single, time.perf_counter() - start)
        full.append(best_full)
        single.append(best_single)
    return {"sizes": np.asarray(sizes), "full": np.array(full), "single": np.array(single)}


def sampled_gradient_error(x, y, w, b, n_samples: int, seed: int = 0) -> dict:
    """Average ``n_samples`` stochastic gradients ``grad f_i`` with ``i`` uniform on
    ``{1..n}`` and compare the running mean with the full gradient.

    Returns ``{"counts", "error", "spread", "z", "mean", "full"}``: ``error[k]`` is
    ``|mean of the first counts[k] samples - grad f|``, ``spread[k]`` the root total
    variance over ``sqrt(counts[k])`` (the error expected of an unbiased estimate), ``z`` the
    per-coordinate error of the final mean in standard errors.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    rng = np.random.default_rng(seed)
    per_example = per_example_gradients(x, y, w, b)
    full = per_example.mean(axis=0)
    samples = per_example[rng.integers(len(per_example), size=n_samples)]
    running = np.cumsum(samples, axis=0) / np.arange(1, n_samples + 1)[:, None]
    counts = np.unique(np.geomspace(1, n_samples, 40).astype(int))
    total_variance = float(per_example.var(axis=0).sum())
    std = per_example.std(axis=0)
    z = (running[-1] - full) / (std / np.sqrt(n_samples))
    return {"counts": counts, "error": np.linalg.norm(running[counts - 1] - full, axis=1),
            "spread": np.sqrt(total_variance / counts), "z": z, "mean": running[-1], "full": full}


def minibatch_gradient_variance(x, y, w, b, batch_sizes, n_draws: int = 2000,
                                seed: int = 0) -> dict:
    """Total variance (sum over coordinates) of the minibatch gradient, measured over
    ``n_draws`` batches drawn without replacement, against the exact formula

    ``Var[g_B] = (sigma^2 / B) (n - B) / (n - 1)``, ``sigma^2`` the per-example total variance.

    Returns ``{"batch_sizes", "measured", "exact", "bias"}`` (``bias``: largest distance of the
    mean minibatch gradient from the full gradient, in units of its standard error).
    """
    rng = np.random.default_rng(seed)
    per_example = per_example_gradients(x, y, w, b)
    n = len(per_example)
    full = per_example.mean(axis=0)
    sigma2 = float(per_example.var(axis=0).sum())
    measured, exact, bias = [], [], []
    for size in batch_sizes:
        if not 1 <= size <= n:
            raise ValueError(f"batch sizes must lie in [1, n={n}], got {size}")
        grads = np.array([per_example[rng.choice(n, size, replace=False)].mean(axis=0)
                          for _ in range(n_draws)])
        measured.append(float(grads.var(axis=0).sum()))
        exact.append(sigma2 / size * (n - size) / (n - 1))
        if exact[-1] > 0:
            bias.append(float(np.linalg.norm(grads.mean(axis=0) - full) / np.sqrt(exact[-1] / n_draws)))
        else:
            bias.append(float(np.linalg.norm(grads.mean(axis=0) - full)))
    return {"batch_sizes": list(batch_sizes), "measured": np.array(measured),
            "exact": np.array(exact), "bias": np.array(bias)}


# ------------------------------------------------------------------------- training
def decayed_lr(lr: float, decay_after: int = 2, gamma: float = 0.1):
    """Per-epoch schedule (epochs counted from 0): ``lr`` for the first ``decay_after`` epochs,
    then multiplied by ``gamma`` at the start of every later epoch."""
    if decay_after < 0:
        raise ValueError(f"decay_after must be >= 0, got {decay_after}")
    base = schedules.exponential(lr, gamma)
    return lambda epoch: base(max(0, epoch - decay_after + 1))


def initial_parameters(d: int = 2, seed: int = 0):
    """Starting point shared by the three implementations: ``w ~ N(0, I)``, ``b = 0``."""
    w = np.random.default_rng(seed + 1000).standard_normal(d).astype(np.float32)
    return w, np.float32(0.0)


@dataclass
class RegressionRun:
    """A training run of the regression: the full training loss every ``period`` examples.

    ``epochs_seen[k]`` (examples processed / n) is where ``loss[k]`` was recorded; ``loss``
    ends in NaN if the run diverged. ``w``, ``b`` are the final parameters, ``lrs`` the
    learning rate of each epoch, ``seconds`` the wall time of the training loop.
    """

    framework: str
    batch_size: int
    lr: float
    epochs_seen: np.ndarray
    loss: np.ndarray
    w: np.ndarray
    b: float
    lrs: list
    seconds: float

    @property
    def diverged(self) -> bool:
        return not np.isfinite(self.loss[-1])

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])


class _Recorder:
    """Records the full loss at the start and whenever another ``period`` examples went by."""

    def __init__(self, n, period, evaluate):
        self.n, self.period, self.evaluate = n, period, evaluate
        self.seen = 0
        self.points, self.values = [0.0], [evaluate()]

    def update(self, batch: int) -> bool:
        """Call after each update with its batch size; False once the loss is not finite."""
        before = self.seen // self.period
        self.seen += batch
        if self.seen // self.period > before:
            self.points.append(self.seen / self.n)
            self.values.append(self.evaluate())
        return bool(np.isfinite(self.values[-1]))


def _check_run(x, batch_size, lr, epochs, period):
    n = len(x)
    _checks.integer("batch_size", batch_size, 1, n)
    _checks.positive("lr", lr)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs!r}")
    if period < 1:
        raise ValueError(f"period must be >= 1 example, got {period!r}")


def _finish(framework, batch_size, lr, recorder, w, b, lrs, seconds):
    loss = np.array(recorder.values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        loss[~np.isfinite(loss)] = np.nan
    return RegressionRun(framework, int(batch_size), float(lr), np.array(recorder.points), loss,
                         np.asarray(w, dtype=np.float64).ravel(), float(np.ravel(b)[0]), lrs, seconds)


def train_numpy(x, y, batch_size: int, lr: float, epochs: int = 5, decay_after: int = 2,
                period: int = 10, seed: int = 0) -> RegressionRun:
    """Minibatch SGD with :data:`course_lib.rules.sgd` on numpy arrays (float32 like the
    frameworks). The gradient of each batch is the mean of its per-example gradients."""
    _check_run(x, batch_size, lr, epochs, period)
    w0, b0 = initial_parameters(x.shape[1])
    params = np.append(w0, b0).astype(np.float32)     # [w, b] updated in place
    state = rules.sgd.init(params, rules.NUMPY)
    schedule = decayed_lr(lr, decay_after)
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore", invalid="ignore"):
        recorder = _Recorder(len(x), period, lambda: regression_loss(x, y, params[:-1], params[-1]))
        lrs, ok, start = [], True, time.perf_counter()
        for epoch in range(epochs):
            lrs.append(schedule(epoch))
            order = rng.permutation(len(x))
            x_epoch, y_epoch = x[order], y[order]     # the same shuffling as the frameworks
            for first in range(0, len(x), batch_size):
                xb, yb = x_epoch[first:first + batch_size], y_epoch[first:first + batch_size]
                grad = full_gradient(xb, yb, params[:-1], params[-1]).astype(np.float32)
                rules.sgd.update(params, grad, state, rules.NUMPY, lr=lrs[-1])
                ok = recorder.update(len(xb))
                if not ok:
                    break
            if not ok:
                break
    return _finish("numpy", batch_size, lr, recorder, params[:-1], params[-1:], lrs,
                   time.perf_counter() - start)


def train_torch(
    x,
    y,
    batch_size: int,
    lr: float,
    epochs: int = 5,
    decay_after: int = 2,
    period: int = 10,
    seed: int = 0,
) -> RegressionRun:
    """Minibatch SGD on ``nn.Linear(d, 1)`` with :class:`course_lib.torch.SGD`;
    loss ``(yhat - y)^2 / 2`` averaged over the batch; lr set at the start of
    each epoch.
    """
    _check_run(x, batch_size, lr, epochs, period)
    X, Y = data.to_torch(x, y, device=ctorch.device())
    net = torch.nn.Linear(x.shape[1], 1).to(X.device)
    w0, b0 = initial_parameters(x.shape[1])
    with torch.no_grad():
        net.weight.copy_(torch.as_tensor(w0).reshape(1, -1))
        net.bias.fill_(float(b0))
    optimizer = ctorch.SGD(net.parameters(), lr=lr)
    schedule = decayed_lr(lr, decay_after)

    def loss_fn(inputs, targets):
        return ((net(inputs).squeeze(-1) - targets) ** 2 / 2).mean()

    def evaluate():
        with torch.no_grad():
            return float(loss_fn(X, Y))

    rng = np.random.default_rng(seed)
    recorder = _Recorder(len(x), period, evaluate)
    lrs, ok, start = [], True, time.perf_counter()
    for epoch in range(epochs):
        lrs.append(schedule(epoch))
        for group in optimizer.param_groups:
            group["lr"] = lrs[-1]
        order = torch.as_tensor(rng.permutation(len(x)), device=X.device)
        X_epoch, Y_epoch = (
            X[order],
            Y[order],
        )  # shuffle once; batches are then cheap slices
        for first in range(0, len(x), batch_size):
            optimizer.zero_grad()
            loss_fn(
                X_epoch[first : first + batch_size],
                Y_epoch[first : first + batch_size],
            ).backward()
            optimizer.step()
            ok = recorder.update(min(batch_size, len(x) - first))
            if not ok:
                break
        if not ok:
            break
    seconds = time.perf_counter() - start
    return _finish(
        "torch",
        batch_size,
        lr,
        recorder,
        net.weight.detach().cpu().numpy(),
        net.bias.detach().cpu().numpy(),
        lrs,
        seconds,
    )


def train_mxnet(
    x,
    y,
    batch_size: int,
    lr: float,
    epochs: int = 5,
    decay_after: int = 2,
    period: int = 10,
    seed: int = 0,
) -> RegressionRun:
    """Minibatch SGD on ``gluon.nn.Dense(1)`` with :class:`course_lib.mxnet.SGD`
    in a Gluon Trainer; ``L2Loss`` is ``(yhat - y)^2 / 2`` per example and
    ``trainer.step(batch)`` averages the summed gradient over the batch.
    """
    import course_lib.mxnet as cmx
    import mxnet as mx

    _check_run(x, batch_size, lr, epochs, period)
    ctx = cmx.context()
    X, Y = data.to_mxnet(x, y, ctx=ctx)
    net = mx.gluon.nn.Dense(1, in_units=x.shape[1])
    net.initialize(ctx=ctx)
    w0, b0 = initial_parameters(x.shape[1])
    net.weight.set_data(mx.nd.array(w0.reshape(1, -1), ctx=ctx))
    net.bias.set_data(mx.nd.array([b0], ctx=ctx))
    trainer = mx.gluon.Trainer(net.collect_params(), cmx.SGD(learning_rate=lr))
    loss_fn = mx.gluon.loss.L2Loss()
    # a compiled graph: a third less Python overhead per tiny batch
    net.hybridize()
    loss_fn.hybridize()
    schedule = decayed_lr(lr, decay_after)

    def evaluate():
        return float(loss_fn(net(X), Y).mean().asscalar())

    rng = np.random.default_rng(seed)
    recorder = _Recorder(len(x), period, evaluate)
    lrs, ok, start = [], True, time.perf_counter()
    for epoch in range(epochs):
        lrs.append(schedule(epoch))
        trainer.set_learning_rate(lrs[-1])
        order = mx.nd.array(rng.permutation(len(x)), ctx=ctx, dtype="int64")
        X_epoch, Y_epoch = X.take(order), Y.take(
            order
        )  # shuffle once; batches are slices
        for first in range(0, len(x), batch_size):
            size = min(batch_size, len(x) - first)
            with mx.autograd.record():
                loss = loss_fn(
                    net(X_epoch[first : first + size]),
                    Y_epoch[first : first + size],
                )
            loss.backward()
            trainer.step(size)
            ok = recorder.update(size)
            if not ok:
                break
        if not ok:
            break
    seconds = time.perf_counter() - start
    return _finish(
        "mxnet",
        batch_size,
        lr,
        recorder,
        net.weight.data().asnumpy(),
        net.bias.data().asnumpy(),
        lrs,
        seconds,
    )


# ----------------------------------------------------------------- stability vs batch
def example_curvatures(x) -> np.ndarray:
    """Curvature of each per-example loss ``f_i = (x_i . w + b - y_i)^2 / 2``: its Hessian
    ``[x_i, 1][x_i, 1]^T`` has one non-zero eigenvalue, ``|x_i|^2 + 1``."""
    return np.sum(_rows(x) ** 2, axis=1)


def _rows(x) -> np.ndarray:
    """The rows ``a_i = [x_i, 1]``: the gradient of ``f_i`` is ``(a_i . theta - y_i) a_i``."""
    x = np.asarray(x, dtype=np.float64)
    return np.hstack([x, np.ones((len(x), 1))])


def mean_square_factor(x, lr: float) -> float:
    """Worst factor by which one batch-1 step on a uniformly drawn example multiplies the
    expected squared error ``|e|^2``, ``e = theta - theta*`` (noise-free targets):

    ``E_i |(I - lr a_i a_i^T) e|^2 = e^T (I - 2 lr S + lr^2 Q) e``, ``S = E[a a^T]``,
    ``Q = E[L_i a a^T]``, ``L_i = |a_i|^2``; the factor is the top eigenvalue of that matrix.
    Below 1, the expected squared error shrinks at every step, from any ``e``.
    """
    _checks.positive("lr", lr)
    a = _rows(x)
    curvature = np.sum(a ** 2, axis=1)
    s = a.T @ a / len(a)
    q = (a * curvature[:, None]).T @ a / len(a)
    return float(np.linalg.eigvalsh(np.eye(len(s)) - 2 * lr * s + lr ** 2 * q).max())


def error_growth(x, lr: float, epochs: int = 3, seed: int = 0) -> float:
    """Mean growth per epoch, ``log(|e_end| / |e_start|)``, of the error of
    batch-1 SGD on noise-free targets, each epoch in a fresh random order.

    A step on example ``i`` maps ``e`` to ``e - lr a_i (a_i . e)``: the part of
    ``e`` along ``a_i`` is multiplied by ``1 - lr L_i``, the rest is kept.
    Negative: a typical run converges; positive: it blows up.
    """
    _checks.positive("lr", lr)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs!r}")
    a = _rows(x)
    rng = np.random.default_rng(seed)
    e, total = np.ones(a.shape[1]) / np.sqrt(a.shape[1]), 0.0
    for _ in range(epochs):
        for i in rng.permutation(len(a)):
            e -= lr * a[i] * (a[i] @ e)
            norm = np.linalg.norm(
                e
            )  # keep |e| = 1: only the growth is recorded
            total += np.log(norm)
            e /= norm
    return total / epochs


def stability_grid(x, y, lrs, batch_sizes, epochs: int = 3, seed: int = 0) -> dict:
    """Run :func:`train_numpy` for every learning rate and batch size.

    Returns ``{"lrs", "batch_sizes", "final", "diverged_at"}``: ``final[i, j]`` is the final
    training loss for ``lrs[i]`` and ``batch_sizes[j]`` (NaN if the run diverged) and
    ``diverged_at[i, j]`` the epoch at which the loss stopped being finite (NaN if it never
    did).
    """
    final = np.full((len(lrs), len(batch_sizes)), np.nan)
    diverged_at = np.full_like(final, np.nan)
    for i, lr in enumerate(lrs):
        for j, size in enumerate(batch_sizes):
            run = train_numpy(x, y, size, lr, epochs=epochs, seed=seed)
            final[i, j] = run.final_loss
            if run.diverged:
                diverged_at[i, j] = run.epochs_seen[-1]
    return {"lrs": list(lrs), "batch_sizes": list(batch_sizes), "final": final,
            "diverged_at": diverged_at}


# ------------------------------------------------------------------------- figures
def _plain_log_axis(ax):
    """Log y axis with plain '1e-03' labels and no minor ticks: a playground draws many
    frames, and mathtext tick labels triple the time of each."""
    ax.minorticks_off()
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0e}"))


def plot_runs(runs, ax=None, title: str = ""):
    """Loss (log scale) against epochs for a list of :class:`RegressionRun`."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    for run in runs:
        label = f"{run.framework}: batch {run.batch_size}, lr {run.lr:g}"
        if run.diverged:
            label += " (NaN)"
        ax.semilogy(run.epochs_seen, run.loss, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax.figure


def draw_batch_lr(batch_size: int, lr: float, epochs: int = 5, seed: int = 0):
    """Playground figure: the numpy minibatch-SGD run on the standard regression for one
    batch size and learning rate, with the lr decay after epoch 2 marked."""
    x, y = data.synthetic_regression()
    run = train_numpy(x, y, batch_size, lr, epochs=epochs, seed=seed)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.semilogy(run.epochs_seen, run.loss, color="C0")
    _plain_log_axis(ax)
    ax.axvline(2, color="gray", ls=":", lw=1)
    ax.text(2.05, 1e2, "lr x 0.1 per epoch from here", fontsize=8, color="gray")
    ax.set_ylim(1e-5, 1e3)
    ax.set_xlim(0, epochs)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (log scale)")
    updates = -(-len(x) // batch_size)
    if run.diverged:
        status = f"diverged (NaN) after {run.epochs_seen[-1]:.2f} epochs"
    else:
        status = f"final loss {run.final_loss:.2e}, w = [{run.w[0]:.3f}, {run.w[1]:.3f}], b = {run.b:.3f}"
    ax.set_title(f"batch {batch_size} ({updates} updates/epoch), lr {lr:g}: {status}", fontsize=9)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
