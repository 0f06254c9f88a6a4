"""The three kinds of graded question, as an instructor writes them in a hidden-test file.

A hidden-test file (``solutions/hidden/NN_slug.py``, never visible to a student's kernel)
defines ``QUESTIONS``, a list built with :func:`function`, :func:`value` and :func:`choice`:

* ``function("q1", "gd_step", points=2, hidden=cases)``: the student writes a function;
  the grader calls it in the sandbox on inputs drawn by ``cases(rng)`` and compares each
  output with the solution's function of the same name (or ``reference``) evaluated in
  the grader's own process. The points are split evenly over the hidden cases.
* ``value("q4", "my_eta_max", points=1, expected=...)``: the student computes a number
  for *their own* problem (drawn from their ``STUDENT_ID``); ``expected(ref, student_id)``
  recomputes it on the instructor side.
* ``choice("q1", "answer_1", options="ABCD", expected=...)``: multiple choice.

``ref`` is the namespace of the executed solution notebook (a dict), so the solution is
the single source of truth for every expected value.
"""
from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from course_lib import _checks

KINDS = ("function", "value", "choice")


@dataclass(frozen=True)
class Question:
    """One graded question; build it with :func:`function`, :func:`value` or :func:`choice`."""

    name: str
    target: str
    points: float
    kind: str
    hidden: Callable | None = None
    public: tuple = ()
    expected: Callable | None = None
    rtol: float = 1e-6
    atol: float = 1e-9
    up_to_sign: bool = False
    options: tuple = ()
    answer_type: str = "number"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        _checks.one_of("kind", self.kind, KINDS)
        if not self.name.isidentifier() or not self.target.isidentifier():
            raise ValueError(f"name and target must be identifiers, got {self.name!r}, {self.target!r}")
        _checks.positive("points", self.points)

    def hidden_cases(self, rng: np.random.Generator, ref: dict) -> list[tuple[dict, object]]:
        """``[(kwargs, expected_or_None), ...]`` for a function question."""
        cases = []
        for case in _call(self.hidden, rng, ref):
            cases.append(case if isinstance(case, tuple) else (case, None))
        if not cases:
            raise ValueError(f"{self.name}: the hidden-case generator returned no case")
        return cases

    def public_cases(self, ref: dict) -> list[dict]:
        """Keyword arguments of the public cases (``public`` may be a function of ``ref``)."""
        return list(self.public(ref) if callable(self.public) else self.public)

    def reference_output(self, ref: dict, kwargs: dict):
        """The expected output of a function question on ``kwargs``, computed by the grader."""
        if self.expected is not None:
            return self.expected(ref, **_copy(kwargs))
        return ref[self.target](**_copy(kwargs))

    def expected_answer(self, ref: dict, student_id: str):
        """The expected answer of a value or choice question for this student."""
        return self.expected(ref, student_id)


def _call(generator: Callable, rng, ref):
    # Case generators take (rng) or, when they need the solution's helpers, (rng, ref).
    if list(inspect.signature(generator).parameters)[1:2] == ["ref"]:
        return generator(rng, ref)
    return generator(rng)


def _copy(kwargs: dict) -> dict:
    # The reference must not see inputs mutated by an earlier call.
    return {key: (value.copy() if isinstance(value, np.ndarray) else value)
            for key, value in kwargs.items()}


def function(name: str, target: str, points: float, hidden: Callable, public=(),
             reference: Callable | None = None, rtol: float = 1e-6, atol: float = 1e-9,
             up_to_sign: bool = False) -> Question:
    """A question answered by writing the function ``target``.

    Parameters
    ----------
    hidden : callable ``rng -> list`` or ``(rng, ref) -> list``
        Hidden cases: each a dict of keyword arguments, or ``(kwargs, expected)`` when
        the instructor knows the expected output directly.
    public : list of dict, or callable ``ref -> list of dict``
        Keyword arguments of the public cases behind ``check(name)``.
    reference : callable ``(ref, **kwargs) -> expected``, optional
        Defaults to the solution's function ``ref[target]``.
    """
    return Question(name, target, float(points), "function", hidden=hidden,
                    public=public if callable(public) else tuple(public), expected=reference, rtol=rtol, atol=atol,
                    up_to_sign=up_to_sign)


def value(name: str, target: str, points: float, expected: Callable, rtol: float = 1e-6,
          atol: float = 1e-9, answer_type: str = "number") -> Question:
    """A question answered by assigning the variable ``target``.

    ``expected(ref, student_id)`` computes the right value on the instructor side;
    ``answer_type`` ("number", "array", "integer", "string") only drives ``check()``.
    """
    return Question(name, target, float(points), "value", expected=expected, rtol=rtol,
                    atol=atol, answer_type=answer_type)


def choice(name: str, target: str, points: float, options, expected: Callable) -> Question:
    """A multiple-choice question: ``target`` must hold one of ``options`` (e.g. "ABCD")."""
    return Question(name, target, float(points), "choice", expected=expected,
                    options=tuple(options), answer_type="choice")


def hidden_rng(assignment: str, student_id: str, question: str, salt: str = "") -> np.random.Generator:
    """The generator of one student's hidden cases: the same on every regrade.

    The seed is a hash of the assignment, the student id, the question and the hidden
    file's ``SALT``; the case generators themselves live only on the instructor side.
    """
    text = f"hidden|{salt}|{assignment}|{student_id}|{question}".encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text).digest()[:8], "little"))
