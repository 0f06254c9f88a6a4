"""Sphinx extension: say how the book was built.

* ``{{ build_mode }}`` is ``fast`` or ``full`` (:func:`course_lib.config.mode`) and
  ``{{ build_device }}`` the device of this build (:func:`course_lib.config.device_name`),
  as MyST substitutions;
* the ``{nb-exec-table}`` of the status page gains *Mode* and *Device* columns: how and where
  each chapter last executed, and *Kernel CPU (s)* and *Longest wait (s)* columns: the CPU
  time of the chapter's kernel, and the most a cell's wall time exceeded its CPU time (a
  stalled client shows here). The project's runner (tests/notebook_runner.py, used by the
  tests and by execute_chapters.py) records all four in the execution cache; a record
  without them was executed by myst-nb in this build's mode and device. A cached chapter
  executed in the other mode is executed again, so a build never mixes modes.
"""
from __future__ import annotations

import os
from pathlib import Path


def _add_substitutions(app, config):
    from course_lib.config import device_name, mode

    subs = dict(getattr(config, "myst_substitutions", {}) or {})
    subs.update(build_mode=mode(), build_device=device_name())
    config.myst_substitutions = subs


def _cache(app):
    from jupyter_cache import get_cache

    path = Path(app.srcdir) / (app.config.nb_execution_cache_path or ".jupyter_cache")
    return get_cache(str(path)) if path.exists() else None


def _drop_other_mode(app):
    """Forget cached chapters executed in the other mode, so this build executes them again:
    a ``full`` build must not serve ``fast`` outputs (and the other way round)."""
    from course_lib.config import mode

    cache = _cache(app)
    if cache is None:
        return
    for record in cache.list_cache_records():
        recorded = (record.data or {}).get("mode")
        if recorded is not None and recorded != mode():
            cache.remove_cache(record.pk)


def _this_run() -> dict:
    from course_lib.config import device_name, mode

    return {"device": device_name(), "mode": mode()}


def _cached_runs(app, here: dict) -> dict[str, dict]:
    """Executed notebook path -> the data of its newest cache record.

    Records without a mode were executed by a build (myst-nb records only the run time): this
    build's device and mode are written into them, since the build that made them ran here.
    """
    from jupyter_cache.cache.db import NbCacheRecord, session_context

    cache = _cache(app)
    if cache is None:
        return {}
    runs = {}
    with session_context(cache.db) as session:
        for record in sorted(session.query(NbCacheRecord).all(), key=lambda r: r.created):
            data = dict(record.data or {})
            if "mode" not in data:
                record.data = data = {**data, **here}
            runs[str(Path(record.uri).resolve())] = data
        session.commit()
    return runs


def _seconds(value) -> str:
    return "" if value is None else f"{value:.1f}"


#: Columns added to the status page's table: exec_data key, header, cell text.
COLUMNS = (("mode", "Mode", lambda value: value or ""),
           ("device", "Device", lambda value: value or ""),
           ("cpu", "Kernel CPU (s)", _seconds),
           ("idle", "Longest wait (s)", _seconds))


def _add_runs(app, env):
    from myst_nb.ext import execution_tables
    from myst_nb.sphinx_ import NbMetadataCollector

    here = _this_run()
    cached = _cached_runs(app, here)
    for docname, data in NbMetadataCollector.get_doc_data(env).items():
        exec_data = data.get("exec_data")
        if exec_data:
            recorded = cached.get(str(Path(env.doc2path(docname)).resolve()), {})
            for key, value in here.items():
                exec_data[key] = recorded.get(key) or value
            idle = recorded.get("longest_idle")  # [cell, wall, cpu]
            exec_data["cpu"] = recorded.get("cpu_seconds")
            exec_data["idle"] = idle and idle[1] - idle[2]
    for key, header, text in COLUMNS:
        if key not in execution_tables._key2header:
            execution_tables._key2header[key] = header
            execution_tables._key2transform[key] = text
    return []


def setup(app):
    # No progress bars in the executed pages: a bar frozen at 0% tells a reader nothing.
    os.environ.setdefault("COURSE_LIB_PROGRESS", "0")
    app.connect("config-inited", _add_substitutions, priority=900)
    app.connect("builder-inited", _drop_other_mode)
    app.connect("env-updated", _add_runs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
