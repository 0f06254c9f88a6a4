"""The estimators of course_lib.hessian on a plain ``apply(v) = A @ v``, against numpy's eigh.

No model is involved: Lanczos, Hutchinson, Hutch++ and SLQ take any symmetric product.
"""
from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

from course_lib import hessian
from course_lib.hessian import (critical, eigen, lanczos, operator, parameters,
                                spectral_density, trace_estimators)


def symmetric(spectrum, seed=0) -> torch.Tensor:
    """Q diag(spectrum) Q^T for a random orthogonal Q (float64)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((len(spectrum), len(spectrum))))
    return torch.from_numpy(q @ np.diag(spectrum) @ q.T)


# a large negative eigenvalue: "largest" must mean algebraic, not in magnitude
SPECTRUM = np.concatenate([[-10.0, -3.0], np.linspace(-1, 1, 54), [2.0, 4.0, 5.0, 7.0]])


@pytest.mark.parametrize("which", ["largest", "smallest"])
def test_lanczos_eigenpairs_of_a_plain_matrix(which):
    A = symmetric(SPECTRUM)
    pairs = hessian.lanczos_eigenpairs(lambda v: A @ v, len(SPECTRUM), k=3, tol=1e-10, which=which)
    exact = np.sort(SPECTRUM)[::-1][:3] if which == "largest" else np.sort(SPECTRUM)[:3]
    np.testing.assert_allclose(pairs.values, exact, rtol=1e-8)
    for value, vector in zip(pairs.values, pairs.vectors):
        residual = torch.linalg.vector_norm(A @ vector - value * vector)
        assert float(residual) < 1e-6 * abs(value)


def test_lanczos_eigenpairs_on_float32_products():
    A = symmetric(SPECTRUM).float()
    pairs = hessian.lanczos_eigenpairs(lambda v: A @ v, len(SPECTRUM), k=2, dtype=torch.float32)
    assert pairs.vectors.dtype == torch.float32
    np.testing.assert_allclose(pairs.values, [7.0, 5.0], rtol=1e-3)


def test_lanczos_eigenpairs_bad_input():
    A = symmetric(SPECTRUM)
    with pytest.raises(ValueError, match="which must be one of"):
        hessian.lanczos_eigenpairs(lambda v: A @ v, len(SPECTRUM), which="middle")
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 60\], got 61"):
        hessian.lanczos_eigenpairs(lambda v: A @ v, len(SPECTRUM), k=61)


def test_hutchinson_is_exact_on_a_diagonal_matrix_and_unbiased_otherwise():
    D = torch.diag(torch.arange(1.0, 31.0, dtype=torch.float64))
    assert hessian.hutchinson(lambda v: D @ v, 30, num_hvps=1, seed=5) == pytest.approx(465.0)
    A = symmetric(SPECTRUM)
    one = [hessian.hutchinson(lambda v: A @ v, 60, num_hvps=1, seed=s) for s in range(400)]
    # one probe is far off (variance 2 (|A|_F^2 - sum A_ii^2)); the mean of 400 is not
    assert np.std(one) > 3
    assert np.mean(one) == pytest.approx(SPECTRUM.sum(), abs=4 * np.std(one) / np.sqrt(400))


def test_hutch_plus_plus_is_exact_when_the_sketch_spans_the_range():
    low_rank = np.zeros(40)
    low_rank[:2] = [30.0, -5.0]            # rank 2 < s = 9 // 3: Q spans the range of A
    A = symmetric(low_rank, seed=1)
    for seed in range(3):
        plus = hessian.hutch_plus_plus(lambda v: A @ v, 40, num_hvps=9, seed=seed)
        plain = hessian.hutchinson(lambda v: A @ v, 40, num_hvps=9, seed=seed)
        assert plus == pytest.approx(25.0, abs=1e-9)
        assert abs(plain - 25.0) > 1e-3    # the plain estimator is not exact here
    with pytest.raises(ValueError, match="num_hvps must be an integer >= 3, got 2"):
        hessian.hutch_plus_plus(lambda v: A @ v, 40, num_hvps=2)


def test_slq_quadrature_and_density():
    A = symmetric(SPECTRUM)
    full = hessian.slq(lambda v: A @ v, 60, steps=60, runs=1)
    np.testing.assert_allclose(np.sort(full.ritz_values[0]), np.sort(SPECTRUM), atol=1e-8)
    d = hessian.slq(lambda v: A @ v, 60, steps=25, runs=3, points=2000, seed=1)
    assert d.ritz_values.shape == d.ritz_weights.shape == (3, 25)
    np.testing.assert_allclose(d.ritz_weights.sum(axis=1), 1.0, rtol=1e-10)
    area = np.sum(np.diff(d.grid) * (d.density[1:] + d.density[:-1]) / 2)   # trapezoids
    assert area == pytest.approx(1.0, abs=1e-3)
    # the quadrature's first moment is v^T A v / n for each Rademacher start v: its mean is
    # tr(A) / n up to Hutchinson's error (over 3 probes)
    first = (d.ritz_weights * d.ritz_values).sum(axis=1)
    assert abs(first.mean() - SPECTRUM.mean()) < 3 * first.std() + 1e-9
    assert d.ritz_values.max() == pytest.approx(7.0, rel=1e-6)


def test_estimators_on_an_operator_equal_the_estimators_on_its_apply():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    data = (torch.randn(30, 4, dtype=torch.float64), torch.randint(0, 2, (30,)))
    op = hessian.HessianOperator(model, torch.nn.functional.cross_entropy, data)
    assert hessian.trace(op, num_hvps=9, seed=2) == hessian.hutch_plus_plus(op.apply, op.n, 9, seed=2)
    top = hessian.top_eigenvalues(op, k=2, tol=1e-8)
    plain = hessian.lanczos_eigenpairs(op.apply, op.n, k=2, tol=1e-8)
    np.testing.assert_array_equal(top.values, plain.values)


@pytest.mark.parametrize("module", [critical, eigen, lanczos, operator, parameters,
                                    spectral_density, trace_estimators])
def test_submodule_doctests(module):
    torch.manual_seed(0)
    result = doctest.testmod(module)
    assert result.failed == 0
