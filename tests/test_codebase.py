"""The shape of course_lib's code: no long functions (outside the experiments' plumbing)."""
from __future__ import annotations

import ast
from pathlib import Path

import course_lib

ROOT = Path(course_lib.__file__).parent
MAX_LINES = 60
EXEMPT = ("experiments",)      # chapter plumbing: data, loops over seeds, plotting


def functions(path: Path):
    """(qualified name, first line, number of lines) of every function and method in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                yield name, first, child.end_lineno - first + 1
                yield from walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def library_files():
    return sorted(p for p in ROOT.rglob("*.py")
                  if p.relative_to(ROOT).parts[0] not in EXEMPT)


def test_the_checker_measures_lines_with_decorators_and_nesting(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("class A:\n    @staticmethod\n    def f():\n        def g():\n"
                      "            return 1\n        return g\n")
    assert list(functions(source)) == [("A.f", 2, 5), ("A.f.g", 4, 2)]


def test_library_files_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in library_files()}
    assert {"rules.py", "hessian/eigen.py", "grading/compare.py"} <= names
    assert not any(name.startswith("experiments/") for name in names)


def test_no_function_longer_than_60_lines():
    offenders = [f"{path.relative_to(ROOT.parent).as_posix()}:{line} {name} ({length} lines)"
                 for path in library_files()
                 for name, line, length in functions(path) if length > MAX_LINES]
    assert not offenders, "functions over 60 lines:\n" + "\n".join(offenders)
