"""An assignment: its solution notebook, its hidden tests and the reference they compute.

For the stem ``NN_slug`` under the course root:

* ``solutions/NN_slug.ipynb``: the solved notebook, the single source of truth;
* ``solutions/hidden/NN_slug.py``: the hidden tests (``QUESTIONS``, optional ``SALT``);
* ``exercises/NN_slug.ipynb``: the student's notebook, generated from the solution
  (:mod:`course_lib.grading.assign`).

The *reference* is the namespace left by running the solution's code cells in the
grader's own, trusted process; hidden tests evaluate the solution's functions there.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import sys
from functools import cached_property
from pathlib import Path

import course_lib

from . import notebook
from .questions import Question

#: Bump when a change of the grader may change scores: stored results are then regraded.
GRADER_VERSION = 1


def default_root() -> Path:
    """The course root: the folder holding ``solutions/`` beside the course_lib package."""
    root = Path(course_lib.__file__).resolve().parent.parent
    if (root / "solutions").is_dir():
        return root
    return Path.cwd()


def available(root: Path | None = None) -> list[str]:
    """The stems of all assignments that have a solution and hidden tests."""
    root = Path(root or default_root())
    return sorted(path.stem for path in (root / "solutions").glob("*.ipynb")
                  if (root / "solutions" / "hidden" / f"{path.stem}.py").is_file())


class Assignment:
    """One assignment, e.g. ``Assignment("06_momentum")``."""

    def __init__(self, name: str, root: str | Path | None = None):
        self.root = Path(root or default_root()).resolve()
        known = available(self.root)
        if name not in known:
            raise ValueError(f"unknown assignment {name!r} under {self.root}; "
                             f"known: {', '.join(known) or 'none'}")
        self.name = name
        self.solution_path = self.root / "solutions" / f"{name}.ipynb"
        self.hidden_path = self.root / "solutions" / "hidden" / f"{name}.py"
        self.exercise_path = self.root / "exercises" / f"{name}.ipynb"

    def __repr__(self):
        return f"Assignment({self.name!r})"

    @property
    def protected(self) -> list[Path]:
        """Paths a student's kernel must never see."""
        return [self.root / "solutions", self.hidden_path, self.solution_path]

    @cached_property
    def hidden(self):
        """The hidden-test module (loaded from its file, not importable by students)."""
        spec = importlib.util.spec_from_file_location(f"_hidden_{self.name}", self.hidden_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        names = [question.name for question in module.QUESTIONS]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.hidden_path}: question names repeat: {names}")
        if not all(isinstance(question, Question) for question in module.QUESTIONS):
            raise TypeError(f"{self.hidden_path}: QUESTIONS must hold Question objects")
        return module

    @property
    def questions(self) -> list[Question]:
        return list(self.hidden.QUESTIONS)

    @property
    def salt(self) -> str:
        return str(getattr(self.hidden, "SALT", ""))

    @property
    def max_score(self) -> float:
        return float(sum(question.points for question in self.questions))

    @cached_property
    def fingerprint(self) -> str:
        """Changes whenever the solution, the hidden tests or the grader change."""
        digest = hashlib.sha256(f"grader {GRADER_VERSION}|{self.name}|".encode())
        digest.update(self.solution_path.read_bytes())
        digest.update(self.hidden_path.read_bytes())
        return digest.hexdigest()

    @cached_property
    def reference(self) -> dict:
        """Namespace of the executed solution notebook (run once, quietly)."""
        if "matplotlib.pyplot" not in sys.modules:
            import matplotlib

            matplotlib.use("Agg")  # no window may open while grading
        namespace = {"__name__": f"solution_{self.name}"}
        cells = notebook.code_cells(notebook.read(self.solution_path))
        with contextlib.redirect_stdout(io.StringIO()):
            for cell in cells:
                code = compile(cell.source, f"{self.solution_path}:{cell.label()}", "exec")
                exec(code, namespace)  # trusted: the instructor's own solution
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
        return namespace
