"""The model side of every curvature computation: trainable parameters and the mean loss.

:math:`\\theta \\in \\mathbb{R}^n` is the concatenation of the trainable parameters of a
``torch.nn.Module`` (those with ``requires_grad``, flattened in ``model.parameters()``
order), and the loss is the mean over all examples of all batches,

.. math:: L(\\theta) = \\frac{\\sum_b n_b\\, \\ell(f_\\theta(x_b), y_b)}{\\sum_b n_b},

evaluated in ``eval()`` mode (see :mod:`course_lib.hessian`). Batches are moved to the
parameters' device and floating-point tensors cast to their dtype.
"""
from __future__ import annotations

import contextlib
from typing import Iterable

import numpy as np
import torch

__all__ = ["parameter_vector", "load_parameter_vector"]


def _trainable(model) -> list:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (none with requires_grad=True)")
    return params


def parameter_vector(model) -> torch.Tensor:
    """The trainable parameters of ``model`` as one flat tensor (a copy), in ``parameters()`` order."""
    return torch.cat([p.detach().reshape(-1) for p in _trainable(model)])


def _flat_vector(params, vector, name: str, alternative: str = "") -> torch.Tensor:
    """``vector`` as a tensor, refused unless it is flat with one entry per trainable parameter."""
    n = sum(p.numel() for p in params)
    vector = torch.as_tensor(vector)
    if vector.shape != (n,):
        raise ValueError(f"{name} must be a flat vector of the model's n={n} trainable parameters"
                         f"{alternative}, got shape {tuple(vector.shape)}")
    return vector


def load_parameter_vector(model, vector) -> None:
    """Write the flat ``vector`` (torch or numpy, length n) into the trainable parameters of ``model``."""
    params = _trainable(model)
    vector = _flat_vector(params, vector, "vector")
    with torch.no_grad():
        for p, part in zip(params, _split(vector, params)):
            p.copy_(part)


def _split(vector: torch.Tensor, params) -> list:
    return [part.reshape(p.shape) for p, part in zip(params, vector.split([p.numel() for p in params]))]


def _is_array(x) -> bool:
    return isinstance(x, (torch.Tensor, np.ndarray))


def _is_batch(data) -> bool:
    return isinstance(data, (tuple, list)) and len(data) == 2 and _is_array(data[0])


def _as_batches(data):
    """One batch -> [batch]; an iterable of batches is kept if it can be iterated again."""
    if _is_batch(data):
        return [tuple(data)]
    if not isinstance(data, Iterable) or _is_array(data):
        raise TypeError("data must be a batch (inputs, targets) or an iterable of such batches, "
                        f"got {type(data).__name__}")
    if iter(data) is data:  # a generator can be read once only, and we read the data many times
        data = list(data)
    return data


def _move(x, device, dtype):
    if isinstance(x, np.ndarray):
        x = torch.as_tensor(x)
    if isinstance(x, torch.Tensor):
        x = x.to(device=device, dtype=dtype if x.is_floating_point() else None)
    return x


def _batch_len(targets) -> int:
    return int(targets.shape[0]) if _is_array(targets) and targets.ndim > 0 else 1


@contextlib.contextmanager
def _eval_mode(model):
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _checked_loss(loss) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"loss_fn must return a torch tensor, got {type(loss).__name__}")
    if loss.numel() != 1:
        raise ValueError(f"loss_fn must return a scalar (e.g. reduction='mean'), got a tensor of "
                         f"shape {tuple(loss.shape)}")
    if not torch.isfinite(loss).all():
        raise ValueError(f"the loss is {float(loss.detach())} at these parameters: the Hessian of a "
                         "non-finite loss is undefined")
    if not loss.requires_grad:
        raise ValueError("the loss does not depend on the trainable parameters")
    return loss.reshape(())


def _batches_on_device(model, data):
    params = _trainable(model)
    device, dtype = params[0].device, params[0].dtype
    for batch in _as_batches(data):
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise TypeError("each batch must be a pair (inputs, targets)")
        inputs, targets = batch
        yield _move(inputs, device, dtype), _move(targets, device, dtype), _batch_len(targets)


def _evaluate_loss(model, loss_fn, data) -> float:
    """The mean loss L(theta) over all batches, without gradients."""
    total, count = 0.0, 0
    with torch.no_grad(), _eval_mode(model):
        for inputs, targets, size in _batches_on_device(model, data):
            loss = loss_fn(model(inputs), targets)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise ValueError("loss_fn must return a scalar tensor (e.g. reduction='mean')")
            total += float(loss) * size
            count += size
    if count == 0:
        raise ValueError("data holds no batch")
    return total / count

