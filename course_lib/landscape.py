"""Loss landscapes of a PyTorch model: 1-D interpolation, 2-D slices and epsilon-sharpness.

The conventions for ``model``, ``loss_fn(outputs, targets)`` and ``data`` (one batch
``(inputs, targets)`` or an iterable of batches; the loss is their size-weighted mean,
evaluated in ``eval()`` mode) are those of :mod:`course_lib.hessian`. Parameter vectors
are flat, over the trainable parameters in ``model.parameters()`` order
(:func:`course_lib.hessian.parameter_vector`). Every function here moves the parameters
and puts them back afterwards, even when it fails.

* :func:`interpolate`: :math:`L((1-\\alpha)\\theta_a + \\alpha\\theta_b)` along a line, as in
  Keskar et al. (2017), Figure 3 (small-batch vs large-batch solution).
* :func:`plane`: :math:`L(\\theta + \\alpha d_1 + \\beta d_2)` on a grid, with the
  filter-normalized random directions of Li, Xu, Taylor, Studer & Goldstein (2018).
* :func:`sharpness`: Keskar et al.'s :math:`\\epsilon`-sharpness, the largest relative loss
  increase in a box around :math:`\\theta`, in the full parameter space or a random subspace.

Devices: PyTorch models on CPU or CUDA; the device is taken from the model's parameters and
data are moved there. Directions are drawn on the CPU from a seeded generator, so a seed gives
the same directions on every device. MXNet (Gluon) models are not supported: these functions
take ``torch.nn.Module`` s, like the curvature tools of :mod:`course_lib.hessian`, which MXNet's
limited higher-order gradients rule out; rebuild the network in PyTorch with the same weights.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np
import scipy.optimize
import torch

from course_lib import _checks
from course_lib.hessian.parameters import (_batches_on_device, _checked_loss, _eval_mode,
                                           _evaluate_loss, _flat_vector, _trainable,
                                           load_parameter_vector, parameter_vector)

__all__ = ["interpolate", "Plane", "plane", "random_direction", "sharpness"]


def _flat(model, theta, name: str) -> torch.Tensor:
    params = _trainable(model)
    vector = _flat_vector(params, theta, name, " or a state_dict")
    return vector.to(device=params[0].device, dtype=torch.float64)


def _blend_states(a: Mapping, b: Mapping, alpha: float) -> dict:
    if a.keys() != b.keys():
        raise ValueError("theta_a and theta_b must be state_dicts with the same keys")
    return {key: (torch.lerp(a[key].double(), b[key].double().to(a[key].device), alpha).to(a[key].dtype)
                  if a[key].is_floating_point() else a[key])
            for key in a}


def interpolate(model, loss_fn, data, theta_a, theta_b, alphas=None) -> np.ndarray:
    """Loss along the line :math:`\\theta(\\alpha) = (1-\\alpha)\\,\\theta_a + \\alpha\\,\\theta_b`.

    Parameters
    ----------
    theta_a, theta_b : flat vectors or state_dicts
        Either flat vectors (torch or numpy) of the trainable parameters, or two
        ``model.state_dict()`` copies: then every floating-point entry is interpolated,
        batch-norm running statistics included, and integer buffers are taken from
        ``theta_a``.
    alphas : array_like, optional
        Positions on the line (0 is ``theta_a``, 1 is ``theta_b``); default
        ``np.linspace(-1, 2, 31)``, the range of Keskar et al.'s figure.

    Returns
    -------
    numpy array of ``loss_fn`` values (any ``loss_fn(outputs, targets)`` works, an error
    rate too), one per alpha.

    Examples
    --------
    >>> model = torch.nn.Linear(2, 1)
    >>> x, y = torch.randn(30, 2), torch.randn(30, 1)
    >>> a = parameter_vector(model)
    >>> losses = interpolate(model, torch.nn.functional.mse_loss, (x, y), a, torch.zeros_like(a), [0, 0.5, 1])
    >>> losses.shape
    (3,)
    """
    alphas = np.linspace(-1.0, 2.0, 31) if alphas is None else np.asarray(alphas, dtype=np.float64).reshape(-1)
    if alphas.size == 0 or not np.all(np.isfinite(alphas)):
        raise ValueError("alphas must be a non-empty array of finite numbers")
    saved = {key: value.detach().clone() for key, value in model.state_dict().items()}
    states = isinstance(theta_a, Mapping)
    if states != isinstance(theta_b, Mapping):
        raise TypeError("theta_a and theta_b must both be flat vectors or both state_dicts")
    if not states:
        a, b = _flat(model, theta_a, "theta_a"), _flat(model, theta_b, "theta_b")
    losses = np.empty(alphas.size)
    try:
        for i, alpha in enumerate(alphas):
            if states:
                model.load_state_dict(_blend_states(theta_a, theta_b, float(alpha)))
            else:
                load_parameter_vector(model, torch.lerp(a, b, float(alpha)))
            losses[i] = _evaluate_loss(model, loss_fn, data)
    finally:
        model.load_state_dict(saved)
    return losses


def random_direction(model, normalization: str = "filter", seed: int = 0) -> torch.Tensor:
    """A Gaussian direction in parameter space, flat, on the model's device.

    ``normalization="filter"`` (Li et al. 2018): for every weight tensor with two or more
    dimensions, each filter (slice along the first axis: an output neuron of a linear
    layer, an output channel of a convolution) :math:`d_{i}` is rescaled to the norm of the
    same filter of the weights, :math:`d_i \\leftarrow d_i\\,\\lVert\\theta_i\\rVert/\\lVert d_i\\rVert`;
    one-dimensional parameters (biases, batch-norm scales) get 0, so the slice is not
    distorted by the scale invariance of ReLU networks. ``normalization="none"``: a plain
    unit-norm Gaussian vector.
    """
    _checks.one_of("normalization", normalization, ("filter", "none"))
    params = _trainable(model)
    gen = torch.Generator().manual_seed(int(seed))
    parts = []
    for p in params:
        d = torch.randn(p.shape, generator=gen, dtype=torch.float64)
        if normalization == "filter":
            if p.dim() <= 1:
                d.zero_()
            else:
                w = p.detach().double().cpu().reshape(p.shape[0], -1)
                rows = d.reshape(p.shape[0], -1)
                rows.mul_(w.norm(dim=1, keepdim=True) / (rows.norm(dim=1, keepdim=True) + 1e-10))
        parts.append(d.reshape(-1))
    direction = torch.cat(parts)
    if normalization == "none":
        direction /= direction.norm()
    return direction.to(params[0].device)


class Plane(NamedTuple):
    """A 2-D slice: ``loss[i, j]`` = :math:`L(\\theta + \\alpha_j d_1 + \\beta_i d_2)`.

    Shape ``(len(betas), len(alphas))``, ready for ``plt.contour(alphas, betas, loss)``.
    ``directions`` holds the two flat direction vectors.
    """

    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    directions: tuple


def plane(model, loss_fn, data, directions="filter-normalized", *, extent: float = 1.0,
          steps: int = 21, seed: int = 0) -> Plane:
    """Loss on the plane through the current parameters spanned by two directions.

    Parameters
    ----------
    directions : "filter-normalized", "random" or a pair of flat vectors
        ``"filter-normalized"`` draws two directions with :func:`random_direction` (Li et
        al. 2018: distances are then relative to the weights' own scale, so sharpness can
        be compared between networks); ``"random"`` two unit-norm Gaussian ones.
    extent, steps :
        ``alphas = betas = np.linspace(-extent, extent, steps)``.
    seed : int
        Seed of the random directions (the second uses ``seed + 1``).

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    >>> x, y = torch.randn(30, 2), torch.randn(30, 1)
    >>> plane(model, torch.nn.functional.mse_loss, (x, y), steps=5).loss.shape
    (5, 5)
    """
    _checks.integer("steps", steps, 2)
    _checks.positive("extent", extent)
    if isinstance(directions, str):
        kinds = {"filter-normalized": "filter", "random": "none"}
        if directions not in kinds:
            raise ValueError(f"directions must be one of {tuple(kinds)} or a pair of vectors, got {directions!r}")
        d1 = random_direction(model, kinds[directions], seed)
        d2 = random_direction(model, kinds[directions], seed + 1)
    else:
        if len(directions) != 2:
            raise ValueError("directions must be a pair (d1, d2) of flat vectors")
        d1, d2 = (_flat(model, d, "directions[i]") for d in directions)
    d1, d2 = d1.double(), d2.double()
    axis = np.linspace(-extent, extent, steps)
    theta = parameter_vector(model)
    center = theta.double()
    loss = np.empty((steps, steps))
    try:
        for i, beta in enumerate(axis):
            for j, alpha in enumerate(axis):
                load_parameter_vector(model, center + float(alpha) * d1 + float(beta) * d2)
                loss[i, j] = _evaluate_loss(model, loss_fn, data)
    finally:
        load_parameter_vector(model, theta)
    return Plane(axis, axis.copy(), loss, (d1, d2))


def _loss_and_gradient(model, loss_fn, data, params):
    total, count, grad = 0.0, 0, None
    with _eval_mode(model):
        for inputs, targets, size in _batches_on_device(model, data):
            loss = _checked_loss(loss_fn(model(inputs), targets))
            g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(loss, params)]).double() * size
            grad = g if grad is None else grad + g
            total += float(loss.detach()) * size
            count += size
    return total / count, (grad / count).cpu().numpy()


def sharpness(model, loss_fn, data, epsilon: float = 1e-3, *, subspace: int | None = None,
              maxiter: int = 10, seed: int = 0) -> float:
    """Keskar et al.'s (2017) :math:`\\epsilon`-sharpness, in percent.

    .. math::
        \\phi(\\theta, \\epsilon) = 100\\,\\frac{\\max_{y \\in C_\\epsilon} L(\\theta + A y) - L(\\theta)}{1 + L(\\theta)},
        \\qquad C_\\epsilon = \\{y : |y_i| \\le \\epsilon\\,(|(A^+\\theta)_i| + 1)\\}.

    By default the box lives in the full parameter space (:math:`A = I`, so each parameter
    may move by :math:`\\epsilon(|\\theta_i|+1)`); with ``subspace=p`` it lives in a random
    p-dimensional subspace (:math:`A \\in \\mathbb{R}^{n\\times p}` Gaussian, :math:`A^+` its
    pseudo-inverse), Keskar et al.'s second variant. The maximum is searched, as in the paper,
    by L-BFGS-B on the box (``maxiter`` iterations) from a random point of the box (the
    gradient vanishes at a minimum, so starting at the centre would not move); the value is
    a lower bound of the true maximum. The parameters are restored afterwards.

    Examples
    --------
    >>> model = torch.nn.Linear(2, 1)
    >>> x, y = torch.randn(30, 2), torch.randn(30, 1)
    >>> sharpness(model, torch.nn.functional.mse_loss, (x, y)) >= 0
    True
    """
    _checks.positive("epsilon", epsilon)
    _checks.integer("maxiter", maxiter, 1)
    params = _trainable(model)
    theta = parameter_vector(model)
    x = theta.double().cpu().numpy()
    n = x.size
    rng = np.random.default_rng(seed)
    if subspace is None:
        A, center = None, x
    else:
        _checks.integer("subspace", subspace, 1, n)
        A = rng.standard_normal((n, int(subspace)))
        center = np.linalg.lstsq(A, x, rcond=None)[0]      # A^+ theta
    radius = epsilon * (np.abs(center) + 1.0)
    best = [-np.inf]

    def negative_loss(y):
        delta = y if A is None else A @ y
        load_parameter_vector(model, torch.as_tensor(x + delta))
        value, grad = _loss_and_gradient(model, loss_fn, data, params)
        best[0] = max(best[0], value)
        return -value, -(grad if A is None else A.T @ grad)

    try:
        base = _evaluate_loss(model, loss_fn, data)
        if not np.isfinite(base):
            raise ValueError(f"the loss is {base} at these parameters")
        y0 = rng.uniform(-radius, radius)
        scipy.optimize.minimize(negative_loss, y0, jac=True, method="L-BFGS-B",
                                bounds=scipy.optimize.Bounds(-radius, radius),
                                options={"maxiter": int(maxiter)})
    finally:
        load_parameter_vector(model, theta)
    return 100.0 * (best[0] - base) / (1.0 + base)
