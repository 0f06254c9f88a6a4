"""What one submission may use: time, memory, processes, disk and output."""
from __future__ import annotations

from dataclasses import dataclass


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
        if not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout!r}")
        if self.cell_timeout is not None and not 0 < self.cell_timeout <= self.timeout:
            raise ValueError(f"cell_timeout must be in (0, timeout], got {self.cell_timeout!r}")
        if not 256 <= self.memory_mb:
            raise ValueError(f"memory_mb must be >= 256, got {self.memory_mb!r}")
        if not self.question_seconds > 0:
            raise ValueError(f"question_seconds must be > 0, got {self.question_seconds!r}")
        if not 1 <= self.attempts <= 10:
            raise ValueError(f"attempts must be in 1..10, got {self.attempts!r}")
        if not 16 <= self.processes <= 4096:
            raise ValueError(f"processes must be in 16..4096, got {self.processes!r}")
        if not 1 <= self.disk_mb:
            raise ValueError(f"disk_mb must be >= 1, got {self.disk_mb!r}")
        if not 1 <= self.output_mb:
            raise ValueError(f"output_mb must be >= 1, got {self.output_mb!r}")

    @property
    def cell_seconds(self) -> float:
        return self.cell_timeout if self.cell_timeout is not None else self.timeout / 2
