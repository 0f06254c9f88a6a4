"""Hidden tests of exercises/06_momentum.ipynb (instructor side only)."""
import numpy as np

from course_lib.grading.questions import function, value

SALT = "06-mom-b81d"


def ema_reference(ref, gamma, steps):
    """Run the EMA on unit gradients e_k and read off the weights (independent of q1's formula)."""
    m = np.zeros(steps)
    for k in range(steps):
        m = gamma * m + (1 - gamma) * np.eye(steps)[k]
    return m


def ema_cases(rng):
    return [dict(gamma=float(rng.uniform(0.5, 0.999)), steps=int(rng.integers(1, 40))) for _ in range(4)]


def window_cases(rng):
    return [dict(gamma=float(g)) for g in (0.9, *rng.uniform(0.0, 0.999, size=3))]


def step_cases(rng):
    cases = []
    for _ in range(4):
        d = int(rng.integers(1, 6))
        cases.append(dict(x=rng.normal(size=d), v=rng.normal(size=d), grad=rng.normal(size=d),
                          lr=float(rng.uniform(0.001, 0.5)), mu=float(rng.uniform(0.0, 0.99))))
    return cases


PUBLIC_STEP = [dict(x=np.array([1.0, -1.0]), v=np.array([0.5, 0.0]), grad=np.array([1.0, 2.0]),
                    lr=0.1, mu=0.9)]

QUESTIONS = [
    function("q1", "ema_weights", points=2, hidden=ema_cases, reference=ema_reference,
             public=[dict(gamma=0.5, steps=3), dict(gamma=0.95, steps=20)]),
    function("q2", "effective_window", points=1, hidden=window_cases,
             reference=lambda ref, gamma: 1 / (1 - gamma), public=[dict(gamma=0.95)]),
    function("q3", "heavy_ball_step", points=2, hidden=step_cases, public=PUBLIC_STEP),
    function("q4", "nesterov_step", points=2, hidden=step_cases, public=PUBLIC_STEP),
    value("q5", "my_oldest_weight", points=1,
          expected=lambda ref, sid: (1 - ref["my_gamma"](sid)) * ref["my_gamma"](sid) ** 19),
]
