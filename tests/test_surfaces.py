"""course_lib.surfaces: analytic gradients and Hessians against finite differences, minima
are stationary (and minima), vectorization over leading dimensions."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import surfaces as S

SURFACES = [S.rosenbrock, S.beale, S.himmelblau, S.saddle, S.monkey_saddle,
            S.quadratic(condition=25.0, angle=0.7, scale=3.0), S.wb_valley()]


def _points(surface, n=50, seed=0):
    (x0, x1), (y0, y1) = surface.bounds
    return np.random.default_rng(seed).uniform([x0, y0], [x1, y1], (n, 2))


def _fd_grad(f, xy, h=1e-6):
    e = np.eye(2) * h
    return np.stack([(f(xy + e[i]) - f(xy - e[i])) / (2 * h) for i in range(2)], axis=-1)


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_gradient_matches_finite_differences(surface):
    xy = _points(surface)
    g = surface.grad(xy)
    fd = _fd_grad(surface.value, xy)
    scale = 1 + np.abs(g).max()
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * scale)


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_hessian_matches_finite_differences_of_the_gradient(surface):
    xy = _points(surface)
    H = surface.hessian(xy)
    h = 1e-6
    fd = np.stack([(surface.grad(xy + h * e) - surface.grad(xy - h * e)) / (2 * h)
                   for e in np.eye(2)], axis=-1)
    scale = 1 + np.abs(H).max()
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-7 * scale)
    np.testing.assert_array_equal(H, np.swapaxes(H, -1, -2))


@pytest.mark.parametrize("surface", [s for s in SURFACES if len(s.minima)],
                         ids=lambda s: s.name)
def test_known_minima_are_stationary_local_minima(surface):
    m = surface.minima
    g = surface.grad(m)
    assert np.abs(g).max() < 1e-9 * (1 + np.abs(surface.value(m)).max()) + 1e-9
    eig = np.linalg.eigvalsh(surface.hessian(m))
    assert (eig > 0).all()
    # nothing nearby is lower
    rng = np.random.default_rng(1)
    for p in m:
        near = p + rng.normal(scale=1e-3, size=(200, 2))
        assert (surface.value(near) >= surface.value(p[None])[0]).all()


def test_known_minimum_values():
    assert S.rosenbrock.value(np.array([1.0, 1.0])) == 0.0
    assert S.beale.value(np.array([3.0, 0.5])) == 0.0
    np.testing.assert_allclose(S.himmelblau.value(S.himmelblau.minima), 0.0, atol=1e-20)
    assert len(S.himmelblau.minima) == 4


def test_saddles_are_stationary_at_the_origin_and_not_minima():
    o = np.zeros(2)
    for s in (S.saddle, S.monkey_saddle):
        assert np.all(s.grad(o) == 0)
        assert len(s.minima) == 0
    eig = np.linalg.eigvalsh(S.saddle.hessian(o))
    np.testing.assert_array_equal(eig, [-2.0, 2.0])
    # the monkey saddle's Hessian vanishes at the origin: a degenerate critical point
    np.testing.assert_array_equal(S.monkey_saddle.hessian(o), np.zeros((2, 2)))
    assert S.monkey_saddle.value(np.array([-0.1, 0.0])) < 0 < S.monkey_saddle.value(
        np.array([0.1, 0.0]))


def test_quadratic_condition_number_and_rotation():
    q = S.quadratic(condition=25.0, angle=0.7, scale=3.0)
    eig = np.linalg.eigvalsh(q.A)
    np.testing.assert_allclose(eig, [3.0 / 25, 3.0], rtol=1e-12)
    assert q.L == pytest.approx(3.0) and q.mu == pytest.approx(0.12) and q.condition == \
        pytest.approx(25.0)
    # the steep eigenvector is the y axis rotated by the angle
    v = np.linalg.eigh(q.A)[1][:, 1]
    assert abs(abs(v @ [-np.sin(0.7), np.cos(0.7)]) - 1) < 1e-12
    xy = _points(q)
    np.testing.assert_allclose(q.value(xy), 0.5 * np.einsum("ni,ij,nj->n", xy, q.A, xy))
    with pytest.raises(ValueError, match="condition"):
        S.quadratic(condition=0.5)
    with pytest.raises(ValueError, match="scale"):
        S.quadratic(scale=0.0)


def test_wb_valley_is_least_squares_and_ill_conditioned():
    v = S.wb_valley(n=200, seed=3)
    assert 30 < v.condition < 1000
    rng = np.random.default_rng(3)
    x = rng.normal(3.0, 1.0, 200)
    y = 2.0 * x - 1.0 + rng.normal(0.0, 0.5, 200)
    w, b = np.polyfit(x, y, 1)
    np.testing.assert_allclose(v.minima[0], [w, b], rtol=1e-9)
    pts = _points(v, 10)
    mse = [0.5 * np.mean((p[0] * x + p[1] - y) ** 2) for p in pts]
    np.testing.assert_allclose(v.value(pts), mse, rtol=1e-10)


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_vectorized_over_leading_dimensions(surface):
    xy = _points(surface, 24).reshape(2, 3, 4, 2)
    assert surface.value(xy).shape == (2, 3, 4)
    assert surface.grad(xy).shape == (2, 3, 4, 2)
    assert surface.hessian(xy).shape == (2, 3, 4, 2, 2)
    one = xy[1, 2, 3]
    assert surface.value(one).shape == ()
    np.testing.assert_array_equal(surface.grad(xy)[1, 2, 3], surface.grad(one))
    np.testing.assert_array_equal(surface.hessian(xy)[1, 2, 3], surface.hessian(one))


def test_lookup_grid_and_bad_input():
    assert S.get("rosenbrock") is S.rosenbrock and S.rosenbrock() is S.rosenbrock
    assert isinstance(S.get("quadratic"), S.Quadratic)
    X, Y, Z = S.himmelblau.grid(30)
    assert X.shape == Y.shape == Z.shape == (30, 30)
    with pytest.raises(ValueError, match="surface"):
        S.get("ackley")
    with pytest.raises(ValueError, match="xy"):
        S.rosenbrock.grad(np.zeros(3))
