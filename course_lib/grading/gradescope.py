"""Gradescope: the same questions, graded in Gradescope's per-submission containers.

:func:`build_bundle` writes the autograder zip that Gradescope's "Configure Autograder"
page takes: ``setup.sh`` (run once to build the image), ``run_autograder`` (run for every
submission), and the course's package, this assignment's solution and hidden tests.
Inside the container, ``run_autograder`` grades the notebook in ``/autograder/submission``
with the same grader, sandbox and limits as ``grade``, and writes
``/autograder/results/results.json`` in Gradescope's documented format
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): a total ``score``, and
one entry in ``tests`` per question with ``score``, ``max_score``, ``visibility`` and an
``output`` that is the student-safe feedback line (:mod:`course_lib.grading.feedback`).
``AUTOGRADER_ROOT`` and ``AUTOGRADER_PYTHON`` replace ``/autograder`` and its virtual
environment's Python, which is how the tests run it in a temporary tree.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from .assignment import Assignment
from .feedback import feedback_text, verdict
from .grader import Limits, grade
from .results import write_atomic
from .sandbox import SandboxUnavailable

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04).
set -euo pipefail
apt-get update -qq
apt-get install -y -qq python3.11 python3.11-venv bubblewrap >/dev/null
python3.11 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --upgrade pip
# the CPU build of torch (the default wheel is a CUDA build of several GB)
/autograder/venv/bin/pip install --quiet \\
    --extra-index-url https://download.pytorch.org/whl/cpu \\
    -r /autograder/source/requirements.txt
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission; it writes /autograder/results/results.json.
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
cd "$ROOT/source" && exec "$PYTHON" -m course_lib.grading.gradescope \\
    --root "$ROOT" --assignment {name} --timeout {timeout} --memory {memory}
"""


def _package_files(package: Path):
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


def build_bundle(assignment: str | Assignment, out: str | Path,
                 limits: Limits = Limits(), root: str | Path | None = None) -> Path:
    """Write the autograder zip of ``assignment`` to ``out``; returns its path."""
    if isinstance(assignment, str):
        assignment = Assignment(assignment, root)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    package = Path(__file__).resolve().parents[1]
    course = assignment.root
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        def add(name: str, text: str, mode: int = 0o644):
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, text)
        add("setup.sh", SETUP, 0o755)
        add("run_autograder", RUN.format(name=assignment.name, timeout=limits.timeout,
                                         memory=limits.memory_mb), 0o755)
        add("requirements.txt", (course / "requirements.txt").read_text())
        for path in _package_files(package):
            bundle.write(path, f"course_lib/{path.relative_to(package)}")
        bundle.write(assignment.solution_path, f"solutions/{assignment.name}.ipynb")
        bundle.write(assignment.hidden_path, f"solutions/hidden/{assignment.name}.py")
    return out


def results_json(record: dict) -> dict:
    """Gradescope's results.json for one graded record (per question a test)."""
    tests = [{"name": f"{name} ({item.get('target', '')})", "score": item["score"],
              "max_score": item["max_score"], "output": verdict(item),
              "visibility": "visible"}
             for name, item in record["questions"].items()]
    return {"score": record["score"], "tests": tests, "output": feedback_text(record),
            "stdout_visibility": "hidden"}


def _failure(message: str) -> dict:
    return {"score": 0.0, "tests": [], "output": message, "stdout_visibility": "hidden"}


def run_autograder(root: str | Path, name: str, limits: Limits = Limits()) -> dict:
    """Grade the one notebook in ``root/submission``; write and return results.json."""
    root = Path(root)
    found = sorted(path for path in (root / "submission").rglob("*.ipynb")
                   if path.is_file() and not path.is_symlink()
                   and ".ipynb_checkpoints" not in path.parts)
    preferred = [path for path in found if path.stem == name]
    if not found:
        result = _failure("No .ipynb file in your submission: upload your notebook.")
    elif len(found) > 1 and not preferred:
        result = _failure(f"Several notebooks in your submission ({len(found)}); upload "
                          f"only {name}.ipynb.")
    else:
        with tempfile.TemporaryDirectory() as work:
            copy = Path(work) / "submission" / f"{name}.ipynb"
            copy.parent.mkdir()
            shutil.copyfile((preferred or found)[0], copy)
            try:
                run = grade(Assignment(name, root / "source"), [copy], Path(work) / "out",
                            jobs=1, limits=limits, log=lambda line: None)
            except SandboxUnavailable as error:
                run = None
                result = _failure(f"The autograder refused to grade: no sandbox ({error}). "
                                  "Tell your instructor.")
            if run is not None:
                result = (results_json(run.records[0]) if run.records else
                          _failure("The autograder could not grade this notebook; "
                                   "tell your instructor."))
    (root / "results").mkdir(parents=True, exist_ok=True)
    write_atomic(root / "results" / "results.json", json.dumps(result, indent=2) + "\n")
    return result


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_lib.grading.gradescope",
                                     description="Grade inside a Gradescope container.")
    parser.add_argument("--root", default="/autograder")
    parser.add_argument("--assignment", required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--memory", type=int, default=1024)
    args = parser.parse_args(argv)
    result = run_autograder(args.root, args.assignment,
                            Limits(timeout=args.timeout, memory_mb=args.memory))
    print(f"score {result['score']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
