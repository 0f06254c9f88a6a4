"""The sandboxed side of grading: a fresh IPython shell that runs one submission.

Started by :mod:`course_lib.grading.runner` as ``python -m course_lib.grading.kernel``
inside the sandbox. It talks to the grader through two pipes (file descriptors given on
the command line), one JSON message per line:

grader -> kernel
    ``{"cells": [[number, source], ...]}``, then, after "ready",
    ``{"questions": [{"name", "kind", "target", "cases"}, ...]}``.
kernel -> grader
    ``{"event": "cell", "number": n}`` before each cell, ``{"event": "cell_error", ...}``,
    ``{"event": "ready", "student_id": ...}``, ``{"event": "question", "name": ...}``,
    ``{"event": "answer", "name": ..., "results": [...]}``, ``{"event": "done"}``.

The grader checks every line against :mod:`course_lib.grading.protocol` (order and size).
Before any student code runs, the kernel caps its own resources (:func:`set_limits`).

Only the *outputs* of the student's functions leave this process, as plain data
(:mod:`course_lib.grading.codec`); the grader compares them with references in its own
process. Student code can therefore lie only about its own answers, which it could do
anyway by returning other values. Cells run like "Run All" in Jupyter, except that a
failing cell does not stop the others (every question gets its chance).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys

from .codec import EncodeError, decode, encode
from .protocol import MAX_ANSWER_BYTES, MAX_ID_CHARS

# Bound before any student code runs, so that monkeypatching json/os later cannot
# break the channel (a student could only break their own submission anyway).
_write = os.write
_read = os.read
_dumps = json.dumps
_loads = json.loads

MAX_ERROR = 400


class _QuestionTimeout(BaseException):
    """Raised by the alarm inside a graded function that runs too long."""


def _describe(error: BaseException) -> str:
    try:
        text = f"{type(error).__name__}: {error}"
    except Exception:  # a hostile __str__
        text = type(error).__name__
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."


class Channel:
    """Newline-delimited JSON over two pipes."""

    def __init__(self, out_fd: int, in_fd: int):
        self.out_fd, self.in_fd, self.buffer = out_fd, in_fd, b""

    def send(self, message: dict) -> None:
        data = (_dumps(message, allow_nan=True, separators=(",", ":")) + "\n").encode()
        while data:
            data = data[_write(self.out_fd, data):]

    def receive(self) -> dict:
        while b"\n" not in self.buffer:
            chunk = _read(self.in_fd, 1 << 16)
            if not chunk:
                raise SystemExit("the grader closed the channel")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return _loads(line)


def set_limits(memory_mb: int, file_mb: int, processes: int, files: int = 256) -> None:
    """Cap this process and its children: address space, file size, processes, descriptors.

    RLIMIT_NPROC counts the tasks (processes and threads) of this user in this user
    namespace: bubblewrap gives each kernel its own, or the grader a uid of its own. Without
    a sandbox it would count all the user's processes, so ``processes=0`` leaves it alone.
    """
    limits = [(resource.RLIMIT_AS, memory_mb * 2**20), (resource.RLIMIT_FSIZE, file_mb * 2**20),
              (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, files)]
    for limit, value in limits + ([(resource.RLIMIT_NPROC, processes)] if processes else []):
        hard = resource.getrlimit(limit)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (value, value))


def make_shell():
    """A plain IPython shell (the interpreter inside Jupyter's kernel), without colors."""
    from IPython.core.interactiveshell import InteractiveShell

    class GradingShell(InteractiveShell):
        def enable_gui(self, gui=None):
            # `%matplotlib inline` asks for a GUI loop; figures simply stay in memory.
            pass

        def ask_exit(self):
            # exit()/quit() in a cell: nothing to quit, keep running the notebook.
            self.exit_now = False

    return GradingShell.instance(colors="nocolor")


def _answer_question(namespace: dict, question: dict, seconds: float) -> list[dict]:
    missing = object()
    target = question["target"]
    obj = namespace.get(target, missing)
    if obj is missing:
        return [{"ok": False, "error": f"{target} is not defined (missing or renamed?)"}]
    if question["kind"] != "function":
        if obj is Ellipsis:
            return [{"ok": False, "error": f"not answered yet ({target} is still ...)"}]
        try:
            return [{"ok": True, "value": encode(obj)}]
        except EncodeError as error:
            return [{"ok": False, "error": f"{target} cannot be graded: it is {error}"}]
    if not callable(obj):
        return [{"ok": False, "error": f"{target} is not a function"}]

    def on_alarm(signum, frame):
        raise _QuestionTimeout()

    results = []
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        for case in question["cases"]:
            try:
                output = obj(**decode(case))
                results.append({"ok": True, "value": encode(output)})
            except _QuestionTimeout:
                results.append({"ok": False, "error": f"took longer than {seconds:g} s"})
                break
            except EncodeError as error:
                results.append({"ok": False, "error": f"returned something that cannot be graded: {error}"})
            except BaseException as error:  # SystemExit, KeyboardInterrupt included
                results.append({"ok": False, "error": _describe(error)})
    except _QuestionTimeout:  # the alarm fired between two cases
        results.append({"ok": False, "error": f"took longer than {seconds:g} s"})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return results


def run(channel: Channel, question_seconds: float) -> None:
    """Run the cells, report the student id, then answer the grader's questions."""
    job = channel.receive()
    os.environ["COURSE_LIB_GRADING"] = "1"  # check() skips its advice for students
    shell = make_shell()
    for number, source in job["cells"]:
        channel.send({"event": "cell", "number": number})
        result = shell.run_cell(source, store_history=True)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            channel.send({"event": "cell_error", "number": number, "error": _describe(error)})
    student_id = shell.user_ns.get("STUDENT_ID")
    # one character more than the grader keeps, so that it can say the id was cut
    student_id = student_id[: MAX_ID_CHARS + 1] if type(student_id) is str else None
    channel.send({"event": "ready", "student_id": student_id})
    request = channel.receive()
    for question in request["questions"]:
        channel.send({"event": "question", "name": question["name"]})
        results = _bounded(_answer_question(shell.user_ns, question, question_seconds))
        channel.send({"event": "answer", "name": question["name"], "results": results})
    channel.send({"event": "done"})


def _bounded(results: list[dict]) -> list[dict]:
    """``results``, or one error when they are not JSON or larger than MAX_ANSWER_BYTES."""
    try:
        size = len(_dumps(results, allow_nan=True, separators=(",", ":")))
    except (TypeError, ValueError) as error:  # e.g. a circular structure
        return [{"ok": False, "error": f"unreadable answer: {_describe(error)}"}]
    if size > MAX_ANSWER_BYTES:
        return [{"ok": False, "error": f"the answer is {size // 1024} kB of data, more than the "
                                       f"{MAX_ANSWER_BYTES // 1024} kB allowed"}]
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-fd", type=int, required=True)
    parser.add_argument("--in-fd", type=int, required=True)
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--file-mb", type=int, default=64)
    parser.add_argument("--processes", type=int, default=64)
    parser.add_argument("--question-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    set_limits(args.memory_mb, args.file_mb, args.processes)
    channel = Channel(args.out_fd, args.in_fd)
    run(channel, args.question_seconds)
    sys.stdout.flush()
    # Skip interpreter teardown: student atexit hooks and __del__ methods get no say.
    os._exit(0)


if __name__ == "__main__":
    main()
