"""Hidden tests of exercises/12_sampling.ipynb (instructor side only)."""
import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from course_lib.grading.questions import function, value

SALT = "12-snis-19c7"


def logpdf_cases(rng):
    cases = []
    for _ in range(3):
        n, d = int(rng.integers(1, 10)), int(rng.integers(1, 4))
        cases.append(dict(x=rng.normal(size=(n, d)), mean=rng.normal(size=d), sigma=float(rng.uniform(0.1, 3))))
    return cases


def logpdf_reference(ref, x, mean, sigma):
    return multivariate_normal(mean, sigma**2 * np.eye(len(mean))).logpdf(x).reshape(len(x))


def snis_cases(rng):
    cases = []
    for scale, d in ((1.0, None), (1.0, 2), (2000.0, 3), (1.0, 1)):
        n = int(rng.integers(2, 30))
        values = rng.normal(size=n) if d is None else rng.normal(size=(n, d))
        cases.append(dict(values=values, log_target=rng.normal(size=n) * scale,
                          log_proposal=rng.normal(size=n) * scale))
    return cases


def snis_reference(ref, values, log_target, log_proposal):
    log_w = log_target - log_proposal
    normalized = np.exp(log_w - logsumexp(log_w))
    return (normalized[:, None] * values.reshape(len(values), -1)).sum(axis=0).reshape(values.shape[1:])


def ess_cases(rng):
    return [dict(log_weights=rng.normal(size=int(rng.integers(2, 50))) * scale) for scale in (0.1, 1, 5, 1000)]


def ess_reference(ref, log_weights):
    return float(np.exp(2 * logsumexp(log_weights) - logsumexp(2 * log_weights)))


def reinforce_cases(rng):
    cases = []
    for _ in range(3):
        n, d = int(rng.integers(1, 20)), int(rng.integers(1, 4))
        cases.append(dict(rewards=rng.normal(size=n), score_grads=rng.normal(size=(n, d)),
                          baseline=float(rng.normal())))
    return cases


def my_update(ref, sid):
    deltas, changes, alpha, mean, sigma = ref["my_samples"](sid)
    return snis_reference(ref, deltas, -changes / alpha, logpdf_reference(ref, deltas, mean, sigma))


QUESTIONS = [
    function("q1", "gaussian_logpdf", points=1, hidden=logpdf_cases, reference=logpdf_reference,
             public=[dict(x=np.array([[0.0, 0.0], [1.0, -1.0]]), mean=np.zeros(2), sigma=1.0)]),
    function("q2", "snis_estimate", points=3, hidden=snis_cases, reference=snis_reference,
             public=[dict(values=np.array([1.0, 2.0, 3.0]), log_target=np.array([0.0, 1.0, 2.0]),
                          log_proposal=np.zeros(3)),
                     dict(values=np.array([[1.0, 0.0], [0.0, 1.0]]), log_target=np.array([1000.0, 999.0]),
                          log_proposal=np.zeros(2))]),
    function("q3", "effective_sample_size", points=2, hidden=ess_cases, reference=ess_reference,
             public=[dict(log_weights=np.zeros(4)), dict(log_weights=np.array([0.0, 1000.0]))]),
    function("q4", "reinforce_estimate", points=2, hidden=reinforce_cases,
             public=[dict(rewards=np.array([1.0, 0.0]), score_grads=np.array([[1.0, 2.0], [3.0, 4.0]]),
                          baseline=0.5)]),
    value("q5", "my_update", points=1, expected=my_update, rtol=1e-6, answer_type="array"),
]
