"""The learning rates a torch.optim scheduler produces, step by step (shared by the tests)."""
from __future__ import annotations

import numpy as np
import torch


def torch_lrs(make_scheduler, steps: int, lr: float = 1e-3) -> np.ndarray:
    """``make_scheduler(optimizer)`` on a one-parameter SGD; the lr used at each of ``steps`` steps."""
    w = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=lr)
    scheduler = make_scheduler(optimizer)
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(out)
