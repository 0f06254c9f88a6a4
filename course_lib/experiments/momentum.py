"""Experiments of chapter 6: momentum as a weighted sum of past gradients.

Heavy ball in the torch convention (:data:`course_lib.rules.momentum`)::

    v_t = mu v_{t-1} + g_t,    x_{t+1} = x_t - lr v_t,    so    v_t = sum_k mu^(t-k) g_k

Everything that moves a point here is a rule of :mod:`course_lib.rules`, run by
:func:`course_lib.descent.run` on 2-D surfaces or by the :mod:`course_lib.torch` and
:mod:`course_lib.mxnet` optimizers on the regression problem. This module only measures
and draws.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

import course_lib.torch as ctorch
from course_lib import _checks, descent, rules, schedules, surfaces
from course_lib.data import synthetic_regression, to_mxnet, to_torch
from course_lib.experiments.gradient_descent import regression_curvature
from course_lib.models import mxnet_mlp, torch_mlp, train_mxnet, train_torch
from course_lib.plotting import contour, trajectories
from course_lib.surfaces import Surface, quadratic

__all__ = [
    "ema_weights", "effective_window", "rule_buffers", "unrolled_sum",
    "velocity_from_trajectory", "buffer_response", "stable_lr_limit", "steps_to_tolerance",
    "heavy_ball_matrix", "rate", "optimal_heavy_ball", "tuned_gd", "eigen_errors",
    "scalar_recurrence", "METHODS", "steps_vs_condition", "fit_slope", "measured_rate",
    "regression_lr_bound", "regression_torch", "regression_mxnet", "REGRESSION",
    "playground_surfaces", "draw_playground", "draw_ema_weights", "draw_rates",
    "draw_condition", "draw_beta",
]


# ---------------------------------------------------------------------------- the EMA
def _check_gamma(gamma):
    _checks.probability("gamma", gamma)


def ema_weights(gamma: float, steps: int) -> np.ndarray:
    """Weights ``(1 - gamma) gamma^k`` of the value seen ``k`` steps ago, ``k = 0..steps-1``,
    in the exponential moving average ``y_t = gamma y_{t-1} + (1 - gamma) x_t`` (``y_0 = 0``).
    """
    _check_gamma(gamma)
    _checks.integer("steps", steps, 1)
    return (1 - gamma) * gamma ** np.arange(steps)


def effective_window(gamma: float) -> float:
    """``1 / (1 - gamma)``: after that many steps a weight has fallen by about ``1/e``
    (``gamma^(1/(1-gamma)) -> 1/e`` as ``gamma -> 1``)."""
    _check_gamma(gamma)
    return 1.0 / (1.0 - gamma)


# ------------------------------------------------------------- the buffer, unrolled
def rule_buffers(surface: Surface, start, steps: int, lr: float, momentum: float):
    """Run :data:`course_lib.rules.momentum` from ``start`` and record, at each step, the
    gradient the rule received and the buffer ``v`` it kept in its state.

    Returns ``(grads, buffers)``, each of shape ``(steps, 2)``.
    """
    x = np.array(start, dtype=float).reshape(2)
    hyper = rules.momentum.hyper(lr=lr, momentum=momentum)
    state = rules.momentum.init(x, rules.NUMPY, **hyper)
    grads, buffers = [], []
    for _ in range(steps):
        g = surface.grad(x)
        rules.momentum.update(x, g, state, rules.NUMPY, **hyper)
        grads.append(g)
        buffers.append(state["momentum_buffer"].copy())
    return np.array(grads), np.array(buffers)


def unrolled_sum(grads, momentum: float) -> np.ndarray:
    """``sum_{k <= t} momentum^(t-k) g_k`` for every ``t``: the formula written out as a
    weighted sum of all past gradients (``grads`` has shape ``(steps, d)``)."""
    grads = np.asarray(grads, dtype=float)
    t = np.arange(len(grads))
    age = t[:, None] - t[None, :]
    weights = np.where(age >= 0, float(momentum) ** np.maximum(age, 0), 0.0)
    return weights @ grads


def velocity_from_trajectory(result: descent.Result) -> np.ndarray:
    """``v_t = (x_t - x_{t+1}) / lr_t`` of each start, shape ``(steps, N, 2)``: the step
    divided by the learning rate, i.e. the heavy-ball buffer read off the path alone."""
    steps = np.diff(result.trajectory, axis=0)
    return -steps / result.lr[:, None, None]


def buffer_response(grads, momentum: float) -> np.ndarray:
    """Feed a given sequence of gradients (shape ``(steps, d)``) to
    :data:`course_lib.rules.momentum` and return its buffer after each step.

    A constant gradient ``g`` gives ``v_t = g (1 - mu^t) / (1 - mu) -> g / (1 - mu)``
    (acceleration); an alternating one ``+g, -g, ...`` gives ``|v_t| -> g / (1 + mu)``
    (damping).
    """
    grads = np.asarray(grads, dtype=float)
    param = np.zeros(grads.shape[1:])
    hyper = rules.momentum.hyper(lr=1.0, momentum=momentum)
    state = rules.momentum.init(param, rules.NUMPY, **hyper)
    out = []
    for g in grads:
        rules.momentum.update(param, g, state, rules.NUMPY, **hyper)
        out.append(state["momentum_buffer"].copy())
    return np.array(out)


def steps_to_tolerance(rule: str, surface: Surface, start, lr: float, steps: int,
                       tol: float = 1e-4, **hyper) -> int:
    """Steps until the run stays within ``tol`` of the minimum (-1 if it never does)."""
    result = descent.run(rule, surface, np.asarray(start, dtype=float).reshape(1, 2), steps,
                         lr=lr, **hyper)
    return int(result.steps_to(tol)[0])


def _stable(rule, surface, start, lr, steps, hyper) -> bool:
    result = descent.run(rule, surface, start, steps, lr=lr, bound=1e8, **hyper)
    return (not result.diverged[0]) and result.loss[-1, 0] < result.loss[0, 0]


def stable_lr_limit(rule: str, surface: Surface, start, low: float, high: float,
                    steps: int = 2000, rtol: float = 1e-4, **hyper) -> float:
    """The largest learning rate at which ``rule`` still lowers the loss from ``start``,
    found by bisection between ``low`` (stable) and ``high`` (unstable).

    A run is stable when it does not diverge and ends below its starting loss after
    ``steps`` steps. On a quadratic with largest curvature ``L`` the answer is
    ``2 (1 + mu) / L`` for heavy ball and ``2 (1 + mu) / ((1 + 2 mu) L)`` for Nesterov.
    """
    start = np.asarray(start, dtype=float).reshape(1, 2)
    if not 0 < low < high:
        raise ValueError(f"low and high must satisfy 0 < low < high, got low={low}, high={high}")
    if not _stable(rule, surface, start, low, steps, hyper):
        raise ValueError(f"low={low} is not stable: choose a smaller lower bracket")
    if _stable(rule, surface, start, high, steps, hyper):
        raise ValueError(f"high={high} is stable: choose a larger upper bracket")
    while high - low > rtol * high:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if _stable(rule, surface, start, mid, steps, hyper) else (low, mid)
    return 0.5 * (low + high)


# ------------------------------------------------- momentum at its best: the rate
def heavy_ball_matrix(
    lr: float, momentum: float, curvature: float
) -> np.ndarray:
    """The 2x2 matrix of heavy ball along one eigen-direction of curvature
    ``lambda``: ``(z_{t+1}, z_t) = M (z_t, z_{t-1})`` with ``M = [[1 + mu - lr
    lambda, -mu], [1, 0]]``.
    """
    return np.array([[1.0 + momentum - lr * curvature, -momentum], [1.0, 0.0]])


def rate(lr: float, momentum: float, curvature) -> np.ndarray:
    """Spectral radius of :func:`heavy_ball_matrix` for each curvature: the
    factor by which the error along that eigen-direction shrinks per step,
    asymptotically. With ``momentum = 0`` it is gradient descent's ``|1 - lr
    lambda|``.
    """
    lams = np.atleast_1d(np.asarray(curvature, dtype=float))
    return np.array(
        [
            np.abs(
                np.linalg.eigvals(heavy_ball_matrix(lr, momentum, lam))
            ).max()
            for lam in lams
        ]
    )


def optimal_heavy_ball(L: float, lam_min: float) -> tuple:
    """Polyak's tuning for curvatures in ``[lam_min, L]``, ``kappa = L /
    lam_min``: ``lr = 4 / (sqrt(L) + sqrt(lam_min))^2`` and ``momentum =
    ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2``. Every eigen-direction then
    converges at ``sqrt(momentum) = (sqrt(kappa) - 1) / (sqrt(kappa) + 1)``.
    """
    _checks.number(
        "lam_min", lam_min, 0, L, low_open=True, requirement=f"in (0, L={L!r}]"
    )
    lr = 4.0 / (np.sqrt(L) + np.sqrt(lam_min)) ** 2
    momentum = (
        (np.sqrt(L) - np.sqrt(lam_min)) / (np.sqrt(L) + np.sqrt(lam_min))
    ) ** 2
    return float(lr), float(momentum)


def tuned_gd(L: float, lam_min: float) -> float:
    """Gradient descent's best constant rate ``2 / (L + lam_min)``: the factor
    ``|1 - lr lambda|`` is then ``(kappa - 1) / (kappa + 1)`` at both ends of the spectrum."""
    _checks.number("lam_min", lam_min, 0, L, low_open=True, requirement=f"in (0, L={L!r}]")
    return 2.0 / (L + lam_min)


def eigen_errors(result: descent.Result, surface) -> np.ndarray:
    """Coordinates of the error ``x_t - x*`` of the first start along the eigenvectors of the
    quadratic ``surface`` (columns ordered by increasing curvature): shape (steps + 1, 2)."""
    _, vectors = np.linalg.eigh(surface.A)
    return (result.trajectory[:, 0] - surface.minima[0]) @ vectors


def scalar_recurrence(z0: float, lr: float, momentum: float, curvature: float,
                      steps: int) -> np.ndarray:
    """``z_{t+1} = (1 + mu - lr lambda) z_t - mu z_{t-1}``, ``z_1 = (1 - lr lambda) z_0``:
    heavy ball along one eigen-direction on its own (the first step has no velocity yet)."""
    z = [float(z0), (1.0 - lr * curvature) * z0]
    for _ in range(steps - 1):
        z.append((1.0 + momentum - lr * curvature) * z[-1] - momentum * z[-2])
    return np.array(z[:steps + 1])


#: The three methods of the comparison: curvatures (L, lam_min) -> (rule, hyperparameters).
METHODS = {
    "gradient descent, lr 2/(L+lam_min)": lambda L, lam: ("sgd", {"lr": tuned_gd(L, lam)}),
    "heavy ball, lr 1/L, momentum 0.9": lambda L, lam: ("momentum", {"lr": 1 / L, "momentum": 0.9}),
    "heavy ball, Polyak's lr and momentum": lambda L, lam: (
        "momentum", dict(zip(("lr", "momentum"), optimal_heavy_ball(L, lam)))),
}


def steps_vs_condition(conditions, start, tol: float = 1e-4, angle: float = np.pi / 6) -> dict:
    """Steps to get within ``tol`` of the minimum (and stay) for each method of
    :data:`METHODS` on :func:`course_lib.surfaces.quadratic` of each condition number
    (runs of ``8 kappa + 1000`` steps: tuned gradient descent needs about
    ``kappa/2 log(|e_0|/tol)``; -1 where a method does not get there)."""
    out = {}
    for name, method in METHODS.items():
        steps = []
        for kappa in conditions:
            q = quadratic(condition=float(kappa), angle=angle)
            rule, hyper = method(q.L, q.mu)
            steps.append(steps_to_tolerance(rule, q, start, steps=int(8 * kappa) + 1000, tol=tol,
                                            **hyper))
        out[name] = np.array(steps)
    return out


def fit_slope(conditions, steps) -> float:
    """Least-squares slope of ``log(steps)`` against ``log(kappa)``."""
    return float(np.polyfit(np.log(conditions), np.log(steps), 1)[0])


def measured_rate(errors: np.ndarray, window: int = 20) -> float:
    """The error's contraction per step over the last ``window`` steps of ``errors`` (shape
    (steps + 1, d)): ``(|e_T| / |e_{T - window}|)^(1 / window)``, peak to peak."""
    norms = np.linalg.norm(np.atleast_2d(errors.T).T, axis=-1)
    return float((norms[-window:].max() / norms[-2 * window:-window].max()) ** (1.0 / window))


# ------------------------------------------------------------ the regression problem
#: The chapter's setting: minibatches of 10, 5 epochs, learning rate x0.1 every 2 epochs,
#: half mean squared error (MXNet's L2Loss; PyTorch's mse_loss halved).
REGRESSION = dict(lr=0.5, batch_size=10, epochs=5, decay_every=2, decay=0.1)


def _half_mse(prediction, target):
    return 0.5 * ((prediction.reshape(target.shape) - target) ** 2).mean()


def regression_lr_bound(momentum: float, data=None) -> float:
    """The largest stable learning rate ``2 (1 + momentum) / L`` of full-batch heavy ball on
    the regression problem: ``L`` is the largest curvature of its loss
    ``mean (w.x + b - y)^2 / 2`` (:func:`course_lib.experiments.gradient_descent.regression_curvature`
    with ``half=True``)."""
    x, _ = synthetic_regression() if data is None else data
    return 2.0 * (1.0 + momentum) / regression_curvature(x, half=True)


def regression_torch(
    momentum: float,
    lr: float = REGRESSION["lr"],
    batch_size: int = REGRESSION["batch_size"],
    epochs: int = REGRESSION["epochs"],
    decay_every: int | None = REGRESSION["decay_every"],
    seed: int = 0,
    data=None,
    device=None,
):
    """Train ``y = w.x + b`` on :func:`course_lib.data.synthetic_regression`
    with :class:`course_lib.torch.SGD` (heavy ball), the learning rate
    multiplied by 0.1 every ``decay_every`` epochs (``None``: constant). Returns
    ``(initial_loss, history)``, a :class:`course_lib.models.History` with the
    loss of every minibatch in ``step_loss`` and the full-data loss per epoch in
    ``train_loss``.
    """
    x, y = to_torch(
        *(synthetic_regression() if data is None else data), device=device
    )
    model = torch_mlp((x.shape[1], 1), seed=seed).to(x.device)
    with torch.no_grad():
        initial = float(_half_mse(model(x), y))
    optimizer = ctorch.SGD(model.parameters(), lr=lr, momentum=momentum)
    scheduler = None
    if decay_every is not None:
        schedule = schedules.step_decay(lr, decay_every, REGRESSION["decay"])
        scheduler = schedules.to_torch(
            optimizer, schedule
        )  # stepped once per epoch
    history = train_torch(
        model,
        optimizer,
        x,
        y,
        epochs,
        batch_size,
        loss_fn=_half_mse,
        classification=False,
        seed=seed,
        record_steps=True,
        scheduler=scheduler,
    )
    return initial, history


def regression_mxnet(
    momentum: float,
    lr: float = REGRESSION["lr"],
    batch_size: int = REGRESSION["batch_size"],
    epochs: int = REGRESSION["epochs"],
    decay_every: int | None = REGRESSION["decay_every"],
    seed: int = 0,
    data=None,
):
    """The Gluon twin of :func:`regression_torch`: :class:`course_lib.mxnet.SGD`
    in a ``gluon.Trainer``, ``L2Loss``, the same decay (MXNet schedules count
    updates, so the decay comes every ``decay_every`` epochs' worth of updates).
    Returns ``(initial_loss, history)`` with the full-data loss per epoch.
    """
    import course_lib.mxnet as cmx
    import mxnet as mx

    x_np, y_np = synthetic_regression() if data is None else data
    x, y = to_mxnet(x_np, y_np)
    net = mxnet_mlp((x.shape[1], 1), seed=seed, ctx=x.context)
    loss_fn = mx.gluon.loss.L2Loss()
    initial = float(loss_fn(net(x), y).mean().asscalar())
    updates_per_epoch = -(-len(y_np) // batch_size)
    scheduler = None
    if decay_every is not None:
        scheduler = schedules.to_mxnet(
            schedules.step_decay(
                lr, decay_every * updates_per_epoch, REGRESSION["decay"]
            )
        )
    optimizer = cmx.SGD(
        learning_rate=lr, momentum=momentum, lr_scheduler=scheduler
    )
    trainer = mx.gluon.Trainer(net.collect_params(), optimizer)
    history = train_mxnet(
        net,
        trainer,
        x,
        y,
        epochs,
        batch_size,
        loss_fn=loss_fn,
        classification=False,
        seed=seed,
    )
    return initial, history


# ------------------------------------------------------------------------ figures
def playground_surfaces() -> dict:
    """The playground's surfaces with the curvature ``L`` that sets their learning-rate
    unit (largest Hessian eigenvalue over the known minima) and their starting points."""
    out = {}
    q = quadratic(condition=50.0, angle=np.pi / 6)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    out["elongated quadratic"] = (q, q.L, 2.6 * np.stack([np.cos(angles), np.sin(angles)], 1), 150)
    hb = surfaces.himmelblau
    L = float(np.linalg.eigvalsh(hb.hessian(hb.minima)).max())
    gx, gy = np.meshgrid(np.linspace(-4.0, 4.0, 4), np.linspace(-4.0, 4.0, 4))
    out["himmelblau"] = (hb, L, np.stack([gx.ravel(), gy.ravel()], 1), 300)
    return out


def draw_playground(surface_name: str, lr_times_L: float, momentum: float):
    """The chapter's playground: heavy ball from many starts at ``lr = lr_times_L / L``.

    Left: paths on the contour plot; right: the loss of every start per step.
    """
    surface, L, starts, steps = playground_surfaces()[surface_name]
    lr = lr_times_L / L
    rule, hyper = ("sgd", {}) if momentum == 0 else ("momentum", {"momentum": momentum})
    result = descent.run(rule, surface, starts, steps, lr=lr, bound=1e4, **hyper)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.25)
    contour(left, surface, levels=15, n=150)
    trajectories(left, result.trajectory, color="C3", marker="", linewidth=0.8)
    left.set_title(f"{surface_name}: lr = {lr_times_L:g}/L, momentum {momentum:g}", fontsize=10)
    loss = result.loss - surface.value(surface.minima).min()
    rows = np.arange(loss.shape[0])[:, None]
    loss = np.where(rows < np.where(result.diverged, result.diverged_at, loss.shape[0]), loss, np.nan)
    right.plot(np.log10(np.maximum(loss, 1e-16)), color="C3", alpha=0.5, linewidth=0.8)
    right.set_ylim(-12, 5)
    right.set_yticks([-12, -8, -4, 0, 4])
    right.set_yticklabels(["1e-12", "1e-8", "1e-4", "1", "1e4"])
    right.set_xlabel("step")
    right.set_ylabel("loss - minimum (log scale)")
    n = len(starts)
    right.set_title(f"{int(result.converged(1e-3).sum())}/{n} starts within 1e-3 of a minimum, "
                    f"{int(result.diverged.sum())} diverged", fontsize=10)
    right.grid(True, alpha=0.3)
    return fig


def draw_ema_weights(gamma: float, steps: int = 60):
    """Bar chart of the EMA weights ``(1 - gamma) gamma^k`` against the age ``k`` of the
    value, with the window ``1 / (1 - gamma)`` marked."""
    weights = ema_weights(gamma, steps)
    window = effective_window(gamma)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    inside = np.arange(steps) < window
    ax.bar(np.arange(steps)[inside], weights[inside], color="C0",
           label=f"inside the window: total weight {weights[inside].sum():.2f}")
    ax.bar(np.arange(steps)[~inside], weights[~inside], color="C7",
           label=f"older: total weight {weights[~inside].sum():.2f} (+ {gamma ** steps:.2f} beyond {steps})")
    if window <= steps:
        ax.axvline(window - 0.5, color="C3", linestyle="--", label=f"window 1/(1-gamma) = {window:g} steps")
    ax.set_xlabel("age k of the value (steps ago)")
    ax.set_ylabel("weight (1 - gamma) gamma^k")
    ax.set_title(f"EMA weights for gamma = {gamma:g}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _spectrum_panel(ax, q, methods: dict):
    """Rate per eigen-direction against its curvature (log x) for ``methods``:
    name -> (lr, momentum, style)."""
    lams = np.geomspace(q.mu, q.L, 200)
    for name, (lr, beta, style) in methods.items():
        ax.semilogx(lams / q.L, rate(lr, beta, lams), style, label=name)
        ax.plot([q.mu / q.L, 1.0], rate(lr, beta, [q.mu, q.L]), "o", color=ax.lines[-1].get_color())
    ax.set_xlabel("curvature of the eigen-direction, lambda / L")
    ax.set_ylabel("rate: error factor per step")
    ax.set_ylim(0, 1.05)
    ax.grid(True, which="both", alpha=0.3)


def _errors_panel(ax, q, start, steps, methods: dict):
    """|error| along the flattest (solid) and steepest (dashed) eigen-direction per step."""
    for name, (lr, beta, _) in methods.items():
        rule, hyper = ("sgd", {}) if beta == 0 else ("momentum", {"momentum": beta})
        z = np.abs(eigen_errors(descent.run(rule, q, start, steps, lr=lr, **hyper), q))
        line, = ax.semilogy(z[:, 0], "-", lw=1.2)
        ax.semilogy(z[:, 1], "--", lw=1, color=line.get_color())
    ax.plot([], [], "k-", label="flattest direction (lam_min)")
    ax.plot([], [], "k--", label="steepest direction (L)")
    ax.set_ylim(1e-8, 10)
    ax.set_xlabel("step")
    ax.set_ylabel("|error| along the direction")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="lower left")


def _three(q) -> dict:
    lr, beta = optimal_heavy_ball(q.L, q.mu)
    return {"gradient descent, lr 2/(L+lam_min)": (tuned_gd(q.L, q.mu), 0.0, "-"),
            "heavy ball, lr 1/L, momentum 0.9": (1 / q.L, 0.9, "-"),
            f"heavy ball, Polyak: lr = {lr * q.L:.2f}/L, momentum {beta:.3f}": (lr, beta, "-")}


def draw_rates(q, start, steps: int = 200, axes=None):
    """Left: the rate of each eigen-direction against its curvature, for tuned gradient
    descent, the chapter's heavy ball and Polyak's (dots: the quadratic's two directions);
    right: the error along the flattest and the steepest direction per step."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    methods = _three(q)
    _spectrum_panel(axes[0], q, methods)
    axes[0].legend(fontsize="small", loc="lower left")
    axes[0].set_title(f"condition number {q.condition:g}")
    _errors_panel(axes[1], q, np.asarray(start, float).reshape(1, 2), steps, methods)
    axes[1].set_title("error per eigen-direction (colours as left)")
    return axes


def draw_condition(conditions, steps: dict, start, tol: float, ax=None):
    """Measured steps to tolerance against the condition number (log-log), each method with
    its fitted slope, and the prediction ``log(|e_0| / tol) / log(1 / rate)`` dotted."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2))
    kappas = np.asarray(conditions, float)
    e0 = float(np.linalg.norm(start))
    for (name, measured), method in zip(steps.items(), METHODS.values()):
        line, = ax.loglog(kappas, measured, "o-", label=f"{name}: slope {fit_slope(kappas, measured):.2f}")
        grid = np.geomspace(kappas.min(), kappas.max(), 30)
        worst = []
        for kappa in grid:
            q = quadratic(condition=kappa)
            rule, hyper = method(q.L, q.mu)
            worst.append(rate(hyper["lr"], hyper.get("momentum", 0.0), [q.mu, q.L]).max())
        ax.loglog(grid, np.log(e0 / tol) / -np.log(worst), ":", color=line.get_color())
    ax.plot([], [], "k:", label="log(|e0|/tol) / log(1/rate)")
    ax.set_xlabel("condition number kappa = L / lam_min")
    ax.set_ylabel(f"steps to within {tol:g} of the minimum")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def draw_beta(momentum: float, condition: float = 100.0, start=(-2.5, 1.5), steps: int = 150):
    """The chapter's momentum playground: for a given ``momentum`` mu, the learning rate
    ``(1 + sqrt(mu))^2 / L`` that puts the steepest curvature L on the upper edge of the band
    of complex roots (at Polyak's mu it is Polyak's rate). Left, the rate per eigen-direction
    (grey: Polyak's tuning); right, the error along the flattest and steepest direction.
    (Log scales are drawn as log10 on linear axes with fixed ticks: matplotlib's log-axis
    tick search would make each of the static page's frames several times slower.)"""
    q = quadratic(condition=condition, angle=np.pi / 6)
    best_lr, best = optimal_heavy_ball(q.L, q.mu)
    lr = (1 + np.sqrt(momentum)) ** 2 / q.L
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.25)
    x = np.linspace(np.log10(q.mu / q.L), 0, 120)
    for eta, beta, color, label in ((best_lr, best, "0.6", f"Polyak: momentum {best:.3f}"),
                                    (lr, momentum, "C1", f"momentum {momentum:.3g}")):
        left.plot(x, rate(eta, beta, q.L * 10 ** x), color=color, label=label)
        left.plot([x[0], 0], rate(eta, beta, [q.mu, q.L]), "o", color=color)
    left.set_xticks([-2, -1, 0], ["0.01", "0.1", "1"])
    left.set_ylim(0, 1.05)
    left.set_xlabel("curvature of the eigen-direction, lambda / L")
    left.set_ylabel("rate: error factor per step")
    worst = rate(lr, momentum, [q.mu, q.L]).max()
    left.set_title(f"lr = {lr * q.L:.2f}/L, momentum {momentum:.3g}: worst rate {worst:.3f}",
                   fontsize=10)
    left.legend(fontsize="small", loc="lower left")
    rule, hyper = ("sgd", {}) if momentum == 0 else ("momentum", {"momentum": momentum})
    run = descent.run(rule, q, np.asarray(start, float).reshape(1, 2), steps, lr=lr, **hyper)
    z = np.log10(np.maximum(np.abs(eigen_errors(run, q)), 1e-300))
    right.plot(z[:, 0], "-", color="C1", label="flattest direction (lam_min)")
    right.plot(z[:, 1], "--", color="C1", label="steepest direction (L)")
    right.plot(np.log10(np.linalg.norm(start)) + np.arange(steps + 1) * np.log10(worst), ":",
               color="k", label="|e0| x worst rate^t")
    right.set_ylim(-8, 1)
    right.set_yticks([-8, -6, -4, -2, 0], ["1e-8", "1e-6", "1e-4", "0.01", "1"])
    right.set_xlabel("step")
    right.set_ylabel("|error| along the direction")
    done = run.steps_to(1e-4)[0]
    right.set_title(f"{done if done >= 0 else 'not'} steps to within 1e-4", fontsize=10)
    for axis in (left, right):
        axis.grid(True, alpha=0.3)
    right.legend(fontsize="small", loc="lower left")
    return fig
