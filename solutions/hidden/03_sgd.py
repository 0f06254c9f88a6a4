"""Hidden tests of exercises/03_sgd.ipynb (instructor side only)."""
import numpy as np

from course_lib.grading.questions import function, value

SALT = "03-sgd-41d0"


def data(rng, n=None, d=None):
    n = n or int(rng.integers(5, 30))
    d = d or int(rng.integers(1, 4))
    X = rng.normal(size=(n, d))
    y = rng.normal(size=n)
    return dict(X=X, y=y, w=rng.normal(size=d), b=float(rng.normal()))


def per_example_cases(rng):
    return [data(rng) for _ in range(4)]


def minibatch_cases(rng):
    cases = []
    for _ in range(4):
        case = data(rng)
        n = len(case["y"])
        case["idx"] = rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False)
        cases.append(case)
    return cases


def epoch_cases(rng):
    cases = []
    for batch_size in (1, 3, 7, 1000):
        case = data(rng, n=int(rng.integers(8, 20)))
        n = len(case["y"])
        cases.append(dict(case, lr=float(rng.uniform(0.01, 0.1)), batch_size=min(batch_size, n),
                          order=rng.permutation(n)))
    return cases


def noise_cases(rng):
    return [dict(data(rng), batch_size=int(rng.integers(1, 20))) for _ in range(4)]


def noise_by_sampling_check(ref, X, y, w, b, batch_size):
    """Reference of q4, computed from the per-example gradients by brute force."""
    grad_w, grad_b = ref["per_example_grads"](X, y, w, b)
    grads = np.column_stack([grad_w, grad_b])
    mean = grads.mean(axis=0)
    return float(np.mean([np.sum((g - mean) ** 2) for g in grads]) / batch_size)


def small():
    X = np.array([[1.0, 2.0], [0.0, 1.0], [-1.0, 0.5]])
    return dict(X=X, y=np.array([1.0, 0.0, 2.0]), w=np.array([0.5, -0.5]), b=0.1)


QUESTIONS = [
    function("q1", "per_example_grads", points=2, hidden=per_example_cases, public=[small()]),
    function("q2", "minibatch_grad", points=1, hidden=minibatch_cases,
             public=[dict(small(), idx=np.array([0, 2]))]),
    function("q3", "sgd_epoch", points=2, hidden=epoch_cases,
             public=[dict(small(), lr=0.1, batch_size=2, order=np.array([2, 0, 1]))]),
    function("q4", "minibatch_noise", points=2, hidden=noise_cases,
             reference=noise_by_sampling_check, public=[dict(small(), batch_size=2)]),
    value("q5", "my_noise_10", points=1,
          expected=lambda ref, sid: ref["minibatch_noise"](*ref["my_data"](sid), np.zeros(2), 0.0, 10)),
]
