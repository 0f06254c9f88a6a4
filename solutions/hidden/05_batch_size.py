"""Hidden tests of exercises/05_batch_size.ipynb (instructor side only)."""
import numpy as np

from course_lib.grading.questions import function, value

SALT = "05-batch-e2c9"


def updates_cases(rng):
    cases = [dict(n=int(rng.integers(1, 5000)), batch_size=int(rng.integers(1, 300))) for _ in range(4)]
    return cases + [dict(n=1000, batch_size=10), dict(n=7, batch_size=7), dict(n=3, batch_size=10)]


def power_cases(rng):
    cases = []
    for _ in range(4):
        d = int(rng.integers(3, 15))
        eigenvalues = rng.uniform(0.0, 1.0, size=d)
        eigenvalues[0] = eigenvalues.max() * rng.uniform(1.5, 3.0)  # a clear top eigenvalue
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        A = q @ np.diag(eigenvalues) @ q.T
        cases.append(dict(A=(A + A.T) / 2, v0=rng.normal(size=d), iters=300))
    return cases


def interpolation_cases(rng):
    cases = []
    for _ in range(3):
        n, d = int(rng.integers(5, 30)), int(rng.integers(1, 4))
        cases.append(dict(X=rng.normal(size=(n, d)), y=rng.normal(size=n), w_a=rng.normal(size=d),
                          w_b=rng.normal(size=d), alphas=np.linspace(-0.5, 1.5, int(rng.integers(3, 12)))))
    return cases


def top_eigenvalue(ref, A, v0, iters):
    return float(np.linalg.eigvalsh(A).max())


def my_sharpness(ref, sid):
    X = ref["my_features"](sid)
    return float(np.linalg.eigvalsh(X.T @ X / len(X)).max())


QUESTIONS = [
    function("q1", "updates_per_epoch", points=1, hidden=updates_cases,
             reference=lambda ref, n, batch_size: int(np.ceil(n / batch_size)),
             public=[dict(n=1000, batch_size=32)]),
    function("q2", "power_iteration", points=3, hidden=power_cases, reference=top_eigenvalue,
             rtol=1e-6, public=[dict(A=np.diag([1.0, 3.0, 2.0]), v0=np.ones(3), iters=100)]),
    function("q3", "interpolation_curve", points=2, hidden=interpolation_cases,
             public=[dict(X=np.eye(2), y=np.zeros(2), w_a=np.array([1.0, 0.0]),
                          w_b=np.array([0.0, 1.0]), alphas=np.array([0.0, 0.5, 1.0]))]),
    value("q4", "my_sharpness", points=2, expected=my_sharpness, rtol=1e-6),
]
