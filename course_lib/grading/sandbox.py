"""The OS-level sandbox around a student's kernel (bubblewrap).

Inside, the kernel sees the operating system's ``/usr``, the Python installation and the
virtual environment, read-only, with only the packages a submission may import
(:mod:`course_lib.grading.reachable`), and one writable folder, its working folder
``/tmp``: a tmpfs of ``disk_mb``. ``/``, ``/dev`` and ``/proc/sys`` are read-only. The
instructor's side (``solutions/``, the hidden tests), the other submissions and the
results folder do not exist there. The kernel gets no network, its own PID, IPC, UTS and
cgroup namespaces (it cannot see or signal the grader, and everything it started dies
with it), no capabilities, no new privileges (``PR_SET_NO_NEW_PRIVS``) and a seccomp
filter (:mod:`course_lib.grading.seccomp`).

Never root outside. As an ordinary user, bubblewrap maps the kernel's uid 65534 to that
user in a user namespace of its own (no further user namespaces inside). As root,
bubblewrap would map it to root itself, which can write host settings under ``/proc/sys``;
so a root grader runs bubblewrap without a user namespace and the kernel is started
through ``setpriv`` as a uid of its own that is not root: ``COURSE_LIB_SANDBOX_UID`` +
the worker's number (default 2000000000, uids no account uses), with no supplementary
groups, no capabilities, not even in its bounding set.

Bubblewrap needs unprivileged user namespaces (or root). Install it with
``apt-get install -y bubblewrap`` (Debian/Ubuntu). :func:`detect` tries it once; where it
cannot run, the grader refuses to grade unless told ``--no-sandbox``.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import queue
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import course_lib

from . import reachable, seccomp

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install -y bubblewrap`) and allow "
                "unprivileged user namespaces, or pass --no-sandbox to grade WITHOUT isolation")
NOBODY = 65534
DEFAULT_UID = 2_000_000_000
WORKDIR = "/tmp"


class SandboxUnavailable(RuntimeError):
    """No working sandbox on this machine."""


@dataclass
class Sandbox:
    """How to start a kernel: a command prefix, and per start a uid (root) and a seccomp fd.

    ``uids`` holds one uid per worker when the grader runs as root (see the module
    docstring); :meth:`worker` lends one for the duration of a submission.
    """

    name: str
    prefix: tuple = ()
    uids: tuple = ()
    disk_mb: int = 256
    #: the memory cage chosen by :func:`course_lib.grading.cage.detect`: (kind, parent)
    cage: tuple = ("poll", None)
    _free: queue.Queue = field(default_factory=queue.Queue, repr=False)

    def __post_init__(self):
        for uid in self.uids:
            self._free.put(uid)

    @property
    def isolated(self) -> bool:
        return self.name != "none"

    @contextlib.contextmanager
    def worker(self):
        """A uid for one kernel at a time (None when the grader is not root)."""
        if not self.uids:
            yield None
            return
        uid = self._free.get()
        try:
            yield uid
        finally:
            self._free.put(uid)

    def command(self, argv: list[str], uid: int | None = None, seccomp_fd: int | None = None) -> list[str]:
        if not self.isolated:
            return list(argv)
        filter_args = ["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []
        drop = [] if uid is None else ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                                       "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
        return [*self.prefix, *filter_args, "--", *drop, *argv]


def kernel_environment(home: str) -> dict:
    """The whole environment of a kernel: nothing inherited from the grader."""
    environment = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{home}/.matplotlib", "IPYTHONDIR": f"{home}/.ipython",
        # One BLAS thread: fair timing and a small, predictable address space.
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
        "COURSE_LIB_MODE": "fast",
        # the grader's own course_lib (only the package itself is visible in the sandbox)
        "PYTHONPATH": str(Path(course_lib.__file__).resolve().parent.parent),
    }
    return environment


def package_dir() -> Path:
    return Path(course_lib.__file__).resolve().parent


def _python_binds() -> list[tuple[str, str]]:
    """(host folder, where the kernel sees it): the Python installation, and the virtual
    environment at the path ``sys.prefix`` names (a symlinked venv appears only there)."""
    base = Path(sys.base_prefix).resolve()
    binds = [(str(base), str(base))]
    venv = Path(sys.prefix).resolve()
    if venv != base:
        binds.append((str(venv), str(Path(sys.prefix).absolute())))
    executable = Path(sys.executable).resolve().parent
    if not any(executable.is_relative_to(source) for source, _ in binds):
        binds.append((str(executable), str(executable)))
    return binds


def visible_paths() -> list[Path]:
    """Host folders the kernel sees (read-only): the Python installation and the venv."""
    return [Path(source) for source, _ in _python_binds()]


def _directories(destinations: list[str]) -> list[str]:
    """``--dir`` with mode 0755 for every ancestor of ``destinations`` (bubblewrap would
    make them 0700, closed to a kernel that is not root)."""
    args, made = [], set()
    for destination in destinations:
        for parent in reversed(Path(destination).parents):
            if str(parent) != "/" and str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


def _site_folders() -> list[Path]:
    """Every site-packages folder of this Python and of its base installation."""
    import site
    import sysconfig

    names = set(site.getsitepackages())
    for base in ({"base": sys.base_prefix, "platbase": sys.base_exec_prefix},
                 {"base": sys.prefix, "platbase": sys.exec_prefix}):
        paths = sysconfig.get_paths(vars=base)
        names |= {paths["purelib"], paths["platlib"]}
    return sorted({Path(name).resolve() for name in names if Path(name).is_dir()})


def _inside(path: Path, binds: list[tuple[str, str]]) -> list[Path]:
    """Where the host ``path`` appears in the sandbox through ``binds``."""
    path = path.resolve()
    return [Path(destination) / path.relative_to(source) for source, destination in binds
            if path.is_relative_to(source)]


def _made_dirs(root: Path, entries) -> list[str]:
    """``--dir`` (mode 0755) for the folders below ``root`` that binding ``entries`` needs."""
    folders = sorted({str(root / parent) for entry in entries for parent in Path(entry).parents
                      if str(parent) != "."})
    return [arg for folder in folders for arg in ("--perms", "0755", "--dir", folder)]


def _library_view(binds: list[tuple[str, str]]) -> list[str]:
    """Empty every site-packages folder, then bind back what a submission may import."""
    args, offered = [], reachable.site_entries()
    for folder in _site_folders():
        entries = sorted(entry for entry in offered.get(folder, ()) if (folder / entry).exists())
        for inside in _inside(folder, binds):
            args += ["--tmpfs", str(inside), *_made_dirs(inside, entries)]
            for entry in entries:
                args += ["--ro-bind", str(folder / entry), str(inside / entry)]
            args += ["--remount-ro", str(inside)]
    return args


def _student_package() -> list[str]:
    """course_lib reduced to :data:`reachable.STUDENT_FILES`, at its own path."""
    package = package_dir()
    entries = list(reachable.STUDENT_FILES)
    for name in reachable.STUDENT_FILES:
        if name.endswith(".py"):
            cached = Path(importlib.util.cache_from_source(str(package / name)))
            if cached.is_file():  # compiled already: the kernel starts faster
                entries.append(str(cached.relative_to(package)))
    args = ["--tmpfs", str(package), *_made_dirs(package, entries)]
    for name in entries:
        args += ["--ro-bind", str(package / name), str(package / name)]
    return args + ["--remount-ro", str(package)]


def _font_cache() -> list[str]:
    """Bind matplotlib's font list read-only into the kernel's config dir.

    The kernel's /tmp is new every time, and without this file matplotlib rebuilds it on
    every import (about half a second per submission that plots).
    """
    try:
        import matplotlib
        from matplotlib import font_manager
    except ImportError:
        return []
    name = f"fontlist-v{font_manager.FontManager.__version__}.json"
    path = Path(matplotlib.get_cachedir()) / name
    if not path.is_file():
        font_manager.fontManager  # building the manager writes the cache file
    if not path.is_file():
        return []
    return ["--perms", "1777", "--dir", f"{WORKDIR}/.matplotlib", "--ro-bind", str(path),
            f"{WORKDIR}/.matplotlib/{name}"]


def _check_hidden(protected: list[Path], binds: list[tuple[str, str]]) -> None:
    for secret in protected:
        secret = Path(secret).resolve()
        for source, _ in binds:
            if secret.is_relative_to(source):
                raise SandboxUnavailable(
                    f"the kernel must see {source}, but it contains the protected {secret}; "
                    "move the virtual environment or the instructor files apart")


def _namespaces(as_root: bool) -> list[str]:
    common = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
              "--die-with-parent", "--new-session"]
    if as_root:  # no user namespace; setpriv drops to the kernel's uid (see Sandbox.command)
        return [*common, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                "--cap-add", "CAP_SETPCAP"]
    return [*common, "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns",
            "--cap-drop", "ALL"]


def bubblewrap(protected: list[Path], disk_mb: int = 256, jobs: int = 1,
               executable: str | None = None) -> Sandbox:
    """A bubblewrap sandbox; ``protected`` paths must stay invisible (checked here)."""
    executable = executable or os.environ.get("COURSE_LIB_BWRAP") or shutil.which("bwrap")
    if not executable or not os.path.exists(executable):
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}")
    as_root = os.geteuid() == 0
    if as_root and not shutil.which("setpriv"):
        raise SandboxUnavailable("grading as root needs setpriv (util-linux) to start the kernel "
                                 "as a uid that is not root")
    binds = _python_binds()
    _check_hidden(protected, binds)
    destinations = [destination for _, destination in binds] + [str(package_dir() / "x")]
    # the working folder first, so that a venv or a course checkout under /tmp stays visible
    prefix = [executable, *_namespaces(as_root), *_system_binds(),
              "--size", str(disk_mb * 2**20), "--perms", "1777", "--tmpfs", WORKDIR,
              *_directories(destinations)]
    for source, destination in binds:
        prefix += ["--ro-bind", source, destination]
    prefix += [*_library_view(binds), *_student_package(),
               "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys", "--dev", "/dev", *_font_cache(),
               "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
    for key, value in kernel_environment(WORKDIR).items():
        prefix += ["--setenv", key, value]
    base = int(os.environ.get("COURSE_LIB_SANDBOX_UID", DEFAULT_UID))
    uids = tuple(range(base, base + jobs)) if as_root else ()
    return Sandbox("bubblewrap", tuple(prefix), uids, disk_mb)


def seccomp_fd() -> int | None:
    """A pipe's read end holding the seccomp program (one per kernel start), or None."""
    program = seccomp.program()
    if program is None:
        return None
    read, write = os.pipe()
    os.write(write, program)
    os.close(write)
    return read


@functools.lru_cache(maxsize=8)
def _probe(prefix: tuple, uid: int | None) -> str | None:
    """None when the sandbox starts the kernel's Python, else the reason it does not."""
    box = Sandbox("bubblewrap", prefix)
    fd = seccomp_fd()
    try:
        result = subprocess.run(box.command([sys.executable, "-c", "import course_lib.grading.kernel"],
                                            uid, fd),
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                                pass_fds=() if fd is None else (fd,))
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    finally:
        if fd is not None:
            os.close(fd)
    if result.returncode != 0:
        return (result.stderr.strip() or f"exit status {result.returncode}")[-500:]
    return None


def detect(protected: list[Path], disk_mb: int = 256, jobs: int = 1) -> Sandbox:
    """The bubblewrap sandbox when it works here, else :class:`SandboxUnavailable`."""
    sandbox = bubblewrap(protected, disk_mb, jobs)
    reason = _probe(sandbox.prefix, sandbox.uids[0] if sandbox.uids else None)
    if reason is not None:
        raise SandboxUnavailable(f"bubblewrap is installed but cannot start a sandbox: {reason}; "
                                 f"{INSTALL_HINT}")
    return sandbox


def unsandboxed() -> Sandbox:
    """No isolation at all (``--no-sandbox``): say so loudly."""
    print("WARNING: grading WITHOUT a sandbox: student code can read and change every file "
          "this user can, including solutions/ and the hidden tests.", file=sys.stderr)
    return Sandbox("none")
