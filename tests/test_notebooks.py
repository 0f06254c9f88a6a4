"""Every chapter in lectures/ and every notebook in solutions/ executes without error.

Each runs in a fresh kernel; the directories can be overridden with the environment
variable COURSE_NOTEBOOK_DIRS (colon-separated), which test_broken_cell_is_named uses. A
chapter whose current code the book's execution cache records as executed without error by
the same runner, with the same library, mode and device (``make book`` before ``make test``,
as CI does) is not executed a second time: that execution is the evidence.
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

import nbformat
import pytest

import notebook_runner
from notebook_runner import (ROOT, cached_execution, cached_notebook, execute,
                             execute_many)

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
    if path.suffix == ".md" and path.parent == ROOT / "lectures":  # a chapter of the book
        if cached_execution(path) is None:
            execute(path, cache=True)
        assert cached_execution(path) is not None
        assert_printed_lines_fit(cached_notebook(path))
    else:
        execute(path)


def assert_printed_lines_fit(nb, limit=80):
    """Every line a code cell prints (stream output) fits in ``limit`` columns."""
    wide = []
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code, 1):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "stream":
                continue
            text = output["text"]
            text = "".join(text) if isinstance(text, list) else text
            wide += [f"code cell {number}: {line[:40]!r}... ({len(line)} chars)"
                     for line in text.splitlines() if len(line) > limit]
    assert not wide, f"printed lines wider than {limit}: " + "; ".join(wide)


def test_assert_printed_lines_fit_names_the_wide_line():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print('x' * 81)", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="ok\n" + "x" * 81)])]
    with pytest.raises(AssertionError, match="code cell 1.*81 chars"):
        assert_printed_lines_fit(nb)


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


def test_a_send_while_waiting_for_a_reply_does_not_hide_the_reply():
    """The stall of issue 19, on two sockets: a reply arrives while the client's event loop
    is busy, then the client sends on the same socket (as nbclient's Output-widget stand-in
    does) before the loop looks. jupyter_client's plain channel sees the reply only at its
    poll's timeout; the runner's channel at once."""
    import zmq
    import zmq.asyncio
    from jupyter_client.channels import AsyncZMQSocketChannel
    from jupyter_client.session import Session

    async def seconds_to_see_the_reply(channel_class, timeout):
        kernel = zmq.Context.instance().socket(zmq.ROUTER)
        client = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        client.connect(f"tcp://127.0.0.1:{kernel.bind_to_random_port('tcp://127.0.0.1')}")
        session = Session()
        channel = channel_class(client, session)
        channel.send(session.msg("execute_request"))
        ident, *request = kernel.recv_multipart()
        start = time.monotonic()
        reply = asyncio.ensure_future(channel.get_msg(timeout=timeout))
        await asyncio.sleep(0.05)                       # the client waits for the reply
        kernel.send_multipart([ident, *request])         # the reply arrives...
        time.sleep(0.05)                                 # ...while the loop is busy,
        channel.send(session.msg("comm_msg"))            # and the client sends
        await reply
        kernel.close(linger=0)
        channel.close()
        return time.monotonic() - start

    assert asyncio.run(seconds_to_see_the_reply(notebook_runner._Channel, timeout=30)) < 15
    # the dependency's behaviour this works around (if this fails, an upgrade fixed it)
    assert asyncio.run(seconds_to_see_the_reply(AsyncZMQSocketChannel, timeout=2)) >= 1.9


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_cells_are_timed_and_a_cell_that_waits_fails_the_idle_check(tmp_path):
    """A cell that computes shows its CPU time; one that sleeps shows wall time without CPU,
    which is what a client stuck on a lost wake-up looks like to check_idle."""
    path = _notebook(tmp_path / "timed.ipynb",
                     "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5:\n    pass",
                     "time.sleep(1.5)")
    run = execute(path)
    busy, asleep = run.cells
    assert busy.label == "code cell 1: 'import time'" and busy.cpu >= 0.45
    assert asleep.wall >= 1.5 and asleep.cpu < 1.0
    assert run.cpu_seconds == busy.cpu + asleep.cpu
    waits = notebook_runner.Execution(path, 3.0, [notebook_runner.CellTiming("a", 2.0, 1.5),
                                                  notebook_runner.CellTiming("b", 1.0, 0.1)])
    assert waits.longest_idle.label == "b"
    notebook_runner.check_idle([run])                       # 60 s: nothing stalled
    with pytest.raises(notebook_runner.StalledCell, match=r"timed.ipynb, code cell 2: "
                       r"'time.sleep\(1.5\)': \d+ s wall for \d+ s of kernel CPU"):
        notebook_runner.check_idle([run], limit=1.0)


def test_parallel_execution_fills_the_cache_and_names_every_failure(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    good = _notebook(tmp_path / "good.ipynb", "x = 1")
    bad = [_notebook(tmp_path / f"bad{i}.ipynb", f"raise ValueError('bad {i}')") for i in (1, 2)]
    with pytest.raises(notebook_runner.NotebookFailure) as failure:
        execute_many([bad[0], good, bad[1]], jobs=2, cache=True, cache_dir=cache)
    assert "bad1.ipynb" in str(failure.value) and "ValueError: bad 2" in str(failure.value)
    record = cached_execution(good, cache)                   # the good one still ran and was stored
    assert record["execution_seconds"] > 0 and record["longest_idle"][0] == "code cell 1: 'x = 1'"
    assert all(cached_execution(path, cache) is None for path in bad)
    monkeypatch.setattr(notebook_runner, "library_fingerprint", lambda: "another library")
    assert cached_execution(good, cache) is None             # course_lib changed: stale
    monkeypatch.undo()
    _notebook(good, "x = 2")
    assert cached_execution(good, cache) is None             # its code changed: stale
    with pytest.raises(ValueError, match="jobs must be at least 1, got 0"):
        execute_many([good], jobs=0)


def test_the_book_build_executes_only_uncached_chapters_and_stops_on_a_stall(tmp_path, monkeypatch):
    """book/_ext/execute_chapters.py on Sphinx's env-get-outdated event, with a stand-in app."""
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import execute_chapters
    from sphinx.errors import ExtensionError

    class App:
        srcdir = str(tmp_path)

        class config:
            nb_execution_mode, nb_execution_cache_path, nb_execution_timeout = "cache", "cache", 60

    class Env:
        found_docs = {"a", "b"}

        @staticmethod
        def doc2path(docname):
            return str(tmp_path / f"{docname}.ipynb")

    for name in Env.found_docs:
        _notebook(tmp_path / f"{name}.ipynb", f"print('{name}')")
    execute(tmp_path / "a.ipynb", cache=True, cache_dir=tmp_path / "cache")
    monkeypatch.setenv("COURSE_BUILD_JOBS", "2")
    assert execute_chapters.execute_stale(App, Env, set(), set(), set()) == ["b"]
    assert execute_chapters.execute_stale(App, Env, set(), set(), set()) == []   # all cached
    _notebook(tmp_path / "b.ipynb", "import time\ntime.sleep(1.5)")
    monkeypatch.setattr(notebook_runner, "MAX_IDLE_SECONDS", 1.0)
    with pytest.raises(ExtensionError, match=r"b.ipynb, code cell 1: 'import time': \d+ s wall"):
        execute_chapters.execute_stale(App, Env, set(), set(), set())
    _notebook(tmp_path / "b.ipynb", "import time\ntime.sleep(1.6)")
    monkeypatch.setenv("COURSE_BUILD_MAX_WAIT", "600")          # a machine busy with other work
    assert execute_chapters.execute_stale(App, Env, set(), set(), set()) == ["b"]
    monkeypatch.setenv("COURSE_BUILD_JOBS", "two")
    with pytest.raises(ExtensionError, match="COURSE_BUILD_JOBS must be a positive whole number"):
        execute_chapters.jobs()
