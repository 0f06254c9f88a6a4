"""Experiments of chapter 2: the learning rate of gradient descent and its stability bound.

Gradient descent on a quadratic with largest curvature ``L`` multiplies the error along the
steepest direction by ``1 - lr L`` each step, so it converges exactly when ``lr < 2 / L``.
:func:`stability_threshold` measures that bound by bisection, without knowing ``L``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

import course_lib.torch as ctorch
from course_lib import descent
from course_lib.plotting import contour, trajectories
from course_lib.surfaces import Surface, quadratic

__all__ = ["quartic", "final_loss", "stability_threshold", "first_order_error",
           "regression_curvature", "draw_descent"]


def _quartic_f(x, y):
    return 0.25 * (x ** 4 + y ** 4)


def _quartic_df(x, y):
    return x ** 3, y ** 3


def _quartic_d2f(x, y):
    return 3 * x ** 2, 0 * x, 3 * y ** 2


#: ``f(x, y) = (x^4 + y^4) / 4``: its curvature ``3 x^2`` grows with the distance from the
#: minimum, so whether a learning rate is stable depends on where descent starts.
quartic = Surface("quartic (x^4 + y^4)/4", _quartic_f, _quartic_df, _quartic_d2f,
                  [[0.0, 0.0]], ((-5.0, 5.0), (-5.0, 5.0)))


def final_loss(surface: Surface, start, lrs, steps: int = 100, rule: str = "sgd") -> np.ndarray:
    """Loss after ``steps`` steps of ``rule`` from ``start`` for each learning rate in ``lrs``
    (``inf`` where the run diverged)."""
    start = np.asarray(start, dtype=float).reshape(1, 2)
    out = []
    for lr in np.asarray(lrs, dtype=float):
        result = descent.run(rule, surface, start, steps, lr=float(lr))
        out.append(np.inf if result.diverged[0] else float(result.loss[-1, 0]))
    return np.array(out)


def _is_stable(surface, start, lr, steps) -> bool:
    result = descent.run("sgd", surface, np.asarray(start, dtype=float).reshape(1, 2), steps, lr=lr)
    return (not result.diverged[0]) and result.loss[-1, 0] < result.loss[0, 0]


def stability_threshold(surface: Surface, start, low: float, high: float, steps: int = 100,
                        rtol: float = 1e-6) -> float:
    """The largest learning rate for which gradient descent from ``start`` still lowers the loss.

    Bisection between ``low`` (must be stable) and ``high`` (must be unstable); a run counts
    as stable when it does not diverge and ends below its starting loss after ``steps`` steps.
    On a quadratic the answer is ``2 / L`` whatever the start (if it has a component along the
    steepest direction).
    """
    if not 0 < low < high:
        raise ValueError(f"low and high must satisfy 0 < low < high, got low={low}, high={high}")
    if not _is_stable(surface, start, low, steps):
        raise ValueError(f"low={low} is not stable: choose a smaller lower bracket")
    if _is_stable(surface, start, high, steps):
        raise ValueError(f"high={high} is stable: choose a larger upper bracket")
    while high - low > rtol * high:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if _is_stable(surface, start, mid, steps) else (low, mid)
    return 0.5 * (low + high)


def first_order_error(surface: Surface, point, lrs) -> np.ndarray:
    """Relative error of the first-order prediction of one gradient step.

    Taylor: ``f(x - lr g) ~ f(x) - lr |g|^2``. Returns ``(actual - predicted) / |predicted|``
    for each learning rate; on a quadratic along an eigenvector of curvature ``L`` it is
    exactly ``lr L / 2``.
    """
    point = np.asarray(point, dtype=float)
    g = surface.grad(point)
    predicted = -np.asarray(lrs, dtype=float) * float(g @ g)
    actual = np.array([surface.value(point - lr * g) for lr in np.asarray(lrs, dtype=float)]) - surface.value(point)
    return (actual - predicted) / np.abs(predicted)


def regression_curvature(x: np.ndarray, half: bool = False) -> float:
    """Largest Hessian eigenvalue ``L`` of the mean squared error of a linear model with bias.

    For ``mean((w.x + b - y)^2)`` (PyTorch's ``mse_loss``) the Hessian is ``2/n A^T A`` with
    ``A = [x, 1]``; with ``half=True`` it is for ``mean((w.x + b - y)^2) / 2`` (MXNet's
    ``L2Loss``), half as large.
    """
    a = np.hstack([np.asarray(x, dtype=np.float64), np.ones((len(x), 1))])
    top = float(np.linalg.eigvalsh(a.T @ a / len(a))[-1])
    return top if half else 2.0 * top


def regression_gd_torch(
    x_np, y_np, lr: float, steps: int = 100, seed: int = 0
) -> float:
    """Full-batch gradient descent on a linear regression in PyTorch
    (``mse_loss``); the last loss.
    """
    device = ctorch.device()
    x, y = torch.as_tensor(x_np, device=device), torch.as_tensor(
        y_np, device=device
    )
    torch.manual_seed(seed)
    model = torch.nn.Linear(x.shape[1], 1).to(device=device, dtype=x.dtype)
    optimizer = ctorch.SGD(model.parameters(), lr=lr)
    for step in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x).squeeze(1), y)
        loss.backward()
        optimizer.step()
    return loss.item()


def regression_gd_mxnet(
    x_np, y_np, lr: float, steps: int = 100, seed: int = 0
) -> float:
    """The same in MXNet Gluon, whose ``L2Loss`` is half the squared error; the
    last loss.
    """
    import mxnet as mx

    import course_lib.mxnet as cmx

    x, y = mx.nd.array(x_np, ctx=cmx.context()), mx.nd.array(
        y_np, ctx=cmx.context()
    )
    mx.random.seed(seed)
    net = mx.gluon.nn.Dense(1, in_units=x.shape[1])
    net.initialize(mx.init.Normal(0.5), ctx=cmx.context())
    trainer = mx.gluon.Trainer(net.collect_params(), cmx.SGD(learning_rate=lr))
    l2 = mx.gluon.loss.L2Loss()
    for step in range(steps):
        with mx.autograd.record():
            loss = l2(net(x), y).mean()
        loss.backward()
        trainer.step(1)
    return float(loss.asscalar())


def draw_descent(lr_factor: float, condition: float, steps: int = 40):
    """Figure for the chapter's playground: gradient descent on a rotated quadratic with
    condition number ``condition`` at ``lr = lr_factor * 2 / L``: path and loss per step."""
    surface = quadratic(condition=condition, angle=np.pi / 6)
    lr = lr_factor * 2.0 / surface.L
    result = descent.run("sgd", surface, np.array([[-2.5, 1.5]]), steps, lr=lr, bound=1e3)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    contour(left, surface)
    trajectories(left, result.trajectory)
    left.set_title(f"lr = {lr_factor:g} x 2/L, condition number {condition:g}")
    loss = result.loss[:, 0].copy()
    stop = result.diverged_at[0]
    if stop >= 0:
        loss[stop:] = np.nan
    right.semilogy(np.arange(steps + 1), loss, marker=".")
    right.set_xlabel("step")
    right.set_ylabel("loss f(x) (log scale)")
    right.set_ylim(1e-8, 1e4)
    right.set_title("diverged" if stop >= 0 else f"final loss {loss[-1]:.2e}")
    right.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
