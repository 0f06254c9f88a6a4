"""The sampling view of optimization: an update is the mean of a distribution of steps.

At parameters ``theta`` every step ``Delta`` gets the weight

.. math::

    p(\\Delta \\mid \\theta) \\propto \\pi(\\Delta)\\,
        \\exp\\!\\left(-\\frac{l(\\theta + \\Delta) - l(\\theta)}{\\alpha}\\right)

(``pi`` a base measure: uniform on a ball ``|Delta| <= radius``, a Gaussian, or flat), and
the update is its mean ``E[Delta]``. Small ``alpha`` concentrates ``p`` on the best step
(with a flat base: the jump ``theta* - theta`` to the minimiser, if it is unique); large
``alpha`` flattens ``p`` towards the base measure, so with a bounded or centred base (a
ball, a Gaussian) the mean shrinks towards 0. Nothing here needs ``l`` to be
differentiable.

* :func:`expected_update` estimates ``E[Delta]`` by self-normalized importance sampling;
* :func:`first_order_update` is its exact value for a linear loss on a ball: a step along
  ``-g`` whose length goes from gradient descent (``alpha`` large) to a normalized step of
  length ``radius`` (``alpha`` small);
* :func:`second_order_update` is its exact value for a quadratic loss with a flat base:
  the Gaussian ``N(-H^{-1} g, alpha H^{-1})``, whose mean is Newton's step (for any other
  loss the small-``alpha`` limit is ``theta* - theta``, Newton's step only near a minimum);
* :func:`importance_sampling_step` optimizes a metric without a gradient (accuracy): it
  samples ``n`` steps from a proposal guided by a differentiable surrogate and averages
  them with self-normalized weights (Welleck & Cho's MLE-guided parameter search).
  Its default ``base="proposal"`` takes the proposal ``q`` itself as the base measure: the
  weights are the metric term ``rho = exp(-[l(theta + Delta) - l(theta)] / alpha)`` alone,
  so the step estimates the mean of ``p ∝ q rho``, *not* of ``p ∝ rho`` (``base="flat"``);
* :func:`reinforce_loss` is the policy-gradient (REINFORCE) estimator for comparison: it
  samples *outputs* instead of *parameters*.

Example
-------
>>> import numpy as np
>>> from course_lib import surfaces
>>> bowl = surfaces.quadratic(condition=4.0)
>>> theta = np.array([1.0, 1.0])
>>> est = expected_update(bowl.value, theta, alpha=0.05, n_samples=200_000,
...                       scale=1.0, rng=np.random.default_rng(0))
>>> newton = second_order_update(bowl.grad(theta), bowl.hessian(theta))
>>> bool(cosine(est.mean, newton) > 0.99)
True
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from . import _checks
from . import rules as _rules

__all__ = [
    "Estimate", "expected_update", "first_order_update", "second_order_update",
    "sample_ball", "cosine", "effective_sample_size", "self_normalized_weights",
    "MixtureProposal", "sample_mixture", "ImportanceStep", "importance_sampling_step", "reinforce_loss",
    "relative_variance", "FlatProblem", "torch_flat_problem", "mxnet_flat_problem",
    "BASES",
]


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def cosine(a, b) -> float:
    """Cosine similarity of two vectors (flattened)."""
    a, b = np.ravel(a).astype(float), np.ravel(b).astype(float)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def self_normalized_weights(log_weights) -> np.ndarray:
    """``w_i = exp(s_i) / sum_j exp(s_j)`` along the last axis, computed stably."""
    log_weights = np.asarray(log_weights, dtype=float)
    shifted = np.exp(log_weights - log_weights.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def effective_sample_size(weights) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``: n for equal weights, 1 for one."""
    weights = np.asarray(weights, dtype=float)
    return float(weights.sum() ** 2 / (weights ** 2).sum())


def sample_ball(n: int, dim: int, radius: float, rng=None) -> np.ndarray:
    """``n`` points uniform in the ``dim``-dimensional ball of ``radius``: shape (n, dim)."""
    rng = _rng(rng)
    direction = rng.standard_normal((n, dim))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return direction * radius * rng.random((n, 1)) ** (1.0 / dim)


# ------------------------------------------------------------------- the expected update
class Estimate(NamedTuple):
    """A sampled expectation: the mean step, the effective sample size, samples, weights."""

    mean: np.ndarray
    ess: float
    samples: np.ndarray
    weights: np.ndarray


def expected_update(loss: Callable, theta, alpha: float, n_samples: int = 100_000,
                    radius: float | None = None, scale: float | None = None,
                    antithetic: bool = True, rng=None) -> Estimate:
    """Estimate ``E[Delta]`` under ``p(Delta | theta)`` by self-normalized importance sampling.

    The weights are ``w_i ∝ exp(-[l(theta + Delta_i) - l(theta)] / alpha) / q(Delta_i)``,
    normalized to sum to one, so the normalizer of ``p`` is never needed.

    Parameters
    ----------
    loss : callable
        ``loss(points)`` for points of shape ``(n, d)`` returns ``(n,)`` values (e.g. a
        surface's ``value``). Never differentiated.
    theta : array (d,)
    alpha : float
        Temperature, > 0.
    radius : float, optional
        Base measure uniform on the ball ``|Delta| <= radius`` (proposal: the same ball).
    scale : float, optional
        Without ``radius``: flat base measure, Gaussian proposal ``N(0, scale^2 I)``.
    antithetic : bool
        Draw the samples in pairs ``Delta, -Delta``. Both proposals are symmetric, so the
        pairs cancel the proposal's own noise; without them, for large ``alpha`` the tiny
        mean drowns in the ``radius / sqrt(n)`` scatter of the sample average.
    """
    theta = np.asarray(theta, dtype=float).ravel()
    alpha = _checks.positive("alpha", alpha)
    n_samples = _checks.integer("n_samples", n_samples, 2)
    rng = _rng(rng)
    dim = theta.size
    if (radius is None) == (scale is None):
        raise ValueError("give exactly one of radius (ball base measure) or scale (Gaussian proposal)")
    half = (n_samples + 1) // 2 if antithetic else n_samples
    if radius is not None:
        radius = _checks.positive("radius", radius)
        deltas = sample_ball(half, dim, radius, rng)
    else:
        scale = _checks.positive("scale", scale)
        deltas = scale * rng.standard_normal((half, dim))
    if antithetic:
        deltas = np.concatenate([deltas, -deltas])[:n_samples]
    if radius is not None:
        log_q = np.zeros(len(deltas))  # uniform: a constant that normalization removes
    else:
        log_q = -0.5 * (deltas ** 2).sum(axis=1) / scale ** 2
    change = np.asarray(loss(theta + deltas), dtype=float) - float(np.asarray(loss(theta[None]))[0])
    weights = self_normalized_weights(-change / alpha - log_q)
    return Estimate(weights @ deltas, effective_sample_size(weights), deltas, weights)


def first_order_update(grad, alpha: float, radius: float) -> np.ndarray:
    """Exact ``E[Delta]`` for the linear loss ``g . Delta`` on the ball ``|Delta| <= radius``.

    .. math::

        E[\\Delta] = -r\\,\\frac{I_{d/2+1}(r|g|/\\alpha)}{I_{d/2}(r|g|/\\alpha)}
                      \\,\\frac{g}{|g|}

    (``I`` the modified Bessel functions): always along ``-g``. For large ``alpha`` it is
    ``-r^2 g / ((d + 2) alpha)``, gradient descent with learning rate ``r^2 / ((d+2) alpha)``;
    for small ``alpha`` it is ``-r g / |g|``, a step of length ``r`` straight downhill.
    """
    from scipy.special import ive

    grad = np.asarray(grad, dtype=float)
    alpha, radius = _checks.positive("alpha", alpha), _checks.positive("radius", radius)
    norm = float(np.linalg.norm(grad))
    if norm == 0.0:
        return np.zeros_like(grad)
    d = grad.size
    kappa = radius * norm / alpha
    # ive is I scaled by exp(-kappa): the ratio is the same and nothing overflows
    ratio = ive(d / 2 + 1, kappa) / ive(d / 2, kappa)
    return -radius * ratio * grad / norm


def second_order_update(grad, hessian) -> np.ndarray:
    """``E[Delta]`` for the quadratic loss ``g . Delta + Delta^T H Delta / 2`` (flat base,
    ``H`` positive definite): the Gaussian ``N(-H^{-1} g, alpha H^{-1})`` has mean
    ``-H^{-1} g``, Newton's step (computed by :data:`course_lib.rules.newton`)."""
    grad = np.asarray(grad, dtype=float)
    hessian = np.asarray(hessian, dtype=float)
    if np.any(np.linalg.eigvalsh(hessian) <= 0):
        raise ValueError("hessian must be positive definite: otherwise p(Delta) cannot be normalized")
    point = np.zeros_like(grad)
    _rules.newton.update(point, grad, {}, _rules.NUMPY, lr=1.0, hessian=hessian)
    return point


# ------------------------------------------------------- importance-sampling optimizer
class MixtureProposal(NamedTuple):
    """Samples of ``q = mix N(0, sigma^2 I) + (1 - mix) N(guide, sigma^2 I)`` and
    ``log(base / q)`` at each (up to a constant)."""

    deltas: np.ndarray
    log_base_over_q: np.ndarray


#: The base distributions :func:`sample_mixture` mixes with the proposal.
BASES = ("flat", "gaussian", "proposal")


def sample_mixture(guide, sigma, mix, n, rng=None, base="gaussian") -> MixtureProposal:
    """``n`` steps from ``q = mix N(0, sigma^2 I) + (1 - mix) N(guide, sigma^2 I)`` and
    ``log(pi / q)`` at each, up to a constant, for the base measure ``pi`` named by
    ``base`` (one of :data:`BASES`; see :func:`importance_sampling_step`).

    With ``base="flat"`` the log-ratio is ``-log q(Delta)``: for a sample of the unguided
    component it is ``|Delta|^2 / (2 sigma^2)``, half a chi-square variable with ``d``
    degrees of freedom, whose standard deviation is ``sqrt(d / 2)``.
    """
    sigma = _checks.positive("sigma", sigma)
    n = _checks.integer("n", n, 1)
    mix = _checks.probability("mix", mix, include_one=True)
    _checks.one_of("base", base, BASES)
    rng = _rng(rng)
    guide = np.asarray(guide, dtype=float).ravel()
    from_zero = rng.random(n) < mix
    noise = rng.standard_normal((n, guide.size))
    deltas = sigma * noise + np.where(from_zero[:, None], 0.0, guide)
    # log N(Delta; guide, s^2) - log N(Delta; 0, s^2): a one-dimensional quantity
    shift = (deltas @ guide - 0.5 * guide @ guide) / sigma ** 2
    with np.errstate(divide="ignore"):
        log_q_over_zero = np.logaddexp(np.log(mix), np.log1p(-mix) + shift) if mix < 1 else np.zeros(n)
    if base == "gaussian":
        # N(Delta; 0, s^2) / q: the d-dimensional normalizers cancel
        log_ratio = -log_q_over_zero
    elif base == "flat":
        # 1 / q(Delta), up to a constant: carries |Delta|^2 / (2 s^2), half a chi-square
        # in d dimensions, whose spread, sqrt(d / 2) nats, drowns the metric when d is large
        log_ratio = 0.5 * (deltas ** 2).sum(axis=1) / sigma ** 2 - log_q_over_zero
    else:  # "proposal": p is q tilted by the metric, p / q ∝ exp(-change / alpha)
        log_ratio = np.zeros(n)
    return MixtureProposal(deltas, log_ratio)


class ImportanceStep(NamedTuple):
    """One step of :func:`importance_sampling_step`."""

    delta: np.ndarray          # the update sum_i w_i Delta_i
    weights: np.ndarray        # (n,)
    deltas: np.ndarray         # (n, d) the sampled steps
    losses: np.ndarray         # (n,) metric loss at theta + Delta_i
    loss: float                # metric loss at theta


def importance_sampling_step(metric_loss: Callable, theta, guide, n: int = 4,
                             sigma: float = 0.01, mix: float = 0.5, alpha: float = 0.01,
                             base: str = "proposal", rng=None) -> ImportanceStep:
    """One update of MLE-guided parameter search on a metric that has no gradient.

    Parameters
    ----------
    metric_loss : callable
        ``metric_loss(theta) -> float``, e.g. the error rate ``1 - accuracy``.
    theta : array (d,)
    guide : array (d,)
        A step suggested by a differentiable surrogate, ``-lr * grad(surrogate)``.
    n : int
        Sampled steps per update (4 in Welleck & Cho).
    sigma : float
        Standard deviation of each proposal component, per coordinate.
    mix : float in [0, 1]
        Weight ``lambda`` of the unguided component ``N(0, sigma^2 I)``.
    alpha : float
        Temperature of ``p``.

    base : "proposal", "gaussian" or "flat"
        The base measure ``pi`` of the target ``p(Delta) ∝ pi(Delta) exp(-[l(theta+Delta) -
        l(theta)]/alpha)`` (a bounded metric needs one for ``p`` to be normalizable).

    Notes
    -----
    The weights are ``w_i ∝ exp(-[l(theta + Delta_i) - l(theta)]/alpha) pi(Delta_i) / q(Delta_i)``,
    normalized to sum to one. With ``base="proposal"`` (``pi = q``) only the metric is left
    in them; ``"gaussian"`` (``pi = N(0, sigma^2 I)``, the unguided component) adds a factor
    that depends on ``Delta`` only through ``guide . Delta``; ``"flat"`` (``pi = 1``, the
    derivation's choice) adds ``1/q``, a chi-square-like factor that dominates in many
    dimensions.
    """
    theta = np.asarray(theta, dtype=float).ravel()
    n = _checks.integer("n", n, 1)
    sigma, alpha = _checks.positive("sigma", sigma), _checks.positive("alpha", alpha)
    mix = _checks.probability("mix", mix, include_one=True)
    guide = np.asarray(guide, dtype=float).ravel()
    _checks.same_shape("guide", guide, "theta", theta)
    _checks.one_of("base", base, BASES)
    proposal = sample_mixture(guide, sigma, mix, n, _rng(rng), base)
    base = float(metric_loss(theta))
    losses = np.array([float(metric_loss(theta + d)) for d in proposal.deltas])
    weights = self_normalized_weights(-(losses - base) / alpha + proposal.log_base_over_q)
    return ImportanceStep(weights @ proposal.deltas, weights, proposal.deltas, losses, base)


# --------------------------------------------------------------------------- REINFORCE
def reinforce_loss(logits, labels, n: int = 4, baseline: bool = True, generator=None):
    """A torch scalar whose gradient is the REINFORCE estimate of ``-grad E[accuracy]``.

    For each example, ``n`` predictions ``y_j ~ softmax(logits)`` are sampled and rewarded
    ``r_j = 1[y_j = label]``; the estimate of the gradient of the expected accuracy
    ``mean_x E_y[r]`` is ``mean_x mean_j (r_j - b_j) grad log p(y_j | x)``, with ``b_j`` the
    mean reward of the other ``n - 1`` samples (a baseline that adds no bias) when
    ``baseline`` is true. Returns ``(loss, mean_reward)``.
    """
    import torch

    n = _checks.integer("n", n, 2 if baseline else 1)
    log_probs = torch.log_softmax(logits, dim=1)
    samples = torch.multinomial(log_probs.detach().exp(), n, replacement=True, generator=generator)
    rewards = (samples == labels[:, None]).to(logits.dtype)
    if baseline:
        advantage = rewards - (rewards.sum(dim=1, keepdim=True) - rewards) / (n - 1)
    else:
        advantage = rewards
    chosen = log_probs.gather(1, samples)
    return -(advantage * chosen).mean(), float(rewards.mean())


def relative_variance(estimates, reference=None) -> float:
    """Noise-to-signal ratio of repeated estimates: ``E|e - m|^2 / |m|^2``.

    ``estimates`` has shape ``(repeats, d)``; ``m`` is ``reference`` (the exact value when
    known) or the mean of the estimates. Scale-free, so estimators of different size can be
    compared: 0 is noiseless, values above 1 mean that the noise outweighs the signal.
    """
    estimates = np.asarray(estimates, dtype=float)
    if estimates.ndim != 2 or len(estimates) < 2:
        raise ValueError(f"estimates must have shape (repeats >= 2, d), got {estimates.shape}")
    mean = estimates.mean(axis=0) if reference is None else np.asarray(reference, dtype=float).ravel()
    return float(((estimates - mean) ** 2).sum(axis=1).mean() / (mean @ mean))


# ------------------------------------------------------------- models as flat vectors
class FlatProblem(NamedTuple):
    """A model seen as a flat parameter vector: what the sampling optimizer needs.

    ``theta`` is the current vector; ``error(theta)`` the metric loss (1 - accuracy);
    ``surrogate_grad(theta)`` the gradient of the differentiable surrogate (cross-entropy);
    ``load(theta)`` writes a vector back into the model.
    """

    theta: np.ndarray
    error: Callable
    surrogate_grad: Callable
    load: Callable


def torch_flat_problem(model, x, y) -> FlatProblem:
    """:class:`FlatProblem` of a PyTorch classifier on tensors ``x``, ``y``
    (full batch).
    """
    import torch
    from torch.nn.utils import parameters_to_vector, vector_to_parameters

    params = [p for p in model.parameters()]
    dtype = params[0].dtype

    def load(theta):
        vector_to_parameters(
            torch.as_tensor(theta, dtype=dtype, device=params[0].device), params
        )

    def error(theta):
        load(theta)
        with torch.no_grad():
            return float((model(x).argmax(dim=1) != y).float().mean())

    def surrogate_grad(theta):
        load(theta)
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        return (
            torch.cat([p.grad.reshape(-1) for p in params])
            .detach()
            .cpu()
            .double()
            .numpy()
        )

    theta = parameters_to_vector(params).detach().cpu().double().numpy()
    return FlatProblem(theta, error, surrogate_grad, load)


def mxnet_flat_problem(net, x, y) -> FlatProblem:
    """:class:`FlatProblem` of an MXNet Gluon classifier on NDArrays ``x``,
    ``y``.
    """
    from course_lib.mxnet import mx

    params = list(net.collect_params().values())
    shapes = [p.data().shape for p in params]
    sizes = [int(np.prod(s)) for s in shapes]
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()

    def load(theta):
        for p, chunk, shape in zip(
            params, np.split(np.asarray(theta), np.cumsum(sizes)[:-1]), shapes
        ):
            p.set_data(mx.nd.array(chunk.reshape(shape), ctx=p.data().context))

    def error(theta):
        load(theta)
        return float(
            (net(x).argmax(axis=1) != y.astype("float32")).mean().asscalar()
        )

    def surrogate_grad(theta):
        load(theta)
        with mx.autograd.record():
            loss = loss_fn(net(x), y).mean()
        loss.backward()
        return np.concatenate(
            [p.grad().asnumpy().ravel() for p in params]
        ).astype(float)

    theta = np.concatenate([p.data().asnumpy().ravel() for p in params]).astype(
        float
    )
    return FlatProblem(theta, error, surrogate_grad, load)
