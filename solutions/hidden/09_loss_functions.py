"""Hidden tests of exercises/09_loss_functions.ipynb (instructor side only)."""
import numpy as np

from course_lib.grading.questions import function, value

SALT = "09-loss-2d5b"


def logits_cases(rng):
    cases = []
    for scale in (1.0, 10.0, 1000.0):  # 1000: naive exp overflows
        n, k = int(rng.integers(1, 8)), int(rng.integers(2, 6))
        cases.append(dict(logits=rng.normal(size=(n, k)) * scale))
    cases.append(dict(logits=np.array([[1000.0, -1000.0, 0.0]])))
    return cases


def log_softmax_reference(ref, logits):
    """log-sum-exp written independently (float128-free, via the max trick)."""
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.sum(np.exp(logits - top), axis=-1, keepdims=True))


def ce_cases(rng):
    cases = []
    for scale in (1.0, 5.0, 500.0):
        n, k = int(rng.integers(1, 10)), int(rng.integers(2, 6))
        cases.append(dict(logits=rng.normal(size=(n, k)) * scale, labels=rng.integers(0, k, size=n),
                          class_weights=rng.uniform(0.1, 3.0, size=k)))
    return cases


def grad_cases(rng):
    cases = []
    for scale in (1.0, 50.0):
        n, k = int(rng.integers(1, 10)), int(rng.integers(2, 6))
        cases.append(dict(logits=rng.normal(size=(n, k)) * scale, labels=rng.integers(0, k, size=n)))
    return cases


def my_loss(ref, sid):
    logits, labels = ref["my_batch"](sid)
    picked = log_softmax_reference(ref, logits)[np.arange(len(labels)), labels]
    return float(-picked.mean())


PUBLIC_LOGITS = np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 1000.0]])

QUESTIONS = [
    function("q1", "softmax", points=1, hidden=logits_cases, public=[dict(logits=PUBLIC_LOGITS)]),
    function("q2", "log_softmax", points=2, hidden=logits_cases, reference=log_softmax_reference,
             public=[dict(logits=PUBLIC_LOGITS)]),
    function("q3", "cross_entropy", points=3, hidden=ce_cases,
             public=[dict(logits=PUBLIC_LOGITS, labels=np.array([0, 1]), class_weights=np.array([1.0, 2.0, 1.0]))]),
    function("q4", "cross_entropy_grad", points=2, hidden=grad_cases,
             public=[dict(logits=PUBLIC_LOGITS, labels=np.array([0, 1]))]),
    value("q5", "my_loss", points=1, expected=my_loss),
]
