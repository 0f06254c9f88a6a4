"""Hidden tests of exercises/04_critical_points.ipynb (instructor side only)."""
import numpy as np

from course_lib.grading.questions import choice, function

SALT = "04-crit-5a7f"
KINDS = ("minimum", "maximum", "saddle", "degenerate")


def symmetric(rng, eigenvalues):
    d = len(eigenvalues)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q @ np.diag(eigenvalues) @ q.T


def taylor_cases(rng):
    cases = []
    for _ in range(4):
        d = int(rng.integers(2, 5))
        cases.append(dict(g=rng.normal(size=d), H=symmetric(rng, rng.normal(size=d)),
                          delta=rng.normal(size=d)))
    return cases


def classify_cases(rng):
    """Each kind twice; the expected kind is known by construction."""
    cases = []
    for _ in range(2):
        d = int(rng.integers(2, 6))
        size = rng.uniform(0.1, 3.0, size=d)
        mixed = size * np.where(np.arange(d) % 2 == 0, 1.0, -1.0)
        zero = size.copy()
        zero[0] = 0.0
        for eigenvalues, kind in ((size, "minimum"), (-size, "maximum"), (mixed, "saddle"),
                                  (zero * rng.choice([-1.0, 1.0]), "degenerate")):
            cases.append((dict(H=symmetric(rng, rng.permutation(eigenvalues)), tol=1e-6), kind))
    d = 3  # mixed signs *and* a zero eigenvalue: a saddle all the same
    cases.append((dict(H=symmetric(rng, np.array([1.0, 0.0, -2.0])), tol=1e-6), "saddle"))
    return cases


def escape_cases(rng):
    cases = []
    for _ in range(4):
        d = int(rng.integers(2, 6))
        eigenvalues = np.sort(rng.uniform(-3, 3, size=d))
        eigenvalues[0] = eigenvalues[1] - rng.uniform(0.5, 2.0)  # a clear smallest one
        H = symmetric(rng, eigenvalues)
        cases.append(dict(H=(H + H.T) / 2))
    return cases


def smallest_eigenvector(ref, H):
    eigenvalues, eigenvectors = np.linalg.eigh(H)
    return eigenvectors[:, 0]


def ratio_cases(rng):
    return [dict(eigenvalues=rng.normal(size=int(rng.integers(3, 50)))) for _ in range(4)]


QUESTIONS = [
    function("q1", "taylor_change", points=1, hidden=taylor_cases,
             public=[dict(g=np.array([1.0, 0.0]), H=np.diag([2.0, -1.0]), delta=np.array([1.0, 2.0]))]),
    function("q2", "classify", points=2, hidden=classify_cases,
             public=[dict(H=np.diag([1.0, 3.0]), tol=1e-8), dict(H=np.diag([2.0, -1.0]), tol=1e-8),
                     dict(H=np.diag([0.0, 0.0]), tol=1e-8)]),
    function("q3", "escape_direction", points=2, hidden=escape_cases, up_to_sign=True,
             reference=smallest_eigenvector, public=[dict(H=np.array([[1.0, 2.0], [2.0, 1.0]]))]),
    function("q4", "minimum_ratio", points=1, hidden=ratio_cases,
             reference=lambda ref, eigenvalues: float(np.mean(eigenvalues > 0)),
             public=[dict(eigenvalues=np.array([3.0, -1.0, 0.5, 2.0]))]),
    choice("q5", "my_kind", points=1, options=KINDS,
           expected=lambda ref, sid: ref["classify"](ref["my_hessian"](sid))),
]
