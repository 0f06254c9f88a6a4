"""Adam's step against the gradient, weight by weight (chapter 7).

Adam moves a weight by ``eta m_hat / (sqrt(v_hat) + eps)``. When the weight's
gradient holds steady over the averaging windows, ``m_hat ~ g`` and
``sqrt(v_hat) ~ |g|``: the step is ``eta sign(g)``, whatever the size of
``g``. When it fluctuates (minibatch noise) or drifts, ``|m_hat| / sqrt(v_hat)``
is a signal-to-noise ratio below 1, still not the gradient's size.

:func:`steps_and_gradients` trains the digits MLP of the chapter with
:class:`course_lib.torch.Adam` and returns, for every weight, ``|g_t|`` and
``|theta_{t+1} - theta_t| / eta`` at step ``t``; :func:`summary` reduces them
to the chapter's numbers.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

import course_lib.torch as ctorch
from course_lib.data import digits, to_torch
from course_lib.experiments.adaptive import NETWORK, network_size
from course_lib.models import torch_mlp

#: The two settings of the chapter: full batch (steady gradients) read at step
#: 10, minibatches of 32 read at step 100.
SETTINGS = {"full batch, step 10": (None, 10),
            "minibatches of 32, step 100": (32, 100)}
ETA = 1e-3
SEEDS = (0, 1, 2)


def steps_and_gradients(batch_size: int | None, step: int, seed: int = 0,
                        eta: float = ETA):
    """``(|g|, |step| / eta)`` of every weight at Adam step ``step`` (1-based)
    on the chapter's 64-32-10 digits network; ``batch_size=None`` is the full
    training set. Weights whose gradient is exactly 0 (dead units) are left
    out."""
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step!r}")
    split = digits(n_train=network_size()["n_train"])
    x, y = to_torch(split.x_train, split.y_train)
    n = len(y)
    model = torch_mlp((64, NETWORK["hidden"], 10), seed=seed).to(x.device)
    params = list(model.parameters())
    optimizer = ctorch.Adam(params, lr=eta)
    rng = np.random.default_rng(seed)
    with ctorch.one_thread():
        for _ in range(step):
            idx = (slice(None) if batch_size is None else torch.as_tensor(
                rng.choice(n, batch_size, replace=False), device=x.device))
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            before = [p.detach().clone() for p in params]
            optimizer.step()
    g = torch.cat([p.grad.flatten() for p in params])
    moved = torch.cat([(p.detach() - b).flatten()
                       for p, b in zip(params, before)])
    g = g.abs().double().cpu().numpy()
    ratio = moved.abs().double().cpu().numpy() / eta
    keep = g > 0
    return g[keep], ratio[keep]


def summary(g, ratio) -> dict:
    """Percentiles and the log-log slope of ``ratio`` against ``g``."""
    slope = np.polyfit(np.log10(g), np.log10(np.maximum(ratio, 1e-12)), 1)[0]
    return dict(
        n=len(g),
        g_span=float(np.percentile(g, 99) / np.percentile(g, 1)),
        ratio_quartiles=np.percentile(ratio, [25, 50, 75]),
        in_band=float(np.mean((ratio >= 0.5) & (ratio <= 1.05))),
        at_most_one=float(np.mean(ratio <= 1.05)),
        slope=float(slope))


def collect(seeds=SEEDS) -> dict:
    """``{setting: [(g, ratio) per seed]}`` for the :data:`SETTINGS`."""
    return {label: [steps_and_gradients(batch, step, seed) for seed in seeds]
            for label, (batch, step) in SETTINGS.items()}


def draw(runs: dict):
    """One 2-D histogram per setting (all seeds pooled): ``|step| / eta``
    against ``|g|``, with gradient descent's ``|step| / eta = |g|``."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, (label, pairs) in zip(axes, runs.items()):
        g = np.concatenate([p[0] for p in pairs])
        ratio = np.concatenate([p[1] for p in pairs])
        x_edges = np.geomspace(g.min(), g.max(), 50)
        y_edges = np.geomspace(1e-3, 3.0, 50)
        ax.hist2d(g, np.clip(ratio, 1e-3, 3.0), bins=(x_edges, y_edges),
                  cmap="Blues", cmin=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.plot(x_edges, x_edges, "k--", label="gradient descent: |g|")
        ax.axhline(1.0, color="C3", lw=1, label="Adam, steady: 1")
        ax.set_xlabel("|gradient| of the weight")
        ax.set_title(f"Adam, lr {ETA:g}: {label}\n"
                     f"{len(pairs)} seeds, {len(g)} weights")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("|step| / learning rate")
    axes[0].legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig
