"""Hidden tests of exercises/02_gradient_descent.ipynb (instructor side only)."""
import numpy as np

from course_lib.grading.questions import function, value

SALT = "02-gd-7c1e"


def random_spd(rng, d, low=0.5, high=20.0):
    """A symmetric positive definite matrix with eigenvalues in [low, high]."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q @ np.diag(rng.uniform(low, high, size=d)) @ q.T


def gd_cases(rng):
    cases = []
    for _ in range(5):
        d = int(rng.integers(2, 5))
        A = random_spd(rng, d)
        L = np.linalg.eigvalsh(A).max()
        cases.append(dict(A=A, b=rng.normal(size=d), x0=rng.normal(size=d),
                          lr=float(rng.uniform(0.1, 1.9) / L), steps=int(rng.integers(1, 25))))
    A = random_spd(rng, 3)  # one run beyond the bound: it must diverge the same way
    cases.append(dict(A=A, b=np.zeros(3), x0=rng.normal(size=3),
                      lr=float(2.3 / np.linalg.eigvalsh(A).max()), steps=15))
    return cases


def bound_cases(rng):
    return [dict(A=random_spd(rng, int(rng.integers(2, 6)), 0.1, float(rng.uniform(1, 100))))
            for _ in range(5)]


def newton_cases(rng):
    cases = []
    for _ in range(4):
        d = int(rng.integers(2, 5))
        cases.append(dict(x=rng.normal(size=d), grad=rng.normal(size=d), hessian=random_spd(rng, d)))
    return cases


QUESTIONS = [
    function("q1", "gd_quadratic", points=2, hidden=gd_cases, rtol=1e-7, atol=1e-10,
             public=[dict(A=np.diag([1.0, 10.0]), b=np.array([1.0, 1.0]), x0=np.zeros(2),
                          lr=0.1, steps=3)]),
    function("q2", "stability_bound", points=2, hidden=bound_cases,
             reference=lambda ref, A: 2.0 / np.linalg.eigvalsh(A).max(),
             public=[dict(A=np.diag([1.0, 4.0]))]),
    function("q3", "newton_step", points=2, hidden=newton_cases, rtol=1e-7, atol=1e-10,
             public=[dict(x=np.array([1.0, 1.0]), grad=np.array([2.0, 8.0]),
                          hessian=np.diag([2.0, 4.0]))]),
    value("q4", "my_eta_max", points=1,
          expected=lambda ref, sid: 2.0 / np.linalg.eigvalsh(ref["my_quadratic"](sid)).max()),
]
