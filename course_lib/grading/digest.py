"""What a question asks of one student, as a hash: the basis of a selective regrade.

A question's digest covers everything that decides its score for one student: its kind,
target, points and tolerances, and the hidden material drawn for that student (the
inputs of every hidden case with their expected outputs, or the expected answer of a
value or choice question). The grader stores it in each question's record; when a
question or its hidden cases change, only the (student, question) pairs whose digest
changed need to run again (:mod:`course_lib.grading.regrade`).
"""
from __future__ import annotations

import hashlib
import json

from . import codec
from .questions import Question, hidden_rng


def _canonical(value) -> str:
    return json.dumps(codec.encode(value), sort_keys=True, allow_nan=True,
                      separators=(",", ":"))


def digest(question: Question, material) -> str:
    """SHA-256 of the question's definition and ``material`` (cases or expected answer)."""
    head = (question.kind, question.target, question.points, question.rtol,
            question.atol, question.up_to_sign, question.options)
    text = f"{head!r}|{_canonical(material)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def function_material(question: Question, cases: list, ref: dict) -> list:
    """``[(kwargs, expected), ...]`` with every expected output computed."""
    return [[kwargs, question.reference_output(ref, kwargs) if expected is None
             else expected] for kwargs, expected in cases]


def current_digest(question: Question, ref: dict, assignment: str, salt: str,
                   student_id: str) -> str:
    """The digest this question has today for ``student_id``."""
    if question.kind == "function":
        rng = hidden_rng(assignment, student_id, question.name, salt)
        material = function_material(question, question.hidden_cases(rng, ref), ref)
    else:
        material = question.expected_answer(ref, student_id)
    return digest(question, material)
