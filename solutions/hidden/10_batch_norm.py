"""Hidden tests of exercises/10_batch_norm.ipynb (instructor side only)."""
import numpy as np

from course_lib.grading.questions import function, value

SALT = "10-bn-c470"


def cond_cases(rng):
    cases = []
    for _ in range(4):
        n, d = int(rng.integers(10, 40)), int(rng.integers(2, 5))
        cases.append(dict(X=rng.normal(size=(n, d)) * 10.0 ** rng.uniform(-1, 1, size=d)))
    return cases


def cond_reference(ref, X):
    singular = np.linalg.svd(X, compute_uv=False)  # eigenvalues of X^T X are squares of these
    return float((singular.max() / singular.min()) ** 2)


def batch(rng):
    n, d = int(rng.integers(2, 16)), int(rng.integers(1, 5))
    return dict(x=rng.normal(size=(n, d)) * rng.uniform(0.1, 10) + rng.normal(size=d) * 5,
                gamma=rng.normal(size=d), beta=rng.normal(size=d), running_mean=rng.normal(size=d),
                running_var=rng.uniform(0.5, 2.0, size=d))


def train_cases(rng):
    return [dict(batch(rng), momentum=float(rng.uniform(0.01, 0.5)), eps=1e-5) for _ in range(4)]


def eval_cases(rng):
    return [dict(batch(rng), eps=1e-5) for _ in range(4)]


def standardized(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


PUBLIC_BATCH = dict(x=np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]]), gamma=np.array([1.0, 2.0]),
                    beta=np.array([0.0, -1.0]), running_mean=np.zeros(2), running_var=np.ones(2))

QUESTIONS = [
    function("q1", "condition_number", points=1, hidden=cond_cases, reference=cond_reference, rtol=1e-6,
             public=[dict(X=np.array([[1.0, 0.0], [0.0, 3.0]]))]),
    function("q2", "batchnorm_train", points=3, hidden=train_cases, rtol=1e-6, atol=1e-8,
             public=[dict(PUBLIC_BATCH, momentum=0.1, eps=1e-5)]),
    function("q3", "batchnorm_eval", points=1, hidden=eval_cases, rtol=1e-6, atol=1e-8,
             public=[dict(PUBLIC_BATCH, eps=1e-5)]),
    value("q4", "my_cond_raw", points=1, rtol=1e-5,
          expected=lambda ref, sid: cond_reference(ref, ref["my_features"](sid))),
    value("q5", "my_cond_normalized", points=1, rtol=1e-5,
          expected=lambda ref, sid: cond_reference(ref, standardized(ref["my_features"](sid)))),
]
