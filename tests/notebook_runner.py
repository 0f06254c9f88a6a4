"""Execute chapters (MyST markdown) and notebooks (.ipynb) in fresh kernels: for the tests
and for the book build (book/_ext/execute_chapters.py executes stale chapters with
:func:`execute_many` before Sphinx reads them).

A failure raises :class:`NotebookFailure` whose message names the notebook, the failing cell
(its index and first source line) and the error. Every execution records, per code cell, the
wall time the client waited and the CPU time the kernel process spent meanwhile
(:class:`CellTiming`); :func:`check_idle` fails when a cell waited much longer than it
computed, the mark of a client that missed the kernel's reply (see :class:`_Channel`).

Chapters are read with myst-nb's own reader, so this executes exactly the cells the book
build shows; a chapter that passed is stored in the book's execution cache
(``.jupyter_cache``) with the library fingerprint, mode and device it ran with
(:func:`cached_execution`), and neither ``make book`` nor ``make test`` runs it again until
its code, course_lib, requirements.txt, the mode or the device changes.
"""
from __future__ import annotations

import asyncio
import datetime
import fcntl
import hashlib
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import nbformat
import zmq
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets import Type, default

ROOT = Path(__file__).resolve().parents[1]
#: The execution cache that myst-nb reads (``execute.cache`` in _config.yml).
CACHE_DIR = ROOT / ".jupyter_cache"
#: Seconds to wait for the book cache's lock before failing loudly instead of hanging.
LOCK_TIMEOUT = 120
#: A notebook that takes longer than this (seconds) gets a :class:`SlowNotebook` warning
#: that splits its time between its slowest cell and the kernel's start and shutdown, so that
#: a rare stall in CI says where it happened (every chapter takes 15-35 s).
SLOW_SECONDS = 120
#: Most seconds a cell's wall time may exceed its kernel CPU time in a build
#: (:func:`check_idle`): a lost wake-up cost the whole 300 s cell timeout (:class:`_Channel`).
MAX_IDLE_SECONDS = 60.0


class SlowNotebook(UserWarning):
    """A notebook ran past SLOW_SECONDS; the message says where the time went."""


class NotebookFailure(AssertionError):
    """A cell of a notebook raised an error or timed out."""


class StalledCell(AssertionError):
    """A cell's wall time exceeded its kernel CPU time by more than the limit."""


class CellTiming(NamedTuple):
    """One executed code cell: ``wall`` seconds from sending it to the kernel until its reply
    and outputs were in, ``cpu`` seconds the kernel process (threads and waited-for children
    included) computed meanwhile."""

    label: str
    wall: float
    cpu: float

    @property
    def idle(self) -> float:
        """Seconds the client waited beyond the kernel's CPU time (negative with threads)."""
        return self.wall - self.cpu


@dataclass
class Execution:
    """What :func:`execute` measured: the notebook's wall time, kernel start and shutdown
    included, and the timing of every code cell."""

    path: Path
    seconds: float
    cells: list = field(default_factory=list)

    @property
    def cpu_seconds(self) -> float:
        """Kernel CPU seconds spent in the cells."""
        return sum(cell.cpu for cell in self.cells)

    @property
    def longest_idle(self) -> CellTiming | None:
        """The cell whose wall time exceeded its CPU time the most."""
        return max(self.cells, key=lambda cell: cell.idle, default=None)


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


def library_fingerprint() -> str:
    """A hash of what a chapter's outputs depend on besides its own code: every file of
    course_lib and the pinned environment (requirements.txt)."""
    digest = hashlib.sha256()
    files = sorted(path for path in (ROOT / "course_lib").rglob("*")
                   if path.is_file() and "__pycache__" not in path.parts)
    for path in files + [ROOT / "requirements.txt"]:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def this_run() -> dict:
    """The conditions an execution is valid for: library fingerprint, mode and device."""
    from course_lib.config import device_name, mode

    return {"library": library_fingerprint(), "mode": mode(), "device": device_name()}


def cached_execution(path: Path, cache_dir: Path = CACHE_DIR,
                     conditions: dict | None = None) -> dict | None:
    """The cache record's data (:func:`store_in_book_cache`) of ``path``'s current code if
    this runner executed it under ``conditions`` (default: :func:`this_run`); else None."""
    from jupyter_cache import get_cache

    if not Path(cache_dir).exists():
        return None
    try:
        record = get_cache(str(cache_dir)).match_cache_notebook(read(path))
    except KeyError:
        return None
    data = record.data or {}
    conditions = this_run() if conditions is None else conditions
    return data if all(data.get(key) == value for key, value in conditions.items()) else None


def cached_notebook(path: Path, cache_dir: Path = CACHE_DIR) -> nbformat.NotebookNode:
    """The executed notebook that the book's cache holds for ``path``'s current code."""
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_dir))
    record = cache.match_cache_notebook(read(path))
    return cache.get_cache_bundle(record.pk).nb


def store_in_book_cache(path: Path, executed: nbformat.NotebookNode, run: Execution,
                        cache_dir: Path = CACHE_DIR) -> None:
    """Put an executed chapter into the jupyter-cache that ``make book`` reads, with its
    timings (shown on the book's status page) and :func:`this_run`'s conditions."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    idle = run.longest_idle
    data = {"execution_seconds": run.seconds, "cpu_seconds": run.cpu_seconds,
            "longest_idle": idle and [idle.label, idle.wall, idle.cpu], **this_run()}
    with _locked(Path(str(cache_dir) + ".lock")):
        get_cache(str(cache_dir)).cache_notebook_bundle(
            CacheBundleIn(executed, str(Path(path).resolve()), data=data),
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


class _Channel(AsyncZMQSocketChannel):
    """A kernel channel that re-checks its socket after sending, so that a message which
    arrived meanwhile still wakes a pending poll.

    The stall this prevents (issue 19): nbclient waits for a cell's execute_reply with one
    asyncio poll of the shell socket as long as the cell timeout (300 s). pyzmq wakes that poll
    through the socket's edge-triggered file descriptor, which libzmq drains whenever the
    socket processes its pending commands, as every send does. jupyter_client's
    ``Session.send`` writes on a raw (shadow) socket behind pyzmq's asyncio layer, which
    therefore never re-checks the socket after it. And nbclient does send on the shell
    socket while it waits there: its OutputWidget stand-in answers every output an ipywidgets
    ``Output`` captures (every Playground draws into one) with a ``comm_msg``. When the
    reply lands just before such a send, the poll is never woken, and nbclient reads the
    reply when the poll times out and goes on: 299 s and 301 s lost in two chapters of one
    CI run, 300 s in chapter 6 of a cold build. In a notebook of 400 such cells with a 10 s
    timeout, plain nbclient waited out the timeout in 11 (about 3%), this channel in none.
    Reading ``ZMQ_EVENTS`` through the asyncio socket after the send makes pyzmq re-check
    it and wake the poll, as pyzmq does after its own sends. Upstream: jupyter/nbclient#312
    (open), where the maintainers place the fix in jupyter_client.
    """

    def send(self, msg: dict) -> None:
        super().send(msg)
        self.socket.get(zmq.EVENTS)   # pyzmq's asyncio socket re-checks its events on this call


class _Client(AsyncKernelClient):
    shell_channel_class = Type(_Channel)
    iopub_channel_class = Type(_Channel)
    stdin_channel_class = Type(_Channel)
    control_channel_class = Type(_Channel)


class _KernelManager(AsyncKernelManager):
    @default("client_factory")
    def _client(self):
        return _Client


class _CellClock:
    """nbclient hooks that time each code cell: the client's wall clock, and the kernel
    process's CPU time read by psutil (threads and waited-for children included)."""

    def __init__(self, nb):
        self.nb, self.client, self.cells = nb, None, []
        self._process = self._start = None

    def _kernel_cpu(self) -> float:
        import psutil

        if self._process is None:
            self._process = psutil.Process(self.client.km.provisioner.pid)
        times = self._process.cpu_times()
        return times.user + times.system + times.children_user + times.children_system

    def start(self, cell, cell_index):
        self._start = (time.perf_counter(), self._kernel_cpu())

    def stop(self, cell, cell_index, execute_reply):
        wall, cpu = time.perf_counter() - self._start[0], self._kernel_cpu() - self._start[1]
        self.cells.append(CellTiming(_describe_cell(self.nb, cell_index), wall, cpu))


def _failure(path: Path, nb, error: Exception, timeout: int) -> NotebookFailure:
    """The :class:`NotebookFailure` for nbclient's ``error``, naming the failing cell."""
    if isinstance(error, TimeoutError):  # nbclient raises CellTimeoutError, a TimeoutError
        return NotebookFailure(f"{_display(path)}: a cell ran past {timeout} s ({error})")
    failing = next((i for i in _code_cells(nb)
                    if any(o.get("output_type") == "error" for o in nb.cells[i].get("outputs", []))),
                   None)
    where = "an unknown cell" if failing is None else f"cell {failing} ({_describe_cell(nb, failing)})"
    name = error.ename if hasattr(error, "ename") else type(error).__name__
    value = getattr(error, "evalue", str(error).splitlines()[-1] if str(error) else "")
    return NotebookFailure(f"{_display(path)}: {where} raised {name}: {value}")


async def execute_async(path: Path, timeout: int = 300, cache: bool = False, env: dict | None = None,
                        cache_dir: Path = CACHE_DIR) -> Execution:
    """Run every cell of ``path`` top to bottom in a fresh kernel (started with ``env`` if
    given) and return what was measured.

    With ``cache``, a chapter that ran without error is stored for the book build. A run
    longer than :data:`SLOW_SECONDS` warns (:class:`SlowNotebook`) where its time went.
    """
    path = Path(path)
    nb = read(path)
    clock = _CellClock(nb)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                            kernel_manager_class=_KernelManager,
                            on_cell_execute=clock.start, on_cell_executed=clock.stop,
                            resources={"metadata": {"path": str(path.parent)}})
    clock.client = client
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    try:
        await client.async_execute(**({"env": env} if env is not None else {}))
    except (CellExecutionError, TimeoutError) as error:
        raise _failure(path, nb, error, timeout) from None
    run = Execution(path, time.perf_counter() - start, clock.cells)
    _warn_if_slow(path, nb, started, datetime.datetime.now(datetime.timezone.utc),
                  _cell_spans(nb))  # _cell_spans also strips the timing metadata
    if cache:
        store_in_book_cache(path, nb, run, cache_dir)
    return run


def execute(path: Path, timeout: int = 300, cache: bool = False, env: dict | None = None,
            cache_dir: Path = CACHE_DIR) -> Execution:
    """:func:`execute_async`, waited for."""
    return run_sync(execute_async)(path, timeout, cache, env, cache_dir)


def execute_many(paths: list, jobs: int, **options) -> list:
    """:func:`execute_async` on every path, ``jobs`` kernels at a time (the client side only
    waits, so one event loop drives them all); the :class:`Execution` of each, in order.

    Every notebook runs even when another fails; then one :class:`NotebookFailure` names all
    the failures.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")

    async def run_all():
        gate = asyncio.Semaphore(jobs)

        async def one(path):
            async with gate:
                return await execute_async(path, **options)

        return await asyncio.gather(*(one(path) for path in paths), return_exceptions=True)

    results = run_sync(run_all)()
    failures = [result for result in results if isinstance(result, BaseException)]
    for failure in failures:
        if not isinstance(failure, NotebookFailure):
            raise failure
    if failures:
        raise NotebookFailure("\n".join(str(failure) for failure in failures))
    return results


def check_idle(runs: list, limit: float | None = None) -> None:
    """Raise :class:`StalledCell` naming every cell of ``runs`` (:class:`Execution`) whose
    wall time exceeded its kernel CPU time by more than ``limit`` seconds
    (default :data:`MAX_IDLE_SECONDS`)."""
    limit = MAX_IDLE_SECONDS if limit is None else limit
    stalled = [f"{_display(run.path)}, {cell.label}: {cell.wall:.0f} s wall for {cell.cpu:.0f} s "
               f"of kernel CPU" for run in runs for cell in run.cells if cell.idle > limit]
    if stalled:
        raise StalledCell(f"{len(stalled)} cell(s) waited more than {limit:.0f} s beyond their "
                          "kernel CPU time (a lost wake-up, or an overloaded machine): "
                          + "; ".join(stalled))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
