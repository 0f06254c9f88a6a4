"""The grader's side of one kernel: start it in the sandbox, feed it, watch the clocks.

:func:`run_kernel` starts ``course_lib.grading.kernel`` in a child process (inside the
sandbox and its memory cage), sends it the cells, waits for "ready", asks its questions
and collects the answers. It enforces, from outside, every limit of :class:`~.Limits`:
the submission's time budget, a cell's and a question's time, the output volume, the
memory of the whole process tree (polled, where no cgroup does it), and the conversation
itself (:mod:`~.protocol`). Each is enforced by SIGKILL of the whole tree. It never raises
because of what the student's code did: a timeout, a crash or garbage on the channel come
back as a :class:`Failure` that says where it happened (which cell, which question), so
the grader can decide.
"""
from __future__ import annotations

import contextlib
import json
import os
import queue
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from . import cage as cages
from .limits import Limits
from .notebook import Cell
from .protocol import MAX_MESSAGE_BYTES, Conversation, ProtocolError
from .sandbox import Sandbox, kernel_environment, seccomp_fd

LOG_TAIL = 4000
#: A graded function that ignores the kernel's alarm is killed this much later.
QUESTION_GRACE = 1.0


class KernelStartError(RuntimeError):
    """The kernel died before running any student code: a problem of the grading machine."""


@dataclass
class Failure:
    """Why a kernel run ended early: ``kind`` is timeout, died, memory, output or protocol."""

    kind: str
    reason: str
    cell: int | None = None
    question: str | None = None


@dataclass
class KernelRun:
    """What one kernel reported (its :class:`~.protocol.Conversation`) and how it ended."""

    conversation: Conversation
    failure: Failure | None = None
    log_tail: str = ""
    seconds: float = 0.0
    peak_memory: int = 0

    @property
    def ready(self) -> bool:
        return self.conversation.phase != "cells"

    @property
    def done(self) -> bool:
        return self.conversation.phase == "done"


def describe_exit(returncode: int | None, isolated: bool) -> str:
    """'killed by signal 9 (SIGKILL)' or 'exit status 3'."""
    if returncode is None:
        return "no exit status"
    signum = -returncode if returncode < 0 else (returncode - 128 if isolated and returncode > 128 else 0)
    if signum > 0:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {signum} ({name})"
    return f"exit status {returncode}"


class _Writer(threading.Thread):
    """Writes requests to the kernel without ever blocking the grader's reading loop."""

    def __init__(self, fd: int):
        super().__init__(daemon=True)
        self.fd, self.messages = fd, queue.Queue()

    def run(self):
        try:
            while (message := self.messages.get()) is not None:
                data = (json.dumps(message, allow_nan=True) + "\n").encode()
                while data:
                    data = data[os.write(self.fd, data):]
        except OSError:  # the kernel is gone; the reading loop will notice
            pass
        finally:
            os.close(self.fd)


@dataclass
class _Clocks:
    """The deadlines that apply now (monotonic seconds); the earliest one wins."""

    limits: Limits
    budget_end: float
    cell_end: float | None = None
    question_end: float | None = None

    def update(self, event: str) -> None:
        now = time.monotonic()
        if event == "cell":
            self.cell_end = now + self.limits.cell_seconds
        elif event == "ready":
            self.cell_end = None
        elif event == "question":
            self.question_end = now + self.limits.question_seconds + QUESTION_GRACE
        elif event == "answer":
            self.question_end = None

    def next(self) -> tuple[float, str]:
        """(deadline, what passing it means)."""
        options = [(self.budget_end, f"used up the time limit of {self.limits.timeout:g} s "
                                     "for the whole submission")]
        if self.cell_end is not None:
            options.append((self.cell_end, f"ran longer than {self.limits.cell_seconds:g} s"))
        if self.question_end is not None:
            options.append((self.question_end, f"took longer than {self.limits.question_seconds:g} s "
                                               "and ignored the alarm"))
        return min(options)


def _argv(limits: Limits, events_fd: int, requests_fd: int, isolated: bool) -> list[str]:
    return [sys.executable, "-m", "course_lib.grading.kernel", "--out-fd", str(events_fd),
            "--in-fd", str(requests_fd), "--memory-mb", str(limits.memory_mb),
            "--file-mb", str(limits.disk_mb), "--processes", str(limits.processes if isolated else 0),
            "--question-seconds", str(limits.question_seconds)]


def _start(argv: list[str], sandbox: Sandbox, uid: int | None, fds: list[int], scratch: str, cage):
    filter_fd = seccomp_fd() if sandbox.isolated else None
    home = "/tmp" if sandbox.isolated else scratch
    try:
        return subprocess.Popen(
            cage.wrap(sandbox.command(argv, uid, filter_fd)), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=[*fds, *([filter_fd] if filter_fd is not None else [])], cwd=scratch,
            env=kernel_environment(home), start_new_session=True)
    finally:
        if filter_fd is not None:
            os.close(filter_fd)


def run_kernel(cells: list[Cell], on_ready: Callable[[str | None], list[dict]], sandbox: Sandbox,
               limits: Limits, budget_end: float, uid: int | None = None) -> KernelRun:
    """Run ``cells`` in a fresh sandboxed kernel and ask it the questions ``on_ready`` builds.

    ``on_ready(student_id)`` is called when the cells have run; it returns the question
    requests (``{"name", "kind", "target", "cases"}``) to send. ``budget_end`` is the
    monotonic time at which the submission's time budget runs out; ``uid`` the kernel's
    uid when the grader is root (:meth:`Sandbox.worker`).
    """
    result = KernelRun(Conversation([cell.number for cell in cells]))
    start = time.monotonic()
    events_read, events_write = os.pipe()
    requests_read, requests_write = os.pipe()
    kind, parent = sandbox.cage
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as scratch, \
            cages.make(kind, parent, limits.memory_mb * 2**20, limits.processes) as cage:
        try:
            argv = _argv(limits, events_write, requests_read, sandbox.isolated)
            process = _start(argv, sandbox, uid, [events_write, requests_read], scratch, cage)
        finally:
            os.close(events_write)
            os.close(requests_read)
        writer = _Writer(requests_write)
        writer.start()
        writer.messages.put({"cells": [[cell.number, cell.source] for cell in cells]})
        try:
            _watch(process, events_read, writer, on_ready, result, _Clocks(limits, budget_end), cage)
            _explain_end(process, result, cage, limits, sandbox.isolated, budget_end)
        finally:
            writer.messages.put(None)
            _stop(process, cage)
            os.close(events_read)
    result.peak_memory = cage.peak
    result.seconds = time.monotonic() - start
    return result


def _stop(process: subprocess.Popen, cage) -> None:
    """SIGKILL the kernel's whole tree and wait until every process of it is gone."""
    tree = cages.tree(process.pid) if process.poll() is None else []
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    cage.kill()
    process.wait()
    cages.wait_gone(tree)
    if process.stdout:
        process.stdout.close()


class _Reader:
    """Splits the events pipe into lines and counts the kernel's output."""

    def __init__(self, limits: Limits):
        self.buffer, self.log, self.printed = bytearray(), bytearray(), 0
        self.output_limit = limits.output_mb * 2**20

    def output(self, chunk: bytes) -> bool:
        """Keep the tail of the output; False once the kernel printed too much."""
        self.printed += len(chunk)
        self.log += chunk
        del self.log[:-LOG_TAIL]
        return self.printed <= self.output_limit

    def lines(self, chunk: bytes):
        self.buffer += chunk
        while (end := self.buffer.find(b"\n")) >= 0:
            line = bytes(self.buffer[:end])
            del self.buffer[:end + 1]
            yield line
        if len(self.buffer) > MAX_MESSAGE_BYTES:  # a line too long already: stop buffering
            raise ProtocolError(f"a message longer than {MAX_MESSAGE_BYTES // 1024} kB")


def _watch(process, events_fd, writer, on_ready, result: KernelRun, clocks: _Clocks, cage) -> None:
    """Read events and output until "done", EOF or a limit; fill ``result``."""
    reader, talk = _Reader(clocks.limits), result.conversation
    next_poll = time.monotonic()
    with selectors.DefaultSelector() as selector:
        selector.register(events_fd, selectors.EVENT_READ, "events")
        selector.register(process.stdout, selectors.EVENT_READ, "log")
        while result.failure is None and talk.phase != "done":
            deadline, why = clocks.next()
            now = time.monotonic()
            if now >= deadline:
                result.failure = Failure("timeout", why, *talk.blame())
                break
            if now >= next_poll:
                next_poll = now + cages.POLL_SECONDS
                if cage.over_limit(process.pid):
                    result.failure = Failure("memory", f"used more than {clocks.limits.memory_mb} MB of "
                                                       "memory (all its processes together)", *talk.blame())
                    break
            if not _pump(selector, min(deadline, next_poll) - now, reader, process, writer,
                         on_ready, result, clocks):
                break
    result.log_tail = reader.log.decode(errors="replace")


def _pump(selector, timeout, reader, process, writer, on_ready, result, clocks) -> bool:
    """Handle what is readable within ``timeout``; False when the events channel closed."""
    talk = result.conversation
    for key, _ in selector.select(timeout=max(0.0, timeout)):
        chunk = os.read(key.fd, 1 << 16)
        if key.data == "log":
            if not chunk:
                selector.unregister(key.fileobj)
            elif not reader.output(chunk):
                result.failure = Failure("output", f"printed more than {clocks.limits.output_mb} MB",
                                         *talk.blame())
                return True
            continue
        if not chunk:
            return False
        try:
            for line in reader.lines(chunk):
                event = talk.receive(line)
                clocks.update(event)
                if event == "ready":
                    questions = on_ready(talk.student_id)
                    talk.ask([question["name"] for question in questions])
                    writer.messages.put({"questions": questions})
                if talk.phase == "done":
                    return True
        except ProtocolError as error:
            result.failure = Failure("protocol", f"sent a malformed message ({error})", *talk.blame())
            return True
    return True


def _explain_end(process, result: KernelRun, cage, limits: Limits, isolated: bool, budget_end: float) -> None:
    """After the channel closed without "done": why (died, out of memory, channel closed)."""
    if result.failure is not None or result.done:
        return
    cell, question = result.conversation.blame()
    try:
        process.wait(timeout=max(0.1, min(5.0, budget_end - time.monotonic())))
    except subprocess.TimeoutExpired:
        result.failure = Failure("protocol", "closed its channel to the grader", cell, question)
        return
    if cage.oom_killed():
        result.failure = Failure("memory", f"was killed for using more than {limits.memory_mb} MB of "
                                           "memory (all its processes together)", cell, question)
        return
    status = describe_exit(process.returncode, isolated)
    if not result.ready and cell is None:
        raise KernelStartError(f"the kernel did not start ({status}): {result.log_tail[-1000:]}")
    result.failure = Failure("died", f"the kernel died ({status})", cell, question)
