"""The grader's side of one kernel: start it in the sandbox, feed it, watch the clock.

:func:`run_kernel` starts ``course_lib.grading.kernel`` in a child process (inside the
sandbox), sends it the cells, waits for "ready", asks its questions and collects the
answers, all under one wall-clock limit. It never raises because of what the student's
code did: a timeout, a crash or garbage on the channel come back as a :class:`Failure`
that says where it happened (which cell, which question), so the grader can decide.
"""
from __future__ import annotations

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

from .notebook import Cell
from .sandbox import Sandbox, kernel_environment

#: Longest line the kernel may send (answers are capped by the codec well below this).
MAX_MESSAGE = 32 * 2**20
LOG_TAIL = 4000


class KernelStartError(RuntimeError):
    """The kernel died before running any student code: a problem of the grading machine."""


@dataclass
class Failure:
    """Why a kernel run ended early: ``kind`` is timeout, died or protocol."""

    kind: str
    reason: str
    cell: int | None = None
    question: str | None = None


@dataclass
class KernelRun:
    """What one kernel reported."""

    student_id: str | None = None
    ready: bool = False
    cell_errors: dict = field(default_factory=dict)
    answers: dict = field(default_factory=dict)
    failure: Failure | None = None
    done: bool = False
    log_tail: str = ""
    seconds: float = 0.0


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


def run_kernel(cells: list[Cell], on_ready: Callable[[str | None], list[dict]], sandbox: Sandbox,
               timeout: float, memory_mb: int, question_seconds: float = 5.0) -> KernelRun:
    """Run ``cells`` in a fresh sandboxed kernel and ask it the questions ``on_ready`` builds.

    ``on_ready(student_id)`` is called when the cells have run; it returns the question
    requests (``{"name", "kind", "target", "cases"}``) to send. ``timeout`` bounds the
    whole run in seconds of wall-clock time; ``memory_mb`` the kernel's address space.
    """
    result = KernelRun()
    start = time.monotonic()
    events_read, events_write = os.pipe()
    requests_read, requests_write = os.pipe()
    home = None
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as scratch:
        if not sandbox.isolated:
            home = scratch
        argv = [sys.executable, "-m", "course_lib.grading.kernel", "--out-fd", str(events_write),
                "--in-fd", str(requests_read), "--memory-mb", str(memory_mb),
                "--question-seconds", str(question_seconds)]
        try:
            process = subprocess.Popen(
                sandbox.command(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, pass_fds=(events_write, requests_read),
                cwd=scratch, env=kernel_environment(home or "/tmp"), start_new_session=True)
        finally:
            os.close(events_write)
            os.close(requests_read)
        writer = _Writer(requests_write)
        writer.start()
        writer.messages.put({"cells": [[cell.number, cell.source] for cell in cells]})
        try:
            _watch(process, events_read, writer, on_ready, result, start + timeout, timeout,
                   sandbox.isolated)
        finally:
            writer.messages.put(None)
            _stop(process)
            os.close(events_read)
            result.seconds = time.monotonic() - start
    return result


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
    if process.stdout:
        process.stdout.close()


def _watch(process, events_fd, writer, on_ready, result, deadline, timeout, isolated):
    """Read events and output until "done", EOF or the deadline; fill ``result``."""
    buffer, log = b"", bytearray()
    where: dict = {"cell": None, "question": None}
    with selectors.DefaultSelector() as selector:
        selector.register(events_fd, selectors.EVENT_READ, "events")
        selector.register(process.stdout, selectors.EVENT_READ, "log")
        reading = True
        while reading and result.failure is None:
            left = deadline - time.monotonic()
            if left <= 0:
                result.failure = Failure("timeout", f"exceeded the time limit of {timeout:g} s", **where)
                break
            for key, _ in selector.select(timeout=min(left, 1.0)):
                chunk = os.read(key.fd, 1 << 16)
                if key.data == "log":
                    if not chunk:
                        selector.unregister(key.fileobj)
                    log += chunk
                    del log[:-LOG_TAIL]
                    continue
                if not chunk:
                    reading = False
                    break
                buffer += chunk
                while b"\n" in buffer and reading and result.failure is None:
                    line, buffer = buffer.split(b"\n", 1)
                    reading = not _handle(line, where, writer, on_ready, result)
                if len(buffer) > MAX_MESSAGE:
                    result.failure = Failure("protocol", "sent a message larger than "
                                             f"{MAX_MESSAGE // 2**20} MB", **where)
                if not reading or result.failure is not None:
                    break
    result.log_tail = log.decode(errors="replace")
    if result.failure is not None or result.done:
        return
    # The channel closed without "done": the kernel died, or closed the channel.
    try:
        process.wait(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        result.failure = Failure("protocol", "closed its channel to the grader", **where)
        return
    status = describe_exit(process.returncode, isolated)
    if not result.ready and where["cell"] is None:
        raise KernelStartError(f"the kernel did not start ({status}): {result.log_tail[-1000:]}")
    result.failure = Failure("died", f"the kernel died ({status})", **where)


def _handle(line: bytes, where: dict, writer, on_ready, result: KernelRun) -> bool:
    """Apply one event; True when the kernel said it is done."""
    try:
        message = json.loads(line)
        event = message["event"]
        if event == "cell":
            where["cell"] = int(message["number"])
        elif event == "cell_error":
            result.cell_errors[int(message["number"])] = str(message["error"])[:500]
        elif event == "ready" and not result.ready:
            student_id = message.get("student_id")
            result.student_id = student_id[:100] if isinstance(student_id, str) else None
            result.ready = True
            where["cell"] = None
            writer.messages.put({"questions": on_ready(result.student_id)})
        elif event == "question":
            where["question"] = str(message["name"])
        elif event == "answer":
            name, answers = str(message["name"]), message["results"]
            if not isinstance(answers, list):
                raise ValueError("results is not a list")
            result.answers[name] = answers
            where["question"] = None
        elif event == "done":
            result.done = True
            return True
        elif event != "ready":
            raise ValueError(f"unknown event {event!r}")
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        result.failure = Failure("protocol", f"sent a malformed message ({type(error).__name__})", **where)
    return False
