"""The Lanczos process: an orthonormal Krylov basis grown one matrix-vector product at a time.

From a unit vector :math:`v_1`, each step multiplies the newest basis vector by the
symmetric matrix A and orthogonalizes the result against the basis, so that after j steps

.. math:: A V_j^\\top = V_j^\\top P_j + \\beta\\, v_{j+1} e_j^\\top, \\qquad P_j = V_j A V_j^\\top

(V_j holds the basis as rows; P_j is tridiagonal in exact arithmetic). The eigenpairs of
the small matrix P_j, the Ritz pairs, approximate the extreme eigenpairs of A
(:mod:`course_lib.hessian.eigen`) and define a Gauss quadrature of its spectrum
(:mod:`course_lib.hessian.spectral_density`). Only ``apply(v)``, the product with A, is needed.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def _random_vector(n, seed, device, dtype, rademacher=False) -> torch.Tensor:
    # Drawn on the CPU so that a seed gives the same vector on every device.
    gen = torch.Generator().manual_seed(int(seed))
    if rademacher:
        v = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1
    else:
        v = torch.randn(n, generator=gen, dtype=torch.float64)
    return v.to(device=device, dtype=dtype)



class _Krylov:
    """An orthonormal basis V (rows) grown one HVP at a time, and the projection P = V H V^T.

    After j steps: H V_j^T = V_j^T P_j + beta v_{j+1} e_j^T (the Arnoldi relation), which
    stays true after a thick restart, so the residual of every Ritz pair is known for free.
    """

    def __init__(self, apply, v0: torch.Tensor, capacity: int, noise: float, seed: int):
        self.apply, self.capacity, self.noise, self.seed = apply, capacity, noise, seed
        self.V = torch.zeros(capacity + 1, v0.numel(), dtype=v0.dtype, device=v0.device)
        self.V[0] = v0 / torch.linalg.vector_norm(v0)
        self.P = np.zeros((capacity, capacity))
        self.j = 0        # P[:j, :j] is known; V[j] is the next vector to multiply
        self.beta = 0.0
        self.hvps = 0

    def _orthogonalize(self, w: torch.Tensor, rows: int):
        """Make w orthogonal to the first ``rows`` basis vectors; returns (w, coefficients, |w|).

        The Lanczos recurrence puts almost all of :math:`Hv_j` on :math:`v_j` and
        :math:`v_{j-1}`, so those two go first (cheap); one classical Gram-Schmidt pass over
        the whole basis then removes what rounding left. A second pass runs only after heavy
        cancellation (the pass shrank w below 0.7 of its norm: Daniel, Gragg, Kaufman and
        Stewart's test), which keeps the basis orthogonal to working precision.
        """
        basis, x = self.V[:rows], w
        on_cpu = x.device.type == "cpu"
        if on_cpu:  # numpy views of the same memory: a fraction of torch's per-call overhead
            basis, x = basis.numpy(), x.numpy()
        host = (lambda a: a) if on_cpu else (lambda a: a.cpu().numpy())
        last = basis[max(rows - 2, 0):]
        c = last @ x
        x = x - c @ last
        h = np.zeros(rows)
        h[rows - len(c):] = host(c)
        norm = math.sqrt(float(x @ x))
        for _ in range(2):
            c = basis @ x
            x = x - c @ basis
            h += host(c)
            before, norm = norm, math.sqrt(float(x @ x))
            if norm >= 0.7 * before:
                break
        return (torch.from_numpy(x) if on_cpu else x), h, norm

    def extend(self) -> None:
        j = self.j
        w = self.apply(self.V[j]).to(self.V.dtype)
        self.hvps += 1
        w, h, self.beta = self._orthogonalize(w, j + 1)
        self.P[:j + 1, j] = h
        self.P[j, :j + 1] = h
        self.j = j + 1
        if self.j >= self.V.shape[1]:  # the whole space is spanned: P is similar to H
            return
        if self.beta > self.noise:
            self.V[self.j] = w / self.beta
        else:
            # An invariant subspace: the Krylov sequence ended. Go on with a fresh direction
            # orthogonal to it (its eigenvalues were invisible from the starting vector).
            fresh = _random_vector(self.V.shape[1], self.seed + self.j, self.V.device, self.V.dtype)
            fresh, _, norm = self._orthogonalize(fresh, self.j)
            self.V[self.j] = fresh / norm

    @property
    def exhausted(self) -> bool:
        return self.j >= self.V.shape[1]

    def ritz(self):
        return np.linalg.eigh(self.P[:self.j, :self.j])

    def restart(self, theta, S, keep) -> None:
        """Keep the Ritz vectors ``keep``; P becomes diag(theta) bordered by the next residual."""
        m = len(keep)
        next_vector = self.V[self.j].clone()
        S_keep = torch.as_tensor(S[:, keep].T.copy(), dtype=self.V.dtype, device=self.V.device)
        self.V[:m] = S_keep @ self.V[:self.j]
        self.V[m] = next_vector
        self.P[:] = 0.0
        self.P[np.arange(m), np.arange(m)] = theta[keep]
        self.j = m

    def vectors(self, S_cols) -> torch.Tensor:
        S_t = torch.as_tensor(np.ascontiguousarray(S_cols.T), dtype=self.V.dtype, device=self.V.device)
        return S_t @ self.V[:self.j]

