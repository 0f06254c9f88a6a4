"""Experiments of chapter 4: critical points, how the Hessian classifies them, escaping saddles.

Near a point :math:`\\theta^*` where the gradient vanishes,

.. math:: L(\\theta^* + \\delta) \\approx L(\\theta^*) + \\tfrac12 \\delta^\\top H \\delta,

so the signs of the Hessian's eigenvalues decide: all positive, a minimum; all negative, a
maximum; mixed, a saddle; some zero, the second order cannot tell. The pieces:

* 2-D surfaces (:mod:`course_lib.surfaces`): :func:`critical_points_2d` finds every critical
  point in a window with Newton's method, :func:`escape_steps` measures how gradient descent
  leaves a saddle (:func:`predicted_escape_steps` is the linearized answer),
  :func:`draw_escape` is the chapter's playground figure;
* a tiny tanh network on scikit-learn's diabetes data: :func:`diabetes`, :func:`scale_init`,
  :func:`torch_to_mxnet` (same weights in both frameworks);
* the saddle census: :func:`saddle_census` trains many copies of the network at once
  (:class:`Ensemble`), stops them at different losses, minimizes the gradient norm from
  there and measures the Hessian spectrum of each point found;
* :func:`random_minimum_probability`: how often a random symmetric matrix is positive
  definite, as the dimension grows.

The Hessian work is PyTorch only: MXNet 1.9 has no second derivative for its dense layers
(see :mod:`course_lib.hessian`).
"""
from __future__ import annotations

import math
import time
from typing import NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm
from scipy.stats import spearmanr
from sklearn.datasets import load_diabetes

import course_lib.torch as ctorch
from course_lib import _checks, config, descent, hessian
from course_lib.gauss_newton import GGNOperator
from course_lib.models import torch_mlp
from course_lib.plotting import contour, trajectories
from course_lib.surfaces import Surface

__all__ = [
    "CriticalPoints", "critical_points_2d", "unit_eigenvectors", "escape_steps",
    "predicted_escape_steps", "draw_escape", "diabetes", "scale_init", "torch_to_mxnet",
    "Ensemble", "Census", "saddle_census", "census_member", "census_loss",
    "random_minimum_probability", "hessian_cost", "draw_census", "draw_spectra",
    "NetRun", "train_torch_net", "train_mxnet_net", "census_summary", "draw_critical_points",
    "census_gauss_newton", "draw_gauss_newton_census", "draw_curvature_spectra", "symlog_edges",
    "sinc_data",
    "fit_sinc_network", "HomeworkRatio", "homework_minimum_ratio",
]


# --------------------------------------------------------------------------- 2-D surfaces
class CriticalPoints(NamedTuple):
    """Critical points of a 2-D surface: ``points`` (k, 2), ``values`` (k,), Hessian
    ``eigenvalues`` (k, 2) ascending, and ``kinds`` (k,) from :func:`course_lib.hessian.classify`."""

    points: np.ndarray
    values: np.ndarray
    eigenvalues: np.ndarray
    kinds: np.ndarray


def critical_points_2d(surface: Surface, n: int = 12, steps: int = 60, bounds=None,
                       grad_tol: float = 1e-8, merge: float = 1e-4, tol: float = 1e-6) -> CriticalPoints:
    """Every critical point Newton's method reaches from an ``n x n`` grid of starts.

    Newton's step :math:`x \\leftarrow x - H^{-1}\\nabla f` solves :math:`\\nabla f = 0` and
    does not care about the sign of the curvature, so it converges to minima, maxima and
    saddles alike: a poor optimizer, a good critical-point finder. Ends whose gradient norm is
    below ``grad_tol`` are kept; ends closer than ``merge`` are the same point. Points are
    sorted by value. Eigenvalues with :math:`|\\lambda| \\le` ``tol`` count as zero when the
    point is classified (a degenerate point such as the monkey saddle's is only reached up to
    rounding, where its eigenvalues are tiny but not exactly 0).
    """
    if n < 1 or steps < 1:
        raise ValueError(f"n and steps must be positive, got n={n}, steps={steps}")
    (x0, x1), (y0, y1) = surface.bounds if bounds is None else bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    result = descent.run("newton", surface, np.stack([gx, gy], -1).reshape(-1, 2), steps)
    ends = result.trajectory[-1]
    with np.errstate(all="ignore"):
        ok = (result.diverged_at < 0) & (np.linalg.norm(surface.grad(ends), axis=1) < grad_tol)
    ok &= (ends[:, 0] >= x0) & (ends[:, 0] <= x1) & (ends[:, 1] >= y0) & (ends[:, 1] <= y1)
    found: list = []
    for p in ends[ok]:
        if all(np.linalg.norm(p - q) > merge for q in found):
            found.append(p)
    points = np.array(found).reshape(-1, 2)
    points = points[np.argsort(surface.value(points))] if len(points) else points
    eigenvalues = np.linalg.eigvalsh(surface.hessian(points)) if len(points) else np.zeros((0, 2))
    kinds = hessian.classify(eigenvalues, tol=tol) if len(points) else np.array([], dtype=str)
    return CriticalPoints(points, surface.value(points), eigenvalues, np.atleast_1d(kinds))


def unit_eigenvectors(surface: Surface, point):
    """``(eigenvalues, vectors)`` of the Hessian at ``point``, ascending; ``vectors[:, i]``
    is the unit eigenvector of ``eigenvalues[i]``."""
    return np.linalg.eigh(surface.hessian(np.asarray(point, dtype=float)))


def escape_steps(surface: Surface, point, direction, eps, lr: float, radius: float = 0.5,
                 max_steps: int = 2000) -> np.ndarray:
    """Gradient-descent steps until a start ``point + eps * direction`` is ``radius`` away.

    ``eps`` may be an array (one run per value, all at once). Returns an int array;
    ``max_steps + 1`` marks a run that never got that far (it stayed at the saddle).
    """
    eps = np.atleast_1d(np.asarray(eps, dtype=float))
    direction = np.asarray(direction, dtype=float)
    direction = direction / np.linalg.norm(direction)
    point = np.asarray(point, dtype=float)
    result = descent.run("sgd", surface, point + eps[:, None] * direction, max_steps, lr=lr)
    distance = np.linalg.norm(result.trajectory - point, axis=-1)        # (steps + 1, N)
    left = distance > radius
    return np.where(left.any(axis=0), left.argmax(axis=0), max_steps + 1)


def predicted_escape_steps(eigenvalue: float, lr: float, eps, radius: float = 0.5) -> np.ndarray:
    """Linearized escape time :math:`\\log(r/\\varepsilon) / \\log(1 + \\eta|\\lambda|)`.

    Near a saddle, gradient descent multiplies the offset along the eigenvector of
    :math:`\\lambda < 0` by :math:`1 - \\eta\\lambda = 1 + \\eta|\\lambda|` per step.
    """
    if eigenvalue >= 0:
        raise ValueError(f"eigenvalue must be negative (a descent direction), got {eigenvalue}")
    eps = np.asarray(eps, dtype=float)
    return np.log(radius / eps) / math.log1p(lr * abs(eigenvalue))


def draw_escape(surface: Surface, point, angle: float, eps: float, lr: float, steps: int = 300,
                zoom: float = 2.0):
    """Playground figure: gradient descent started at ``point`` + ``eps`` in a direction
    ``angle`` degrees away from the eigenvector of the negative eigenvalue.

    Left: the path on the contour map, with the two eigenvectors; right: the distance from
    the critical point per step (log scale). At 90 degrees the start lies on the positive
    eigenvector: descent first slides back towards the saddle.
    """
    point = np.asarray(point, dtype=float)
    values, vectors = unit_eigenvectors(surface, point)
    neg, pos = vectors[:, 0], vectors[:, 1]
    a = math.radians(angle)
    direction = math.cos(a) * neg + math.sin(a) * pos
    result = descent.run("sgd", surface, (point + eps * direction)[None], steps, lr=lr)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.2))
    bounds = ((point[0] - zoom, point[0] + zoom), (point[1] - zoom, point[1] + zoom))
    contour(ax, surface, levels=25, log=False, n=150, bounds=bounds)
    for vec, lam, color in ((neg, values[0], "C3"), (pos, values[1], "C2")):
        ax.annotate("", point + 0.8 * zoom * vec, point,
                    arrowprops=dict(arrowstyle="->", color=color, lw=2))
        ax.plot([], [], color=color, lw=2, label=f"eigenvector, $\\lambda$ = {lam + 0.0:.3g}")
    trajectories(ax, result.trajectory, label=f"gradient descent ({steps} steps)", color="k")
    ax.plot(*point, "X", color="C3", markersize=10, label="critical point")
    ax.legend(loc="lower left", fontsize="small")
    ax.set_title(f"{surface.name}: start {eps:g} away, {angle:g} deg from the descent eigenvector")
    distance = np.linalg.norm(result.trajectory[:, 0] - point, axis=-1)
    bx.semilogy(distance, color="k", label="measured")
    if values[0] < 0:
        bx.semilogy(eps * (1 + lr * abs(values[0])) ** np.arange(steps + 1), "--", color="C3",
                    label=r"$\varepsilon\,(1+\eta|\lambda_{min}|)^t$ (linearized)")
    bx.set_ylim(min(eps, distance.min()) / 3, max(10 * zoom, 3 * distance.max()))
    bx.set_xlabel("gradient-descent step t")
    bx.set_ylabel("distance from the critical point")
    bx.set_title(f"learning rate {lr:g}")
    bx.grid(True, which="both", alpha=0.3)
    bx.legend(fontsize="small")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the tiny network
def diabetes(dtype=np.float32):
    """scikit-learn's diabetes regression set (442 patients, 10 features), standardized.

    Features and target are shifted and scaled to mean 0 and standard deviation 1, so a
    network that predicts 0 everywhere has a mean squared error of exactly 1. Returns
    ``(X, y)`` as numpy arrays of shapes (442, 10) and (442, 1).
    """
    x, y = load_diabetes(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    y = (y - y.mean()) / y.std()
    return x.astype(dtype), y.reshape(-1, 1).astype(dtype)


def scale_init(model, scale: float):
    """Multiply every parameter of a torch model by ``scale`` (in place); returns the model.

    A small scale starts training next to :math:`\\theta = 0`, which for a tanh network is a
    critical point (every unit outputs 0, so no weight gets a gradient) and a saddle.
    """
    _checks.nonnegative("scale", scale)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model


def torch_to_mxnet(model, net):
    """Copy the weights of a torch ``nn.Sequential`` of Linear layers into the matching Gluon
    ``Sequential`` of Dense layers (both store weights as (out, in)); returns ``net``."""
    dense = [layer for layer in net if hasattr(layer, "weight")]
    linear = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
    if len(dense) != len(linear):
        raise ValueError(f"the torch model has {len(linear)} Linear layers, the Gluon net "
                         f"{len(dense)} Dense layers")
    for lin, den in zip(linear, dense):
        den.weight.set_data(lin.weight.detach().cpu().numpy())
        den.bias.set_data(lin.bias.detach().cpu().numpy())
    return net


# --------------------------------------------------------------------------- saddle census
class Ensemble(torch.nn.Module):
    """``runs`` independent copies of the network ``d -> hidden (tanh) -> 1``, evaluated
    together: one parameter matrix ``theta`` of shape (runs, n), row r laid out like
    :func:`course_lib.hessian.parameter_vector` of ``torch_mlp([d, hidden, 1], "tanh")``.

    Running the copies as one batched model costs about as much as a single run on a
    CPU (small networks are limited by per-operation overhead, not arithmetic). Because
    the total loss is the *sum* of the runs' losses and no parameter is shared, its
    gradient and its Hessian split into the runs' own (the Hessian is block diagonal).
    """

    def __init__(self, theta, d: int, hidden: int):
        super().__init__()
        if theta.shape[1] != d * hidden + 2 * hidden + 1:
            raise ValueError(f"theta must have {d * hidden + 2 * hidden + 1} columns, got {theta.shape[1]}")
        self.d, self.hidden = d, hidden
        self.theta = torch.nn.Parameter(theta.clone())

    def forward(self, x):
        d, h, t = self.d, self.hidden, self.theta
        w1 = t[:, :d * h].reshape(-1, h, d)
        b1 = t[:, d * h:d * h + h]
        w2 = t[:, d * h + h:d * h + 2 * h]
        b2 = t[:, -1:]
        hidden = torch.tanh(torch.matmul(x, w1.transpose(1, 2)) + b1[:, None, :])
        return (hidden @ w2[:, :, None])[..., 0] + b2                      # (runs, N)


def census_loss(outputs, targets):
    """Sum over runs of each run's mean squared error: ``outputs`` (runs, N), ``targets`` (N, 1)."""
    return ((outputs - targets.reshape(1, -1)) ** 2).mean(dim=1).sum()


class Census(NamedTuple):
    """Result of :func:`saddle_census`, one entry per run (arrays of length ``runs``).

    ``stopped_at`` training step each run was stopped; ``start_loss`` / ``start_grad_norm``
    there; ``loss`` / ``grad_norm`` at the point the gradient-norm minimization found;
    ``eigenvalues`` (runs, n) its Hessian spectrum, ascending; ``minimum_ratio`` the share of
    positive eigenvalues; ``kinds`` from :func:`course_lib.hessian.classify`; ``parameters``
    (runs, n) the points; ``hidden`` the width; ``seconds`` the wall time.
    """

    stopped_at: np.ndarray
    start_loss: np.ndarray
    start_grad_norm: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    eigenvalues: np.ndarray
    minimum_ratio: np.ndarray
    kinds: np.ndarray
    parameters: np.ndarray
    hidden: int
    seconds: float


def _ensemble_hessians(ensemble, x, y, operator=None):
    """The runs' Hessians (runs, n, n): column j of every block from one product with the
    j-th unit vector repeated in every run (the blocks do not interact). ``operator``
    (default :class:`course_lib.hessian.HessianOperator`) may be another curvature
    operator class, such as :class:`course_lib.gauss_newton.GGNOperator`."""
    op = (operator or hessian.HessianOperator)(ensemble, census_loss, (x, y))
    runs, n = ensemble.theta.shape
    blocks = torch.empty(runs, n, n, dtype=torch.float64)
    for j in range(n):
        e = torch.zeros(runs, n, dtype=ensemble.theta.dtype, device=ensemble.theta.device)
        e[:, j] = 1.0
        blocks[:, :, j] = op.apply(e.reshape(-1)).reshape(runs, n).double().cpu()
    return 0.5 * (blocks + blocks.transpose(1, 2)), op.gradient().reshape(runs, n).double().cpu()


def saddle_census(runs: int = 24, hidden: int = 8, train_steps: int = 300, search_steps: int = 300,
                  lr: float = 0.02, seed: int = 0, progress: bool = False) -> Census:
    """Find near-critical points of a small network at many loss levels and classify them.

    1. ``runs`` networks ``10 -> hidden (tanh) -> 1`` (PyTorch's default initialization,
       seeds ``seed, seed + 1, ...``) are trained on :func:`diabetes` with full-batch Adam
       (:class:`course_lib.torch.Adam`, learning rate ``lr``) for up to ``train_steps``
       steps; run r is stopped after a number of steps spread geometrically from 0 to
       ``train_steps``, so the runs stop at very different losses.
    2. From each stopping point, :math:`\\tfrac12\\lVert\\nabla L(\\theta)\\rVert^2` is
       minimized for ``search_steps`` iterations of L-BFGS (``torch.optim.LBFGS``; its
       gradient :math:`H\\nabla L` is a Hessian-vector product, taken by double
       backpropagation). Exact zeros are rarely reached: the search slows down where the
       gradient is small but not zero (Frye et al. 2021), so the result reports the
       gradient norm of every point.
    3. At each point: the full Hessian (float64, :class:`course_lib.hessian.HessianOperator`),
       its eigenvalues, :func:`course_lib.hessian.minimum_ratio` and
       :func:`course_lib.hessian.classify`.
    """
    for name, value in (("runs", runs), ("hidden", hidden), ("search_steps", search_steps)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if train_steps < 0:
        raise ValueError(f"train_steps must be >= 0, got {train_steps}")
    with ctorch.one_thread():
        return _saddle_census(runs, hidden, train_steps, search_steps, lr, seed, progress)


def _saddle_census(runs, hidden, train_steps, search_steps, lr, seed, progress):
    start = time.perf_counter()
    x, y = diabetes(np.float64)
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    d = x.shape[1]
    theta = torch.stack([hessian.parameter_vector(torch_mlp([d, hidden, 1], "tanh", seed=seed + r)).double()
                         for r in range(runs)])
    ensemble = Ensemble(theta, d, hidden)
    stops = np.round(np.geomspace(1, train_steps + 1, runs)).astype(int) - 1
    snapshots = ensemble.theta.detach().clone()
    # Adam is elementwise, so the runs packed in one tensor are trained exactly as if apart.
    optimizer = ctorch.Adam(ensemble.parameters(), lr=lr)
    steps = range(train_steps)
    if progress:
        steps = config.progress(steps, desc="training the runs")
    for step in steps:
        hit = torch.as_tensor(stops == step)
        snapshots[hit] = ensemble.theta.detach()[hit]
        optimizer.zero_grad()
        census_loss(ensemble(x), y).backward()
        optimizer.step()
    last = torch.as_tensor(stops >= train_steps)
    snapshots[last] = ensemble.theta.detach()[last]

    with torch.no_grad():
        ensemble.theta.copy_(snapshots)

    def per_run():
        loss = ((ensemble(x) - y.reshape(1, -1)) ** 2).mean(dim=1)
        grad, = torch.autograd.grad(loss.sum(), ensemble.theta)
        return loss.detach().numpy(), grad.norm(dim=1).numpy()

    start_loss, start_grad = per_run()
    # The runs share no parameter, so the sum of their squared gradient norms is smallest
    # where each one is; one L-BFGS on the sum does all runs at once.
    search = torch.optim.LBFGS(ensemble.parameters(), lr=1.0, max_iter=search_steps,
                               history_size=100, line_search_fn="strong_wolfe",
                               tolerance_grad=1e-14, tolerance_change=1e-20)

    def squared_gradient_norm():
        search.zero_grad()
        grad, = torch.autograd.grad(census_loss(ensemble(x), y), ensemble.theta, create_graph=True)
        objective = 0.5 * (grad ** 2).sum()
        objective.backward()
        return objective

    search.step(squared_gradient_norm)
    loss, grad_norm = per_run()
    blocks, _ = _ensemble_hessians(ensemble, x, y)
    eigenvalues = torch.linalg.eigvalsh(blocks).numpy()
    return Census(stops, start_loss, start_grad, loss, grad_norm, eigenvalues,
                  np.asarray(hessian.minimum_ratio(eigenvalues)), np.asarray(hessian.classify(eigenvalues)),
                  ensemble.theta.detach().numpy().copy(), hidden, time.perf_counter() - start)


def census_member(census: Census, run: int):
    """Run ``run`` of a census as an ordinary ``torch_mlp([10, hidden, 1], "tanh")`` (float64),
    e.g. for :func:`course_lib.hessian.escape_direction` or :func:`course_lib.hessian.full_hessian`."""
    model = torch_mlp([10, census.hidden, 1], "tanh").double()
    hessian.load_parameter_vector(model, torch.as_tensor(census.parameters[run]))
    return model


def draw_census(census: Census, ax=None):
    """Minimum ratio (share of positive Hessian eigenvalues) against training loss, one dot per
    point found, colored by its gradient norm."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2))
    dots = ax.scatter(census.minimum_ratio, census.loss, c=census.grad_norm, cmap="viridis",
                      norm=LogNorm(), edgecolor="k", linewidth=0.4, s=36)
    ax.figure.colorbar(dots, ax=ax, label=r"gradient norm $\|\nabla L\|$ at the point")
    ax.axvline(1.0, color="C3", ls="--", lw=1)
    ax.text(0.985, ax.get_ylim()[1], "true minima\n(ratio = 1)", color="C3", ha="right", va="top",
            fontsize="small")
    ax.set_xlabel("minimum ratio = share of positive Hessian eigenvalues")
    ax.set_ylabel("training loss (mean squared error)")
    n = census.eigenvalues.shape[1]
    ax.set_title(f"{len(census.loss)} near-critical points of a {n}-parameter network")
    ax.grid(alpha=0.3)
    return ax


def draw_spectra(census: Census, runs: Sequence[int], ax=None):
    """Histograms of the Hessian eigenvalues of a few census points (symmetric-log axis)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.5))
    lam = census.eigenvalues
    edges = np.concatenate([-np.geomspace(10, 1e-4, 16), [0.0], np.geomspace(1e-4, 10, 16)])
    for k, r in enumerate(runs):
        ax.hist(lam[r], bins=edges, histtype="step", lw=1.8, color=f"C{k}",
                label=f"loss {census.loss[r]:.3f}: {np.sum(lam[r] < 0)} negative of {lam.shape[1]}")
    ax.set_xscale("symlog", linthresh=1e-4)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("Hessian eigenvalue (symmetric log scale)")
    ax.set_ylabel("count")
    ax.set_title("Spectra of a high-loss and a low-loss point")
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------- dimension, cost
def random_minimum_probability(dims: Sequence[int], samples: int = 20000, shift: float = 1.0,
                               seed: int = 0) -> np.ndarray:
    """Share of random symmetric matrices :math:`A + \\text{shift}\\, I` that are positive definite.

    ``A`` is a symmetric matrix with independent N(0, 1) entries on and above the diagonal
    (a Wigner matrix): a toy model of the Hessian at a random critical point whose
    curvatures lean positive by ``shift``. A point is a minimum only if *all* d eigenvalues
    are positive, and that gets rarer quickly as d grows.
    """
    rng = np.random.default_rng(seed)
    out = []
    for d in dims:
        if int(d) < 1:
            raise ValueError(f"dims must be positive integers, got {d}")
        a = rng.standard_normal((samples, d, d))
        a = np.triu(a) + np.triu(a, 1).transpose(0, 2, 1)
        lam_min = np.linalg.eigvalsh(a + shift * np.eye(d))[:, 0]
        out.append(float((lam_min > 0).mean()))
    return np.array(out)


def hessian_cost(model, loss_fn, data, repeats: int = 3) -> dict:
    """Wall time of one gradient and of the full Hessian (:func:`course_lib.hessian.full_hessian`)
    of ``model``, best of ``repeats``, on one CPU thread; returns seconds and the number of
    parameters."""
    n = sum(p.numel() for p in model.parameters())
    x, y = data

    def gradient():
        model.zero_grad()
        loss_fn(model(x), y).backward()

    times = {}
    with ctorch.one_thread():
        times = _best_times(gradient, lambda: hessian.full_hessian(model, loss_fn, data), repeats)
    model.zero_grad()
    return {"parameters": n, **times}


def _best_times(gradient, full, repeats):
    times = {}
    for name, fn in (("gradient", gradient), ("full_hessian", full)):
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        times[name] = best
    return times


# --------------------------------------------------------------------------- both frameworks
class NetRun(NamedTuple):
    """A full-batch training run of the diabetes network: ``framework``, per-step ``losses``
    (mean squared error before each step), final ``loss``, flat float64 ``parameters`` in
    :func:`course_lib.hessian.parameter_vector` order, and ``model`` (torch) or ``net`` (Gluon)."""

    framework: str
    losses: np.ndarray
    loss: float
    parameters: np.ndarray
    model: object


def train_torch_net(hidden: int = 8, steps: int = 300, lr: float = 0.1, seed: int = 0,
                    init_scale: float = 1.0) -> NetRun:
    """Full-batch gradient descent (:class:`course_lib.torch.SGD`) of ``10 -> hidden (tanh) -> 1``
    on :func:`diabetes`, loss :math:`\\frac1N\\sum_i (f(x_i) - y_i)^2`, in float64."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x, y = (torch.as_tensor(a) for a in diabetes(np.float64))
    model = scale_init(torch_mlp([10, hidden, 1], "tanh", seed=seed).double(), init_scale)
    optimizer = ctorch.SGD(model.parameters(), lr=lr)
    losses = np.empty(steps)
    with ctorch.one_thread():
        for t in range(steps):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            losses[t] = float(loss.detach())
    with torch.no_grad():
        final = float(torch.nn.functional.mse_loss(model(x), y))
    return NetRun("PyTorch", losses, final, hessian.parameter_vector(model).numpy().copy(), model)


def train_mxnet_net(hidden: int = 8, steps: int = 300, lr: float = 0.1, seed: int = 0,
                    init_scale: float = 1.0) -> NetRun:
    """The Gluon twin of :func:`train_torch_net`: the same starting weights (copied from the
    torch network of the same ``seed`` with :func:`torch_to_mxnet`), the same loss (written
    out as a mean of squares; Gluon's ``L2Loss`` has a factor 1/2) and
    :class:`course_lib.mxnet.SGD`, in float64."""
    import course_lib.mxnet as cmx
    import mxnet as mx

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    ctx = cmx.context()
    xn, yn = diabetes(np.float64)
    x, y = mx.nd.array(xn, ctx=ctx, dtype="float64"), mx.nd.array(yn, ctx=ctx, dtype="float64")
    start = scale_init(torch_mlp([10, hidden, 1], "tanh", seed=seed).double(), init_scale)
    net = mx.gluon.nn.Sequential()
    net.add(mx.gluon.nn.Dense(hidden, in_units=10, activation="tanh"), mx.gluon.nn.Dense(1, in_units=hidden))
    net.initialize(ctx=ctx)
    net.cast("float64")
    torch_to_mxnet(start, net)
    trainer = mx.gluon.Trainer(net.collect_params(), cmx.SGD(learning_rate=lr))
    losses = np.empty(steps)
    for t in range(steps):
        with mx.autograd.record():
            loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        trainer.step(1)
        losses[t] = loss.asscalar()
    final = float(((net(x) - y) ** 2).mean().asscalar())
    layers = [layer for layer in net if hasattr(layer, "weight")]
    flat = np.concatenate([np.concatenate([l.weight.data().asnumpy().ravel(), l.bias.data().asnumpy().ravel()])
                           for l in layers])
    return NetRun("MXNet", losses, final, flat, net)


def census_summary(census: Census) -> dict:
    """The census in numbers: points found, share with minimum ratio < 1, the largest ratio,
    counts of each kind, median gradient norm before and after the search, and the Spearman
    rank correlation between training loss and minimum ratio (negative: lower loss, more
    positive curvature)."""
    kinds, counts = np.unique(census.kinds, return_counts=True)
    return {
        "points": int(len(census.loss)),
        "parameters": int(census.eigenvalues.shape[1]),
        "share_below_one": float(np.mean(census.minimum_ratio < 1.0)),
        "max_ratio": float(census.minimum_ratio.max()),
        "mean_ratio": float(census.minimum_ratio.mean()),
        "kinds": dict(zip(kinds.tolist(), counts.tolist())),
        "median_start_grad_norm": float(np.median(census.start_grad_norm)),
        "median_grad_norm": float(np.median(census.grad_norm)),
        "loss_range": (float(census.loss.min()), float(census.loss.max())),
        "spearman_loss_ratio": float(spearmanr(census.loss, census.minimum_ratio)[0]),
        "min_negative": int((census.eigenvalues < 0).sum(axis=1).min()),
    }


_KIND_STYLE = {"minimum": ("o", "C2"), "maximum": ("^", "C3"), "saddle": ("X", "C1"),
               "degenerate": ("s", "C4")}


def draw_critical_points(found: dict, axes=None):
    """Contour maps with every critical point marked by its kind.

    ``found`` maps a :class:`~course_lib.surfaces.Surface` to its :class:`CriticalPoints`
    (from :func:`critical_points_2d`); one panel per surface."""
    if axes is None:
        _, axes = plt.subplots(1, len(found), figsize=(4.2 * len(found), 4))
    for ax, (surface, cps) in zip(np.atleast_1d(axes), found.items()):
        contour(ax, surface, levels=30, log=False, n=150, minima=False)
        for kind, (marker, color) in _KIND_STYLE.items():
            pts = cps.points[cps.kinds == kind]
            if len(pts):
                ax.scatter(pts[:, 0], pts[:, 1], marker=marker, color=color, s=90, edgecolor="k",
                           zorder=5, label=f"{kind} ({len(pts)})")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title(surface.name)
        ax.legend(fontsize="small", loc="lower left")
    return axes


# --------------------------------------------------------------------------- Gauss-Newton
def census_gauss_newton(census: Census) -> np.ndarray:
    """Eigenvalues (runs, n), ascending, of the generalized Gauss-Newton matrix
    :math:`G = J^\\top H_{out} J` (:class:`course_lib.gauss_newton.GGNOperator`) at every
    point of ``census``: the same points, loss and float64 precision as its Hessians."""
    x, y = (torch.as_tensor(a) for a in diabetes(np.float64))
    with ctorch.one_thread():
        ensemble = Ensemble(torch.as_tensor(census.parameters), x.shape[1], census.hidden)
        blocks, _ = _ensemble_hessians(ensemble, x, y, GGNOperator)
        return torch.linalg.eigvalsh(blocks).numpy()


def draw_gauss_newton_census(census: Census, ggn_eigenvalues: np.ndarray, ax=None):
    """Training loss against the minimum ratio (share of positive eigenvalues) of the
    Hessian and of the Gauss-Newton matrix at the same census points."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.scatter(census.minimum_ratio, census.loss, color="C0", edgecolor="k", linewidth=0.4,
               s=36, label="Hessian H")
    ax.scatter(hessian.minimum_ratio(ggn_eigenvalues), census.loss, color="C3", marker="X",
               s=60, label=r"Gauss-Newton $G = J^\top H_{out} J$")
    ax.axvline(1.0, color="k", ls="--", lw=1)
    ax.set_xlabel("minimum ratio = share of positive eigenvalues")
    ax.set_ylabel("training loss (mean squared error)")
    ax.set_title(f"The same {len(census.loss)} points, two curvature matrices")
    ax.legend(loc="lower left", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def symlog_edges(values, floor: float = 1e-6, per_decade: int = 3) -> np.ndarray:
    """Histogram edges symmetric about 0: ``per_decade`` bins per decade from ``floor`` up to
    the power of 10 (at least 10) above every ``|value|``, one bin ``[-floor, 0]`` and one
    ``[0, floor]``; every value falls in a bin."""
    largest = float(np.abs(values).max())
    top = 10.0 ** max(1, int(np.ceil(np.log10(max(largest, floor)))))
    half = np.geomspace(floor, top, int(round(per_decade * np.log10(top / floor))) + 1)
    return np.concatenate([-half[::-1], [0.0], half])


def draw_curvature_spectra(census: Census, run: int, ax=None):
    """Eigenvalue histograms (symmetric-log axis) of H, of G and of the residual term
    :math:`R = H - G` at census point ``run``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    member = census_member(census, run)
    x, y = (torch.as_tensor(a) for a in diabetes(np.float64))
    with ctorch.one_thread():
        H = hessian.full_hessian(member, torch.nn.functional.mse_loss, (x, y))
        G = hessian.full_hessian(GGNOperator(member, torch.nn.functional.mse_loss, (x, y)))
    spectra = {"Hessian H": np.linalg.eigvalsh(H), "Gauss-Newton G": np.linalg.eigvalsh(G),
               "residual term R = H - G": np.linalg.eigvalsh(H - G)}
    edges = symlog_edges(np.concatenate(list(spectra.values())))
    for (label, lam), color in zip(spectra.items(), ("C0", "C3", "C2")):
        ax.hist(lam, bins=edges, histtype="step", lw=1.8, color=color,
                label=f"{label}: {np.sum(lam < 0)} negative")
    ax.set_xscale("symlog", linthresh=1e-6)
    ax.set_xticks([-1, -1e-2, -1e-4, 0, 1e-4, 1e-2, 1])
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("eigenvalue (symmetric log scale, linear within 1e-6 of 0)")
    ax.set_ylabel(f"count (of {H.shape[0]})")
    ax.set_title(f"Census point with training loss {census.loss[run]:.3f}")
    ax.legend(fontsize="small", loc="upper left")
    return ax


def sinc_data(n_points: int):
    """``n_points`` inputs evenly spread over [-1, 1] and targets
    :math:`\\sin(5\\pi x)/(5\\pi x)`, float64 arrays of shape (n_points, 1)."""
    if int(n_points) < 1:
        raise ValueError(f"n_points must be >= 1, got {n_points}")
    x = np.linspace(-1.0, 1.0, int(n_points)).reshape(-1, 1)
    return x, np.sinc(5 * x)


def fit_sinc_network(n_points: int, seed: int = 0, hidden: int = 128, max_iter: int = 300):
    """A ``1 -> hidden (ReLU) -> 1`` network (float64, PyTorch's default initialization with
    ``seed``) fitted to :func:`sinc_data` by full-batch L-BFGS on the mean squared error.
    Returns ``(model, x, y)`` with torch tensors."""
    x, y = (torch.as_tensor(a) for a in sinc_data(n_points))
    model = torch_mlp([1, hidden, 1], "relu", seed=seed).double()
    search = torch.optim.LBFGS(model.parameters(), max_iter=max_iter, history_size=50,
                               line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                               tolerance_change=1e-20)

    def closure():
        search.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    with ctorch.one_thread():
        search.step(closure)
    return model, x, y


class HomeworkRatio(NamedTuple):
    """Result of :func:`homework_minimum_ratio`.

    ``ratio``: the homework's number, the share of positive eigenvalues of each weight
    matrix's diagonal block of the Gauss-Newton matrix (float32), averaged over the layers;
    ``block_size`` and ``block_rank`` (numerical rank of each block, numpy's ``matrix_rank``
    rule: eigenvalues above size * eps * largest); ``coin_flip``: the ratio expected if
    every eigenvalue that is zero in exact arithmetic came out positive or negative with
    equal chance, :math:`\\frac12 + \\frac{rank}{2\\,size}` averaged over the blocks;
    ``hessian_ratio``, ``hessian_negative`` and ``kind``: the full float64 Hessian's minimum
    ratio, its number of eigenvalues below :math:`-10^{-9}\\lambda_{max}`, and
    :func:`course_lib.hessian.classify` with that tolerance; ``loss`` and ``grad_norm`` (the
    homework's: mean over the weight matrices of their gradients' norms).
    """

    ratio: float
    block_size: tuple
    block_rank: tuple
    coin_flip: float
    hessian_ratio: float
    hessian_negative: int
    kind: str
    loss: float
    grad_norm: float


def homework_minimum_ratio(model, x, y) -> HomeworkRatio:
    """The "minimum ratio" of the 2021 homework (Hung-yi Lee's ML 2021, HW2-2), recomputed
    beside the true Hessian's, for an ``nn.Sequential`` of Linear layers and a scalar output.

    The homework took, for each Linear layer, the block of :math:`\\sum_i j_i j_i^\\top` that
    belongs to its weight matrix (biases and the blocks between layers left out), where
    :math:`j_i` is the gradient of the network's output for example i: the Gauss-Newton
    matrix of the squared error up to the factor :math:`2/N`, which changes no sign. Its
    eigenvalues came from a float32 symmetric eigensolver, and the ratio counted those above
    zero. Here G comes from :class:`course_lib.gauss_newton.GGNOperator`.
    """
    mse = torch.nn.functional.mse_loss
    with ctorch.one_thread():
        G = hessian.full_hessian(GGNOperator(model, mse, (x, y)))
        op = hessian.HessianOperator(model, mse, (x, y))
        H = np.linalg.eigvalsh(hessian.full_hessian(op))
        gradient = op.gradient()
    offsets = np.cumsum([0] + [p.numel() for p in model.parameters()])
    weights = [i for i, p in enumerate(model.parameters()) if p.dim() == 2]
    ratios, sizes, ranks, coins, norms = [], [], [], [], []
    for i in weights:
        idx = np.arange(offsets[i], offsets[i + 1])
        block = torch.as_tensor(G[np.ix_(idx, idx)], dtype=torch.float32)
        lam = torch.linalg.eigvalsh(block).double().numpy()
        rank = int(np.sum(lam > len(idx) * np.finfo(np.float32).eps * lam.max()))
        ratios.append(float(np.mean(lam > 0)))
        sizes.append(len(idx))
        ranks.append(rank)
        coins.append(0.5 + rank / (2 * len(idx)))
        norms.append(float(gradient[offsets[i]:offsets[i + 1]].norm()))
    tol = 1e-9 * float(np.abs(H).max())
    return HomeworkRatio(float(np.mean(ratios)), tuple(sizes), tuple(ranks), float(np.mean(coins)),
                         float(hessian.minimum_ratio(H)), int(np.sum(H < -tol)),
                         hessian.classify(H, tol=tol), op.loss, float(np.mean(norms)))
