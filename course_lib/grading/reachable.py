"""What a submission can import inside the grading sandbox, and why nothing more.

A graded question asks for the course's formula (Adam's step, a warm-up cosine schedule, a
log-softmax). Whatever computes that formula and is importable in the student's kernel
answers the question by a call: wrapping ``course_lib.rules.adam`` or ``torch.optim.Adam``
scores full marks on the adaptive-methods exercise without writing a line of it. So the
sandbox offers the environment the exercises are written for, and only that:

* the Python standard library;
* the distributions :data:`OFFERED` (numpy, matplotlib, IPython, which runs the cells) and
  the distributions they require, found from the installed packages' metadata;
* from ``course_lib``, only the files of :data:`STUDENT_FILES`: ``check()`` and
  ``student_rng`` (``course_lib.grading.student``) and the kernel itself.

Everything else installed beside them (torch, scipy, scikit-learn, pandas, course_lib's
reference modules) is absent from the sandbox: ``import torch`` raises
``ModuleNotFoundError`` there. ``check()`` warns a student whose notebook uses such a module
(:func:`unreachable`).
"""
from __future__ import annotations

import csv
import functools
import importlib.metadata as metadata
import re
import sys
import types
from pathlib import Path

#: Distributions a submission may import (with their requirements).
OFFERED = ("numpy", "matplotlib", "ipython")
#: The files of course_lib present in the sandbox, relative to the package.
STUDENT_FILES = ("__init__.py", "grading/__init__.py", "grading/student.py", "grading/codec.py",
                 "grading/compare.py", "grading/kernel.py", "grading/protocol.py",
                 "grading/reachable.py", "grading/public")
#: Names IPython or Jupyter put into every notebook's namespace.
JUPYTER_NAMES = ("In", "Out", "exit", "quit", "get_ipython", "open")


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=1)
def distributions() -> dict[str, metadata.Distribution]:
    """The installed distributions of :data:`OFFERED` and of everything they require."""
    found, todo = {}, list(OFFERED)
    while todo:
        name = todo.pop()
        if _key(name) in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional or platform-specific requirement that is not installed
        found[_key(name)] = dist
        for requirement in dist.requires or []:
            if re.search(r"\bextra\s*==", requirement):
                continue
            todo.append(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))
    return found


@functools.lru_cache(maxsize=1)
def site_entries() -> dict[Path, set[str]]:
    """Folder on ``sys.path`` -> its entries (top-level names, ``__pycache__/*.pyc`` files)
    that belong to the offered distributions (read from their RECORD files)."""
    entries: dict[Path, set[str]] = {}
    for dist in distributions().values():
        folder = Path(dist.locate_file("")).resolve()
        for row in csv.reader((dist.read_text("RECORD") or "").splitlines()):
            parts = row[0].split("/") if row else [".."]
            if parts[0] not in ("..", ""):
                entries.setdefault(folder, set()).add("/".join(parts[:2]) if parts[0] == "__pycache__"
                                                      else parts[0])
    return entries


@functools.lru_cache(maxsize=1)
def _offered_top_level() -> frozenset:
    """Top-level import names of the offered distributions."""
    return frozenset(entry.removesuffix(".py") for entries in site_entries().values()
                     for entry in entries if "/" not in entry)


@functools.lru_cache(maxsize=1)
def _installed_top_level() -> frozenset:
    return frozenset(metadata.packages_distributions())


def _offered(module: str) -> bool:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names or top == "__main__":
        return True
    if top == "course_lib":
        parts = module.split(".")[1:]
        allowed = {Path(name).with_suffix("").as_posix() for name in STUDENT_FILES}
        return not parts or "/".join(parts) in allowed or parts == ["grading"]
    if getattr(sys.modules.get(top), "__file__", None) is None:
        return True  # not an installed module: the notebook's own functions and classes
    return top in _offered_top_level() or top not in _installed_top_level()


def unreachable(namespace: dict) -> list[str]:
    """Modules used by a notebook's ``namespace`` that the grading sandbox does not have.

    It looks at the modules, classes and functions bound to names: ``import torch``,
    ``from course_lib.rules import adam``, ``from torch.optim import Adam``. Modules of no
    installed distribution (the notebook's own) are not reported.
    """
    missing = set()
    for name, value in list(namespace.items()):
        if name.startswith("_") or name in JUPYTER_NAMES:
            continue
        module = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
        if isinstance(module, str) and not _offered(module):
            missing.add(module.split(".")[0] if not module.startswith("course_lib.") else module)
    return sorted(missing)
