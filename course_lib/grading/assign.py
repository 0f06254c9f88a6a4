"""Make the student's notebook from the solution (like otter-grader's ``assign``).

The solution notebook is the source of truth. :func:`exercise_from_solution` removes the
marked solution regions and all outputs; :func:`public_tests` computes the expected
outputs of the public cases with the solution. :func:`assign` writes both
(``exercises/NN_slug.ipynb`` and ``course_lib/grading/public/NN_slug.json``), or with
``check=True`` only reports where the committed files drifted from the solution.

Markers in code cells::

    def gd_step(x, grad, lr):
        # BEGIN SOLUTION
        return x - lr * grad
        # END SOLUTION            ->   ...  # YOUR CODE HERE

    eta_max = 2 / L  # SOLUTION   ->   eta_max = ...  # YOUR CODE HERE

In markdown cells, ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` is removed.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from . import codec, notebook
from .assignment import Assignment, available
from .compare import mismatch
from .student import PUBLIC_DIR

PLACEHOLDER = "...  # YOUR CODE HERE"
_ASSIGNMENT_LINE = re.compile(r"^(\s*)([A-Za-z_][\w\[\]\.,\s]*?)\s*=(?!=)\s*.*?#\s*SOLUTION\s*$")
_MARKDOWN_REGION = re.compile(r"<!--\s*BEGIN SOLUTION\s*-->.*?<!--\s*END SOLUTION\s*-->\n?", re.S)


def strip_solution(source: str) -> str:
    """The code of a cell with every solution region replaced by a placeholder.

    >>> print(strip_solution("def f(x):\\n    # BEGIN SOLUTION\\n    return 2 * x\\n    # END SOLUTION"))
    def f(x):
        ...  # YOUR CODE HERE
    >>> strip_solution("lr = 0.1  # SOLUTION")
    'lr = ...  # YOUR CODE HERE'
    """
    lines, inside, begin = [], False, 0
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker.startswith("# BEGIN SOLUTION"):
            if inside:
                raise ValueError(f"line {number}: BEGIN SOLUTION inside another solution region")
            inside, begin = True, number
            lines.append(line[: len(line) - len(line.lstrip())] + PLACEHOLDER)
        elif marker.startswith("# END SOLUTION"):
            if not inside:
                raise ValueError(f"line {number}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif inside:
            continue
        elif re.search(r"#\s*SOLUTION\s*$", line):
            match = _ASSIGNMENT_LINE.match(line)
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(f"{match.group(1)}{match.group(2)} = {PLACEHOLDER}" if match
                         else indent + PLACEHOLDER)
        else:
            lines.append(line)
    if inside:
        raise ValueError(f"line {begin}: BEGIN SOLUTION is never closed by END SOLUTION")
    return "\n".join(lines)


def exercise_from_solution(solution: dict, name: str) -> dict:
    """The student's notebook: solution regions and outputs removed."""
    exercise = copy.deepcopy(solution)
    for cell in exercise["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            cell["source"] = strip_solution(source)
            cell["outputs"] = []
            cell["execution_count"] = None
        elif cell["cell_type"] == "markdown":
            cell["source"] = _MARKDOWN_REGION.sub("", source)
        cell.get("metadata", {}).pop("execution", None)
    exercise.setdefault("metadata", {})["course_lib"] = {"assignment": name}
    return exercise


def public_tests(assignment: Assignment) -> dict:
    """The data behind ``check()``: public inputs with the solution's outputs."""
    questions = []
    for question in assignment.questions:
        entry = {"name": question.name, "target": question.target, "kind": question.kind,
                 "points": question.points, "answer_type": question.answer_type,
                 "options": list(question.options), "rtol": question.rtol, "atol": question.atol,
                 "up_to_sign": question.up_to_sign, "cases": []}
        for kwargs in question.public_cases(assignment.reference):
            expected = question.reference_output(assignment.reference, kwargs)
            entry["cases"].append({"args": codec.encode(kwargs), "expected": codec.encode(expected)})
        questions.append(entry)
    return {"assignment": assignment.name,
            "note": f"Generated from solutions/{assignment.name}.ipynb by "
                    "`python -m course_lib.grading assign`; do not edit.",
            "questions": questions}


def _public_equal(old: dict, new: dict) -> bool:
    # Expected values may differ in the last bits between BLAS builds: compare numerically.
    return mismatch(codec.decode(old), codec.decode(new), rtol=1e-9, atol=1e-12) is None


def assign(names=None, root: str | Path | None = None, check: bool = False) -> list[str]:
    """Regenerate exercises and public tests; return the paths that changed (or would)."""
    names = names or available(root)
    changed = []
    for name in names:
        assignment = Assignment(name, root)
        solution = notebook.read(assignment.solution_path)
        exercise = exercise_from_solution(solution, name)
        public = public_tests(assignment)
        public_path = PUBLIC_DIR / f"{name}.json"
        old_exercise = (assignment.exercise_path.read_text(encoding="utf-8")
                        if assignment.exercise_path.exists() else None)
        old_public = json.loads(public_path.read_text()) if public_path.exists() else None
        if old_exercise != notebook.dumps(exercise):  # byte for byte: no hand edits survive
            changed.append(str(assignment.exercise_path))
            if not check:
                assignment.exercise_path.parent.mkdir(parents=True, exist_ok=True)
                notebook.write(exercise, assignment.exercise_path)
        if old_public is None or not _public_equal(old_public, public):
            changed.append(str(public_path))
            if not check:
                PUBLIC_DIR.mkdir(parents=True, exist_ok=True)
                public_path.write_text(json.dumps(public, indent=1) + "\n")
    return changed
