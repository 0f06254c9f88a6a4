"""Feedback a student may see: what passed, never what the hidden tests hold.

The record of a submission is written for the instructor: its feedback lines may quote
an error size ("max abs error 2.07e-06"), which with the student's own answer gives the
expected value away, and an exception message written by the student's code may print
a hidden input. nbgrader's feedback has leaked hidden tests this way. So a student's
file is built from a closed list of messages: per question the points, how many hidden
cases passed, and the *kind* of failure (wrong values, wrong shape, not defined, which
exception type, too slow), never a number or a text that came from a hidden case.
"""
from __future__ import annotations

import re
from pathlib import Path

from . import late
from .results import write_atomic

#: (pattern in the grader's feedback, message a student may see), first match wins.
KINDS = [
    (r"not answered yet", "not answered yet ({target} is still ...)"),
    (r"is not defined", "{target} is not defined (missing or renamed?)"),
    (r"got None", "{target} returned None (did you return the result?)"),
    (r"took longer than|time limit", "{target} took too long"),
    (r"expected shape|expected \d+ items|sequence of length|expected the keys",
     "{target} returned the wrong shape or structure"),
    (r"expected (a number|an array|a string|True or False|a dict|None)",
     "{target} returned the wrong type of value"),
    (r"NaN or infinity", "{target} returned NaN or infinity where a finite value was expected"),
    (r"values differ|wrong truth value|wrong answer", "wrong value"),
    (r"kernel died|kernel failed|kernel ended", "the kernel died while answering"),
    (r"no answer", "not answered (an earlier case stopped the question)"),
    (r"malformed answer|cannot be graded|an object of type", "the answer is not plain data "
     "(return numbers, arrays, strings, or lists and dicts of them)"),
]
EXCEPTION = re.compile(r"\b([A-Z][A-Za-z]*(?:Error|Exception))\b")


def public_message(question: dict) -> str:
    """A safe one-line verdict for one question of a record."""
    target = question.get("target", "the answer")
    if question.get("score", 0) >= question.get("max_score", 0) > 0:
        return "passed"
    text = str(question.get("feedback", ""))
    for pattern, message in KINDS:
        if re.search(pattern, text):
            return message.format(target=target)
    raised = EXCEPTION.search(text)
    if raised:
        return f"{target} raised {raised.group(1)}"
    return "not passed"


def verdict(question: dict) -> str:
    """``"2/4 hidden cases passed: wrong value"``, or the message alone for one case."""
    counted = (f"{question['passed']}/{question['total']} hidden cases passed: "
               if question.get("total", 0) > 1 else "")
    return counted + public_message(question)


def question_lines(record: dict) -> list[str]:
    return [f"{name} ({question.get('target', '')}): {question['score']:g} of "
            f"{question['max_score']:g} points; {verdict(question)}"
            for name, question in record["questions"].items()]


def feedback_text(record: dict, delay: late.Lateness | None = None) -> str:
    """The whole file a student gets for one graded submission."""
    lines = [f"Assignment {record['assignment']}: feedback on {Path(record['submission']).name}",
             "", f"Score: {record['score']:g} of {record['max_score']:g} points"]
    if delay is not None and delay.penalty:
        lines.append(f"Submitted {delay.hours_late:.1f} hours late: {delay.penalty:g}% "
                     f"penalty, {delay.apply(record['score']):g} points counted")
    lines += ["", *question_lines(record)]
    if record.get("cell_errors"):
        lines += ["", "Cells that raised an error when your notebook was run top to bottom:"]
        lines += [f"  cell {item['cell']}: {_first_line(item['error'])}"
                  for item in record["cell_errors"][:10]]
    if record.get("error"):
        lines += ["", "Your notebook could not be run completely; see the lines above and run "
                      "it top to bottom in a fresh kernel before you hand it in."]
    lines += ["", "Hidden tests call your functions on inputs you have not seen; run "
                  "check() in your notebook to test on the public cases."]
    return "\n".join(lines) + "\n"


def _first_line(text: str) -> str:
    line = str(text).strip().splitlines()[-1] if str(text).strip() else ""
    return line[:200]


def write_feedback(records: dict[str, dict], out_dir: str | Path, results_dir) -> list[Path]:
    """One ``<stem>.txt`` per record in ``out_dir``; returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = late.load(results_dir)
    written = []
    for stem, record in sorted(records.items()):
        delay = None if saved is None else late.lateness_under(*saved, stem)
        path = out_dir / f"{stem}.txt"
        write_atomic(path, feedback_text(record, delay))
        written.append(path)
    return written
