"""The OS-level sandbox around a student's kernel (bubblewrap).

Inside, the kernel sees only the operating system's ``/usr``, the Python installation,
the virtual environment and the ``course_lib`` package, all read-only, plus an empty
private ``/tmp``. The instructor's side (``solutions/``, the hidden tests), the other
submissions and the results folder do not exist there. The kernel gets no network, its
own PID namespace (it cannot see or signal the grader, and everything it started dies
with it), an unprivileged uid, no capabilities and no further user namespaces.

Bubblewrap needs unprivileged user namespaces (or root). Install it with
``apt-get install -y bubblewrap`` (Debian/Ubuntu). :func:`detect` tries it once; where it
cannot run, the grader refuses to grade unless told ``--no-sandbox``.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import course_lib

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install -y bubblewrap`) and allow "
                "unprivileged user namespaces, or pass --no-sandbox to grade WITHOUT isolation")
#: Size of the kernel's private /tmp.
TMP_BYTES = 256 * 2**20
NOBODY = 65534


class SandboxUnavailable(RuntimeError):
    """No working sandbox on this machine."""


@dataclass(frozen=True)
class Sandbox:
    """How to start a kernel: a command prefix and the environment it gets."""

    name: str
    prefix: tuple = ()

    @property
    def isolated(self) -> bool:
        return self.name != "none"

    def command(self, argv: list[str]) -> list[str]:
        return [*self.prefix, *argv]


def kernel_environment(home: str) -> dict:
    """The whole environment of a kernel: nothing inherited from the grader."""
    return {
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


def visible_paths() -> list[Path]:
    """What the kernel needs to see: the Python installation, the venv, course_lib."""
    package = Path(course_lib.__file__).resolve().parent
    paths = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(sys.executable).resolve().parent, package]
    unique = []
    for path in paths:
        if not any(path == kept or path.is_relative_to(kept) for kept in unique):
            unique = [kept for kept in unique if not kept.is_relative_to(path)] + [path]
    return unique


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
    return ["--dir", "/tmp/.matplotlib", "--ro-bind", str(path), f"/tmp/.matplotlib/{name}"]


def bubblewrap(protected: list[Path], executable: str | None = None) -> Sandbox:
    """A bubblewrap sandbox; ``protected`` paths must stay invisible (checked here)."""
    executable = executable or os.environ.get("COURSE_LIB_BWRAP") or shutil.which("bwrap")
    if not executable or not os.path.exists(executable):
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}")
    binds = []
    for path in visible_paths():
        for secret in protected:
            secret = Path(secret).resolve()
            if secret.is_relative_to(path):
                raise SandboxUnavailable(
                    f"the kernel must see {path}, but it contains the protected {secret}; "
                    "move the virtual environment or the instructor files apart")
        binds += ["--ro-bind", str(path), str(path)]
    prefix = [executable, "--unshare-all", "--unshare-user", "--uid", str(NOBODY),
              "--gid", str(NOBODY), "--disable-userns", "--die-with-parent", "--new-session",
              "--cap-drop", "ALL", *_system_binds(), "--proc", "/proc", "--dev", "/dev",
              # the private /tmp first, so that a venv or checkout under /tmp stays visible
              "--size", str(TMP_BYTES), "--tmpfs", "/tmp", *binds, *_font_cache(),
              "--chdir", "/tmp", "--clearenv"]
    for key, value in kernel_environment("/tmp").items():
        prefix += ["--setenv", key, value]
    return Sandbox("bubblewrap", tuple(prefix))


@functools.lru_cache(maxsize=8)
def _probe(prefix: tuple) -> str | None:
    """None when the sandbox starts Python, else the reason it does not."""
    try:
        result = subprocess.run([*prefix, sys.executable, "-c", "import course_lib.grading.kernel"],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if result.returncode != 0:
        return (result.stderr.strip() or f"exit status {result.returncode}")[-500:]
    return None


def detect(protected: list[Path]) -> Sandbox:
    """The bubblewrap sandbox when it works here, else :class:`SandboxUnavailable`."""
    sandbox = bubblewrap(protected)
    reason = _probe(sandbox.prefix)
    if reason is not None:
        raise SandboxUnavailable(f"bubblewrap is installed but cannot start a sandbox: {reason}; "
                                 f"{INSTALL_HINT}")
    return sandbox


def unsandboxed() -> Sandbox:
    """No isolation at all (``--no-sandbox``): say so loudly."""
    print("WARNING: grading WITHOUT a sandbox: student code can read and change every file "
          "this user can, including solutions/ and the hidden tests.", file=sys.stderr)
    return Sandbox("none")
