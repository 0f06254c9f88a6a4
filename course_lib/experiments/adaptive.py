"""Experiments of chapter 7: adaptive learning rates (Adagrad, RMSProp, Adam, Adadelta).

Every update is a rule of :mod:`course_lib.rules`, run by :func:`course_lib.descent.run` on
2-D surfaces, or by the :mod:`course_lib.torch` and :mod:`course_lib.mxnet` optimizers on a
small network. This module only sets problems up, measures and draws.

Per coordinate, with ``s`` the rule's statistic of past squared gradients::

    Adagrad   s_t = s_{t-1} + g_t^2                      step = lr g_t / (sqrt(s_t) + eps)
    RMSProp   s_t = alpha s_{t-1} + (1 - alpha) g_t^2    step = lr g_t / (sqrt(s_t) + eps)
    Adam      m_t, v_t EMAs of g and g^2                 step = lr m_hat / (sqrt(v_hat) + eps)
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.optimize import brentq

import course_lib.torch as ctorch
from course_lib import _checks, config, descent, rules, surfaces
from course_lib.data import batches, digits, to_mxnet, to_torch
from course_lib.models import mxnet_mlp, torch_mlp, train_mxnet, train_torch
from course_lib.plotting import contour, trajectories
from course_lib.surfaces import Surface

__all__ = [
    "gutter", "two_cycle", "stuck_run", "draw_stuck", "wb_start", "gd_steps_vs_lr",
    "RACE", "race_surfaces", "race", "draw_race", "adagrad_effective_steps",
    "bias_factor", "adam_step_ratio", "first_adam_steps", "NETWORK", "NETWORK_LR",
    "network_size",
    "network_optimizers", "train_network_torch", "train_network_mxnet",
    "adagrad_network_effective_lr", "loglog_slopes", "first_step_ratio_torch", "first_step_ratio_mxnet",
]


# ---------------------------------------------------------------- stuck, gradient large
def _logcosh(y):
    y = np.abs(y)
    return y + np.log1p(np.exp(-2 * y)) - math.log(2.0)


def gutter(steep: float = 10.0, flat: float = 0.05) -> Surface:
    """A valley with steep walls that flatten out:
    ``f(x, y) = flat x^2 / 2 + steep log cosh(y)``.

    Near the floor the curvature across the valley is ``steep`` (so gradient descent needs
    ``lr < 2 / steep``), along it ``flat``. Far from the floor the walls have slope
    ``steep`` only, so a too-large step does not fly off: it bounces between the walls.
    """
    _checks.positive("steep", steep)
    _checks.positive("flat", flat)

    def f(x, y):
        return 0.5 * flat * x * x + steep * _logcosh(y)

    def df(x, y):
        return flat * x, steep * np.tanh(y)

    def d2f(x, y):
        return flat + 0 * x, 0 * x, steep * (1 - np.tanh(y) ** 2)

    return Surface(f"gutter(steep={steep:g}, flat={flat:g})", f, df, d2f, [[0.0, 0.0]],
                   ((-4.0, 4.0), (-2.0, 2.0)))


def two_cycle(steep: float, lr: float) -> dict:
    """The bounce of gradient descent across the gutter when ``lr > 2 / steep``.

    The step maps ``y -> y - lr steep tanh(y)``; a point that lands on ``-y`` satisfies
    ``tanh(y) / y = 2 / (lr steep)``. Returns ``y`` (the half-width of the bounce), the
    gradient norm ``steep tanh(y)`` and the loss ``steep log cosh(y)`` it keeps forever.
    """
    if not lr * steep > 2:
        raise ValueError(f"lr must exceed 2 / steep = {2 / steep:g} for a bounce, got {lr!r}")
    target = 2.0 / (lr * steep)
    y = brentq(lambda y: np.tanh(y) / y - target, 1e-9, 1e3)
    return {"y": y, "grad_norm": steep * math.tanh(y), "loss": steep * float(_logcosh(y))}


def stuck_run(lr: float, steps: int = 300, start=(3.5, 1.5), steep: float = 10.0,
              flat: float = 0.05) -> descent.Result:
    """Gradient descent on :func:`gutter` from ``start`` (loss and gradient norm per step
    are ``result.loss[:, 0]`` and ``result.grad_norm[:, 0]``)."""
    return descent.run("sgd", gutter(steep, flat), np.array([start], dtype=float), steps, lr=lr)


def draw_stuck(runs: dict):
    """Loss and gradient norm per step of several :func:`stuck_run` results
    (``{label: Result}``), on two panels sharing the step axis."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 5), sharex=True)
    for (label, run), color in zip(runs.items(), ("C3", "C0", "C2")):
        top.semilogy(run.loss[:, 0], color=color, label=label)
        bottom.semilogy(run.grad_norm[:, 0], color=color, label=label)
    top.set_ylabel("loss (log scale)")
    top.set_title("gradient descent on the gutter: loss and gradient norm per step")
    bottom.set_ylabel("gradient norm (log scale)")
    bottom.set_xlabel("step")
    for ax in (top, bottom):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ the w/b valley
def wb_start(valley: Surface) -> np.ndarray:
    """The chapter's start on :func:`course_lib.surfaces.wb_valley`: 2.5 left of the best
    ``w`` and 5 above the best ``b``, shape ``(1, 2)``."""
    return valley.minima[:1] + np.array([[-2.5, 5.0]])


def gd_steps_vs_lr(valley, factors, steps: int = 2000, tol: float = 1e-3) -> np.ndarray:
    """Steps gradient descent needs to get within ``tol`` of the minimum of ``valley`` (a
    :class:`~course_lib.surfaces.Quadratic`) at ``lr = factor / L`` for each factor (-1:
    not within ``steps``). All learning rates run at once, one start each."""
    factors = np.asarray(factors, dtype=float)
    out = np.empty(len(factors), dtype=int)
    start = wb_start(valley)
    for i, f in enumerate(factors):
        result = descent.run("sgd", valley, start, steps, lr=f / valley.L, bound=1e6)
        out[i] = result.steps_to(tol)[0]
    return out


# ------------------------------------------------------------------ the race
#: The optimizers compared side by side: label -> (rule, fixed hyperparameters).
RACE = {
    "gradient descent": ("sgd", {}),
    "Adagrad": ("adagrad", {}),
    "RMSProp": ("rmsprop", {}),
    "Adam": ("adam", {}),
    "Adam, no bias correction": ("adam", {"bias_correction": False}),
    "Adadelta": ("adadelta", {}),
}


def race_surfaces() -> dict:
    """name -> (surface, start (1, 2), steps, base learning rate of each RACE entry).

    Gradient descent gets ``1/L`` on the valley (the largest curvature at the minimum);
    the adaptive rules get step sizes in the units of the surface's coordinates (Adam's step
    is about ``lr`` per coordinate). Adadelta keeps ``lr = 1``: it has no learning rate.
    """
    wb = surfaces.wb_valley()
    rb = surfaces.rosenbrock
    gt = gutter()
    return {
        "w/b valley": (wb, wb_start(wb), 300,
                       {"gradient descent": 1.0 / wb.L, "Adagrad": 1.0, "RMSProp": 0.03,
                        "Adam": 0.1, "Adam, no bias correction": 0.1, "Adadelta": 1.0}),
        "gutter": (gt, np.array([[3.5, 1.5]]), 300,
                   {"gradient descent": 0.15, "Adagrad": 1.0, "RMSProp": 0.03,
                    "Adam": 0.1, "Adam, no bias correction": 0.1, "Adadelta": 1.0}),
        "rosenbrock": (rb, np.array([[-1.5, 2.0]]), 500,
                       {"gradient descent": 1e-3, "Adagrad": 0.3, "RMSProp": 0.01,
                        "Adam": 0.03, "Adam, no bias correction": 0.03, "Adadelta": 1.0}),
    }


def race(surface_name: str, lr_scale: float = 1.0) -> dict:
    """Run every :data:`RACE` optimizer on one surface from the same start, each at
    ``lr_scale`` times its base learning rate (Adadelta: always ``lr = 1``).

    Returns ``{label: Result}``.
    """
    table = race_surfaces()
    _checks.one_of("surface_name", surface_name, sorted(table))
    _checks.positive("lr_scale", lr_scale)
    surface, start, steps, base = table[surface_name]
    out = {}
    for label, (rule, hyper) in RACE.items():
        lr = base[label] * (1.0 if rule == "adadelta" else lr_scale)
        out[label] = descent.run(rule, surface, start, steps, lr=lr, bound=1e4, **hyper)
    return out


def draw_race(surface_name: str, lr_scale: float = 1.0):
    """The chapter's comparison: all :data:`RACE` optimizers on one surface (left: paths on
    the contour plot; right: loss above the minimum per step)."""
    surface = race_surfaces()[surface_name][0]
    runs = race(surface_name, lr_scale)
    minimum = float(surface.value(surface.minima).min())
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    contour(left, surface, levels=20, n=120)
    left.set_xlabel("w" if surface_name == "w/b valley" else "x")
    left.set_ylabel("b" if surface_name == "w/b valley" else "y")
    left.set_title(f"{surface_name}: learning rates x {lr_scale:g}", fontsize=10)
    for i, (label, run) in enumerate(runs.items()):
        color = f"C{i}"
        trajectories(left, run.trajectory, color=color, marker="", linewidth=1.0)
        gap = run.loss[:, 0] - minimum
        stop = run.diverged_at[0] if run.diverged[0] else len(gap)
        right.semilogy(np.maximum(gap[:stop], 1e-16), color=color,
                       label=f"{label}: {gap[stop - 1]:.1e}" + (" (diverged)" if run.diverged[0] else ""))
    finite = [np.nanmin(np.maximum(r.loss[:, 0] - minimum, 1e-16)) for r in runs.values()]
    right.set_ylim(max(1e-12, 0.1 * min(finite)), None)
    right.set_xlabel("step")
    right.set_ylabel("loss - minimum (log scale)")
    right.set_title("loss above the minimum (final value in the legend)", fontsize=10)
    right.legend(fontsize="x-small", loc="lower left")
    right.grid(True, which="both", alpha=0.3)
    return fig


# ------------------------------------------------------- Adagrad's shrinking steps
def adagrad_effective_steps(surface: Surface, start, steps: int, lr: float,
                            eps: float = 1e-10):
    """Run :data:`course_lib.rules.adagrad` from ``start`` and record after every step the
    effective learning rate ``lr / (sqrt(s_t) + eps)`` of each coordinate and the length of
    the step actually taken. Returns ``(effective (steps, 2), step_length (steps,))``."""
    x = np.array(start, dtype=float).reshape(2)
    hyper = rules.adagrad.hyper(lr=lr, eps=eps)
    state = rules.adagrad.init(x, rules.NUMPY, **hyper)
    effective, lengths = [], []
    for _ in range(steps):
        before = x.copy()
        rules.adagrad.update(x, surface.grad(x), state, rules.NUMPY, **hyper)
        effective.append(lr / (np.sqrt(state["sum"]) + eps))
        lengths.append(np.linalg.norm(x - before))
    return np.array(effective), np.array(lengths)


# ----------------------------------------------------------- Adam's bias correction
def bias_factor(t, betas=(0.9, 0.999)):
    """How much larger Adam's step is without bias correction, for a constant gradient:
    ``(1 - beta1^t) / sqrt(1 - beta2^t)`` (``m_t = (1 - beta1^t) g``,
    ``v_t = (1 - beta2^t) g^2``)."""
    beta1, beta2 = betas
    t = np.asarray(t, dtype=float)
    return (1 - beta1 ** t) / np.sqrt(1 - beta2 ** t)


def adam_step_ratio(steps: int, betas=(0.9, 0.999), grad=(1.0, -0.5), lr: float = 1e-3,
                    eps: float = 1e-8) -> np.ndarray:
    """Feed the same constant gradient to :data:`course_lib.rules.adam` with and without
    bias correction; return ``|step without| / |step with|`` at each of ``steps`` steps
    (to compare with :func:`bias_factor`)."""
    grad = np.asarray(grad, dtype=float)
    lengths = {}
    for correct in (True, False):
        x = np.zeros_like(grad)
        hyper = rules.adam.hyper(lr=lr, betas=tuple(betas), eps=eps, bias_correction=correct)
        state = rules.adam.init(x, rules.NUMPY, **hyper)
        out = []
        for _ in range(steps):
            before = x.copy()
            rules.adam.update(x, grad, state, rules.NUMPY, **hyper)
            out.append(np.linalg.norm(x - before))
        lengths[correct] = np.array(out)
    return lengths[False] / lengths[True]


def first_adam_steps(surface: Surface, start, steps: int, lr: float, betas=(0.9, 0.999)):
    """Step lengths of Adam with and without bias correction from the same start of a
    surface: ``{True: (steps,), False: (steps,)}`` (keyed by ``bias_correction``)."""
    out = {}
    for correct in (True, False):
        result = descent.run("adam", surface, np.asarray(start, dtype=float).reshape(1, 2), steps,
                             lr=lr, betas=tuple(betas), bias_correction=correct)
        out[correct] = np.linalg.norm(np.diff(result.trajectory[:, 0], axis=0), axis=1)
    return out


# ------------------------------------------------------------------ a small network
#: The network experiment: digits (standardized), a 64-32-10 MLP, minibatches of 32.
NETWORK = dict(hidden=32, batch_size=32)


def network_size() -> dict:
    """Training examples and epochs of the network experiment, by ``COURSE_LIB_MODE``:
    600 examples and 6 epochs in fast mode, all 1347 and 30 epochs in full mode."""
    return dict(n_train=config.pick(600, None), epochs=config.pick(6, 30))

#: Learning rates of the network experiment: one that works for each rule; Adam and its
#: uncorrected twin share theirs (0.03, large enough that the first steps matter).
NETWORK_LR = {"SGD": 0.1, "Adagrad": 0.05, "RMSProp": 3e-3, "Adam": 3e-2,
              "Adam, no bias correction": 3e-2, "Adadelta": 1.0}


def network_optimizers(framework: str) -> dict:
    """``{label: factory}``; ``factory(params)`` builds the optimizer (PyTorch: an iterable
    of parameters; MXNet: ignored, returns an ``mx.optimizer.Optimizer`` for a Trainer)."""
    lr = NETWORK_LR
    if framework == "torch":
        return {
            "SGD": lambda p: ctorch.SGD(p, lr=lr["SGD"]),
            "Adagrad": lambda p: ctorch.Adagrad(p, lr=lr["Adagrad"]),
            "RMSProp": lambda p: ctorch.RMSprop(p, lr=lr["RMSProp"]),
            "Adam": lambda p: ctorch.Adam(p, lr=lr["Adam"]),
            "Adam, no bias correction": lambda p: ctorch.Adam(p, lr=lr["Adam"],
                                                              bias_correction=False),
            "Adadelta": lambda p: ctorch.Adadelta(p, lr=lr["Adadelta"]),
        }
    if framework == "mxnet":
        import course_lib.mxnet as cmx

        return {
            "SGD": lambda p: cmx.SGD(learning_rate=lr["SGD"]),
            "Adagrad": lambda p: cmx.Adagrad(learning_rate=lr["Adagrad"]),
            "RMSProp": lambda p: cmx.RMSProp(learning_rate=lr["RMSProp"]),
            "Adam": lambda p: cmx.Adam(learning_rate=lr["Adam"]),
            "Adam, no bias correction": lambda p: cmx.Adam(learning_rate=lr["Adam"],
                                                          bias_correction=False),
            "Adadelta": lambda p: cmx.AdaDelta(learning_rate=lr["Adadelta"]),
        }
    raise ValueError(f"framework must be 'torch' or 'mxnet', got {framework!r}")


def _digits():
    return digits(n_train=network_size()["n_train"])


def train_network_torch(label: str, seed: int = 0, epochs: int | None = None):
    """Train the :data:`NETWORK` MLP on digits in PyTorch with the optimizer
    ``label`` of :func:`network_optimizers`; returns a
    :class:`course_lib.models.History` (per-epoch training loss and test
    accuracy).
    """
    split = _digits()
    x, y, xv, yv = to_torch(*split)
    model = torch_mlp((64, NETWORK["hidden"], 10), seed=seed).to(x.device)
    optimizer = network_optimizers("torch")[label](model.parameters())
    return train_torch(
        model,
        optimizer,
        x,
        y,
        epochs or network_size()["epochs"],
        NETWORK["batch_size"],
        x_val=xv,
        y_val=yv,
        seed=seed,
    )


def train_network_mxnet(label: str, seed: int = 0, epochs: int | None = None):
    """The Gluon twin of :func:`train_network_torch` (a ``gluon.Trainer`` around
    the :mod:`course_lib.mxnet` optimizer ``label``).
    """
    import course_lib.mxnet as cmx
    import mxnet as mx

    split = _digits()
    x, y, xv, yv = to_mxnet(*split)
    net = mxnet_mlp((64, NETWORK["hidden"], 10), seed=seed, ctx=x.context)
    trainer = mx.gluon.Trainer(
        net.collect_params(), network_optimizers("mxnet")[label](None)
    )
    return train_mxnet(
        net,
        trainer,
        x,
        y,
        epochs or network_size()["epochs"],
        NETWORK["batch_size"],
        x_val=xv,
        y_val=yv,
        seed=seed,
    )


def adagrad_network_effective_lr(steps: int = 100, seed: int = 0,
                                 per_weight: bool = False) -> np.ndarray:
    """Train the network with :class:`course_lib.torch.Adagrad` for ``steps`` minibatches
    and return, after each, the quartiles (25, 50, 75 %) over all weights of the effective
    learning rate ``lr / (sqrt(s) + eps)`` read from the optimizer's state: shape
    ``(steps, 3)``. With ``per_weight``, every weight's: shape ``(steps, n_weights)``."""
    split = _digits()
    x, y = to_torch(split.x_train, split.y_train)
    model = torch_mlp((64, NETWORK["hidden"], 10), seed=seed).to(x.device)
    lr, eps = NETWORK_LR["Adagrad"], 1e-10
    optimizer = ctorch.Adagrad(model.parameters(), lr=lr, eps=eps)
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < steps:
        for idx in batches(len(y), NETWORK["batch_size"], rng):
            idx = torch.as_tensor(idx, device=x.device)
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
            sums = torch.cat([optimizer.state[p]["sum"].flatten() for p in model.parameters()])
            effective = lr / (sums.sqrt() + eps)
            if per_weight:
                out.append(effective.double().cpu().numpy())
            else:
                out.append(torch.quantile(effective.double().cpu(),
                                          torch.tensor([0.25, 0.5, 0.75],
                                                       dtype=torch.float64)).numpy())
            if len(out) == steps:
                break
    return np.array(out)


def loglog_slopes(values, spans) -> list:
    """The log-log slope ``log(v_b / v_a) / log(b / a)`` of ``values`` (``v_t`` at
    step ``t = 1, 2, ...``) over each span ``(a, b)`` of steps: -0.5 for ``1/sqrt(t)``."""
    values = np.asarray(values, dtype=float)
    for a, b in spans:
        if not 1 <= a < b <= len(values):
            raise ValueError(f"span ({a}, {b}) must satisfy 1 <= a < b <= {len(values)}")
    return [float(np.log(values[b - 1] / values[a - 1]) / np.log(b / a))
            for a, b in spans]


def _param_change_torch(optimizer_factory, seed: int):
    split = _digits()
    x, y = to_torch(split.x_train[:NETWORK["batch_size"]], split.y_train[:NETWORK["batch_size"]])
    model = torch_mlp((64, NETWORK["hidden"], 10), seed=seed).to(x.device)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = optimizer_factory(model.parameters())
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    return float(torch.sqrt(sum(((p.detach() - b) ** 2).sum()
                                for p, b in zip(model.parameters(), before))))


def first_step_ratio_torch(seed: int = 0) -> float:
    """``|first step without bias correction| / |first step with it|`` of Adam on the
    network in PyTorch (same weights, same minibatch). Prediction:
    ``(1 - beta1) / sqrt(1 - beta2)`` = 3.16 for the defaults."""
    factories = network_optimizers("torch")
    return (_param_change_torch(factories["Adam, no bias correction"], seed)
            / _param_change_torch(factories["Adam"], seed))


def _param_change_mxnet(optimizer, seed: int):
    import course_lib.mxnet as cmx
    import mxnet as mx

    split = _digits()
    n = NETWORK["batch_size"]
    x, y = to_mxnet(split.x_train[:n], split.y_train[:n])
    net = mxnet_mlp((64, NETWORK["hidden"], 10), seed=seed, ctx=x.context)
    params = list(net.collect_params().values())
    before = [p.data().copy() for p in params]
    trainer = mx.gluon.Trainer(net.collect_params(), optimizer)
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    with mx.autograd.record():
        loss = loss_fn(net(x), y)
    loss.backward()
    trainer.step(n)
    return math.sqrt(sum(float(((p.data() - b) ** 2).sum().asscalar())
                         for p, b in zip(params, before)))


def first_step_ratio_mxnet(seed: int = 0) -> float:
    """The Gluon twin of :func:`first_step_ratio_torch`."""
    factories = network_optimizers("mxnet")
    return (_param_change_mxnet(factories["Adam, no bias correction"](None), seed)
            / _param_change_mxnet(factories["Adam"](None), seed))
