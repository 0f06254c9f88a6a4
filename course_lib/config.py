"""Run-time settings read from the environment.

``COURSE_LIB_MODE`` chooses the size of every experiment in the book:

* ``fast``: small data and few epochs, so the whole book executes on a 2-core CPU (CI);
* ``full``: the sizes a reader with a GPU should see.

Unset, the mode is ``full`` when CUDA is available and ``fast`` otherwise.

``COURSE_LIB_PROGRESS=0`` silences the progress bars of long loops (:func:`progress`). The
book build and the tests set it: a bar frozen at 0% in a static page tells a reader nothing.
"""
from __future__ import annotations

import os

from course_lib import _checks

MODES = ("fast", "full")


def mode() -> str:
    """Return ``"fast"`` or ``"full"`` (see the module docstring)."""
    value = os.environ.get("COURSE_LIB_MODE", "").strip().lower()
    if value:
        _checks.one_of("COURSE_LIB_MODE", value, MODES)
        return value
    try:
        import torch
    except ImportError:
        return "fast"
    return "full" if torch.cuda.is_available() else "fast"


def pick(fast, full):
    """Return ``fast`` or ``full`` according to :func:`mode`.

    >>> pick(fast=200, full=5000) in (200, 5000)
    True
    """
    return fast if mode() == "fast" else full


def device_name() -> str:
    """``"CPU"``, or ``"GPU (<name>)"`` when torch sees a CUDA device: where the chapters run."""
    try:
        import torch
    except ImportError:
        return "CPU"
    if torch.cuda.is_available():
        return f"GPU ({torch.cuda.get_device_name(0)})"
    return "CPU"


def progress(iterable, desc: str | None = None, total: int | None = None):
    """``iterable`` wrapped in a tqdm progress bar (a widget in Jupyter), or unchanged when
    ``COURSE_LIB_PROGRESS=0`` (book builds and tests, see the module docstring)."""
    if os.environ.get("COURSE_LIB_PROGRESS", "1").strip() == "0":
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total)
