"""Hidden tests of exercises/08_schedules.ipynb (instructor side only)."""
import math

import numpy as np

from course_lib.grading.questions import function, value

SALT = "08-sched-66e4"


def step_decay_cases(rng):
    return [dict(step=int(rng.integers(0, 100)), lr=float(rng.uniform(0.01, 1)),
                 step_size=int(rng.integers(1, 30)), gamma=float(rng.uniform(0.1, 0.9))) for _ in range(5)]


def cosine_cases(rng):
    base, warmup, total, low = float(rng.uniform(0.01, 1)), int(rng.integers(2, 20)), 0, 0.0
    total = warmup + int(rng.integers(10, 200))
    low = float(rng.uniform(0, 0.1)) * base
    steps = [0, warmup - 1, warmup, (warmup + total) // 2, total - 1, total, total + 7,
             int(rng.integers(0, total))]
    return [dict(step=s, base_lr=base, warmup_steps=warmup, total_steps=total, min_lr=low) for s in steps]


def cosine_reference(ref, step, base_lr, warmup_steps, total_steps, min_lr):
    """Written independently of the solution, from the formula in the question."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    p = min(1.0, max(0.0, (step - warmup_steps) / (total_steps - warmup_steps)))
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * p)) / 2


def inverse_sqrt_cases(rng):
    warmup = int(rng.integers(100, 5000))
    d_model = int(rng.choice([64, 128, 512, 1024]))
    return [dict(step=s, d_model=d_model, warmup_steps=warmup)
            for s in (0, warmup - 2, warmup - 1, warmup, int(rng.integers(0, 100000)))]


def effective_lr_cases(rng):
    cases = []
    for _ in range(3):
        grads = rng.normal(size=int(rng.integers(3, 40)))
        grads[len(grads) // 2:] *= 1e-3  # the flat stretch
        cases.append(dict(grads=grads, lr=float(rng.uniform(0.01, 1)), eps=1e-8))
    return cases


def lr_at_half(ref, sid):
    base, warmup, total = ref["my_schedule"](sid)
    return cosine_reference(ref, total // 2, base, warmup, total, 0.0)


QUESTIONS = [
    function("q1", "step_decay", points=1, hidden=step_decay_cases,
             public=[dict(step=25, lr=0.1, step_size=10, gamma=0.5)]),
    function("q2", "warmup_cosine", points=3, hidden=cosine_cases, reference=cosine_reference,
             public=[dict(step=s, base_lr=1.0, warmup_steps=10, total_steps=110, min_lr=0.0)
                     for s in (0, 9, 10, 60, 110)]),
    function("q3", "inverse_sqrt", points=2, hidden=inverse_sqrt_cases,
             public=[dict(step=s, d_model=512, warmup_steps=4000) for s in (0, 3999, 9999)]),
    function("q4", "effective_lr", points=2, hidden=effective_lr_cases,
             public=[dict(grads=np.array([1.0, 1.0, 0.001, 0.001]), lr=0.1, eps=1e-8)]),
    value("q5", "my_lr_at_half", points=1, expected=lr_at_half),
]
