"""Experiments of chapter 8: learning-rate schedules.

Four experiments, all built on :mod:`course_lib.schedules` (the schedule functions) and
:mod:`course_lib.rules` (the update rules):

* Adagrad's late burst. With ``sigma`` the root *mean* square of all past gradients (the
  form of Adagrad in Hung-yi Lee's Machine Learning course, NTU 2021), ``eta / sigma`` grows
  once the gradients stay small, until the path jumps out of the valley. :func:`rms_adagrad`
  runs that form on a 2-D surface with the numpy engine (the chapter measures the bursts on
  its page); a decaying ``eta_t`` fixes them.
* How fast to decay: batch-1 SGD on the course's regression under schedules that break one
  or the other of Robbins and Monro's conditions (:func:`sgd_distances`).
* The shapes of step, exponential, cosine, linear warm-up and inverse-square-root schedules
  (:func:`compose`, :func:`draw_schedule` for a Playground).
* Linear warm-up for Adam early in the training of a small digits network, in PyTorch
  (:func:`warmup_run_torch`) and MXNet Gluon (:func:`warmup_run_mxnet`): the loss spike of
  the first steps, measured with and without warm-up.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

import course_lib.torch as ctorch
from course_lib import _checks, descent, rules, schedules
from course_lib.data import digits, synthetic_regression, to_mxnet, to_torch
from course_lib.models import mxnet_mlp, torch_mlp
from course_lib.plotting import contour, trajectories
from course_lib.surfaces import Surface, wb_valley

__all__ = [
    "BURST", "burst_surface", "burst_start", "rms_adagrad", "rms_sigma", "burst_decays",
    "draw_burst",
    "ROBBINS_MONRO", "sgd_distances", "rms_distance", "draw_robbins_monro",
    "DECAYS", "compose", "adam_regression", "settle_distance", "draw_schedule", "draw_all_shapes",
    "WARMUP", "warmup_batches", "warmup_run_torch", "warmup_run_mxnet", "warmup_sweep",
    "early_spike", "first_step_torch", "draw_warmup",
]


# ----------------------------------------------------------------- Adagrad's late burst
#: The burst experiment: Adagrad (RMS form) on the w/b valley of chapter 7.
BURST = dict(eta=0.1, offset=(-2.5, 5.5), steps=3000, arrive_tol=1e-6, burst_tol=1e-2)


def burst_surface() -> Surface:
    """The elongated w/b valley (:func:`course_lib.surfaces.wb_valley`, condition about 140)."""
    return wb_valley()


def burst_start(surface: Surface | None = None) -> np.ndarray:
    """The start of the burst experiment: the valley's minimum + ``BURST["offset"]``."""
    surface = burst_surface() if surface is None else surface
    return surface.minima[0] + np.asarray(BURST["offset"])


def _as_schedule(eta, name="eta"):
    if callable(eta):
        return eta
    return schedules.constant(_checks.number(name, eta, 0, low_open=True,
                                             requirement="a number > 0 or a function t -> eta_t"))


def rms_adagrad(surface: Surface, start, steps: int, eta=0.1) -> descent.Result:
    """Adagrad in its root-mean-square form (as in Hung-yi Lee's course), run by the numpy
    engine::

        sigma_t = sqrt( 1/(t+1) sum_{k<=t} g_k^2 )        (per coordinate)
        x_{t+1} = x_t - eta_t / sigma_t * g_t

    Since ``sigma_t = sqrt(sum g^2) / sqrt(t+1)``, this is :data:`course_lib.rules.adagrad`
    (``s = sum g^2``, step ``lr g / sqrt(s)``) with ``lr_t = eta_t sqrt(t+1)``; ``eta`` is a
    number or a schedule ``t -> eta_t``. With ``eta_t = eta / sqrt(t+1)`` it *is* torch's
    Adagrad.
    """
    schedule = _as_schedule(eta)
    _checks.integer("steps", steps, 1)
    return descent.run("adagrad", surface, np.asarray(start, dtype=float).reshape(1, 2), steps,
                       schedule=lambda t: schedule(t) * math.sqrt(t + 1))


def rms_sigma(result: descent.Result) -> np.ndarray:
    """``sigma_t`` of :func:`rms_adagrad` recomputed from the path: the root mean square of
    the gradients at steps ``0..t``, shape ``(steps, 2)`` (first start only)."""
    g = result.surface.grad(result.trajectory[:-1, 0])
    return np.sqrt(np.cumsum(g ** 2, axis=0) / np.arange(1, len(g) + 1)[:, None])


def burst_decays(eta: float | None = None, steps: int | None = None) -> dict:
    """The ``eta_t`` the chapter compares: constant, ``eta / sqrt(t+1)`` (torch's Adagrad),
    step (halve every 500 steps), exponential (0.998 per step) and cosine over the run."""
    eta = BURST["eta"] if eta is None else eta
    steps = BURST["steps"] if steps is None else steps
    return {
        "constant": schedules.constant(eta),
        "eta/sqrt(t+1) (torch's Adagrad)": lambda t: eta / math.sqrt(t + 1),
        "step: x0.5 every 500": schedules.step_decay(eta, 500, 0.5),
        "exponential: x0.998 per step": schedules.exponential(eta, 0.998),
        "cosine over the run": schedules.cosine(eta, steps),
    }


def draw_burst(decays=("step: x0.5 every 500", "constant")):
    """Three panels for the decays named: the paths on the valley (x = w, y = b), the loss
    above its minimum per step, and ``eta_t / sigma_t`` of the ``b`` coordinate."""
    surface, all_decays = burst_surface(), burst_decays()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    contour(axes[0], surface)
    fmin = surface.value(surface.minima[0])
    for i, name in enumerate(decays):
        _checks.one_of("decays", name, sorted(all_decays))
        eta_t = all_decays[name]
        result = rms_adagrad(surface, burst_start(surface), BURST["steps"], eta_t)
        color = f"C{3 if name == 'constant' else i}"
        trajectories(axes[0], result.trajectory, label=name, color=color, marker=None,
                     zorder=3 + i)
        axes[1].semilogy(np.maximum(result.loss[:, 0] - fmin, 1e-16), color=color, label=name)
        etas = np.array([eta_t(t) for t in range(BURST["steps"])])
        axes[2].semilogy(etas / rms_sigma(result)[:, 1], color=color, label=name)
    axes[0].set_xlabel("w"); axes[0].set_ylabel("b")
    axes[0].set_title("Adagrad (RMS form) on the w/b valley")
    axes[0].legend(fontsize=8, loc="upper right")
    axes[1].set_xlabel("step t"); axes[1].set_ylabel("loss - minimum (log scale)")
    axes[1].set_title("bursts after reaching the minimum")
    axes[2].set_xlabel("step t"); axes[2].set_ylabel("eta_t / sigma_t of b (log scale)")
    axes[2].set_title("the effective learning rate of b")
    axes[2].legend(fontsize=8)
    fig.subplots_adjust(wspace=0.3)
    return fig


# ------------------------------------------------------------------ schedule shapes
#: The decays :func:`compose` knows.
DECAYS = ("constant", "step", "exponential", "cosine", "inverse sqrt")


def compose(decay: str, warmup: int = 0, lr: float = 1e-3, total: int = 1000):
    """A schedule ``t -> lr_t`` from :mod:`course_lib.schedules` peaking at ``lr``:

    * ``"constant"``: ``lr``;
    * ``"step"``: ``lr * 0.5 ** floor(t / (total / 4))``;
    * ``"exponential"``: ``lr * gamma ** t`` with ``gamma ** total = 0.01``;
    * ``"cosine"``: ``lr (1 + cos(pi t / total)) / 2``;
    * ``"inverse sqrt"``: the transformer's ``min(s^-1/2, s w^-3/2)`` (``s = t + 1``) scaled
      so that its peak, at ``s = w = max(warmup, 1)``, is ``lr``; it has its own warm-up.

    Other decays get linear warm-up over ``warmup`` steps when ``warmup > 0``
    (:func:`course_lib.schedules.linear_warmup`).
    """
    _checks.one_of("decay", decay, DECAYS)
    _checks.integer("warmup", warmup, 0)
    _checks.integer("total", total, 4)
    _checks.positive("lr", lr)
    if decay == "inverse sqrt":
        w = max(int(warmup), 1)
        d_model = 512
        return schedules.inverse_sqrt(d_model, w, scale=lr * math.sqrt(d_model * w))
    base = {
        "constant": lambda: schedules.constant(lr),
        "step": lambda: schedules.step_decay(lr, max(total // 4, 1), 0.5),
        "exponential": lambda: schedules.exponential(lr, 0.01 ** (1 / total)),
        "cosine": lambda: schedules.cosine(lr, total),
    }[decay]()
    return schedules.linear_warmup(base, int(warmup)) if warmup else base


def draw_all_shapes(lr: float = 1e-3, total: int = 1000, warmup: int = 100):
    """One figure with every decay of :data:`DECAYS` (no warm-up) and, dashed, linear
    warm-up in front of cosine, over ``total`` steps."""
    t = np.arange(total)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for i, decay in enumerate(DECAYS):
        w = warmup if decay == "inverse sqrt" else 0
        label = decay + (f" (warm-up {warmup})" if w else "")
        ax.plot(t, [compose(decay, w, lr, total)(k) for k in t], color=f"C{i}", label=label)
    ax.plot(t, [compose("cosine", warmup, lr, total)(k) for k in t], "--", color="C3",
            label=f"linear warm-up {warmup} + cosine")
    ax.set_xlabel("step t"); ax.set_ylabel("learning rate")
    ax.set_title(f"Schedules peaking at lr = {lr:g} over {total} steps")
    ax.legend(fontsize=8)
    return fig


def adam_regression(schedule, steps: int = 300, batch_size: int = 10, seed: int = 0) -> np.ndarray:
    """Adam (:data:`course_lib.rules.adam`, numpy) with learning rate ``schedule(t)`` on the
    course's linear regression (:func:`course_lib.data.synthetic_regression`: 1000
    examples, ``w = [2, -3.4]``, ``b = 4.2``), loss ``mean((w.x + b - y)^2)`` on minibatches
    of ``batch_size`` drawn at random, from ``w = b = 0``. Returns the distance of ``(w, b)``
    to the least-squares solution after each step, shape ``(steps + 1,)``."""
    _checks.function("schedule", schedule, "a function t -> lr")
    x, y = synthetic_regression()
    x, y = x.astype(np.float64), y.astype(np.float64)
    design = np.hstack([x, np.ones((len(x), 1))])
    best = np.linalg.lstsq(design, y, rcond=None)[0]
    rng = np.random.default_rng(seed)
    theta = np.zeros(3)
    hyper = rules.adam.hyper(lr=schedule(0))
    state = rules.adam.init(theta, rules.NUMPY, **hyper)
    distance = [np.linalg.norm(theta - best)]
    for t in range(steps):
        idx = rng.integers(0, len(y), batch_size)
        residual = design[idx] @ theta - y[idx]
        grad = 2 * design[idx].T @ residual / batch_size
        hyper["lr"] = schedule(t)
        rules.adam.update(theta, grad, state, rules.NUMPY, **hyper)
        distance.append(np.linalg.norm(theta - best))
    return np.array(distance)


def settle_distance(decay: str, warmup: int = 0, lr: float = 0.1, total: int = 300,
                    seeds=range(5)) -> float:
    """Median over ``seeds`` of the final distance of :func:`adam_regression` run with
    ``compose(decay, warmup, lr, total)`` for ``total`` steps."""
    schedule = compose(decay, warmup, lr, total)
    return float(np.median([adam_regression(schedule, total, seed=seed)[-1] for seed in seeds]))


#: The Robbins-Monro experiment: batch-1 SGD on the regression with
#: ``eta_t = eta0 / (1 + t / tau) ** power``, one run per seed, from ``theta = 0``.
ROBBINS_MONRO = dict(eta0=0.1, tau=20, powers=(0, 0.5, 1, 2), steps=10_000,
                     seeds=tuple(range(5)))


def _regression_rows():
    """The course's regression as rows ``a_i = [x_i, 1]``, targets, least-squares solution."""
    x, y = synthetic_regression()
    a = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    y = y.astype(np.float64)
    return a, y, np.linalg.lstsq(a, y, rcond=None)[0]


def sgd_distances(schedules_, steps: int, seeds) -> np.ndarray:
    """Batch-1 SGD, ``theta <- theta - eta_t (a_i . theta - y_i) a_i`` with
    ``i`` drawn at random (one stream per seed, the same for every schedule), on
    the course's regression from ``theta = 0``, for each schedule ``t -> eta_t``
    of ``schedules_``. Returns ``|theta_t - theta*|`` (``theta*``: least
    squares), shape ``(len(schedules_), len(seeds), steps + 1)``.
    """
    for f in schedules_:
        _checks.function("schedules", f, "functions t -> lr")
    a, y, best = _regression_rows()
    seeds = list(seeds)
    picks = np.stack(
        [np.random.default_rng(s).integers(0, len(y), steps) for s in seeds]
    )
    picks = np.tile(picks, (len(schedules_), 1))  # row = (schedule, seed)
    eta = np.repeat(
        [[f(t) for t in range(steps)] for f in schedules_], len(seeds), axis=0
    )
    theta = np.zeros((len(picks), a.shape[1]))
    distance = np.empty((len(picks), steps + 1))
    distance[:, 0] = np.linalg.norm(theta - best, axis=1)
    for t in range(steps):
        rows = a[picks[:, t]]
        residual = np.einsum("ij,ij->i", rows, theta) - y[picks[:, t]]
        theta -= (eta[:, t] * residual)[
            :, None
        ] * rows  # the SGD step of every run
        distance[:, t + 1] = np.linalg.norm(theta - best, axis=1)
    return distance.reshape(len(schedules_), len(seeds), steps + 1)


def rms_distance(distances, start: int, stop: int) -> np.ndarray:
    """Root mean square over steps ``start..stop`` of :func:`sgd_distances`' output (last
    axis): one number per run, steadier than the distance at a single step."""
    d = np.asarray(distances)[..., start:stop + 1]
    return np.sqrt(np.mean(d ** 2, axis=-1))


def draw_robbins_monro(distances, labels):
    """Distance to the solution against the step (log-log): the median over seeds of each
    schedule of :func:`sgd_distances`, with the band from the lowest to the highest seed."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    steps = np.arange(distances.shape[-1])
    for i, (runs, label) in enumerate(zip(distances, labels)):
        ax.loglog(steps[1:], np.median(runs, axis=0)[1:], color=f"C{i}", label=label)
        ax.fill_between(steps[1:], runs.min(axis=0)[1:], runs.max(axis=0)[1:],
                        color=f"C{i}", alpha=0.2, lw=0)
    ax.set_xlabel("step t")
    ax.set_ylabel("distance |theta_t - theta*| (log)")
    ax.set_title(f"Batch-1 SGD on the regression, median of {distances.shape[1]} seeds")
    ax.legend(fontsize=8, loc="lower left")
    return fig


def _plain_log_ticks(ax):
    """Label a log y axis as 1e-03 ... without mathtext (drawing frames is several times
    faster) and without minor labels."""
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def draw_schedule(decay: str = "cosine", warmup: int = 0, lr: float = 0.1, total: int = 300):
    """For a Playground: left, the learning rate of ``compose(decay, warmup, lr, total)``;
    right, :func:`adam_regression` with it and with the constant ``lr``: distance to the
    least-squares solution per step."""
    schedule = compose(decay, warmup, lr, total)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    t = np.arange(total)
    left.plot(t, [schedule(k) for k in t], color="C0")
    left.set_ylim(0, lr * 1.08)
    left.set_xlabel("step t"); left.set_ylabel("learning rate")
    left.set_title(f"{decay}, warm-up {warmup}: peak {lr:g}")
    for name, sched, color in (("constant lr", schedules.constant(lr), "0.6"),
                               ("this schedule", schedule, "C0")):
        right.semilogy(adam_regression(sched, total), color=color, label=name)
    right.set_ylim(1e-4, 10)
    _plain_log_ticks(right)
    right.set_xlabel("step t"); right.set_ylabel("distance to the solution (log)")
    right.set_title("Adam, linear regression, batches of 10")
    right.legend(fontsize=8, loc="lower left")
    fig.subplots_adjust(wspace=0.3)
    return fig


# --------------------------------------------------------------- warm-up for Adam
#: The warm-up experiment: a 64-256-256-10 ReLU network on digits, Adam, batches of 64
#: drawn at random, linear warm-up over ``warmup`` steps or none; the first ``steps``
#: steps (warm-up is about the start), three seeds.
WARMUP = dict(sizes=(64, 256, 256, 10), batch_size=64, warmup=20, early=20,
              lrs=(0.01, 0.03, 0.1), steps=40,
              seeds=(0, 1, 2))


def _check_run(lr, warmup, steps):
    _checks.positive("lr", lr)
    _checks.integer("warmup", warmup, 0)
    _checks.integer("steps", steps, 1)


def _warmup_schedule(lr, warmup):
    base = schedules.constant(lr)
    return schedules.linear_warmup(base, int(warmup)) if warmup else base


def warmup_batches(steps: int, seed: int = 0):
    """The data and the minibatch indices every run of a seed uses: ``(split, idx)`` with
    ``idx`` of shape ``(steps, batch_size)`` drawn with replacement (numpy, seeded), so
    that PyTorch and MXNet see the same batches."""
    split = digits()
    rng = np.random.default_rng(seed)
    return split, rng.integers(0, len(split.y_train), size=(steps, WARMUP["batch_size"]))


def warmup_run_torch(
    lr: float,
    warmup: int,
    seed: int = 0,
    steps: int | None = None,
    normalized_steps: bool = False,
):
    """Train the :data:`WARMUP` network with :class:`course_lib.torch.Adam` and
    the schedule ``linear_warmup(constant(lr), warmup)`` (plain ``lr`` when
    ``warmup == 0``), handed to ``torch.optim.lr_scheduler.LambdaLR`` by
    :func:`course_lib.schedules.to_torch` and stepped after every update.
    Returns the minibatch loss of each step, shape ``(steps,)``.

    With ``normalized_steps``, also returns the quartiles (25, 50, 75 %) over
    all weights of Adam's step before the learning rate, ``|m_hat| /
    (sqrt(v_hat) + eps)``, read from the optimizer's state after each step:
    ``(losses, quartiles of shape (steps, 3))``.
    """
    steps = WARMUP["steps"] if steps is None else steps
    _check_run(lr, warmup, steps)
    split, idx = warmup_batches(steps, seed)
    x, y = to_torch(split.x_train, split.y_train)
    model = torch_mlp(WARMUP["sizes"], seed=seed).to(x.device)
    optimizer = ctorch.Adam(model.parameters(), lr=lr)
    scheduler = schedules.to_torch(optimizer, _warmup_schedule(lr, warmup))
    losses, quartiles = np.empty(steps), []
    with ctorch.one_thread():
        for t in range(steps):
            batch = torch.as_tensor(idx[t], device=x.device)
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses[t] = loss.item()
            if normalized_steps:
                quartiles.append(_adam_normalized_step(optimizer))
    return (losses, np.array(quartiles)) if normalized_steps else losses


def _adam_normalized_step(optimizer, eps: float = 1e-8) -> np.ndarray:
    ratios = []
    for group in optimizer.param_groups:
        beta1, beta2 = group["betas"]
        for p in group["params"]:
            state = optimizer.state[p]
            t = float(state["step"])
            m_hat = state["exp_avg"] / (1 - beta1 ** t)
            v_hat = state["exp_avg_sq"] / (1 - beta2 ** t)
            keep = v_hat > 0
            ratios.append((m_hat.abs() / (v_hat.sqrt() + eps))[keep].flatten())
    ratios = torch.cat(ratios).double().cpu()
    return torch.quantile(ratios, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)).numpy()


def warmup_run_mxnet(
    lr: float, warmup: int, seed: int = 0, steps: int | None = None
) -> np.ndarray:
    """The Gluon twin of :func:`warmup_run_torch`:
    :class:`course_lib.mxnet.Adam` with
    ``lr_scheduler=course_lib.schedules.to_mxnet(schedule)`` in a
    ``gluon.Trainer``, the same batches. MXNet initializes with Xavier's rule
    (:func:`course_lib.models.mxnet_mlp`), so its numbers differ from PyTorch's.
    """
    import course_lib.mxnet as cmx

    mx = cmx.mx
    steps = WARMUP["steps"] if steps is None else steps
    _check_run(lr, warmup, steps)
    split, idx = warmup_batches(steps, seed)
    x, y = to_mxnet(split.x_train, split.y_train)
    net = mxnet_mlp(WARMUP["sizes"], seed=seed, ctx=x.context)
    scheduler = schedules.to_mxnet(_warmup_schedule(lr, warmup))
    # learning_rate must equal the scheduler's base_lr (its value at step 0),
    # or MXNet prints a warning and overwrites base_lr
    optimizer = cmx.Adam(
        learning_rate=scheduler.base_lr, lr_scheduler=scheduler
    )
    trainer = mx.gluon.Trainer(net.collect_params(), optimizer)
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    losses = np.empty(steps)
    for t in range(steps):
        batch = mx.nd.array(idx[t], ctx=x.context, dtype="int64")
        with mx.autograd.record():
            loss = loss_fn(net(x[batch]), y[batch])
        loss.backward()
        trainer.step(len(idx[t]))
        losses[t] = float(loss.mean().asscalar())
    return losses


def warmup_sweep(framework: str = "torch", lrs=None, warmups=None, seeds=None,
                 steps: int | None = None) -> dict:
    """``{(lr, warmup): losses of shape (len(seeds), steps)}`` for every learning rate of
    ``lrs`` (default ``WARMUP["lrs"]``) and warm-up length of ``warmups`` (default
    ``(0, WARMUP["warmup"])``)."""
    runners = {"torch": warmup_run_torch, "mxnet": warmup_run_mxnet}
    _checks.one_of("framework", framework, tuple(runners))
    lrs = WARMUP["lrs"] if lrs is None else lrs
    warmups = (0, WARMUP["warmup"]) if warmups is None else warmups
    seeds = WARMUP["seeds"] if seeds is None else seeds
    return {(lr, w): np.array([runners[framework](lr, w, seed, steps) for seed in seeds])
            for lr in lrs for w in warmups}


def early_spike(losses, early: int | None = None) -> np.ndarray:
    """The largest minibatch loss of the first ``early`` steps (default ``WARMUP["early"]``),
    per seed: ``losses`` has shape ``(seeds, steps)``."""
    early = WARMUP["early"] if early is None else early
    return np.asarray(losses)[:, :early].max(axis=1)


def first_step_torch(lr: float = 0.1, seed: int = 0) -> np.ndarray:
    """``|w_1 - w_0|`` of every weight after one step of :class:`course_lib.torch.Adam` on the
    :data:`WARMUP` network (first minibatch of ``seed``), for the weights whose gradient is
    nonzero. Adam's first step is ``lr g / (|g| + eps)``: every such weight moves by ``lr``."""
    split, idx = warmup_batches(1, seed)
    x, y = to_torch(split.x_train[idx[0]], split.y_train[idx[0]])
    model = torch_mlp(WARMUP["sizes"], seed=seed).to(x.device)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = ctorch.Adam(model.parameters(), lr=lr)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad.detach().clone() for p in model.parameters()]
    optimizer.step()
    moved = [((p.detach() - b).abs()[g.abs() > 1e-6]).flatten()
             for p, b, g in zip(model.parameters(), before, grads)]
    return torch.cat(moved).double().cpu().numpy()


def draw_warmup(sweeps: dict):
    """One panel per framework (``{"PyTorch": sweep, "MXNet": sweep}``, each from
    :func:`warmup_sweep`): the mean minibatch loss per step over the seeds, one color per
    learning rate, solid without warm-up and dashed with it; the black line is the loss of
    a uniform guess, log 10."""
    fig, axes = plt.subplots(1, len(sweeps), figsize=(6.5 * len(sweeps), 3.8), sharey=True,
                             squeeze=False)
    for ax, (name, sweep) in zip(axes[0], sweeps.items()):
        lrs = sorted({lr for lr, _ in sweep})
        for (lr, warmup), runs in sorted(sweep.items()):
            ax.plot(np.arange(1, runs.shape[1] + 1), runs.mean(axis=0), "--" if warmup else "-",
                    color=f"C{lrs.index(lr)}",
                    label=f"lr {lr:g}, " + (f"warm-up {warmup}" if warmup else "no warm-up"))
        ax.axhline(math.log(10), color="k", lw=0.6)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        n_seeds = next(iter(sweep.values())).shape[0]
        ax.set_title(f"{name}: Adam on digits, mean of {n_seeds} seeds")
    axes[0, 0].set_ylabel("minibatch cross-entropy (log scale)")
    axes[0, -1].legend(fontsize=8, ncol=2)
    return fig
