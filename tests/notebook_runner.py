"""Execute a chapter (MyST markdown) or a notebook (.ipynb) in a fresh kernel.

Used by tests/test_notebooks.py. A failure raises :class:`NotebookFailure` whose message
names the notebook, the failing cell (its index and first source line) and the error.

Chapters are read with myst-nb's own reader, so the test executes exactly the cells the book
build executes; a chapter that passed is stored in the book's execution cache
(``.jupyter_cache``), and ``make book`` after ``make test`` reuses it instead of running the
chapter a second time.
"""
from __future__ import annotations

import datetime
import fcntl
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets import Type, default

ROOT = Path(__file__).resolve().parents[1]
#: Seconds to wait for the book cache's lock before failing loudly instead of hanging.
LOCK_TIMEOUT = 120
#: A notebook that takes longer than this (seconds) gets a :class:`SlowNotebook` warning
#: that splits its time between its slowest cell and the kernel's start and shutdown, so that
#: a rare stall in CI says where it happened (every chapter takes 15-35 s).
SLOW_SECONDS = 120
#: Longest single wait (seconds) on a kernel socket; see :class:`_SlicedChannel`.
POLL_SLICE = 1.0


class SlowNotebook(UserWarning):
    """A notebook ran past SLOW_SECONDS; the message says where the time went."""


class NotebookFailure(AssertionError):
    """A cell of a notebook raised an error or timed out."""


def read(path: Path) -> nbformat.NotebookNode:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no notebook at {path}")
    if path.suffix == ".md":
        from myst_nb.core.read import read_myst_markdown_notebook

        return read_myst_markdown_notebook(path.read_text(encoding="utf-8"), path=path)
    return nbformat.read(path, as_version=4)


@contextmanager
def _locked(lock_path: Path):
    # pytest-xdist workers share one SQLite cache: one writer at a time.
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{lock_path} held by another process for more than "
                                       f"{LOCK_TIMEOUT} s (a stuck book build or test run?)") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def store_in_book_cache(path: Path, executed: nbformat.NotebookNode, seconds: float) -> None:
    """Put an executed chapter into the jupyter-cache that ``make book`` reads."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    from course_lib.config import device_name, mode

    cache_dir = ROOT / ".jupyter_cache"
    with _locked(ROOT / ".jupyter_cache.lock"):
        get_cache(str(cache_dir)).cache_notebook_bundle(
            CacheBundleIn(executed, str(Path(path).resolve()),
                          data={"execution_seconds": seconds, "device": device_name(), "mode": mode()}),
            check_validity=False, overwrite=True)


def _code_cells(nb):
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def _describe_cell(nb, i: int) -> str:
    """``code cell 2: 'first line'`` for the cell at index ``i`` of ``nb``."""
    source = nb.cells[i].source.strip().splitlines()
    return f"code cell {_code_cells(nb).index(i) + 1}: {source[0] if source else ''!r}"


def _cell_spans(nb) -> list:
    """``(busy, idle, cell index)`` of every executed code cell, from the kernel's status
    messages (nbclient's ``record_timing``); the timing metadata is removed from the cells."""
    spans = []
    for i in _code_cells(nb):
        stamps = nb.cells[i].metadata.pop("execution", None) or {}
        busy, idle = stamps.get("iopub.status.busy"), stamps.get("iopub.status.idle")
        if busy and idle:
            spans.append((datetime.datetime.fromisoformat(busy), datetime.datetime.fromisoformat(idle), i))
    return spans


def _warn_if_slow(path: Path, nb, started, ended, spans: list) -> None:
    """Warn when ``ended - started`` (aware datetimes) exceeds SLOW_SECONDS, naming the slowest
    cell and the longest wait outside cells: before the first (kernel start), between two
    cells (the client waiting for a reply), or after the last (kernel shutdown)."""
    seconds = (ended - started).total_seconds()
    if seconds <= SLOW_SECONDS:
        return
    parts = [f"{_display(path)} took {seconds:.0f} s (over {SLOW_SECONDS} s)"]
    if spans:
        in_cells = sum((idle - busy).total_seconds() for busy, idle, _ in spans)
        busy, idle, i = max(spans, key=lambda span: span[1] - span[0])
        parts.append(f"{in_cells:.0f} s in {len(spans)} cells, the slowest {_describe_cell(nb, i)} "
                     f"{(idle - busy).total_seconds():.0f} s")
        waits = [(spans[0][0] - started, "before the first cell (kernel start)"),
                 (ended - spans[-1][1], "after the last cell (kernel shutdown)")]
        waits += [(b[0] - a[1], (a[2], b[2])) for a, b in zip(spans, spans[1:])]
        wait, where = max(waits, key=lambda w: w[0])
        if isinstance(where, tuple):
            where = f"between {_describe_cell(nb, where[0])} and {_describe_cell(nb, where[1])}"
        parts.append(f"longest wait outside cells {wait.total_seconds():.0f} s, {where}")
    warnings.warn(SlowNotebook("; ".join(parts)), stacklevel=3)


class _SlicedChannel(AsyncZMQSocketChannel):
    """A kernel channel whose ``get_msg`` polls at most :data:`POLL_SLICE` seconds at a time.

    pyzmq wakes an asyncio poll through the socket's edge-triggered file descriptor; when that
    wake-up is lost, a message that has already arrived is read only when the poll times out.
    nbclient waits for a cell's reply with one poll as long as the cell timeout (300 s), and
    after such a timeout it finds the reply and goes on as if nothing had happened: that is
    how two chapters of one CI run lost 299 s and 301 s outside any cell (found by
    :class:`SlowNotebook`; no other wait of nbclient lasts 300 s without failing). nbclient's
    other waits already poll in slices (``shell_timeout_interval``); with this channel a lost
    wake-up costs at most one slice everywhere.
    """

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = POLL_SLICE if deadline is None else min(POLL_SLICE, max(0.0, deadline - time.monotonic()))
            try:
                return await super().get_msg(timeout=wait)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class _SlicedClient(AsyncKernelClient):
    shell_channel_class = Type(_SlicedChannel)
    iopub_channel_class = Type(_SlicedChannel)
    stdin_channel_class = Type(_SlicedChannel)
    control_channel_class = Type(_SlicedChannel)


class _SlicedKernelManager(AsyncKernelManager):
    @default("client_factory")
    def _sliced_client(self):
        return _SlicedClient


def execute(path: Path, timeout: int = 300, cache: bool = False) -> float:
    """Run every cell of ``path`` top to bottom; return the wall time in seconds.

    With ``cache``, a chapter that ran without error is stored for the book build. A run
    longer than :data:`SLOW_SECONDS` warns (:class:`SlowNotebook`) where its time went.
    """
    path = Path(path)
    nb = read(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                            kernel_manager_class=_SlicedKernelManager,
                            resources={"metadata": {"path": str(path.parent)}})
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        failing = next((i for i in _code_cells(nb)
                        if any(o.get("output_type") == "error" for o in nb.cells[i].get("outputs", []))),
                       None)
        where = "an unknown cell"
        if failing is not None:
            where = f"cell {failing} ({_describe_cell(nb, failing)})"
        name = error.ename if hasattr(error, "ename") else type(error).__name__
        value = getattr(error, "evalue", str(error).splitlines()[-1] if str(error) else "")
        raise NotebookFailure(f"{_display(path)}: {where} raised {name}: {value}") from None
    except TimeoutError as error:  # nbclient raises CellTimeoutError, a TimeoutError
        raise NotebookFailure(f"{_display(path)}: a cell ran past {timeout} s ({error})") from None
    seconds = time.perf_counter() - start
    _warn_if_slow(path, nb, started, datetime.datetime.now(datetime.timezone.utc),
                  _cell_spans(nb))  # _cell_spans also strips the timing metadata
    if cache:
        store_in_book_cache(path, nb, seconds)
    return seconds


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
