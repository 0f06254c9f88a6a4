"""What a student's notebook imports: ``check("q3")`` and the per-student random problem.

``check = Checker("02_gradient_descent")`` loads the assignment's *public* tests (shipped
in ``course_lib/grading/public/``) and ``check("q1")`` runs them on the function the
notebook defined, printing what passed and what did not. It only gives feedback: the
score comes from hidden tests run by the grader outside the student's kernel, so
redefining ``check`` changes nothing.

``student_rng(STUDENT_ID, "02_gradient_descent")`` is the random generator of the
student's own problem; the grader rebuilds the same problem from the same id.

``check`` also warns when the notebook uses a module the grader does not offer (torch,
scipy, course_lib's reference code...: see ``course_lib.grading.reachable``), since
such a notebook fails where it is graded.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from .codec import decode
from .compare import mismatch

PUBLIC_DIR = Path(__file__).with_name("public")


def student_rng(student_id: str, assignment: str) -> np.random.Generator:
    """Random generator seeded by a hash of ``(assignment, student_id)``.

    >>> a = student_rng("s123", "02_gradient_descent").normal()
    >>> b = student_rng(" s123 ", "02_gradient_descent").normal()
    >>> a == b
    True
    """
    if not isinstance(student_id, str):
        student_id = ""
    text = f"{assignment}|{student_id.strip()}".encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text).digest()[:8], "little"))


def load_public_tests(assignment: str) -> dict | None:
    """The public tests of ``assignment`` (None when they are not shipped)."""
    path = PUBLIC_DIR / f"{assignment}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _warn_unreachable(namespace: dict) -> None:
    if os.environ.get("COURSE_LIB_GRADING"):  # in the grader's sandbox: nothing else is there
        return
    from .reachable import unreachable

    missing = unreachable(namespace)
    if missing:
        print(f"Warning: the grader runs notebooks without {', '.join(missing)} (only the standard "
              "library, numpy, matplotlib and course_lib.grading.student): write the answer with numpy.")


def _short(value, limit: int = 200) -> str:
    text = np.array2string(value, precision=6, threshold=20) if isinstance(value, np.ndarray) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Checker:
    """``check(name)`` runs the public tests of one question; ``check()`` runs them all.

    Parameters
    ----------
    assignment : str
        The notebook's stem, e.g. ``"06_momentum"``.
    """

    def __init__(self, assignment: str):
        self.assignment = assignment
        self.tests = load_public_tests(assignment)

    def __repr__(self):
        return f"Checker({self.assignment!r})"

    def __call__(self, name: str | None = None, namespace: dict | None = None) -> None:
        if namespace is None:
            namespace = sys._getframe(1).f_globals  # the notebook's globals
        if self.tests is None:
            print(f"No public tests found for {self.assignment}; the grader still grades your notebook.")
            return
        questions = self.tests["questions"]
        matches = [question for question in questions if name in (None, question["name"])]
        if not matches:
            known = ", ".join(question["name"] for question in questions)
            print(f"No question {name!r} in {self.assignment}; the questions are {known}.")
            return
        for question in matches:
            self._check(question, namespace)
        _warn_unreachable(namespace)

    def _check(self, question: dict, namespace: dict) -> None:
        points = question["points"]
        label = f"{question['name']} ({question['target']}, {points:g} point{'' if points == 1 else 's'})"
        missing = object()
        answer = namespace.get(question["target"], missing)
        if answer is missing:
            print(f"{label}: {question['target']} is not defined yet.")
            return
        if question["kind"] == "function":
            self._check_function(label, question, answer)
        else:
            self._check_value(label, question, answer)

    @staticmethod
    def _check_function(label: str, question: dict, function) -> None:
        if not callable(function):
            print(f"{label}: {question['target']} should be a function.")
            return
        cases = question["cases"]
        for index, case in enumerate(cases, start=1):
            kwargs = decode(case["args"])
            expected = decode(case["expected"])
            try:
                answer = function(**kwargs)
            except Exception as error:  # show the student's own error, then stop
                print(f"{label}: public test {index} raised {type(error).__name__}: {error}")
                return
            reason = mismatch(answer, expected, question["rtol"], question["atol"],
                              question["up_to_sign"])
            if reason:
                inputs = ", ".join(f"{key}={_short(value)}" for key, value in kwargs.items())
                print(f"{label}: public test {index} of {len(cases)} failed: {reason}\n"
                      f"    inputs:   {inputs}\n    expected: {_short(expected)}\n"
                      f"    got:      {_short(answer)}")
                return
        print(f"{label}: all {len(cases)} public tests passed. Hidden tests decide the score.")

    @staticmethod
    def _check_value(label: str, question: dict, answer) -> None:
        kind = question["answer_type"]
        if answer is Ellipsis or answer is None:
            print(f"{label}: not answered yet.")
            return
        if kind == "choice":
            options = question["options"]
            ok = isinstance(answer, str) and answer.strip().lower() in [o.lower() for o in options]
            hint = f"one of {', '.join(map(repr, options))}"
        elif kind == "string":
            ok, hint = isinstance(answer, str), "a string"
        elif kind == "integer":
            ok = isinstance(answer, (int, np.integer)) and not isinstance(answer, bool)
            hint = "an integer"
        else:
            try:
                array = np.asarray(answer, dtype=float)
                ok = array.ndim == 0 if kind == "number" else array.ndim > 0
            except (TypeError, ValueError):
                ok = False
            hint = "a number" if kind == "number" else "an array"
        if ok:
            print(f"{label}: answered {_short(answer)}. Hidden tests check the value.")
        else:
            print(f"{label}: the answer should be {hint}, got {_short(answer)}.")
