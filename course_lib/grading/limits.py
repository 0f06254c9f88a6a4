"""What one submission may use: time, memory, processes, disk and output."""
from __future__ import annotations

from dataclasses import dataclass

from course_lib import _checks


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission, all enforced outside the student's reach.

    timeout : wall-clock seconds for the whole submission: every run of the notebook, its
        questions and the reruns together. At the end the grader kills the kernel's whole
        process tree (SIGKILL, which no code can ignore).
    cell_timeout : seconds one cell may run before the kernel is killed and the notebook
        run again without it (default: half of ``timeout``, so that a rerun has time).
    question_seconds : seconds one graded function may take over all its hidden cases;
        the kernel is killed one second later if the function ignores the alarm.
    memory_mb : memory of the kernel's whole process tree (see :mod:`~.cage`), and the
        address space of each of its processes (RLIMIT_AS), in MiB.
    processes : processes and threads of one kernel (RLIMIT_NPROC).
    disk_mb : size of the kernel's only writable folder, its working folder /tmp (a tmpfs).
    output_mb : what the kernel may print; more kills it, as a loop would.
    attempts : kernel runs per submission (a run that hangs or dies is retried without
        the culprit cell, within ``timeout``).
    """

    timeout: float = 30.0
    memory_mb: int = 1024
    question_seconds: float = 5.0
    attempts: int = 3
    cell_timeout: float | None = None
    processes: int = 64
    disk_mb: int = 256
    output_mb: int = 16

    def __post_init__(self):
        _checks.number("timeout", self.timeout, 0, low_open=True,
                       requirement="a positive number of seconds")
        if self.cell_timeout is not None:
            _checks.number("cell_timeout", self.cell_timeout, 0, self.timeout, low_open=True,
                           requirement=f"a number of seconds in (0, timeout={self.timeout!r}]")
        _checks.number("memory_mb", self.memory_mb, 256, requirement="a number >= 256")
        _checks.positive("question_seconds", self.question_seconds)
        _checks.integer("attempts", self.attempts, 1, 10)
        _checks.integer("processes", self.processes, 16, 4096)
        _checks.number("disk_mb", self.disk_mb, 1, requirement="a number >= 1")
        _checks.number("output_mb", self.output_mb, 1, requirement="a number >= 1")

    @property
    def cell_seconds(self) -> float:
        return self.cell_timeout if self.cell_timeout is not None else self.timeout / 2
