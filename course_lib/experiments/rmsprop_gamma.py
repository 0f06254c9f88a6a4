"""RMSProp's decay gamma on the course's linear regression, in two frameworks.

The problem of chapter 3 (1000 examples, ``w = [2, -3.4]``, ``b = 4.2``, noise
0.01; :func:`course_lib.data.synthetic_regression`), a linear model started
from ``w, b ~ N(0, 1)``, minibatches of 10, the loss ``(yhat - y)^2 / 2``
recorded on the whole set after every minibatch. The optimizers are the
frameworks' own: ``torch.optim.RMSprop(alpha=gamma)`` and
``mxnet.gluon.Trainer(..., 'rmsprop', {'gamma1': gamma})``. Both start from the
same weights and see the minibatches in the same order.

Without MXNet, :func:`sweep` returns the PyTorch runs only (and says so).
"""
from __future__ import annotations

import importlib.util

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib import data

GAMMAS = (0.9, 0.99, 0.999, 0.9999)
LR = 0.03
BATCH = 10
EPOCHS = 3
SEEDS = (0, 1, 2)


def mxnet_available() -> bool:
    """Whether MXNet is installed (it is optional; GPU machines lack it)."""
    return importlib.util.find_spec("mxnet") is not None


def _start(seed: int, d: int):
    rng = np.random.default_rng(seed + 100)
    return (rng.standard_normal(d).astype(np.float32),
            np.float32(rng.standard_normal()))


def _orders(seed: int, n: int, epochs: int):
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]


def losses_along(x, y, weights) -> np.ndarray:
    """The loss ``(x w + b - y)^2 / 2``, averaged over the whole set, at each
    row ``[w..., b]`` of ``weights`` (float64)."""
    x, weights = np.asarray(x, np.float64), np.asarray(weights, np.float64)
    residual = x @ weights[:, :-1].T + weights[:, -1] - y[:, None]
    return (residual ** 2 / 2).mean(axis=0)


def torch_path(gamma: float, seed: int = 0, lr: float = LR,
               epochs: int = EPOCHS) -> np.ndarray:
    """``[w, b]`` before training and after every minibatch, with
    ``torch.optim.RMSprop(lr=lr, alpha=gamma)`` on the loss
    ``(yhat - y)^2 / 2`` averaged over the minibatch."""
    x, y = data.synthetic_regression()
    X, Y = torch.as_tensor(x), torch.as_tensor(y)
    w0, b0 = _start(seed, x.shape[1])
    w = torch.tensor(w0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    optimizer = torch.optim.RMSprop([w, b], lr=lr, alpha=gamma)
    path = [np.append(w0, b0)]
    for order in _orders(seed, len(y), epochs):
        X_epoch, Y_epoch = X[order], Y[order]       # batches: slices
        for first in range(0, len(y), BATCH):
            xb, yb = X_epoch[first:first + BATCH], Y_epoch[first:first + BATCH]
            optimizer.zero_grad()
            ((xb @ w + b - yb) ** 2 / 2).mean().backward()
            optimizer.step()
            path.append(torch.cat([w, b.reshape(1)]).detach().numpy().copy())
    return np.array(path)


def train_torch(gamma: float, seed: int = 0, lr: float = LR,
                epochs: int = EPOCHS) -> np.ndarray:
    """Loss on the whole set along :func:`torch_path`."""
    x, y = data.synthetic_regression()
    return losses_along(x, y, torch_path(gamma, seed, lr, epochs))


def late_step(gamma: float, seed: int = 0, lr: float = LR) -> float:
    """Median over the last epoch's minibatches and the weights of
    ``|theta_{k+1} - theta_k| / lr`` (PyTorch run)."""
    path = torch_path(gamma, seed, lr)
    per_epoch = (len(path) - 1) // EPOCHS
    return float(np.median(np.abs(np.diff(path[-per_epoch - 1:], axis=0)))
                 / lr)


def train_mxnet(gamma: float, seed: int = 0, lr: float = LR,
                epochs: int = EPOCHS) -> np.ndarray:
    """The Gluon twin of :func:`train_torch`: ``gluon.nn.Dense(1)``,
    ``L2Loss``, ``Trainer(..., 'rmsprop', {'learning_rate': lr,
    'gamma1': gamma})``, ``trainer.step(batch)``."""
    import mxnet as mx

    x, y = data.synthetic_regression()
    X, Y = mx.nd.array(x), mx.nd.array(y)
    w0, b0 = _start(seed, x.shape[1])
    net = mx.gluon.nn.Dense(1, in_units=x.shape[1])
    net.initialize()
    net.weight.set_data(mx.nd.array(w0.reshape(1, -1)))
    net.bias.set_data(mx.nd.array([b0]))
    trainer = mx.gluon.Trainer(net.collect_params(), "rmsprop",
                               {"learning_rate": lr, "gamma1": gamma})
    loss_fn = mx.gluon.loss.L2Loss()
    net.hybridize()      # a compiled graph: less Python overhead per step
    loss_fn.hybridize()
    path = []
    for order in _orders(seed, len(y), epochs):
        order = mx.nd.array(order, dtype="int64")
        X_epoch, Y_epoch = X.take(order), Y.take(order)  # batches: slices
        for first in range(0, len(y), BATCH):
            with mx.autograd.record():
                loss = loss_fn(net(X_epoch[first:first + BATCH]),
                               Y_epoch[first:first + BATCH])
            loss.backward()
            trainer.step(BATCH)
            path.append(mx.nd.concat(net.weight.data().reshape(-1),
                                     net.bias.data(), dim=0))
    path = [np.append(w0, b0)] + list(mx.nd.stack(*path).asnumpy())
    return losses_along(x, y, path)


def numpy_losses(gamma: float, seed: int = 0, bias_correction: bool = False,
                 lr: float = LR, epochs: int = EPOCHS, eps: float = 1e-8
                 ) -> np.ndarray:
    """The run of :func:`train_torch` in float64 numpy (same data, start and
    minibatches), optionally *with* a bias correction RMSProp lacks: the step
    divides by ``sqrt(s_t / (1 - gamma^t)) + eps``. Loss on the whole set
    before training and after every minibatch."""
    x, y = data.synthetic_regression()
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    w0, b0 = _start(seed, x.shape[1])
    theta = np.append(w0, b0).astype(np.float64)
    s, path, t = np.zeros_like(theta), [theta.copy()], 0
    for order in _orders(seed, len(y), epochs):
        for first in range(0, len(y), BATCH):
            idx = order[first:first + BATCH]
            residual = x[idx] @ theta[:-1] + theta[-1] - y[idx]
            g = np.append(x[idx].T @ residual, residual.sum()) / len(idx)
            t += 1
            s = gamma * s + (1 - gamma) * g ** 2
            scale = 1 - gamma ** t if bias_correction else 1.0
            theta = theta - lr * g / (np.sqrt(s / scale) + eps)
            path.append(theta.copy())
    return losses_along(x, y, np.array(path))


def floor() -> float:
    """The smallest loss a linear model reaches on the data (least
    squares): what noise of 0.01 leaves, about 0.01^2 / 2."""
    x, y = data.synthetic_regression()
    design = np.c_[np.asarray(x, np.float64), np.ones(len(y))]
    best = np.linalg.lstsq(design, y, rcond=None)[0]
    return float(losses_along(x, y, best[None, :])[0])


def roughness(losses, epochs: int = EPOCHS) -> float:
    """How much the loss jumps in the last epoch: the median of
    ``|log10 L_{k+1} - log10 L_k|`` over its minibatches."""
    per_epoch = (len(losses) - 1) // epochs
    last = np.log10(losses[-per_epoch - 1:])
    return float(np.median(np.abs(np.diff(last))))


def epochs_to(losses, level: float, epochs: int = EPOCHS) -> float:
    """Epochs until the loss first is at most ``level`` (NaN if never)."""
    below = np.flatnonzero(np.asarray(losses) <= level)
    per_epoch = (len(losses) - 1) / epochs
    return float(below[0] / per_epoch) if below.size else float("nan")


def sweep(gammas=GAMMAS, seeds=SEEDS) -> dict:
    """``{framework: {gamma: array (seeds, points)}}``; 'MXNet' only when it
    is installed."""
    trainers = {"PyTorch": train_torch}
    if mxnet_available():
        trainers["MXNet Gluon"] = train_mxnet
    return {name: {g: np.array([train(g, s) for s in seeds]) for g in gammas}
            for name, train in trainers.items()}


def draw(runs: dict):
    """Loss curves, one panel per framework, one colour per gamma (thin: the
    seeds)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, (framework, by_gamma) in zip(axes, runs.items()):
        for i, (gamma, curves) in enumerate(by_gamma.items()):
            epochs = np.linspace(0, EPOCHS, curves.shape[1])
            for k, curve in enumerate(curves):
                ax.semilogy(epochs, curve, color=f"C{i}", lw=0.8,
                            label=f"gamma = {gamma:g}" if k == 0 else None)
        ax.set_title(f"{framework}: RMSProp, lr {LR:g}, batch {BATCH}")
        ax.set_xlabel("epoch")
        ax.grid(True, which="both", alpha=0.3)
    if len(runs) == 1:
        axes[1].text(0.5, 0.5, "MXNet is not installed", ha="center",
                     transform=axes[1].transAxes)
    axes[0].set_ylabel("training loss (y_hat - y)^2 / 2, log scale")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig
