"""Every chapter in lectures/ and every notebook in solutions/ executes without error.

Each runs in a fresh kernel; the directories can be overridden with the environment
variable COURSE_NOTEBOOK_DIRS (colon-separated), which test_broken_cell_is_named uses.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from queue import Empty

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
    with pytest.warns(notebook_runner.SlowNotebook,
                      match=r"slow.ipynb took \d+ s \(over 1.0 s\); [12] s in 2 cells, the slowest code cell 2: "
                            r"'import time' [12] s; longest wait outside cells \d+ s, (before the first cell|"
                            r"between code cell 1: 'x = 1' and code cell 2|after the last cell)"):
        execute(path)


def test_a_lost_wake_up_costs_one_poll_slice(monkeypatch):
    """A reply that has arrived but whose wake-up was lost is seen when a poll times out: the
    runner's channels poll in slices, so it is seen within a slice, not at the cell timeout."""
    monkeypatch.setattr(notebook_runner, "POLL_SLICE", 0.05)

    class Socket:  # a poll sees a message only when it times out (the lost wake-up)
        arrival = 0.0

        async def poll(self, timeout_ms):
            await asyncio.sleep(timeout_ms / 1000)
            return int(time.monotonic() >= self.arrival)

    async def receive():
        return {"msg_type": "execute_reply"}

    channel = object.__new__(notebook_runner._SlicedChannel)
    channel.socket, channel._recv = Socket(), receive
    channel.socket.arrival = time.monotonic() + 0.2
    start = time.monotonic()
    assert asyncio.run(channel.get_msg(timeout=30))["msg_type"] == "execute_reply"
    assert time.monotonic() - start < 2  # unsliced: the whole 30 s
    channel.socket.arrival = float("inf")
    start = time.monotonic()
    with pytest.raises(Empty):  # nothing arrives: Empty once the timeout has passed, as before
        asyncio.run(channel.get_msg(timeout=0.3))
    assert 0.3 <= time.monotonic() - start < 2
