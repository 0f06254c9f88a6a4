"""Experiments of chapter 11: Pareto fronts, linear combinations and constrained methods.

The numbers the chapter prints (and tests/test_claims_11_constraints.py asserts) come from
these functions; the figures are drawn by the ``draw_*`` functions.
"""
from __future__ import annotations

from typing import Dict, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib import constrained as C
from course_lib import data, models
from course_lib.hessian import classify
from course_lib.plotting import contour

__all__ = ["grid_starts", "PROBLEMS", "landing", "basin_shares", "saddle_hessian",
           "augmented_hessian", "run_methods", "method_table", "draw_fronts",
           "draw_alpha", "draw_methods", "METHOD_COLORS", "train_digits_torch",
           "train_digits_mxnet"]

#: The two toy problems of the chapter, by the shape of their front.
PROBLEMS = {"convex": C.convex_problem(), "concave": C.concave_problem()}
METHOD_COLORS = {"solve the dual": "C2", "hard constraint first": "C4", "BDMM": "C3",
                 "MDMM": "C0"}


def grid_starts(n: int = 8, bounds=((-0.45, 1.45), (-0.9, 0.9))) -> np.ndarray:
    """An ``n x n`` grid of starting points over the plotted window: shape (n*n, 2)."""
    (x0, x1), (y0, y1) = bounds
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return np.column_stack([X.ravel(), Y.ravel()])


def landing(problem: C.TwoObjectives, final_losses: np.ndarray) -> np.ndarray:
    """Distance in objective space from each final ``(L0, L1)`` to the nearest end of the
    front, ``(0, 1)`` or ``(1, 0)``: shape ``final_losses.shape[:-1]``."""
    ends = problem.front(2)
    d = np.linalg.norm(np.asarray(final_losses)[..., None, :] - ends, axis=-1)
    return d.min(axis=-1)


def basin_shares(problem: C.TwoObjectives, alphas: Sequence[float], starts, steps: int = 1000):
    """Share of ``starts`` whose descent on ``L0 + alpha L1`` ends at the ``L0 = 0`` end
    (``p = 0``), for each alpha: array (len(alphas),)."""
    final = C.sweep_alpha(problem, alphas, starts, steps)
    return (final[..., 0] < 0.5).mean(axis=1)


def saddle_hessian(problem: C.TwoObjectives, alpha: float):
    """At the stationary point of ``L0 + alpha L1`` inside the front: its parameters, the
    Hessian's eigenvalues and :func:`course_lib.hessian.classify`'s verdict."""
    p = problem.stationary_position(alpha)
    if p is None:
        raise ValueError(f"L0 + {alpha} L1 has no stationary point inside the front")

    theta = problem.theta_at(p)
    eig = np.linalg.eigvalsh(problem.combined(alpha).hessian(theta))
    return theta, eig, classify(eig)


def augmented_hessian(problem: C.TwoObjectives, epsilon: float, damping: float):
    """Eigenvalues of the Hessian of ``L0 + lambda* g + damping g^2 / 2`` (``g = L1 - eps``) at
    the constrained optimum: what MDMM's damping does to the saddle of the Lagrangian."""
    opt = problem.constrained_optimum(epsilon)
    h = problem.hessians(opt.theta)
    grad_l1 = problem.grads(opt.theta)[1]
    # at the optimum g = 0, so the damping term adds only damping * grad g grad g^T
    hess = h[0] + opt.multiplier * h[1] + damping * np.outer(grad_l1, grad_l1)
    return np.linalg.eigvalsh(hess)


def run_methods(problem: C.TwoObjectives, epsilons: Sequence[float], starts, steps: int = 1000,
                damping: float = 10.0) -> Dict[float, Dict[str, C.Trajectory]]:
    """The four constrained methods from the same starts for each budget:
    ``{epsilon: {method name: Trajectory}}``.

    The budgets run as one batch (each start repeated once per budget), except for the
    dual, whose search for the multiplier is sequential.
    """
    starts = np.asarray(starts, dtype=float)
    n, k = len(starts), len(epsilons)
    tiled = np.tile(starts, (k, 1))
    budgets = np.repeat(np.asarray(epsilons, dtype=float), n)
    batched = {
        "hard constraint first": C.hard_constraint_first(problem, budgets, tiled, min(steps, 600),
                                                         lr=0.03),
        "BDMM": C.bdmm(problem, budgets, tiled, steps),
        "MDMM": C.mdmm(problem, budgets, tiled, steps, damping=damping),
    }
    out = {}
    for i, eps in enumerate(epsilons):
        mine = slice(i * n, (i + 1) * n)
        out[eps] = {"solve the dual": C.solve_dual(problem, eps, starts, steps=400, lr=0.04,
                                                   rounds=3, points=8).trajectory}
        out[eps].update({name: run.select(mine) for name, run in batched.items()})
    return out


def method_table(runs: Dict[str, C.Trajectory], problem: C.TwoObjectives, epsilon: float):
    """Per method: worst ``L1 - eps`` over starts, worst distance to the optimum in objective
    space, median settling time of lambda (multiplier methods), gradient evaluations.

    Chapter 11 computes the same rows on the page (``table_row``) and checks them against
    this function, which tests/test_claims_11_constraints.py uses."""
    opt = problem.constrained_optimum(epsilon)
    rows = {}
    for name, run in runs.items():
        final = run.final_losses
        settle = (float(np.median(C.settling_time(run.multiplier, opt.multiplier)))
                  if name in ("BDMM", "MDMM") else float("nan"))
        rows[name] = dict(violation=float((final[:, 1] - epsilon).max()),
                          distance=float(np.linalg.norm(final - opt.losses, axis=1).max()),
                          settling=settle, evals=float(run.grad_evals.mean()))
    return rows


# ------------------------------------------------------------------------------ figures
def draw_fronts(ax, problem: C.TwoObjectives, samples: int = 0, rng=None, color="k"):
    """The exact front of ``problem`` in objective space (and ``samples`` random attainable
    points, to show the region it bounds)."""
    front = problem.front()
    if samples:
        rng = np.random.default_rng(rng)
        theta = np.column_stack([rng.uniform(-0.5, 1.5, samples), rng.uniform(-0.6, 0.6, samples)])
        pts = problem.losses(theta)
        ax.scatter(*pts.T, s=3, color="0.75", label="attainable (random theta)")
    ax.plot(*front.T, color=color, lw=2, label=f"{problem.name} front")
    ax.set_xlabel("L0")
    ax.set_ylabel("L1")
    ax.set_xlim(-0.03, 1.3)
    ax.set_ylim(-0.03, 1.3)
    ax.set_aspect("equal")


def draw_alpha(alpha: float, starts=None, steps: int = 400):
    """Figure for one weight ``alpha``: per front, objective space (the front, the lowest
    line ``L0 + alpha L1 = const`` touching it, where descent lands) and parameter space
    (contours of ``L0 + alpha L1`` and the paths from a grid of starts)."""
    starts = grid_starts(5) if starts is None else starts
    fig, axes = plt.subplots(2, 2, figsize=(9, 8.2))
    for row, (name, problem) in enumerate(PROBLEMS.items()):
        run = C.linear_combination(problem, alpha, starts, steps, lr=0.04)
        ax = axes[row, 0]
        draw_fronts(ax, problem)
        front = problem.front()
        level = (front @ [1.0, alpha]).min()
        line_l0 = np.linspace(-0.1, 1.4, 2)
        ax.plot(line_l0, (level - line_l0) / alpha, "--", color="C1",
                label=f"lowest line L0 + {alpha:g} L1 = {level:.2f}")
        ax.scatter(*run.final_losses.T, color="C3", zorder=5, s=30, label="where descent lands")
        p_s = problem.stationary_position(alpha)
        if p_s is not None and problem.shape == "concave":
            ax.scatter(*problem.losses(problem.theta_at(p_s)), marker="X", s=90, color="C1",
                       zorder=6, label="stationary point (a saddle)")
        ax.legend(fontsize=7, loc="upper right")
        ax.set_title(f"{name} front, alpha = {alpha:g}")
        ax = axes[row, 1]
        surface = problem.combined(alpha)
        contour(ax, surface, levels=20, log=False, minima=False, n=100)
        ends_p = problem.position(run.final)
        for end, color in ((0, "C0"), (1, "C3")):
            chosen = np.abs(ends_p - end) < 0.5
            if chosen.any():
                ax.plot(run.theta[:, chosen, 0], run.theta[:, chosen, 1], color=color, lw=0.8)
        ax.scatter(*run.final.T, color="k", s=12, zorder=5)
        if p_s is not None and problem.shape == "concave":
            x_s = problem.theta_at(p_s)[0]
            for x in (x_s, -x_s, 2 - x_s):
                ax.scatter(x, 0, marker="X", s=90, color="C1", zorder=6,
                           label="saddle" if x == x_s else None)
            ax.legend(fontsize=7, loc="lower right")
        ax.set_xlabel("x (sets p = sin^2(pi x / 2))")
        ax.set_ylabel("y (wasted effort)")
        ax.set_title("paths of gradient descent (color: end reached)")
    fig.tight_layout()
    return fig


def draw_methods(runs_by_problem: Dict[str, Dict[str, C.Trajectory]], epsilon: float,
                 path: int = 0):
    """Figure for one ``epsilon``: per front, the four methods' paths in objective space (from
    start ``path``) and the multiplier over time: BDMM's and MDMM's as they evolve, the
    dual's fixed value as a flat line over all steps (hard-constraint-first has none)."""
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 8))
    for row, (name, runs) in enumerate(runs_by_problem.items()):
        problem = PROBLEMS[name]
        opt = problem.constrained_optimum(epsilon)
        ax = axes[row, 0]
        draw_fronts(ax, problem)
        ax.axhline(epsilon, color="0.5", ls=":", lw=1, label=f"L1 = eps = {epsilon:g}")
        for method, run in runs.items():
            losses = run.losses[:, path]
            ax.plot(*losses.T, color=METHOD_COLORS[method], lw=1, alpha=0.8, label=method)
            ax.scatter(*losses[-1], color=METHOD_COLORS[method], s=40, zorder=5, edgecolor="k")
        ax.scatter(*opt.losses, marker="*", s=200, color="gold", edgecolor="k", zorder=6,
                   label="constrained optimum")
        ax.set_title(f"{name} front: min L0 s.t. L1 <= {epsilon:g}")
        ax.legend(fontsize=7, loc="upper right")
        ax = axes[row, 1]
        n_steps = max(len(runs[method].multiplier) for method in ("BDMM", "MDMM")) - 1
        # the dual fixes lambda before it trains: one flat line over the whole run
        dual = float(runs["solve the dual"].multiplier[0, path])
        ax.hlines(dual, 0, n_steps, color=METHOD_COLORS["solve the dual"], lw=1.5, ls="-.",
                  zorder=4, label=f"solve the dual (fixed) = {dual:.3f}")
        for method in ("BDMM", "MDMM"):
            ax.plot(runs[method].multiplier[:, path], color=METHOD_COLORS[method], label=method)
        ax.axhline(opt.multiplier, color="gold", lw=2, ls="--", label=f"lambda* = {opt.multiplier:.3f}")
        ax.set_xlabel("step (gradient steps on theta)")
        ax.set_ylabel("multiplier lambda (units of L0 per unit of L1)")
        top = max(float(np.nanmax(runs["BDMM"].multiplier[:, path])), 2 * opt.multiplier, dual)
        ax.set_ylim(-0.1, 1.05 * top)
        ax.plot([], [], " ", label="hard constraint first: no multiplier")
        ax.set_title("the multiplier over time")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ a network with a budget
def _squared_norm(tensors):
    """``|theta|^2``, the sum of the squares of all parameters (torch tensors or NDArrays)."""
    return sum((t * t).sum() for t in tensors)


def train_digits_torch(
    budget=None,
    epochs: int = 10,
    damping: float = 0.01,
    lr: float = 0.1,
    lr_multiplier: float = 0.001,
    hidden: int = 32,
    seed: int = 0,
):
    """An MLP on the digits, minimizing cross-entropy ``L0`` subject to the
    squared norm of its parameters ``L1 = |theta|^2 <= budget`` with
    :class:`course_lib.constrained.Lagrangian` (MDMM; plain SGD when ``budget``
    is None). Returns per-epoch lists ``ce``, ``norm2``, ``multiplier``, the
    initial ``norm2_init`` and the final ``test_accuracy``.
    """
    x, y, xt, yt = data.to_torch(*data.digits(seed=seed))
    model = models.torch_mlp([64, hidden, 10], seed=seed).to(x.device)
    params = list(model.parameters())
    groups = [{"params": params, "lr": lr}]
    lagrangian = None
    if budget is not None:
        lagrangian = C.Lagrangian(
            [
                C.Constraint(
                    lambda: _squared_norm(params), bound=budget, damping=damping
                )
            ]
        )
        groups.append({"params": lagrangian.parameters(), "lr": lr_multiplier})
    optimizer = torch.optim.SGD(groups)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        out = dict(
            ce=[],
            norm2=[],
            multiplier=[],
            norm2_init=float(_squared_norm(params)),
        )
    for _ in range(epochs):
        for idx in data.batches(len(x), 64, rng):
            idx = torch.as_tensor(idx, device=x.device)
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            (loss if lagrangian is None else lagrangian(loss)).backward()
            optimizer.step()
        with torch.no_grad():
            out["ce"].append(
                float(torch.nn.functional.cross_entropy(model(x), y))
            )
            out["norm2"].append(float(_squared_norm(params)))
        out["multiplier"].append(
            0.0 if lagrangian is None else float(lagrangian.multipliers[0])
        )
    out["test_accuracy"] = models.torch_accuracy(model, xt, yt)
    return out


def train_digits_mxnet(
    budget=None,
    epochs: int = 10,
    damping: float = 0.01,
    lr: float = 0.1,
    lr_multiplier: float = 0.001,
    hidden: int = 32,
    seed: int = 0,
):
    """The Gluon twin of :func:`train_digits_torch`: the same MDMM step written
    with :func:`course_lib.constrained.multiplier_force` and
    :func:`course_lib.constrained.multiplier_step` around a ``gluon.Trainer``.
    """
    import course_lib.mxnet as cmx
    import mxnet as mx

    x, y, xt, yt = data.to_mxnet(*data.digits(seed=seed))
    net = models.mxnet_mlp([64, hidden, 10], seed=seed)
    params = [p.data() for p in net.collect_params().values()]
    trainer = mx.gluon.Trainer(net.collect_params(), cmx.SGD(learning_rate=lr))
    ce_loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    rng = np.random.default_rng(seed)
    lam = 0.0
    out = dict(
        ce=[],
        norm2=[],
        multiplier=[],
        norm2_init=float(_squared_norm(params).asscalar()),
    )
    for _ in range(epochs):
        for idx in data.batches(len(x), 64, rng):
            idx = mx.nd.array(idx, dtype="int64")
            with mx.autograd.record():
                loss = ce_loss(net(x[idx]), y[idx]).mean()
                if budget is not None:
                    g = _squared_norm(params) - budget
                    force = C.multiplier_force(
                        lam, float(g.asscalar()), damping
                    )
                    loss = loss + force * g  # gradient: grad L0 + f grad g
            loss.backward()
            trainer.step(1)
            if budget is not None:
                lam = C.multiplier_step(lam, float(g.asscalar()), lr_multiplier)
        out["ce"].append(float(ce_loss(net(x), y).mean().asscalar()))
        out["norm2"].append(float(_squared_norm(params).asscalar()))
        out["multiplier"].append(lam)
    out["test_accuracy"] = float(
        (net(xt).argmax(axis=1) == yt.astype("float32")).mean().asscalar()
    )
    return out
