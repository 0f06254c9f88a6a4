"""Small networks in PyTorch and MXNet Gluon, and one training loop per framework.

The chapters train the same architectures in both frameworks side by side; the loops record
the same :class:`History` so their curves can be compared directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from course_lib import _checks
from course_lib.data import batches


@dataclass
class History:
    """Per-epoch curves of a training run (NaN once the run diverged)."""

    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    step_loss: list = field(default_factory=list)

    @property
    def diverged(self) -> bool:
        return any(not np.isfinite(v) for v in self.train_loss)


def _check_sizes(sizes: Sequence[int]) -> None:
    if len(sizes) < 2 or any(int(s) <= 0 for s in sizes):
        raise ValueError(f"sizes must list >= 2 positive layer widths (input ... output), got {list(sizes)}")


# --------------------------------------------------------------------------- PyTorch
def torch_mlp(sizes: Sequence[int], activation: str = "relu", batch_norm: bool = False,
              seed: int | None = None):
    """A plain fully connected network ``sizes[0] -> ... -> sizes[-1]`` (logits out).

    ``activation`` is ``"relu"``, ``"tanh"`` or ``"sigmoid"``; ``batch_norm`` inserts
    ``BatchNorm1d`` before each hidden activation.
    """
    import torch
    from torch import nn

    _check_sizes(sizes)
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
    _checks.one_of("activation", activation, sorted(acts))
    if seed is not None:
        torch.manual_seed(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(acts[activation]())
    return nn.Sequential(*layers)


def torch_cnn(channels: Sequence[int] = (32, 64), n_classes: int = 10, seed: int | None = None):
    """A small CNN for 8x8 single-channel digits: conv-relu blocks, then a linear classifier.

    Takes inputs of shape ``(N, 64)`` or ``(N, 1, 8, 8)``.
    """
    import torch
    from torch import nn

    if seed is not None:
        torch.manual_seed(seed)
    layers: list = [nn.Unflatten(1, (1, 8, 8))]
    c_in = 1
    for c_out in channels:
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
        c_in = c_out
    layers += [nn.Flatten(), nn.Linear(c_in * 64, n_classes)]
    return nn.Sequential(*layers)


def torch_accuracy(model, x, y) -> float:
    """Share of examples whose arg-max logit is the label."""
    import torch

    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def train_torch(model, optimizer, x, y, epochs: int, batch_size: int, *,
                loss_fn: Callable | None = None, x_val=None, y_val=None, seed: int = 0,
                scheduler=None, classification: bool = True, record_steps: bool = False) -> History:
    """Minibatch training of ``model`` on tensors ``x, y``; returns a :class:`History`.

    ``loss_fn`` defaults to cross-entropy for classification and mean squared error
    otherwise. ``scheduler`` (a torch lr scheduler) is stepped once per epoch. A NaN or
    infinite loss stops the run and is recorded, so a diverging learning rate shows as NaN.
    """
    import torch

    _checks.integer("epochs", epochs, 1)
    if loss_fn is None:
        loss_fn = torch.nn.functional.cross_entropy if classification else torch.nn.functional.mse_loss
    rng = np.random.default_rng(seed)
    history = History()
    n = len(x)
    for _ in range(epochs):
        model.train()
        grad_sq, n_batches = 0.0, 0
        for idx in batches(n, batch_size, rng):
            idx = torch.as_tensor(idx, device=x.device)
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            grad_sq += float(sum((p.grad.detach() ** 2).sum() for p in model.parameters() if p.grad is not None))
            n_batches += 1
            optimizer.step()
            if record_steps:
                history.step_loss.append(float(loss.detach()))
            if not torch.isfinite(loss):
                break
        if scheduler is not None:
            scheduler.step()
        model.eval()
        with torch.no_grad():
            history.train_loss.append(float(loss_fn(model(x), y)))
            history.grad_norm.append((grad_sq / max(n_batches, 1)) ** 0.5)
            if classification:
                history.train_accuracy.append(torch_accuracy(model, x, y))
            if x_val is not None:
                history.val_loss.append(float(loss_fn(model(x_val), y_val)))
                if classification:
                    history.val_accuracy.append(torch_accuracy(model, x_val, y_val))
        if not np.isfinite(history.train_loss[-1]):
            break
    return history


# --------------------------------------------------------------------------- MXNet Gluon
def mxnet_mlp(sizes: Sequence[int], activation: str = "relu", batch_norm: bool = False,
              seed: int | None = None, ctx=None):
    """The Gluon twin of :func:`torch_mlp`, initialized on ``ctx``."""
    from course_lib.mxnet import context, mx

    _check_sizes(sizes)
    _checks.one_of("activation", activation, ("relu", "sigmoid", "tanh"))
    if seed is not None:
        mx.random.seed(seed)
    net = mx.gluon.nn.Sequential()
    for i, n_out in enumerate(sizes[1:]):
        hidden = i < len(sizes) - 2
        net.add(mx.gluon.nn.Dense(n_out, in_units=sizes[i]))
        if hidden:
            if batch_norm:
                net.add(mx.gluon.nn.BatchNorm(in_channels=n_out))
            net.add(mx.gluon.nn.Activation(activation))
    net.initialize(mx.init.Xavier(), ctx=context() if ctx is None else ctx)
    return net


def train_mxnet(net, trainer, x, y, epochs: int, batch_size: int, *, loss_fn=None,
                x_val=None, y_val=None, seed: int = 0, classification: bool = True) -> History:
    """The Gluon twin of :func:`train_torch` on NDArrays ``x, y``."""
    from course_lib.mxnet import mx

    _checks.integer("epochs", epochs, 1)
    gloss = mx.gluon.loss
    if loss_fn is None:
        loss_fn = gloss.SoftmaxCrossEntropyLoss() if classification else gloss.L2Loss()
    rng = np.random.default_rng(seed)
    history = History()

    def evaluate(xs, ys):
        out = net(xs)
        loss = float(loss_fn(out, ys).mean().asscalar())
        acc = float((out.argmax(axis=1) == ys.astype(out.dtype)).mean().asscalar()) if classification else None
        return loss, acc

    for _ in range(epochs):
        for idx in batches(len(x), batch_size, rng):
            idx = mx.nd.array(idx, ctx=x.context, dtype="int64")
            with mx.autograd.record():
                loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            trainer.step(len(idx))
        loss, acc = evaluate(x, y)
        history.train_loss.append(loss)
        if classification:
            history.train_accuracy.append(acc)
        if x_val is not None:
            loss, acc = evaluate(x_val, y_val)
            history.val_loss.append(loss)
            if classification:
                history.val_accuracy.append(acc)
        if not np.isfinite(history.train_loss[-1]):
            break
    return history
