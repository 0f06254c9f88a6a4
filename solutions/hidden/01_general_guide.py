"""Hidden tests of exercises/01_general_guide.ipynb (instructor side only)."""
import numpy as np

from course_lib.grading.questions import choice, function

SALT = "01-guide-93b2"
LETTERS = "ABCD"


def diagnose_cases(rng, ref):
    # Fresh runs of every kind, labelled by construction (not by the solution's rule).
    return [(dict(run=ref["make_run"](rng, letter)), letter) for letter in LETTERS for _ in range(2)]


def diagnose_public(ref):
    rng = np.random.default_rng(2024)
    return [dict(run=ref["make_run"](rng, letter)) for letter in LETTERS]


def kfold_cases(rng):
    cases = []
    for _ in range(5):
        n = int(rng.integers(5, 40))
        k = int(rng.integers(2, min(n, 8) + 1))
        cases.append((dict(n=n, k=k), np.array_split(np.arange(n), k)))
    return cases


def leaderboard_cases(rng):
    return [dict(public=rng.uniform(0.4, 0.6, size=50), private=rng.uniform(0.4, 0.6, size=50))
            for _ in range(3)]


def my_answer(index):
    return lambda ref, sid: ref["diagnose"](ref["my_runs"](sid)[index])


QUESTIONS = [
    function("q1", "diagnose", points=3, hidden=diagnose_cases, public=diagnose_public),
    choice("q2", "answer_1", points=1, options=LETTERS, expected=my_answer(0)),
    choice("q3", "answer_2", points=1, options=LETTERS, expected=my_answer(1)),
    function("q4", "kfold_splits", points=2, hidden=kfold_cases,
             public=[dict(n=10, k=3), dict(n=6, k=6)]),
    function("q5", "pick_on_public", points=1, hidden=leaderboard_cases,
             public=[dict(public=np.array([0.5, 0.7, 0.6]), private=np.array([0.55, 0.5, 0.6]))]),
]
