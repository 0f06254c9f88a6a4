"""Chapter 5's controlled comparison of batch sizes: many networks trained at once.

Every run is plain minibatch SGD on the chapter's network and loss
(:func:`course_lib.experiments.batch_size.torch_net`, :func:`~.batch_size.squared_error`),
one run per (learning rate, seed). The runs of one batch size are trained *together*: their
weights are stacked along a leading axis and one batched matrix product does the forward and
backward pass of all of them, which costs a fraction of the runs one by one on a CPU. Each
run still has its own starting weights (``torch_net(seed=seed)``), its own shuffled
batches (``np.random.default_rng(seed)``, the same as
:func:`~.batch_size.train_torch`) and its own learning rate, and is the same run as
``train_torch(split, batch_size, updates=..., lr=lr, seed=seed)`` up to float32 rounding.

* :func:`train_many`: one batch size, a grid of learning rates and seeds; snapshots of each
  run after a number of epochs, at the first check where its training loss reached a target,
  and at the end;
* :func:`compare`: :func:`train_many` for every batch size, each snapshot measured (loss,
  validation and test accuracy, top Hessian eigenvalue): a :class:`Comparison`;
* :func:`tuned`: per batch size, the learning rate of the grid with the best mean validation
  accuracy under one of the three criteria (equal epochs, equal updates, equal loss).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

import course_lib.torch as ctorch
from course_lib import _checks, config
from course_lib.data import Split
from course_lib.experiments.batch_size import (accuracy, eps_sharpness as measure, squared_error,
                                               top_eigenvalue, torch_net)

__all__ = ["validation_split", "sgd_step", "Runs", "train_many", "CRITERIA", "Comparison",
           "compare", "tuned", "largest_stable", "edge_ratio", "eps_sharpness", "sharpness_path",
           "spread", "table", "draw_comparison", "draw_edge", "draw_scaling"]

#: The three ways of giving every batch size "the same budget".
CRITERIA = ("epochs", "updates", "loss")
#: A run whose training loss exceeds this (or is not finite) has diverged.
DIVERGED = 1e3
#: Lanczos tolerance of the sharpness measurements: the residual bound 1e-2 is pessimistic,
#: the eigenvalue it returns agreed with a converged one to 5e-4 (tests/test_claims_05)
#: at a third of the cost of 1e-3.
LANCZOS_TOL = 1e-2


def validation_split(split: Split) -> tuple:
    """``(x_val, y_val, x_test, y_test)``: the held-out images of ``split`` cut in two halves,
    the first to choose learning rates on, the second to report. ``split`` shuffles the
    images before it holds them out, so the halves are random halves."""
    half = len(split.y_test) // 2
    return split.x_test[:half], split.y_test[:half], split.x_test[half:], split.y_test[half:]


# ------------------------------------------------------------------ stacked networks
def _stack(seeds, hidden):
    """Weights of ``torch_net(hidden, seed)`` for every seed, stacked: ``[W1, b1, W2, b2]``
    of shapes ``(M, 64, h)``, ``(M, 1, h)``, ``(M, h, 10)``, ``(M, 1, 10)``."""
    nets = [torch_net(hidden, int(s)) for s in seeds]
    layers = [(net[0], net[2]) for net in nets]
    return [torch.stack([layer.weight.detach().T for layer, _ in layers]).contiguous(),
            torch.stack([layer.bias.detach()[None] for layer, _ in layers]),
            torch.stack([layer.weight.detach().T for _, layer in layers]).contiguous(),
            torch.stack([layer.bias.detach()[None] for _, layer in layers])]


def _unstack(params, i: int):
    """Network ``i`` of the stack as a ``torch_net`` (on the CPU, float32)."""
    W1, b1, W2, b2 = (p[i].detach().cpu() for p in params)
    net = torch_net(W1.shape[1])
    with torch.no_grad():
        net[0].weight.copy_(W1.T), net[0].bias.copy_(b1[0])
        net[2].weight.copy_(W2.T), net[2].bias.copy_(b2[0])
    return net


def _losses(params, x, onehot):
    """Squared error :math:`\\frac1{2B}\\sum_i\\lVert f(x_i)-e_{y_i}\\rVert^2` of each stacked
    network on its own batch: ``x`` is ``(M, B, 64)``, ``onehot`` ``(M, B, 10)``; shape (M,)."""
    W1, b1, W2, b2 = params
    out = torch.baddbmm(b2, torch.relu(torch.baddbmm(b1, x, W1)), W2)
    return 0.5 * ((out - onehot) ** 2).sum(dim=2).mean(dim=1)


def sgd_step(params, grads, lrs) -> None:
    """The update of every run at once: :math:`\\theta_m \\leftarrow \\theta_m -
    \\eta_m g_m`, run m's parameters moved against its own batch gradient times
    its own learning rate.
    """
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.sub_(lrs.view(-1, 1, 1) * g)


# ------------------------------------------------------------------------- training
class Runs(NamedTuple):
    """What :func:`train_many` returns for one batch size; run m has ``lrs[m]``, ``seeds[m]``.

    ``checks``: the update counts at which the training loss was measured; ``train_loss``
    ``(len(checks), M)``, NaN after a run diverged; ``diverged`` (M,) bool; ``snapshots``:
    for each criterion of :data:`CRITERIA`, one ``(update, model)`` per run (``None`` where
    the run never got there: diverged, or never reached the target loss)."""

    batch_size: int
    lrs: np.ndarray
    seeds: np.ndarray
    checks: np.ndarray
    train_loss: np.ndarray
    diverged: np.ndarray
    snapshots: dict


def _check_grid(batch_size, n, lrs, seeds, updates, epochs, every):
    if not 1 <= int(batch_size) <= n:
        raise ValueError(f"batch_size must lie in [1, {n}] (the training set), got {batch_size}")
    if len(lrs) == 0 or any(not float(lr) > 0 for lr in lrs):
        raise ValueError(f"lrs must be a non-empty list of positive rates, got {list(lrs)}")
    if len(seeds) == 0:
        raise ValueError("seeds must not be empty")
    if int(updates) < 1 or int(every) < 1:
        raise ValueError(f"updates and every must be >= 1, got {updates} and {every}")
    if epochs is not None and not 1 <= int(epochs) * math.ceil(n / int(batch_size)) <= int(updates):
        raise ValueError(f"epochs={epochs} of batch {batch_size} must fit in updates={updates}")


class _Trainer:
    """The state of :func:`train_many`'s loop: the stacked weights of the runs still alive."""

    def __init__(self, split, lrs, seeds, hidden, device):
        self.x = torch.as_tensor(split.x_train, device=device)
        y = torch.as_tensor(split.y_train, device=device)
        self.onehot = torch.nn.functional.one_hot(y, 10).to(self.x.dtype)
        self.runs = [(float(lr), int(s)) for lr in lrs for s in seeds]
        self.alive = np.arange(len(self.runs))
        stacked = _stack([s for _, s in self.runs], hidden)
        self.params = [p.to(device).requires_grad_() for p in stacked]
        self.lrs = torch.tensor([lr for lr, _ in self.runs], device=device)
        self.rngs = [np.random.default_rng(s) for _, s in self.runs]
        self.snapshots = {c: [None] * len(self.runs) for c in CRITERIA}

    def update(self, idx) -> None:
        """One SGD update of every live run on its batch ``idx[m]`` (a (M, B) index array)."""
        if idx.shape[1] == len(self.x):          # the full batch: no need to gather a copy
            x, onehot = (a.expand(len(idx), -1, -1) for a in (self.x, self.onehot))
        else:
            idx = torch.as_tensor(idx, device=self.x.device)
            x, onehot = self.x[idx], self.onehot[idx]
        loss = _losses(self.params, x, onehot)
        sgd_step(self.params, torch.autograd.grad(loss.sum(), self.params), self.lrs)

    def full_loss(self) -> np.ndarray:
        """The training loss of every live run on the whole training set."""
        m = len(self.alive)
        with torch.no_grad():
            loss = _losses(self.params, self.x.expand(m, -1, -1), self.onehot.expand(m, -1, -1))
        return loss.cpu().numpy().astype(float)

    def snap(self, criterion, done, which) -> None:
        for i in which:
            self.snapshots[criterion][self.alive[i]] = (done, _unstack(self.params, i))

    def drop(self, dead) -> None:
        """Stop the runs at positions ``dead`` (diverged) and train only the others."""
        keep = ~dead
        self.alive = self.alive[keep]
        self.params = [p[keep].detach().requires_grad_() for p in self.params]
        self.lrs = self.lrs[keep]


def train_many(split, batch_size: int, lrs: Sequence[float], seeds: Sequence[int], updates: int,
               epochs: int | None = None, target: float | None = None, every: int = 5,
               hidden: int = 32) -> Runs:
    """Minibatch SGD with batch size ``batch_size`` for every (learning rate, seed), together.

    Runs ``updates`` updates (epochs of shuffled batches, the last batch of an epoch shorter);
    every ``every`` updates measures each run's training loss on the whole training set, and
    stops the runs that diverged. Snapshots: ``"epochs"`` after ``epochs`` epochs,
    ``"loss"`` at the first check with training loss <= ``target``, ``"updates"`` at the end.
    """
    n = len(split.y_train)
    _check_grid(batch_size, n, lrs, seeds, updates, epochs, every)
    t = _Trainer(split, lrs, seeds, hidden, _device())
    at_epochs = None if epochs is None else int(epochs) * math.ceil(n / int(batch_size))
    checks, losses, done, reached = [], [], 0, np.zeros(len(t.runs), bool)
    with ctorch.one_thread():
        while done < updates and len(t.alive):
            orders = np.stack([t.rngs[m].permutation(n) for m in t.alive])
            for start in range(0, n, int(batch_size)):
                t.update(orders[:, start:start + int(batch_size)])
                done += 1
                if done == at_epochs:
                    t.snap("epochs", done, range(len(t.alive)))
                if done % every == 0 or done == updates:
                    loss = t.full_loss()
                    row = np.full(len(t.runs), np.nan)
                    row[t.alive] = loss
                    checks.append(done), losses.append(row)
                    if target is not None:
                        new = (loss <= target) & ~reached[t.alive]
                        t.snap("loss", done, np.flatnonzero(new))
                        reached[t.alive[new]] = True
                    dead = ~np.isfinite(loss) | (loss > DIVERGED)
                    if dead.any():
                        orders = orders[~dead]
                        t.drop(dead)
                if done >= updates or not len(t.alive):
                    break
        t.snap("updates", done, range(len(t.alive)))
    diverged = np.ones(len(t.runs), bool)
    diverged[t.alive] = False
    return Runs(int(batch_size), np.array([r[0] for r in t.runs]), np.array([r[1] for r in t.runs]),
                np.array(checks), np.array(losses), diverged, t.snapshots)


# ------------------------------------------------------------------------ measuring
def _measure(model, split, held_out, sharpness: bool) -> dict:
    x, y = torch.as_tensor(split.x_train), torch.as_tensor(split.y_train)
    with torch.no_grad():
        loss = float(squared_error(model(x).double(), y))
    if not np.isfinite(loss) or loss > DIVERGED:
        return {}
    xv, yv, xt, yt = (torch.as_tensor(a) for a in held_out)
    out = {"train_loss": loss, "val_accuracy": accuracy(model, xv, yv),
           "test_accuracy": accuracy(model, xt, yt)}
    if sharpness:
        out["top_eigenvalue"] = top_eigenvalue(model, split, tol=LANCZOS_TOL)
    return out


class Comparison(NamedTuple):
    """What :func:`compare` returns.

    ``metrics[criterion][name]`` is an array ``(batch sizes, lrs, seeds)`` for each criterion
    of :data:`CRITERIA` and each name among ``update`` (when the snapshot was taken),
    ``train_loss``, ``val_accuracy``, ``test_accuracy`` and ``top_eigenvalue`` (NaN where the
    run never got there or the quantity was not measured); ``models[criterion][b][l][s]``
    the snapshot's network (or ``None``); ``runs`` the :class:`Runs` of each batch size."""

    batch_sizes: np.ndarray
    lrs: np.ndarray
    seeds: np.ndarray
    n_train: int
    epochs: int
    updates: int
    target: float
    metrics: dict
    models: dict
    runs: list


NAMES = ("update", "train_loss", "val_accuracy", "test_accuracy", "top_eigenvalue")


def compare(split, batch_sizes: Sequence[int], lrs: Sequence[float], seeds: Sequence[int],
            epochs: int, updates: int, target: float, sharpness=("updates", "loss"),
            every: int = 5, progress: bool = False) -> Comparison:
    """:func:`train_many` for every batch size on the same grid of learning rates and seeds,
    then every snapshot measured on the training set and on the two halves of the held-out
    set (:func:`validation_split`); the top Hessian eigenvalue only for the criteria in
    ``sharpness`` (each costs a few dozen Hessian-vector products)."""
    held_out = validation_split(split)
    shape = (len(batch_sizes), len(lrs), len(seeds))
    metrics = {c: {k: np.full(shape, np.nan) for k in NAMES} for c in CRITERIA}
    models = {c: [[[None] * len(seeds) for _ in lrs] for _ in batch_sizes] for c in CRITERIA}
    all_runs = []
    jobs = list(enumerate(batch_sizes))
    for b, batch in config.progress(jobs, desc="batch sizes") if progress else jobs:
        runs = train_many(split, batch, lrs, seeds, updates, epochs=epochs, target=target,
                          every=every)
        all_runs.append(runs)
        for c in CRITERIA:
            for m, snap in enumerate(runs.snapshots[c]):
                if snap is None:
                    continue
                l, s = divmod(m, len(seeds))
                values = _measure(snap[1], split, held_out, c in sharpness)
                if values:
                    values["update"] = snap[0]
                    models[c][b][l][s] = snap[1]
                for k, v in values.items():
                    metrics[c][k][b, l, s] = v
    return Comparison(np.asarray(batch_sizes), np.asarray(lrs, float), np.asarray(seeds),
                      len(split.y_train), int(epochs), int(updates), float(target), metrics, models,
                      all_runs)


def largest_stable(comparison: Comparison) -> np.ndarray:
    """The largest rate of the grid at which no seed of each batch size diverged (NaN if none)."""
    out = []
    for runs in comparison.runs:
        dead = runs.diverged.reshape(len(comparison.lrs), len(comparison.seeds)).any(axis=1)
        ok = comparison.lrs[~dead]
        out.append(ok.max() if len(ok) else np.nan)
    return np.array(out)


def edge_ratio(comparison: Comparison, criterion: str = "updates") -> np.ndarray:
    r""":math:`\lambda_{max} / (2/\eta)` of every run at the ``criterion`` snapshot,
    shape (batch sizes, lrs, seeds): 1 is the edge of stability of gradient descent."""
    top = comparison.metrics[criterion]["top_eigenvalue"]
    return top * comparison.lrs[None, :, None] / 2


def eps_sharpness(comparison: Comparison, split, criterion: str, lr_index: int,
                  epsilon: float = 1e-2) -> np.ndarray:
    """Keskar et al.'s epsilon-sharpness (percent, :func:`~.batch_size.eps_sharpness`) of
    the ``criterion`` snapshots at rate ``lrs[lr_index]``, shape (batch sizes, seeds)."""
    models = comparison.models[criterion]
    out = np.full((len(comparison.batch_sizes), len(comparison.seeds)), np.nan)
    for b in range(len(comparison.batch_sizes)):
        for s, model in enumerate(models[b][lr_index]):
            if model is not None:
                out[b, s] = measure(model, split, epsilon)
    return out


def tuned(comparison: Comparison, criterion: str) -> np.ndarray:
    """Index into ``comparison.lrs`` of the tuned learning rate of each batch size under
    ``criterion``: the best mean validation accuracy among the rates at which every seed got
    there (did not diverge and, for ``"loss"``, reached the target). -1 where none did."""
    _checks.one_of("criterion", criterion, CRITERIA)
    val = comparison.metrics[criterion]["val_accuracy"]            # (B, lr, seed)
    ok = np.isfinite(val).all(axis=2)
    score = np.where(ok, np.nan_to_num(val).mean(axis=2), -np.inf)
    return np.where(ok.any(axis=1), score.argmax(axis=1), -1)


def sharpness_path(split, lr: float, batch_size: int | None = None, updates: int = 430,
                   every: int = 20, seed: int = 0, hidden: int = 32) -> dict:
    """One run (full-batch gradient descent by default) with its training loss after every
    update and its top Hessian eigenvalue (:func:`top_eigenvalue`) every ``every`` updates:
    the quantities of Cohen et al.'s edge of stability. Returns ``updates`` (0..), ``train_loss``,
    ``lambda_at`` (update counts) and ``top_eigenvalue``."""
    n = len(split.y_train)
    batch = n if batch_size is None else int(batch_size)
    _check_grid(batch, n, [lr], [seed], updates, None, every)
    t = _Trainer(split, [lr], [seed], hidden, _device())
    def sharpness():
        return top_eigenvalue(_unstack(t.params, 0), split, tol=LANCZOS_TOL)

    loss, at, top, done = [t.full_loss()[0]], [0], [sharpness()], 0
    with ctorch.one_thread():
        while done < updates and np.isfinite(loss[-1]) and loss[-1] < DIVERGED:
            order = t.rngs[0].permutation(n)[None]
            for start in range(0, n, batch):
                t.update(order[:, start:start + batch])
                done += 1
                loss.append(t.full_loss()[0])
                if done % every == 0 and np.isfinite(loss[-1]) and loss[-1] < DIVERGED:
                    at.append(done), top.append(sharpness())
                if done >= updates:
                    break
    return {"updates": np.arange(len(loss)), "train_loss": np.array(loss),
            "lambda_at": np.array(at), "top_eigenvalue": np.array(top)}


def _device():
    return ctorch.device()


# ------------------------------------------------------------------ tables, figures
TITLES = {"epochs": "equal epochs", "updates": "equal updates", "loss": "equal training loss"}


def spread(values, scale=1.0, fmt=".3f", missing: str = "n/a") -> str:
    """``"mean (min-max)"`` of ``values`` times ``scale``, each number in format ``fmt``;
    ``missing`` where a value is NaN (a run that diverged or never got there)."""
    v = scale * np.asarray(values, float)
    if not np.isfinite(v).all():
        return missing
    return f"{v.mean():{fmt}} ({v.min():{fmt}}-{v.max():{fmt}})"


def table(comparison: Comparison, criterion: str) -> str:
    """The rows of one criterion at each batch size's :func:`tuned` learning rate: updates
    and epochs done, training loss, test accuracy and (where measured) the top Hessian
    eigenvalue, as mean (min-max) over the seeds; at most 80 characters a line."""
    m, best = comparison.metrics[criterion], tuned(comparison, criterion)
    lines = [f"{TITLES[criterion]}: lr tuned per batch size, mean (min-max) of "
             f"{len(comparison.seeds)} seeds",
             "    B    lr  updates  epochs   train loss           test acc %"
             "        lambda_max"]
    for b, batch in enumerate(comparison.batch_sizes):
        if best[b] < 0:
            lines.append(f"{batch:5d}  no rate of the grid got there with every seed")
            continue
        l = best[b]
        updates = m["update"][b, l]
        epochs = updates / np.ceil(comparison.n_train / batch)
        top = m["top_eigenvalue"][b, l]
        lines.append(f"{batch:5d} {comparison.lrs[l]:5.2f} {updates.mean():8.0f} "
                     f"{epochs.mean():7.1f}  {spread(m['train_loss'][b, l])} "
                     f"{spread(m['test_accuracy'][b, l], 100, '.1f')}"
                     + (f" {top.mean():5.2f}" if np.isfinite(top).all() else ""))
    return "\n".join(lines)


def draw_comparison(comparison: Comparison, axes=None):
    """Two rows (training loss, test accuracy) by three columns (:data:`CRITERIA`): each
    batch size at its :func:`tuned` rate, mean and min-max over the seeds, rate written."""
    if axes is None:
        _, axes = plt.subplots(2, 3, figsize=(11, 5.6), sharex=True)
    for c, criterion in enumerate(CRITERIA):
        m, best = comparison.metrics[criterion], tuned(comparison, criterion)
        ok = best >= 0
        b, l = np.flatnonzero(ok), best[ok]
        x = comparison.batch_sizes[ok]
        for row, (name, scale) in enumerate((("train_loss", 1.0), ("test_accuracy", 100.0))):
            v = scale * m[name][b, l]                                  # (B, seeds)
            mean = v.mean(axis=1)
            err = np.stack([mean - v.min(axis=1), v.max(axis=1) - mean])
            ax = axes[row, c]
            ax.errorbar(x, mean, yerr=err, fmt="o-", capsize=3, color=f"C{row}")
            ax.set_xscale("log")
            ax.grid(True, which="both", alpha=0.3)
            if row == 0:
                ax.set_yscale("log")
                ax.set_title(TITLES[criterion])
                for k, (xi, yi, li) in enumerate(zip(x, mean, l)):
                    ax.annotate(f"η={comparison.lrs[li]:g}", (xi, yi), textcoords="offset points",
                                xytext=(0, 8 if k % 2 == 0 else -14), ha="center", fontsize="small")
                if criterion == "loss":
                    ax.axhline(comparison.target, color="k", lw=0.8, ls=":")
            else:
                ax.set_xlabel("batch size B (examples)")
        axes[0, c].set_ylabel("training loss" if c == 0 else "")
        axes[1, c].set_ylabel("test accuracy (%)" if c == 0 else "")
    return axes


def draw_edge(paths: dict, comparison: Comparison, axes=None):
    """Left: :math:`\\lambda_{max}` along full-batch gradient descent (:func:`sharpness_path`,
    one line per learning rate in ``paths``) with :math:`2/\\eta` dashed; right: every run of
    ``comparison`` at its end, :math:`\\lambda_{max}` against :math:`2/\\eta`, with the line
    :math:`\\lambda_{max} = 2/\\eta` where gradient descent stops being stable."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax, bx = axes
    for k, (lr, path) in enumerate(sorted(paths.items())):
        ax.plot(path["lambda_at"], path["top_eigenvalue"], "o-", ms=3, color=f"C{k}",
                label=f"η = {lr:g}")
        ax.axhline(2 / lr, ls="--", color=f"C{k}", lw=1)
    ax.set_ylim(0, 1.1 * max(2 / lr for lr in paths))
    ax.set_xlabel("update")
    ax.set_ylabel(r"top Hessian eigenvalue $\lambda_{max}$")
    ax.set_title(r"Full-batch gradient descent (dashed: $2/\eta$)")
    ax.legend(fontsize="small")
    top = comparison.metrics["updates"]["top_eigenvalue"]             # (B, lr, seeds)
    two_over = 2 / comparison.lrs
    nb = len(comparison.batch_sizes)
    for b, batch in enumerate(comparison.batch_sizes):
        shift = 1 + 0.07 * (b - (nb - 1) / 2)                          # side by side
        x = np.repeat(two_over * shift, top.shape[2])
        bx.loglog(x, top[b].ravel(), "o", ms=4, alpha=0.8, color=f"C{b}", label=f"B = {batch}")
    grid = np.geomspace(two_over.min() / 1.3, two_over.max() * 1.3, 10)
    bx.loglog(grid, grid, "k--", lw=1, label=r"$\lambda_{max} = 2/\eta$")
    bx.set_ylim(1, 2 * np.nanmax(top))
    for axis in (bx.xaxis, bx.yaxis):
        axis.set_major_formatter(plt.ScalarFormatter())
        axis.set_minor_formatter(plt.NullFormatter())
    bx.set_xticks([1, 2, 5, 10, 20])
    bx.set_yticks([1, 2, 3, 4, 6])
    bx.set_xlabel(r"$2/\eta$")
    bx.set_ylabel(r"$\lambda_{max}$ at the end")
    bx.set_title(f"Every run after {comparison.updates} updates")
    bx.legend(fontsize="small")
    for axis in axes:
        axis.grid(True, which="both", alpha=0.3)
    return axes


def draw_scaling(runs: dict, axes=None):
    """Training loss after each epoch; ``runs`` maps a panel title to ``{batch size: [Run of
    each seed]}`` (:func:`~.batch_size.train_torch`); one colour per batch size, one line
    per seed, a cross where a run diverged."""
    if axes is None:
        _, axes = plt.subplots(1, len(runs), figsize=(11, 3.8), sharey=True)
    for ax, (title, by_batch) in zip(np.atleast_1d(axes), runs.items()):
        for k, (batch, seeds) in enumerate(by_batch.items()):
            for s, run in enumerate(seeds):
                loss = np.asarray(run.train_loss, float)
                good = np.isfinite(loss) & (loss < DIVERGED)
                epochs = np.arange(1, len(loss) + 1)
                label = f"B = {batch}, η = {run.lr:.3g}" if s == 0 else None
                ax.semilogy(epochs[good], loss[good], "-", color=f"C{k}", alpha=0.8, label=label)
                if not good.all():
                    ax.plot(epochs[~good][0], 1.0, "x", ms=10, mew=2, color=f"C{k}")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    np.atleast_1d(axes)[0].set_ylabel("training loss (x: diverged)")
    return axes
