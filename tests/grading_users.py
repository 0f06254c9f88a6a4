"""Run the grader as an ordinary user from a test that runs as root (as CI does).

``as_user(argv, needed)`` builds a command that runs ``argv`` as the system user
:data:`USER` (created with ``useradd`` on first use). Python is often installed where
other users cannot reach it (pyenv under ``/root``, mode 700), so the command first enters
a private mount namespace (``unshare --mount``) in which each closed ancestor of a
``needed`` folder is covered by an empty tmpfs with the needed folders bound back into
it. Nothing on the host changes: no permission, no mount outside that namespace.
"""
from __future__ import annotations

import os
import pwd
import shlex
import stat
import subprocess
from pathlib import Path

USER = "course-grader-test"


def ensure_user() -> pwd.struct_passwd:
    """The ordinary user the tests grade as (a system user without home or login shell)."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                       check=True)
        return pwd.getpwnam(USER)


def _closed_ancestor(path: Path) -> Path | None:
    """The highest ancestor of ``path`` that other users cannot traverse, if any."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not os.stat(parent).st_mode & stat.S_IXOTH:
            return parent
    return None


def as_user(argv: list, needed: list[Path], environment: dict[str, str]) -> list:
    """``argv`` (str or bytes items) run as :data:`USER` with exactly ``environment``."""
    lines, covered = ["set -e", "stash=$(mktemp -d)"], {}
    for index, path in enumerate(Path(path).resolve() for path in needed):
        top = _closed_ancestor(path)
        if top is not None:
            covered.setdefault(top, []).append((index, path))
    for top, paths in covered.items():
        for index, path in paths:
            lines += [f'mkdir "$stash/{index}"', f'mount --bind {shlex.quote(str(path))} "$stash/{index}"']
        lines.append(f"mount -t tmpfs -o mode=0755 tmpfs {shlex.quote(str(top))}")
        for index, path in paths:
            quoted = shlex.quote(str(path))
            lines += [f"mkdir -p {quoted}", f'mount --bind "$stash/{index}" {quoted}']
    lines.append(f'exec runuser -u {USER} -- "$@"')
    variables = [f"{key}={value}" for key, value in environment.items()]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines), "sh",
            "env", "-i", *variables, *argv]
