"""Adaptive methods as diagonal preconditioners (chapter 7).

Adagrad, RMSProp and Adam step ``theta_i <- theta_i - P_i g_i`` with a
per-coordinate effective step ``P_i = eta / (sqrt(s_i) + eps)``: gradient
descent preconditioned by the diagonal matrix ``P``. Newton's method would use
``H^{-1}``. On a quadratic ``f = theta^T H theta / 2`` preconditioned descent
converges like gradient descent on ``P^{1/2} H P^{1/2}``, so what a diagonal
``P`` can achieve is measured by the condition number of that matrix:

* :func:`quadratic` - ``H = R diag(kappa, 1) R^T``, ``R`` a rotation by ``angle``;
* :func:`effective_steps` - run a reference rule and read ``P`` after each step;
* :func:`preconditioned_condition` - ``kappa(P^{1/2} H P^{1/2})``;
* :func:`best_diagonal_condition` - the smallest of those over all diagonal
  ``P`` (a 2-D problem has one free ratio ``P_2 / P_1``; grid search);
* :func:`table` - the chapter's numbers, one row per surface and rule.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from course_lib.reference import update_rules as ref

#: The rules compared and their learning rates (one each that converges).
RULES = {"Adagrad": 0.5, "RMSProp": 0.01, "Adam": 0.01}
SURFACES = {"axis-aligned": 0.0, "rotated by 45 degrees": np.pi / 4}
KAPPA = 100.0
STEPS = 200
SEEDS = (0, 1, 2)


def quadratic(kappa: float = KAPPA, angle: float = 0.0) -> np.ndarray:
    """The Hessian ``R diag(kappa, 1) R^T`` of a 2-D quadratic, ``R`` the
    rotation by ``angle`` (radians)."""
    if not kappa >= 1:
        raise ValueError(f"kappa must be >= 1, got {kappa!r}")
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, -s], [s, c]])
    return rotation @ np.diag([kappa, 1.0]) @ rotation.T


def effective_steps(h, rule: str, theta0, steps: int = STEPS,
                    eta: float | None = None) -> np.ndarray:
    """``P_t = eta / (sqrt(s_t) + eps)`` after each of ``steps`` steps of the
    reference ``rule`` ('Adagrad', 'RMSProp' or 'Adam'; Adam's ``s`` is the
    bias-corrected ``v_hat``) on ``f = theta^T h theta / 2``: shape
    ``(steps, 2)``."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; known: {sorted(RULES)}")
    eta = RULES[rule] if eta is None else eta
    theta = np.asarray(theta0, dtype=float).copy()
    m, s = np.zeros_like(theta), np.zeros_like(theta)
    out = []
    for t in range(1, steps + 1):
        g = h @ theta
        if rule == "Adagrad":
            theta, s = ref.adagrad(theta, s, g, eta=eta)
            out.append(eta / (np.sqrt(s) + 1e-10))
        elif rule == "RMSProp":
            theta, s = ref.rmsprop(theta, s, g, eta=eta, gamma=0.99)
            out.append(eta / (np.sqrt(s) + 1e-8))
        else:
            theta, m, s = ref.adam(theta, m, s, g, t, eta=eta)
            out.append(eta / (np.sqrt(s / ref.bias_factor(0.999, t)) + 1e-8))
    return np.array(out)


def condition(matrix) -> float:
    """Largest over smallest eigenvalue of a symmetric positive definite
    matrix."""
    eigenvalues = np.linalg.eigvalsh(matrix)
    return float(eigenvalues[-1] / eigenvalues[0])


def preconditioned_condition(h, p) -> float:
    """``kappa(P^{1/2} H P^{1/2})`` for the diagonal preconditioner ``p``."""
    root = np.diag(np.sqrt(p))
    return condition(root @ h @ root)


def best_diagonal_condition(h, grid: int = 4001) -> float:
    """The smallest ``kappa(P^{1/2} H P^{1/2})`` over diagonal ``P`` of a 2-D
    ``h`` (only ``P_2 / P_1`` matters; searched from 1e-4 to 1e4)."""
    return min(preconditioned_condition(h, [1.0, r])
               for r in np.geomspace(1e-4, 1e4, grid))


def start(seed: int) -> np.ndarray:
    """A random starting point, ``N(0, I)``."""
    return np.random.default_rng(seed).standard_normal(2)


def table(steps: int = STEPS, seeds=SEEDS) -> list[dict]:
    """One row per surface and rule: the ratio ``P_2 / P_1`` (flat over steep
    coordinate; geometric mean of ``P_t`` over the run) and the condition
    number after preconditioning, per seed; with the Hessian's own numbers."""
    rows = []
    for surface, angle in SURFACES.items():
        h = quadratic(angle=angle)
        jacobi = 1 / np.diag(h)
        for rule in RULES:
            ratios, kappas = [], []
            for seed in seeds:
                p = np.exp(np.log(effective_steps(h, rule, start(seed), steps))
                           .mean(axis=0))
                ratios.append(p[1] / p[0])
                kappas.append(preconditioned_condition(h, p))
            rows.append(dict(surface=surface, rule=rule,
                             kappa=condition(h),
                             jacobi_ratio=jacobi[1] / jacobi[0],
                             best_kappa=best_diagonal_condition(h),
                             ratio=np.array(ratios), kappa_p=np.array(kappas)))
    return rows


def draw(steps: int = STEPS, seeds=SEEDS):
    """Two panels (axis-aligned, rotated): the ratio ``P_2 / P_1`` of each
    rule over the steps, one line per seed, against the inverse Hessian
    diagonal's ratio ``H_11 / H_22`` (dashed)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, (surface, angle) in zip(axes, SURFACES.items()):
        h = quadratic(angle=angle)
        for i, rule in enumerate(RULES):
            for k, seed in enumerate(seeds):
                p = effective_steps(h, rule, start(seed), steps)
                ax.semilogy(np.arange(1, steps + 1), p[:, 1] / p[:, 0],
                            color=f"C{i}", lw=1,
                            label=rule if k == 0 else None)
        ax.axhline(h[0, 0] / h[1, 1], color="k", ls="--",
                   label="1/H_22 over 1/H_11")
        ax.set_title(f"{surface} quadratic, kappa = {KAPPA:g}")
        ax.set_xlabel("step t")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("effective step ratio P_2 / P_1")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig
