"""Hidden tests of exercises/07_adaptive.ipynb (instructor side only)."""
import numpy as np

from course_lib.grading.questions import function, value

SALT = "07-adapt-0f3a"


def state(rng, d):
    return dict(x=rng.normal(size=d), grad=rng.normal(size=d) * 10.0 ** rng.uniform(-2, 1))


def eps_of(rng, index, small):
    """Every other case has a large eps, so that sqrt(s) + eps and sqrt(s + eps) differ."""
    return small if index % 2 == 0 else float(10.0 ** rng.uniform(-4, -2))


def adagrad_cases(rng):
    cases = []
    for index in range(4):
        d = int(rng.integers(1, 6))
        cases.append(dict(state(rng, d), s=rng.uniform(0, 2, size=d) * rng.integers(0, 2),
                          lr=float(rng.uniform(0.01, 1.0)), eps=eps_of(rng, index, 1e-10)))
    return cases


def rmsprop_cases(rng):
    cases = []
    for index in range(4):
        d = int(rng.integers(1, 6))
        cases.append(dict(state(rng, d), s=rng.uniform(0, 2, size=d), lr=float(rng.uniform(0.001, 0.1)),
                          alpha=float(rng.uniform(0.5, 0.999)), eps=eps_of(rng, index, 1e-8)))
    return cases


def adam_cases(rng):
    cases = []
    for index, t in enumerate((1, 2, int(rng.integers(3, 50)), int(rng.integers(100, 5000)))):
        d = int(rng.integers(1, 6))
        cases.append(dict(state(rng, d), m=rng.normal(size=d) * (t > 1), v=rng.uniform(0, 1, size=d) * (t > 1),
                          t=t, lr=float(rng.uniform(0.0001, 0.1)), beta1=float(rng.uniform(0.5, 0.95)),
                          beta2=float(rng.uniform(0.9, 0.9999)), eps=eps_of(rng, index, 1e-8)))
    return cases


def first_step(ref, sid):
    g = ref["my_gradient"](sid)
    m, v = 0.1 * g, 0.001 * g**2
    return -0.01 * (m / 0.1) / (np.sqrt(v / 0.001) + 1e-8)


QUESTIONS = [
    function("q1", "adagrad_step", points=2, hidden=adagrad_cases, rtol=1e-7,
             public=[dict(x=np.array([1.0, 1.0]), s=np.zeros(2), grad=np.array([2.0, -0.5]),
                          lr=0.1, eps=1e-10)]),
    function("q2", "rmsprop_step", points=2, hidden=rmsprop_cases, rtol=1e-7,
             public=[dict(x=np.array([1.0, 1.0]), s=np.array([0.5, 0.0]), grad=np.array([2.0, -0.5]),
                          lr=0.01, alpha=0.99, eps=1e-8)]),
    function("q3", "adam_step", points=3, hidden=adam_cases, rtol=1e-7,
             public=[dict(x=np.array([1.0, 1.0]), m=np.zeros(2), v=np.zeros(2),
                          grad=np.array([2.0, -0.5]), t=1, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8),
                     dict(x=np.array([0.5]), m=np.array([0.2]), v=np.array([0.04]), grad=np.array([1.0]),
                          t=3, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)]),
    value("q4", "my_first_step", points=1, expected=first_step, rtol=1e-6, answer_type="array"),
]
