"""Experiments of chapter 12: the sampling view of optimization.

Two settings:

* a two-parameter logistic regression (:func:`logistic_toy`): its loss is a smooth,
  non-quadratic 2-D surface on which ``p(Delta | theta)`` can be drawn and its mean compared
  with the gradient and Newton steps, and its error rate is a piecewise-constant metric for
  the importance-sampling optimizer;
* a small MLP on the digits (:func:`digits_tensors`, :func:`pretrained_mlp`), trained on
  cross-entropy and then on accuracy directly, by importance sampling and by REINFORCE
  (:func:`compare_on_digits`, PyTorch); :func:`compare_on_digits_mxnet` is the Gluon twin
  of its importance-sampling and cross-entropy runs.

The numbers the chapter prints (and tests/test_claims_12_sampling.py asserts) come from
these functions.
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.nn.utils import parameters_to_vector

import course_lib.torch as ctorch
from course_lib import data, descent, models, rules, sampling as S
from course_lib.plotting import contour
from course_lib.surfaces import Surface

__all__ = ["LogisticToy", "logistic_toy", "density_grid", "expected_vs_alpha",
           "first_order_vs_alpha", "draw_density", "is_path", "error_map", "draw_is_path", "draw_limits",
           "compare_on_digits", "compare_on_digits_mxnet", "draw_digits",
           "digits_tensors", "pretrained_mlp", "SamplerRun", "train_importance_sampling",
           "train_cross_entropy_torch", "train_cross_entropy_mxnet", "train_reinforce", "estimator_spread", "compare_bases",
           "exact_expected_accuracy_gradient"]


# ------------------------------------------------------------------ the 2-D logistic toy
class LogisticToy(NamedTuple):
    """A two-weight logistic regression: its loss surface, its data and a chosen point."""

    surface: Surface      # mean logistic loss + ridge, with its minimum in .minima
    x: np.ndarray         # (n, 2) features
    y: np.ndarray         # (n,) labels in {-1, +1}
    theta: np.ndarray     # the point where the chapter looks at p(Delta | theta)

    def error(self, w) -> np.ndarray:
        """Error rate of the classifier ``sign(x . w)``; vectorized over leading dims of ``w``."""
        w = np.asarray(w, dtype=float)
        return (np.sign(w @ self.x.T) != self.y).mean(axis=-1)


def logistic_toy(n: int = 40, correlation: float = 0.9, ridge: float = 0.02,
                 scale=(1.0, 2.5), seed: int = 0) -> LogisticToy:
    """Mean logistic loss ``mean log(1 + exp(-y x.w)) + ridge |w|^2 / 2`` of ``n`` points with
    two correlated features of different scales: a convex but not quadratic surface whose
    Hessian is ill conditioned (so gradient and Newton directions differ)."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(n)
    v = correlation * u + np.sqrt(1 - correlation ** 2) * rng.standard_normal(n)
    z = np.stack([u, v], 1)
    x = z * np.asarray(scale, dtype=float)
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-z @ np.array([2.0, -1.0]))), 1.0, -1.0)

    def margins(a, b):
        return y * (np.stack([a, b], -1) @ x.T)

    def f(a, b):
        return np.logaddexp(0, -margins(a, b)).mean(-1) + ridge / 2 * (a * a + b * b)

    def df(a, b):
        slope = -y / (1 + np.exp(margins(a, b)))
        g = (slope[..., None] * x).mean(-2) + ridge * np.stack([a, b], -1)
        return g[..., 0], g[..., 1]

    def d2f(a, b):
        s = 1 / (1 + np.exp(-margins(a, b)))
        h = np.einsum("...n,ni,nj->...ij", s * (1 - s), x, x) / n + ridge * np.eye(2)
        return h[..., 0, 0], h[..., 0, 1], h[..., 1, 1]

    rough = Surface("logistic regression", f, df, d2f)
    minimum = descent.run("newton", rough, np.zeros((1, 2)), 30).final[0]
    bounds = ((minimum[0] - 2.5, minimum[0] + 2.5), (minimum[1] - 2.5, minimum[1] + 2.5))
    surface = Surface("logistic regression (2 weights)", f, df, d2f, [minimum], bounds)
    return LogisticToy(surface, x, y, minimum + np.array([0.7, 0.0]))


def density_grid(surface: Surface, theta, alpha: float, span: float = 4.0, n: int = 121,
                 radius: float | None = None):
    """``p(Delta | theta)`` on an ``n x n`` grid of ``theta + Delta``, ``|Delta_i| <= span``:
    returns ``(X, Y, P)`` with ``P`` normalized to sum to one (zero outside ``radius``)."""
    d = np.linspace(-span, span, n)
    DX, DY = np.meshgrid(d, d)
    delta = np.stack([DX, DY], -1)
    theta = np.asarray(theta, dtype=float)
    logp = -(surface.value(theta + delta) - surface.value(theta)) / alpha
    if radius is not None:
        logp = np.where(np.linalg.norm(delta, axis=-1) <= radius, logp, -np.inf)
    p = np.exp(logp - logp.max())
    return theta[0] + DX, theta[1] + DY, p / p.sum()


def _targets(surface: Surface, theta) -> Dict[str, np.ndarray]:
    """The three candidate limits of ``E[Delta]`` at ``theta``: the step to the minimiser
    ``theta* - theta`` (``surface.minima[0]``), Newton's step ``-H^{-1} g`` and ``-g``."""
    if len(surface.minima) == 0:
        raise ValueError(f"surface {surface.name!r} has no known minimiser to compare with")
    g = surface.grad(theta)
    return dict(minimiser=np.asarray(surface.minima[0], dtype=float) - theta,
                newton=S.second_order_update(g, surface.hessian(theta)), gradient=-g)


def expected_vs_alpha(surface: Surface, theta, alphas: Sequence[float],
                      n_samples: int = 100_000, scale: float = 1.0,
                      seeds: Sequence[int] = (0, 1, 2)) -> Dict[str, np.ndarray]:
    """Sampled ``E[Delta]`` at ``theta`` (flat base, Gaussian proposal ``N(0, scale^2 I)``)
    for each seed and alpha, compared with the three targets of :func:`_targets`.

    Returns, with shape ``(seeds, alphas)``: ``ess``, ``cos_<target>`` for each target and
    ``dist_minimiser``, ``dist_newton``, the distances from the sampled mean to those two
    steps divided by ``|theta* - theta|``; ``mean`` has shape ``(seeds, alphas, d)``; the
    targets themselves are returned under their names.
    """
    theta = np.asarray(theta, dtype=float)
    targets = _targets(surface, theta)
    means, ess = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        runs = [S.expected_update(surface.value, theta, a, n_samples, scale=scale, rng=rng)
                for a in alphas]
        means.append([r.mean for r in runs])
        ess.append([r.ess for r in runs])
    means = np.array(means)
    out = dict(alpha=np.asarray(alphas, dtype=float), mean=means, ess=np.array(ess),
               theta=theta, **targets)
    for name, step in targets.items():
        out[f"cos_{name}"] = np.array([[S.cosine(m, step) for m in row] for row in means])
    length = np.linalg.norm(targets["minimiser"])
    for name in ("minimiser", "newton"):
        out[f"dist_{name}"] = np.linalg.norm(means - targets[name], axis=-1) / length
    return out


def first_order_vs_alpha(toy: LogisticToy, alphas: Sequence[float], radius: float = 0.05,
                         n_samples: int = 100_000,
                         seeds: Sequence[int] = (0, 1, 2)) -> Dict[str, np.ndarray]:
    """Sampled ``E[Delta]`` on the ball ``|Delta| <= radius`` at ``toy.theta`` for each seed
    and alpha: its length ``sampled`` and its cosine with ``-g``, shape ``(seeds, alphas)``,
    and the exact length for the linearized loss
    (:func:`course_lib.sampling.first_order_update`), shape ``(alphas,)``."""
    s, theta = toy.surface, toy.theta
    g = s.grad(theta)
    sampled, cos = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        runs = [S.expected_update(s.value, theta, a, n_samples, radius=radius, rng=rng).mean
                for a in alphas]
        sampled.append([np.linalg.norm(m) for m in runs])
        cos.append([S.cosine(m, -g) for m in runs])
    exact = [np.linalg.norm(S.first_order_update(g, a, radius)) for a in alphas]
    return dict(alpha=np.asarray(alphas, dtype=float), sampled=np.array(sampled),
                exact=np.array(exact), cos_gradient=np.array(cos),
                grad_norm=float(np.linalg.norm(g)), radius=radius)


def draw_density(toy: LogisticToy, alpha: float, estimates: Dict[str, np.ndarray] | None = None):
    """``p(Delta | theta)`` for one alpha on the logistic surface, with the sampled mean
    (of :func:`expected_vs_alpha`), Newton's step, the minimiser and the gradient direction."""
    s, theta = toy.surface, toy.theta
    fig, ax = plt.subplots(figsize=(6, 5.2))
    contour(ax, s, levels=18, log=False, n=80, alpha=0.35)
    X, Y, P = density_grid(s, theta, alpha)
    ax.contourf(X, Y, P, levels=np.linspace(P.max() * 0.05, P.max(), 8), cmap="Reds", alpha=0.7)
    newton = S.second_order_update(s.grad(theta), s.hessian(theta))
    g = s.grad(theta)
    length = np.linalg.norm(newton)
    ax.plot(*np.stack([theta, theta - length * g / np.linalg.norm(g)]).T, "--", color="C2", lw=2,
            label="gradient direction -g")
    ax.scatter(*(theta + newton), marker="s", s=70, color="C0", zorder=6, label="Newton step -H^-1 g")
    ax.scatter(*s.minima[0], marker="*", s=160, color="gold", edgecolor="k", zorder=6,
               label="minimiser theta*")
    if estimates is not None:
        i = int(np.argmin(np.abs(estimates["alpha"] - alpha)))
        ax.scatter(*(theta + estimates["mean"][0, i]), marker="o", s=90, color="C3",
                   edgecolor="k", zorder=7, label="sampled E[Delta] (first seed)")
    ax.scatter(*theta, marker="x", s=80, color="k", zorder=7, label="theta")
    ax.set_xlabel("weight w1")
    ax.set_ylabel("weight w2")
    ax.set_title(f"p(Delta | theta) for alpha = {alpha:g} (red: density of theta + Delta)")
    ax.legend(fontsize=7, loc="lower left")
    return fig


def is_path(toy: LogisticToy, alpha: float, sigma: float, n: int, steps: int = 40,
            start=(-1.0, 1.5), lr_guide: float = 1.0, mix: float = 0.5, base: str = "proposal",
            seed: int = 0):
    """Importance-sampling optimizer on the toy's error rate, guided by the logistic loss:
    returns the path (steps + 1, 2) and the error rate along it."""
    rng = np.random.default_rng(seed)
    w = np.asarray(start, dtype=float)
    path = [w.copy()]
    for _ in range(steps):
        guide = -lr_guide * toy.surface.grad(w)
        step = S.importance_sampling_step(toy.error, w, guide, n=n, sigma=sigma, mix=mix,
                                          alpha=alpha, base=base, rng=rng)
        w = w + step.delta
        path.append(w.copy())
    path = np.array(path)
    return path, toy.error(path)


def error_map(toy: LogisticToy, window=((-3.0, 5.0), (-3.0, 3.0)), n=(160, 120)):
    """The toy's error rate on a grid of weights: ``(extent, E)`` for ``imshow``."""
    (x0, x1), (y0, y1) = window
    W1, W2 = np.meshgrid(np.linspace(x0, x1, n[0]), np.linspace(y0, y1, n[1]))
    return (x0, x1, y0, y1), toy.error(np.stack([W1, W2], -1))


def draw_is_path(toy: LogisticToy, alpha: float, sigma: float, n: int, steps: int = 40,
                 seeds: Sequence[int] = (0, 1), background=None):
    """The error-rate map of the toy, the paths of the importance-sampling optimizer from
    one start (one per seed), and the error along them. ``background`` is a precomputed
    :func:`error_map` (the slider redraws many frames)."""
    extent, err = error_map(toy) if background is None else background
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.5, 3.8), gridspec_kw=dict(width_ratios=[1.5, 1]))
    im = ax.imshow(err, origin="lower", extent=extent, aspect="auto", cmap="Greys", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label="error rate")
    finals = []
    for i, seed in enumerate(seeds):
        path, errors = is_path(toy, alpha, sigma, n, steps, seed=seed)
        ax.plot(*path.T, ".-", color=f"C{i + 1}", lw=1, ms=3, label=f"seed {seed}")
        bx.plot(errors, color=f"C{i + 1}", label=f"seed {seed}")
        finals.append(errors[-1])
    ax.scatter(*path[0], color="k", marker="o", facecolor="none", s=60, zorder=5, label="start")
    ax.set_xlabel("weight w1")
    ax.set_ylabel("weight w2")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_title(f"alpha = {alpha:g}, sigma = {sigma:g}, n = {n}")
    ax.legend(fontsize=7, loc="lower right")
    bx.axhline(float(err.min()), color="0.5", ls=":", label="best error on the map")
    bx.set_xlabel("step")
    bx.set_ylabel("error rate (1 - accuracy)")
    bx.set_ylim(0, 1)
    bx.set_title(f"mean final error {np.mean(finals):.3f}")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _draw_distances(ax, result: Dict[str, np.ndarray], title: str):
    """Distance of the sampled ``E[Delta]`` to ``theta* - theta`` and to Newton's step
    (relative to ``|theta* - theta|``) against alpha: mean over seeds, bars min to max."""
    gap = np.linalg.norm(result["newton"] - result["minimiser"])
    gap /= np.linalg.norm(result["minimiser"])
    for i, (key, label) in enumerate((("dist_minimiser", "(theta* - theta)"),
                                      ("dist_newton", "Newton step"))):
        d = result[key]
        mean = d.mean(0)
        ax.errorbar(result["alpha"], mean, yerr=[mean - d.min(0), d.max(0) - mean],
                    fmt="os"[i] + "-", color=f"C{i}", capsize=3,
                    label=f"|E[Delta] - {label}|")
    ax.axhline(gap, color="0.5", ls=":",
               label=f"|Newton step - (theta* - theta)| = {gap:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("temperature alpha (units of the loss)")
    ax.set_ylabel("distance / |theta* - theta|")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")


def draw_limits(near: Dict[str, np.ndarray], far: Dict[str, np.ndarray],
                first: Dict[str, np.ndarray]):
    """Left and middle: :func:`_draw_distances` for two results of
    :func:`expected_vs_alpha` (flat base); right: length of the sampled (every seed) and
    the exact ``E[Delta]`` on a ball (:func:`first_order_vs_alpha`)."""
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(14, 4))
    _draw_distances(ax, near, "logistic toy, theta 0.7 from theta*")
    _draw_distances(bx, far, "Rosenbrock, theta = (-0.5, 0.25)")
    alphas, radius = first["alpha"], first["radius"]
    for k, row in enumerate(first["sampled"]):
        cx.loglog(alphas, row, "o", color="C0", alpha=0.6,
                  label="sampled |E[Delta]| (each seed)" if k == 0 else None)
    cx.loglog(alphas, first["exact"], "-", color="C1", label="exact, linearized loss")
    cx.loglog(alphas, radius ** 2 * first["grad_norm"] / (4 * alphas), "--",
              color="C2", label="r^2 |g| / ((d+2) alpha): gradient descent")
    cx.axhline(radius, color="0.5", ls=":", label="radius r")
    cx.set_ylim(first["sampled"].min() / 3, radius * 2)
    cx.set_xlabel("temperature alpha (units of the loss)")
    cx.set_ylabel("step length (units of theta)")
    cx.set_title(f"ball |Delta| <= {radius:g}: always along -g")
    cx.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ digits
def digits_tensors(seed: int = 0, device=None):
    """The digits split as torch tensors ``(x_train, y_train, x_test, y_test)``."""
    split = data.digits(seed=seed)
    return data.to_torch(*split, device=device)


def pretrained_mlp(x, y, seed: int = 0, epochs: int = 2, lr: float = 0.1, hidden: int = 32):
    """A 64-hidden-10 MLP trained briefly on cross-entropy (minibatch SGD, batch 64)."""
    model = models.torch_mlp([x.shape[1], hidden, 10], seed=seed).to(x.device)
    models.train_torch(model, torch.optim.SGD(model.parameters(), lr=lr), x, y, epochs=epochs,
                       batch_size=64, seed=seed)
    return model


class SamplerRun(NamedTuple):
    """A run of :func:`train_importance_sampling`."""

    errors: np.ndarray    # (steps + 1,) the metric (error rate) along the way
    ess: float            # mean effective sample size per update
    theta: np.ndarray     # the final parameters
    along_guide: float    # mean of (Delta . guide) / |guide|^2 over the updates


def train_importance_sampling(flat: S.FlatProblem, steps: int, n: int = 4, sigma: float = 0.003,
                              mix: float = 0.5, alpha: float = 0.002, lr_guide: float = 0.1,
                              base: str = "proposal", seed: int = 0) -> SamplerRun:
    """Run :func:`course_lib.sampling.importance_sampling_step` from ``flat.theta``.

    Returns a :class:`SamplerRun`: the error rate along the way, the mean effective sample
    size, the final parameters and ``along_guide``, the mean length of each update measured
    along its guide in units of the guide (1: a full guide step, as gradient descent on the
    surrogate would take; 0.5 expected with equal weights and ``mix=0.5``).
    """
    rng = np.random.default_rng(seed)
    theta = flat.theta.copy()
    errors, ess, along = [flat.error(theta)], [], []
    for _ in range(steps):
        guide = -lr_guide * flat.surrogate_grad(theta)
        step = S.importance_sampling_step(flat.error, theta, guide, n=n, sigma=sigma, mix=mix,
                                          alpha=alpha, base=base, rng=rng)
        theta = theta + step.delta
        ess.append(S.effective_sample_size(step.weights))
        along.append(float(step.delta @ guide / (guide @ guide)))
        errors.append(flat.error(theta))
    flat.load(flat.theta)
    return SamplerRun(np.array(errors), float(np.mean(ess)), theta, float(np.mean(along)))


def train_cross_entropy_torch(model, x, y, steps: int, lr: float = 0.1):
    """Full-batch gradient descent on cross-entropy with
    :class:`course_lib.torch.SGD` (a drop-in for ``torch.optim.SGD``), training
    ``model`` in place. Returns ``(training error rate before and after each
    step (steps + 1,), final parameters as one flat vector)``.
    """

    def error():
        with torch.no_grad():
            return float((model(x).argmax(dim=1) != y).float().mean())

    optimizer = ctorch.SGD(model.parameters(), lr=lr)
    errors = [error()]
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        errors.append(error())
    return (
        np.array(errors),
        parameters_to_vector(model.parameters())
        .detach()
        .cpu()
        .double()
        .numpy(),
    )


def train_cross_entropy_mxnet(net, x, y, steps: int, lr: float = 0.1):
    """The Gluon twin of :func:`train_cross_entropy_torch`:
    :class:`course_lib.mxnet.SGD` in a ``gluon.Trainer``,
    ``SoftmaxCrossEntropyLoss``, the whole training set as one batch
    (``trainer.step(N)`` divides the summed gradient by ``N``).
    """
    import course_lib.mxnet as cmx
    import mxnet as mx

    def error():
        return float(
            (net(x).argmax(axis=1) != y.astype("float32")).mean().asscalar()
        )

    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = mx.gluon.Trainer(net.collect_params(), cmx.SGD(learning_rate=lr))
    errors = [error()]
    for _ in range(steps):
        with mx.autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0])
        errors.append(error())
    theta = np.concatenate(
        [p.data().asnumpy().ravel() for p in net.collect_params().values()]
    )
    return np.array(errors), theta.astype(float)


def _reinforce_gradient(model, x, y, n, generator):
    model.zero_grad()
    loss, _ = S.reinforce_loss(model(x), y, n=n, generator=generator)
    loss.backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()]).detach().cpu().double().numpy()


def train_reinforce(model, flat: S.FlatProblem, x, y, steps: int, lr: float = 1.0, n: int = 4,
                    seed: int = 0):
    """Gradient ascent on the expected accuracy with REINFORCE estimates (``n`` sampled
    predictions per example): ``(errors (steps + 1,), final theta)``."""
    generator = torch.Generator(device=x.device).manual_seed(seed)
    theta = flat.theta.copy()
    errors = [flat.error(theta)]
    for _ in range(steps):
        flat.load(theta)
        rules.sgd.update(theta, _reinforce_gradient(model, x, y, n, generator), {}, rules.NUMPY, lr=lr)
        errors.append(flat.error(theta))
    flat.load(flat.theta)
    return np.array(errors), theta


def exact_expected_accuracy_gradient(model, x, y) -> np.ndarray:
    """Gradient of ``-mean_x p(label | x)``: what REINFORCE estimates, computed exactly."""
    model.zero_grad()
    (-torch.softmax(model(x), 1).gather(1, y[:, None]).mean()).backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()]).detach().cpu().double().numpy()


def estimator_spread(model, flat: S.FlatProblem, x, y, repeats: int = 50, n: int = 4,
                     sigma: float = 0.003, mix: float = 0.5, alpha: float = 0.002,
                     lr_guide: float = 0.1, base: str = "proposal", seed: int = 0):
    """Relative variance (:func:`course_lib.sampling.relative_variance`) of the two
    estimators at ``flat.theta``, each repeated ``repeats`` times with ``n`` samples:
    the importance-sampling update and the REINFORCE gradient (around its exact value)."""
    rng = np.random.default_rng(seed)
    theta = flat.theta
    guide = -lr_guide * flat.surrogate_grad(theta)
    updates = np.array([S.importance_sampling_step(flat.error, theta, guide, n=n, sigma=sigma,
                                                   mix=mix, alpha=alpha, base=base, rng=rng).delta
                        for _ in range(repeats)])
    flat.load(theta)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    grads = np.array([_reinforce_gradient(model, x, y, n, generator) for _ in range(repeats)])
    exact = exact_expected_accuracy_gradient(model, x, y)
    return dict(importance_sampling=S.relative_variance(updates),
                reinforce=S.relative_variance(grads, exact),
                reinforce_bias_cosine=S.cosine(grads.mean(0), exact))


def compare_bases(flat: S.FlatProblem, steps: int, seeds: Sequence[int] = (0,), **kwargs):
    """Mean final error and mean effective sample size of the importance-sampling optimizer
    for each base measure of :data:`course_lib.sampling.BASES`."""
    out = {}
    for base in S.BASES:
        runs = [train_importance_sampling(flat, steps, base=base, seed=s, **kwargs) for s in seeds]
        out[base] = dict(error=float(np.mean([r.errors[-1] for r in runs])),
                         ess=float(np.mean([r.ess for r in runs])))
    return out


def _pack(runs, test):
    out = dict(errors=np.array([r[0] for r in runs]))
    if test is not None:
        out["test"] = np.array([test.error(r[-1]) for r in runs])
    return out


def _sampler_runs(flat, steps, seeds, test, lr, is_kwargs):
    """The importance-sampling optimizer and its equal-weight control, one run per seed."""
    results = {}
    for name, alpha in (("importance sampling", is_kwargs.pop("alpha", 0.002)), ("equal weights", 1e9)):
        runs = [train_importance_sampling(flat, steps, alpha=alpha, lr_guide=lr, seed=s, **is_kwargs)
                for s in seeds]
        results[name] = _pack([(r.errors, r.theta) for r in runs], test)
        results[name]["ess"] = float(np.mean([r.ess for r in runs]))
        results[name]["along_guide"] = float(np.mean([r.along_guide for r in runs]))
    return results


def compare_on_digits(model, flat: S.FlatProblem, x, y, steps: int, seeds: Sequence[int] = (0, 1, 2),
                      test: S.FlatProblem | None = None, lr: float = 0.1, lr_reinforce: float = 1.0,
                      **is_kwargs) -> Dict[str, Dict[str, np.ndarray]]:
    """From ``flat.theta`` (a PyTorch network), ``steps`` updates of: the importance-sampling
    optimizer on the error rate (one run per seed), the same with the metric switched off
    (``alpha`` huge: equal weights, the control), gradient descent on cross-entropy with the
    guide's learning rate (:func:`train_cross_entropy_torch`), and REINFORCE on the expected
    accuracy (one run per seed).

    Returns ``{method: {"errors": (runs, steps + 1), "test": (runs,)}}``: the training error
    rate along the way and, with ``test``, the final test error of each run; the two sampler
    entries also hold the mean effective sample size ``"ess"`` and ``"along_guide"``
    (:class:`SamplerRun`).
    """
    results = _sampler_runs(flat, steps, seeds, test, lr, dict(is_kwargs))
    flat.load(flat.theta)
    results["cross-entropy"] = _pack([train_cross_entropy_torch(model, x, y, steps, lr=lr)], test)
    results["REINFORCE"] = _pack([train_reinforce(model, flat, x, y, steps, lr=lr_reinforce, seed=s)
                                  for s in seeds], test)
    flat.load(flat.theta)
    return results


def compare_on_digits_mxnet(net, flat: S.FlatProblem, x, y, steps: int, seeds: Sequence[int] = (0, 1, 2),
                            test: S.FlatProblem | None = None, lr: float = 0.1,
                            **is_kwargs) -> Dict[str, Dict[str, np.ndarray]]:
    """The Gluon twin of :func:`compare_on_digits` for an MXNet network, without REINFORCE:
    the importance-sampling optimizer, its equal-weight control and gradient descent on
    cross-entropy (:func:`train_cross_entropy_mxnet`), with the same result layout."""
    results = _sampler_runs(flat, steps, seeds, test, lr, dict(is_kwargs))
    flat.load(flat.theta)
    results["cross-entropy"] = _pack([train_cross_entropy_mxnet(net, x, y, steps, lr=lr)], test)
    flat.load(flat.theta)
    return results


def draw_digits(results: Dict[str, Dict[str, np.ndarray]], ax=None, title=None):
    """Training accuracy along the steps for each method of :func:`compare_on_digits`
    or :func:`compare_on_digits_mxnet` (mean over runs, band: min to max); ``ax`` draws into
    an existing axis."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    for i, (name, r) in enumerate(results.items()):
        acc = 1 - r["errors"]
        steps = np.arange(acc.shape[1])
        ax.plot(steps, acc.mean(0), color=f"C{i}", label=f"{name} ({len(acc)} run{'s' * (len(acc) > 1)})")
        if len(acc) > 1:
            ax.fill_between(steps, acc.min(0), acc.max(0), color=f"C{i}", alpha=0.2)
    ax.set_xlabel("update")
    ax.set_ylabel("training accuracy (the metric optimized)")
    ax.set_title(title or "digits MLP, from a network trained briefly on cross-entropy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
