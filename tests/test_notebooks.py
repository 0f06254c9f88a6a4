"""Every chapter in lectures/ and every notebook in solutions/ executes without error.

Each runs in a fresh kernel; the directories can be overridden with the environment
variable COURSE_NOTEBOOK_DIRS (colon-separated), which test_broken_cell_is_named uses.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import nbformat
import pytest

import notebook_runner
from notebook_runner import ROOT, execute

DIRS = [Path(d) for d in os.environ.get("COURSE_NOTEBOOK_DIRS", "").split(":") if d] or [
    ROOT / "lectures", ROOT / "solutions"]


def _notebooks():
    found = []
    for directory in DIRS:
        found += sorted(directory.glob("[0-9][0-9]_*.md")) + sorted(directory.glob("[0-9][0-9]_*.ipynb"))
    return found


@pytest.mark.notebook
@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_executes(path):
    # chapters of the real book feed the book's execution cache (see notebook_runner)
    execute(path, cache=path.suffix == ".md" and path.parent == ROOT / "lectures")


def test_every_chapter_is_in_the_table_of_contents():
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for chapter in sorted((ROOT / "lectures").glob("[0-9][0-9]_*.md")):
        assert f"lectures/{chapter.stem}" in toc, f"{chapter.name} is missing from book/_toc.yml"


def test_broken_cell_is_named(tmp_path):
    """A deliberately broken lecture makes the notebook test fail, naming file and cell."""
    broken = tmp_path / "99_broken.md"
    broken.write_text(textwrap.dedent("""\
        ---
        jupytext:
          text_representation:
            extension: .md
            format_name: myst
        kernelspec:
          display_name: Python 3
          language: python
          name: python3
        ---
        # A chapter with a bug

        ```{code-cell} ipython3
        x = 1
        ```

        ```{code-cell} ipython3
        y = x / 0
        ```
        """))
    env = dict(os.environ, COURSE_NOTEBOOK_DIRS=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_notebooks.py"), "-k", "test_notebook_executes"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0, result.stdout
    assert "99_broken.md" in result.stdout
    assert "code cell 2: 'y = x / 0'" in result.stdout
    assert "ZeroDivisionError" in result.stdout


def test_a_slow_notebook_says_where_its_time_went(tmp_path, monkeypatch):
    path = tmp_path / "slow.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("import time\ntime.sleep(1.5)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # under the default threshold: no warning at all
        execute(path)
    monkeypatch.setattr(notebook_runner, "SLOW_SECONDS", 1.0)
    with pytest.warns(notebook_runner.SlowNotebook, match=r"in 2 cells; slowest: cell 1 \(code cell 2: "
                                                          r"'import time'\) [12] s, \d+ s outside them"):
        execute(path)
