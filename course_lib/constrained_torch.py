"""The differential method of multipliers inside an ordinary ``torch.optim`` step.

:class:`Constraint` holds one constraint and its multiplier ``lambda`` as a parameter whose
gradient a hook negates, so the optimizer's descent step is the ascent step
``lambda <- lambda + lr g``; :class:`Lagrangian` adds the constraints' terms to the loss.
The step on the model is the one of :func:`course_lib.constrained.multiplier_force`,
``f = max(0, lambda + c g)`` times ``grad g``. See :mod:`course_lib.constrained` for the
numpy methods and an example; the names here are re-exported there.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from . import _checks
from .constrained import multiplier_force

__all__ = ["Constraint", "Lagrangian", "hard_constraint_first_step"]


class Constraint(nn.Module):
    """A constraint ``fn() <= bound`` (``kind="le"``), ``>= bound`` or ``== bound``.

    Its multiplier is a parameter: give ``lagrangian.parameters()`` to the optimizer
    (a larger learning rate than the model's is typical). A hook negates the
    multiplier's gradient, so the optimizer's descent step is the ascent step
    ``lambda <- lambda + lr g``. Calling the constraint returns the term ``f * g`` whose
    gradient is ``f grad g`` for the model (``f`` from :func:`multiplier_force`) and
    ``g`` for the multiplier.

    Parameters
    ----------
    fn : callable
        ``fn()`` -> scalar tensor, e.g. ``lambda: l1(model)``.
    bound : float
    kind : "le", "ge" or "eq"
    damping : float
        ``c`` of MDMM; 0 gives BDMM.
    multiplier : float
        Initial value of lambda.
    trainable : bool
        False keeps lambda fixed: the constraint is then a plain linear combination
        ``lambda (fn - bound)``, the "solve the dual" step.
    """

    def __init__(self, fn: Callable, bound: float, kind: str = "le", damping: float = 10.0,
                 multiplier: float = 0.0, trainable: bool = True):
        super().__init__()
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        _checks.one_of("kind", kind, ("le", "ge", "eq"))
        self.fn = fn
        self.bound = float(bound)
        self.kind = kind
        self.damping = _checks.nonnegative("damping", damping)
        if kind != "eq":
            multiplier = _checks.nonnegative("multiplier", multiplier)
        self.multiplier = nn.Parameter(torch.tensor(float(multiplier)), requires_grad=trainable)
        if trainable:
            self.multiplier.register_hook(torch.neg)

    @property
    def inequality(self) -> bool:
        return self.kind != "eq"

    def violation(self):
        """``g``: positive when the constraint is violated (zero on its boundary)."""
        value = self.fn()
        return self.bound - value if self.kind == "ge" else value - self.bound

    def forward(self):
        if self.inequality:
            with torch.no_grad():  # project the last ascent step onto lambda >= 0
                self.multiplier.clamp_(min=0.0)
        g = self.violation()
        lam = self.multiplier
        force = multiplier_force(lam.detach(), g.detach(), self.damping, self.inequality)
        return lam * g + (force - lam.detach()) * g

    def extra_repr(self):
        return f"kind={self.kind!r}, bound={self.bound:g}, damping={self.damping:g}"


class Lagrangian(nn.Module):
    """``L0 + sum_k f_k g_k`` over a list of :class:`Constraint`."""

    def __init__(self, constraints: Sequence[Constraint]):
        super().__init__()
        if len(constraints) == 0:
            raise ValueError("a Lagrangian needs at least one Constraint")
        for c in constraints:
            if not isinstance(c, Constraint):
                raise TypeError(f"constraints must be Constraint objects, got {type(c).__name__}")
        self.constraints = nn.ModuleList(constraints)

    def forward(self, loss):
        total = loss
        for c in self.constraints:
            total = total + c()
        return total

    @property
    def multipliers(self):
        """Current multipliers (clipped at 0 for inequalities), as a 1-D tensor."""
        values = [c.multiplier.detach().clamp(min=0.0) if c.inequality else c.multiplier.detach()
                  for c in self.constraints]
        return torch.stack(values)


def hard_constraint_first_step(optimizer, objective: Callable, constraint, max_inner: int = 200) -> int:
    """One step of hard-constraint-first with a torch optimizer.

    While ``constraint.violation() > 0``, step on the violation (at most ``max_inner``
    times); then step on ``objective()``. Returns the number of gradient evaluations.
    """
    evals = 0
    for _ in range(max_inner):
        g = constraint.violation()
        if float(g.detach()) <= 0:
            break
        optimizer.zero_grad()
        g.backward()
        optimizer.step()
        evals += 1
    optimizer.zero_grad()
    objective().backward()
    optimizer.step()
    return evals + 1
