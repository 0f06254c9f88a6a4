"""The memory limit of a kernel's whole process tree: a cgroup where the host allows one, else polling.

RLIMIT_AS caps one process; six children of 700 MB each still take 4.2 GB. A *cage* caps
their sum, one of three ways, chosen at run time by :func:`detect` (or forced with the
environment variable ``COURSE_LIB_GRADER_MEMORY`` = ``cgroup2``, ``cgroup1`` or ``poll``):

``cgroup2``
    A cgroup v2 under the hierarchy's root with ``memory.max``, ``memory.swap.max = 0``
    and ``pids.max``: the kernel OOM-kills inside it. Needs write access to the root of
    the unified hierarchy (root, or a delegated hierarchy in a container).
``cgroup1``
    A child of the grader's own cgroup in the v1 memory controller, with
    ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes`` where swap is accounted).
``poll``
    Everywhere else (an ordinary user on most machines): the grader adds up the
    proportional set size (PSS) of every process of the tree ten times a second and kills
    the tree above the limit. Memory allocated between two looks is over the limit for at
    most 0.1 s, and memory held outside any process (tmpfs, SysV shared memory, memfd) is
    not seen: the sandbox bounds the first by tmpfs sizes and forbids the others
    (:mod:`course_lib.grading.seccomp`).

In the cgroup modes the kernel's command starts inside its cgroup (:meth:`Cage.wrap`: a
shell writes itself into ``cgroup.procs``, then becomes bubblewrap), so every process of
the sandbox is inside before any student code runs. A cage is made for one kernel run and
removed after it.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import time
from pathlib import Path

POLL_SECONDS = 0.1
PREFIX = "course_lib-grader"
#: ``sh -c JOIN procs command...``: move the shell into the cgroup, then run the command.
JOIN = 'echo 0 > "$0" && exec "$@"'
_counter = itertools.count()


def _mounts() -> dict[str, tuple[str, str]]:
    """Controller ("memory", "cgroup2") -> (mount point, root of the mount in the hierarchy)."""
    found = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, (fstype, _, options) = left.split(), right.split(" ", 2)
        if fstype == "cgroup2":
            found.setdefault("cgroup2", (fields[4], fields[3]))
        elif fstype == "cgroup" and "memory" in options.split(","):
            found.setdefault("memory", (fields[4], fields[3]))
    return found


def _own_path(controller: str) -> str:
    """This process's cgroup in ``controller``'s hierarchy ("" = the v2 hierarchy)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    raise OSError(f"no {controller or 'unified'} cgroup")


def _within(mount: tuple[str, str], path: str) -> Path:
    point, root = mount
    relative = os.path.relpath(path, root) if root != "/" else path.lstrip("/")
    return Path(point) / relative if relative != "." else Path(point)


class Cage:
    """Limits of one kernel run; ``kind`` is "cgroup2", "cgroup1" or "poll"."""

    kind = "poll"

    def __init__(self, memory_bytes: int, processes: int):
        self.memory_bytes, self.processes = memory_bytes, processes
        self.peak = 0

    def wrap(self, command: list[str]) -> list[str]:
        """``command``, started inside the cage."""
        return command

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def over_limit(self, root_pid: int) -> bool:
        """True when the tree under ``root_pid`` uses more than the limit (polling only)."""
        used = sum(_pss(pid) for pid in tree(root_pid))
        self.peak = max(self.peak, used)
        return used > self.memory_bytes

    def oom_killed(self) -> bool:
        return False

    def kill(self) -> None:
        pass

    def close(self) -> None:
        pass


class CgroupCage(Cage):
    """A fresh cgroup (v1 or v2) with the limits written into it."""

    def __init__(self, memory_bytes: int, processes: int, parent: Path, kind: str):
        super().__init__(memory_bytes, processes)
        self.kind = kind
        self.path = parent / f"{PREFIX}-{os.getpid()}-{next(_counter)}"
        self.path.mkdir()
        try:
            self._configure()
        except BaseException:
            self.path.rmdir()
            raise

    def wrap(self, command: list[str]) -> list[str]:
        return ["/bin/sh", "-c", JOIN, str(self.path / "cgroup.procs"), *command]

    def _configure(self):
        if self.kind == "cgroup2":
            limits = {"memory.max": self.memory_bytes, "memory.swap.max": 0, "pids.max": self.processes}
        else:
            limits = {"memory.limit_in_bytes": self.memory_bytes,
                      "memory.memsw.limit_in_bytes": self.memory_bytes}
        for name, value in limits.items():
            if (self.path / name).exists():
                (self.path / name).write_text(str(value))

    def over_limit(self, root_pid: int) -> bool:
        return False  # the kernel enforces it

    def _read(self, name: str) -> str:
        try:
            return (self.path / name).read_text()
        except OSError:
            return ""

    def oom_killed(self) -> bool:
        name = "memory.events" if self.kind == "cgroup2" else "memory.oom_control"
        counts = dict(line.split() for line in self._read(name).splitlines() if len(line.split()) == 2)
        return int(counts.get("oom_kill", 0)) > 0

    def measure_peak(self) -> None:
        name = "memory.peak" if self.kind == "cgroup2" else "memory.max_usage_in_bytes"
        self.peak = max(self.peak, int(self._read(name).strip() or 0))

    def kill(self) -> None:
        """SIGKILL every process in the cgroup, until it is empty (at most 2 s)."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            pids = [int(pid) for pid in self._read("cgroup.procs").split()]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def close(self) -> None:
        self.measure_peak()
        self.kill()
        with contextlib.suppress(OSError):
            self.path.rmdir()


def tree(root_pid: int) -> list[int]:
    """``root_pid`` and all its descendants (threads' children included)."""
    pids, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    children = Path(f"/proc/{pid}/task/{task}/children").read_text()
                    todo += [int(child) for child in children.split()]
    return pids


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_gone(pids: list[int], seconds: float = 2.0) -> None:
    """Wait until none of ``pids`` runs any more (a killed PID namespace dies in steps)."""
    deadline = time.monotonic() + seconds
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.005)


def _pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (resident size where PSS is unavailable)."""
    for name, key in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    return 0


def _parent(kind: str) -> Path:
    """Where this grader may create cgroups of ``kind``, or OSError."""
    mounts = _mounts()
    if kind == "cgroup2":
        if "cgroup2" not in mounts:
            raise OSError("no cgroup v2 hierarchy")
        parent = Path(mounts["cgroup2"][0])
        if "memory" not in (parent / "cgroup.subtree_control").read_text().split():
            raise OSError("the memory controller is not enabled in the v2 hierarchy")
    else:
        if "memory" not in mounts:
            raise OSError("no cgroup v1 memory controller")
        parent = _within(mounts["memory"], _own_path("memory"))
    if not os.access(parent, os.W_OK):
        raise OSError(f"{parent} is not writable")
    return parent


def remove_stale(parent: Path) -> None:
    """Remove the empty cgroups left by graders that were killed (their pid is gone)."""
    for path in parent.glob(f"{PREFIX}-*"):
        if not Path(f"/proc/{path.name.split('-')[2]}").exists():
            with contextlib.suppress(OSError):
                path.rmdir()


def detect(memory_bytes: int, processes: int) -> tuple[str, Path | None, str]:
    """(kind, parent folder, why) of the best cage this grader can build here."""
    forced = os.environ.get("COURSE_LIB_GRADER_MEMORY", "auto")
    kinds = ("cgroup2", "cgroup1") if forced == "auto" else (forced,)
    if forced not in ("auto", "cgroup2", "cgroup1", "poll"):
        raise ValueError(f"COURSE_LIB_GRADER_MEMORY must be auto, cgroup2, cgroup1 or poll, got {forced!r}")
    reasons = []
    for kind in kinds:
        if kind == "poll":
            break
        try:
            parent = _parent(kind)
            remove_stale(parent)
            with CgroupCage(memory_bytes, processes, parent, kind) as trial:  # can we really?
                subprocess.run(trial.wrap(["true"]), check=True, capture_output=True, timeout=10)
            return kind, parent, f"{kind} under {parent}"
        except (OSError, subprocess.SubprocessError) as error:
            reasons.append(f"{kind}: {error}")
    return "poll", None, "polling the process tree" + (f" ({'; '.join(reasons)})" if reasons else "")


def make(kind: str, parent: Path | None, memory_bytes: int, processes: int) -> Cage:
    """A new cage of the kind :func:`detect` chose."""
    if kind == "poll":
        return Cage(memory_bytes, processes)
    return CgroupCage(memory_bytes, processes, parent, kind)
