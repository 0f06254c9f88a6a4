"""Sphinx extension: execute the chapters that are not cached, several at a time, with the
project's notebook runner (tests/notebook_runner.py), before Sphinx reads them.

myst-nb reads each notebook's outputs from the execution cache (``execute_notebooks:
cache``) and executes a notebook itself only when the cache has no record of its code. This
extension fills the cache first, on Sphinx's ``env-get-outdated`` event, so myst-nb finds
every chapter cached:

* a chapter is executed when the cache holds no record of its current code executed with
  this library, mode and device (:func:`notebook_runner.cached_execution`); Sphinx then
  reads it again even if its source did not change (course_lib did);
* ``COURSE_BUILD_JOBS`` chapters run at a time (``make book`` passes ``JOBS``; default: the
  machine's cores), each kernel with one math thread when several share the cores;
* the build stops, naming chapter and cell, when a chapter fails, or when a cell's wall time
  exceeded its kernel CPU time by more than ``notebook_runner.MAX_IDLE_SECONDS`` (60 s; on a
  machine overloaded by other work, ``COURSE_BUILD_MAX_WAIT`` raises it).

Why not let myst-nb execute: its executor (jupyter-cache's, through nbclient) waits for a
cell's reply in one poll as long as the cell timeout, and misses the reply's wake-up when
nbclient sends a widget message on the same socket just after the reply arrived: every
Playground cell risks a 300 s stall (in a test notebook, 18 of 700 such cells did). The
runner's kernel channels re-check their socket after each send
(``notebook_runner._Channel``), so the reply is seen at once; and the runner executes
chapters in parallel, which myst-nb does not.
"""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: Math thread pools each kernel is limited to one of when several kernels share the cores.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _runner(app):
    tests = str(Path(app.srcdir) / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import notebook_runner

    return notebook_runner


def _notebooks(env) -> dict[str, Path]:
    """Docname -> source path of every document of the build that is a notebook."""
    from myst_nb.core.read import is_myst_markdown_notebook

    found = {}
    for docname in sorted(env.found_docs):
        path = Path(env.doc2path(docname))
        if path.suffix == ".ipynb" or (
                path.suffix == ".md" and is_myst_markdown_notebook(path.read_text(encoding="utf-8"))):
            found[docname] = path
    return found


def jobs() -> int:
    """How many chapters execute at once: ``COURSE_BUILD_JOBS``, else the machine's cores."""
    value = os.environ.get("COURSE_BUILD_JOBS", "").strip()
    if not value:
        return os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise ExtensionError(f"COURSE_BUILD_JOBS must be a positive whole number, got {value!r}")
    return int(value)


def max_wait() -> float | None:
    """Seconds a cell may wait beyond its kernel CPU time: ``COURSE_BUILD_MAX_WAIT``, or None
    for the runner's ``MAX_IDLE_SECONDS``."""
    value = os.environ.get("COURSE_BUILD_MAX_WAIT", "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ExtensionError(f"COURSE_BUILD_MAX_WAIT must be a number of seconds, got {value!r}") from None


def kernel_env(n_jobs: int) -> dict | None:
    """The kernels' environment: one math thread each when ``n_jobs`` > 1, unless the
    variables are already set (None: the build's own environment)."""
    if n_jobs == 1:
        return None
    return {**{name: "1" for name in THREAD_VARIABLES}, **os.environ}


def execute_stale(app, env, added, changed, removed) -> list[str]:
    """``env-get-outdated`` handler: execute the chapters the cache lacks; their docnames."""
    if app.config.nb_execution_mode != "cache":
        return []
    runner = _runner(app)
    cache_dir = Path(app.srcdir) / (app.config.nb_execution_cache_path or ".jupyter_cache")
    notebooks = _notebooks(env)
    conditions = runner.this_run()
    stale = {name: path for name, path in notebooks.items()
             if runner.cached_execution(path, cache_dir, conditions) is None}
    if not stale:
        logger.info(f"[execute_chapters] all {len(notebooks)} chapters are in the execution cache")
        return []
    n_jobs = min(jobs(), len(stale))
    logger.info(f"[execute_chapters] executing {len(stale)} of {len(notebooks)} chapters, "
                f"{n_jobs} at a time")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", runner.SlowNotebook)
            runs = runner.execute_many(list(stale.values()), n_jobs, cache=True, cache_dir=cache_dir,
                                       env=kernel_env(n_jobs), timeout=app.config.nb_execution_timeout)
        for warning in caught:   # e.g. where a slow chapter's time went: information
            logger.info(f"[execute_chapters] {warning.category.__name__}: {warning.message}")
        for run in runs:
            logger.info(f"[execute_chapters] {Path(run.path).relative_to(app.srcdir)}: "
                        f"{run.seconds:.0f} s wall, {run.cpu_seconds:.0f} s kernel CPU")
        runner.check_idle(runs, max_wait())
    except runner.NotebookFailure as error:
        raise ExtensionError(str(error)) from None
    except runner.StalledCell as error:
        raise ExtensionError(f"{error}. If other work overloads this machine, "
                             "COURSE_BUILD_MAX_WAIT=<seconds> raises the limit.") from None
    return list(stale)


def setup(app):
    app.connect("env-get-outdated", execute_stale)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
