"""Two-dimensional test functions with analytic gradient and Hessian.

Every surface is vectorized over leading dimensions: ``xy`` has shape ``(..., 2)``;
``value`` returns shape ``(...)``, ``grad`` ``(..., 2)``, ``hessian`` ``(..., 2, 2)``.

>>> import numpy as np
>>> from course_lib import surfaces
>>> surfaces.rosenbrock.value(np.array([[1.0, 1.0], [0.0, 0.0]])).tolist()
[0.0, 1.0]
>>> q = surfaces.quadratic(condition=10.0)
>>> q.L, q.mu
(1.0, 0.1)

The simple surfaces are ready-made instances (``surfaces.rosenbrock``); calling a
surface with no argument returns it, so ``surfaces.rosenbrock()`` works as well.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from course_lib import _checks

__all__ = [
    "Surface", "Quadratic", "quadratic", "wb_valley", "rosenbrock", "beale", "himmelblau",
    "saddle", "monkey_saddle", "get", "ALL",
]


def _as_points(xy) -> np.ndarray:
    xy = np.asarray(xy, dtype=float)
    if xy.ndim == 0 or xy.shape[-1] != 2:
        raise ValueError(f"xy must be an array of points with a last axis of length 2, got shape {xy.shape}")
    return xy


@dataclass(frozen=True, eq=False)
class Surface:
    """A function of two variables with its gradient and Hessian.

    Parameters
    ----------
    name : str
    f, df, d2f : callable
        ``f(x, y)``, ``df(x, y) -> (fx, fy)`` and ``d2f(x, y) -> (fxx, fxy, fyy)`` on
        arrays of equal shape (broadcast scalars are fine).
    minima : array (k, 2)
        Known (global and local) minima; empty for surfaces without one.
    bounds : ((xmin, xmax), (ymin, ymax))
        The window a figure should show.
    """

    name: str
    f: Callable
    df: Callable
    d2f: Callable
    minima: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    bounds: tuple = ((-2.0, 2.0), (-2.0, 2.0))

    def __post_init__(self):
        object.__setattr__(self, "minima", np.asarray(self.minima, dtype=float).reshape(-1, 2))

    def value(self, xy) -> np.ndarray:
        """f at each point, shape ``xy.shape[:-1]``."""
        xy = _as_points(xy)
        return np.asarray(self.f(xy[..., 0], xy[..., 1]), dtype=float) + np.zeros(xy.shape[:-1])

    def grad(self, xy) -> np.ndarray:
        """The gradient (df/dx, df/dy), shape ``xy.shape``."""
        xy = _as_points(xy)
        gx, gy = self.df(xy[..., 0], xy[..., 1])
        out = np.empty_like(xy)  # keeps xy's memory layout (descent stores x and y apart)
        out[..., 0] = gx
        out[..., 1] = gy
        return out

    def hessian(self, xy) -> np.ndarray:
        """The Hessian, shape ``xy.shape + (2,)``."""
        xy = _as_points(xy)
        hxx, hxy, hyy = self.d2f(xy[..., 0], xy[..., 1])
        # entries stored apart (each contiguous when xy's coordinates are)
        out = np.moveaxis(np.empty((2, 2) + xy.shape[:-1]), (0, 1), (-2, -1))
        out[..., 0, 0] = hxx
        out[..., 0, 1] = hxy
        out[..., 1, 0] = hxy
        out[..., 1, 1] = hyy
        return out

    def grid(self, n: int = 200):
        """``(X, Y, Z)`` on an ``n x n`` grid over ``bounds`` (for contour plots)."""
        (x0, x1), (y0, y1) = self.bounds
        X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
        return X, Y, self.value(np.stack([X, Y], axis=-1))

    def __call__(self, xy=None):
        # No argument: the instance itself, so `rosenbrock()` and `rosenbrock` both work.
        return self if xy is None else self.value(xy)

    def __repr__(self):
        return f"<Surface {self.name}>"


@dataclass(frozen=True, eq=False, repr=False)
class Quadratic(Surface):
    """``f(p) = 1/2 (p - p*)^T A (p - p*) + f*``; ``L`` and ``mu`` are A's extreme eigenvalues."""

    A: np.ndarray = None
    L: float = None
    mu: float = None

    @property
    def condition(self) -> float:
        return self.L / self.mu


def _quadratic(name, A, minimum=(0.0, 0.0), min_value=0.0, bounds=None):
    A = np.asarray(A, dtype=float)
    (a, b), (_, d) = A
    x0, y0 = map(float, minimum)

    def f(x, y):
        u, v = x - x0, y - y0
        return 0.5 * (a * u * u + 2 * b * u * v + d * v * v) + min_value

    def df(x, y):
        u, v = x - x0, y - y0
        return a * u + b * v, b * u + d * v

    def d2f(x, y):
        return a, b, d

    eig = np.linalg.eigvalsh(A)
    if bounds is None:
        bounds = ((x0 - 3.0, x0 + 3.0), (y0 - 3.0, y0 + 3.0))
    return Quadratic(name, f, df, d2f, [minimum], bounds, A=A, L=float(eig[-1]),
                     mu=float(eig[0]))


def quadratic(condition: float = 10.0, angle: float = 0.0, scale: float = 1.0) -> Quadratic:
    """``f(p) = 1/2 p^T A p`` with eigenvalues ``L = scale`` and ``mu = scale / condition``.

    At ``angle=0`` the flat direction (``mu``) is the x axis and the steep one (``L``) the
    y axis; ``angle`` (radians) rotates both counter-clockwise. Gradient descent converges
    for ``lr < 2 / L``.
    """
    _checks.number("condition", condition, 1)
    _checks.positive("scale", scale)
    c, s = math.cos(angle), math.sin(angle)
    R = np.array([[c, -s], [s, c]])
    A = R @ np.diag([scale / condition, scale]) @ R.T
    A = 0.5 * (A + A.T)  # exactly symmetric
    return _quadratic(f"quadratic(condition={condition:g}, angle={angle:g})", A)


def wb_valley(n: int = 100, seed: int = 0) -> Quadratic:
    """Mean squared error ``1/(2n) sum (w x_i + b - y_i)^2`` of a 1-feature linear
    regression as a function of ``(w, b)``.

    The feature has mean 3 and standard deviation 1 (``y = 2 x - 1 + noise``), so the
    Hessian ``[[E x^2, E x], [E x, 1]]`` is ill conditioned (about 110): a long narrow
    valley along which ``w`` and ``b`` trade off.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 1.0, n)
    y = 2.0 * x - 1.0 + rng.normal(0.0, 0.5, n)
    A = np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
    w, b = np.linalg.solve(A, [np.mean(x * y), np.mean(y)])
    residual = w * x + b - y
    return _quadratic("w/b valley", A, (w, b), 0.5 * float(np.mean(residual ** 2)),
                      bounds=((w - 3.0, w + 3.0), (b - 6.0, b + 6.0)))


# Rosenbrock: (1 - x)^2 + 100 (y - x^2)^2 --------------------------------------------
def _rb_f(x, y):
    r = y - x * x
    return (1 - x) ** 2 + 100 * r * r


def _rb_df(x, y):
    r = y - x * x
    return -2 * (1 - x) - 400 * x * r, 200 * r


def _rb_d2f(x, y):
    return 2 - 400 * (y - x * x) + 800 * x * x, -400 * x, 200 + 0 * x


rosenbrock = Surface("rosenbrock", _rb_f, _rb_df, _rb_d2f, [[1.0, 1.0]],
                     ((-2.0, 2.0), (-1.0, 3.0)))


# Beale: sum_k (c_k - x + x y^k)^2, c = (1.5, 2.25, 2.625) -----------------------------
_BEALE_C = (1.5, 2.25, 2.625)


def _powers(y):
    # y, y^2, y^3 by multiplication: exact and identical for any batch size
    y2 = y * y
    return (1, y, y2, y2 * y)


def _beale_f(x, y):
    yk = _powers(y)
    return sum((c - x + x * yk[k]) ** 2 for k, c in enumerate(_BEALE_C, 1))


def _beale_df(x, y):
    yk = _powers(y)
    gx = gy = 0
    for k, c in enumerate(_BEALE_C, 1):
        r = c - x + x * yk[k]
        gx = gx + 2 * r * (yk[k] - 1)
        gy = gy + 2 * r * k * x * yk[k - 1]
    return gx, gy


def _beale_d2f(x, y):
    yk = _powers(y)
    hxx = hxy = hyy = 0
    for k, c in enumerate(_BEALE_C, 1):
        r = c - x + x * yk[k]
        rx, ry = yk[k] - 1, k * x * yk[k - 1]
        ryy = k * (k - 1) * x * yk[k - 2] if k > 1 else 0
        rxy = k * yk[k - 1]
        hxx = hxx + 2 * rx * rx
        hxy = hxy + 2 * (rx * ry + r * rxy)
        hyy = hyy + 2 * (ry * ry + r * ryy)
    return hxx, hxy, hyy


beale = Surface("beale", _beale_f, _beale_df, _beale_d2f, [[3.0, 0.5]],
                ((-4.5, 4.5), (-4.5, 4.5)))


# Himmelblau: (x^2 + y - 11)^2 + (x + y^2 - 7)^2, four minima ---------------------------
def _hb_f(x, y):
    a, b = x * x + y - 11, x + y * y - 7
    return a * a + b * b


def _hb_df(x, y):
    a, b = x * x + y - 11, x + y * y - 7
    return 4 * x * a + 2 * b, 2 * a + 4 * y * b


def _hb_d2f(x, y):
    a, b = x * x + y - 11, x + y * y - 7
    return 4 * a + 8 * x * x + 2, 4 * x + 4 * y, 2 + 4 * b + 8 * y * y


himmelblau = Surface(
    "himmelblau", _hb_f, _hb_df, _hb_d2f,
    [[3.0, 2.0], [-2.805118086952745, 3.131312518250573],
     [-3.779310253377747, -3.283185991286170], [3.584428340330492, -1.848126526964404]],
    ((-5.0, 5.0), (-5.0, 5.0)))


# Saddles: x^2 - y^2 (a saddle at the origin) and the monkey saddle x^3 - 3 x y^2 ----------
saddle = Surface("saddle", lambda x, y: x * x - y * y, lambda x, y: (2 * x, -2 * y),
                 lambda x, y: (2 + 0 * x, 0 * x, -2 + 0 * x), np.zeros((0, 2)),
                 ((-2.0, 2.0), (-2.0, 2.0)))

monkey_saddle = Surface(
    "monkey_saddle", lambda x, y: x * x * x - 3 * x * y * y,
    lambda x, y: (3 * x * x - 3 * y * y, -6 * x * y),
    lambda x, y: (6 * x, -6 * y, -6 * x), np.zeros((0, 2)), ((-2.0, 2.0), (-2.0, 2.0)))

#: The ready-made surfaces by name.
ALL = {s.name: s for s in (rosenbrock, beale, himmelblau, saddle, monkey_saddle)}


def get(name: str) -> Surface:
    """A surface by name: the entries of :data:`ALL`, ``"quadratic"`` or ``"wb_valley"``."""
    if isinstance(name, Surface):
        return name
    built = {"quadratic": quadratic, "wb_valley": wb_valley}
    _checks.one_of("surface", name, sorted(ALL) + sorted(built))
    return ALL[name] if name in ALL else built[name]()
