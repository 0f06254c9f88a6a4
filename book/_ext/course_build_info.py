"""Sphinx extension: say how the book was built.

* ``{{ build_mode }}`` is ``fast`` or ``full`` (:func:`course_lib.config.mode`) and
  ``{{ build_device }}`` the device of this build (:func:`course_lib.config.device_name`),
  as MyST substitutions;
* the ``{nb-exec-table}`` of the status page gains a *Device* column: the device each chapter
  last executed on. A chapter executed by the tests (tests/notebook_runner.py) records its
  device in the execution cache; one executed by this build ran on this build's device.
"""
from __future__ import annotations

from pathlib import Path


def _add_substitutions(app, config):
    from course_lib.config import device_name, mode

    subs = dict(getattr(config, "myst_substitutions", {}) or {})
    subs.update(build_mode=mode(), build_device=device_name())
    config.myst_substitutions = subs


def _cached_devices(app) -> dict[str, str]:
    """Executed notebook path -> device, from the newest cache record of each notebook."""
    from jupyter_cache import get_cache

    path = Path(app.srcdir) / (app.config.nb_execution_cache_path or ".jupyter_cache")
    if not path.exists():
        return {}
    devices = {}
    for record in sorted(get_cache(str(path)).list_cache_records(), key=lambda r: r.created):
        devices[str(Path(record.uri).resolve())] = (record.data or {}).get("device")
    return devices


def _add_devices(app, env):
    from course_lib.config import device_name
    from myst_nb.ext import execution_tables
    from myst_nb.sphinx_ import NbMetadataCollector

    here, cached = device_name(), _cached_devices(app)
    for docname, data in NbMetadataCollector.get_doc_data(env).items():
        exec_data = data.get("exec_data")
        if exec_data:
            recorded = cached.get(str(Path(env.doc2path(docname)).resolve()))
            exec_data["device"] = recorded if exec_data.get("method") == "cache" and recorded else here
    if "device" not in execution_tables._key2header:
        execution_tables._key2header["device"] = "Device"
        execution_tables._key2transform["device"] = lambda value: value or ""
    return []


def setup(app):
    app.connect("config-inited", _add_substitutions, priority=900)
    app.connect("env-updated", _add_devices)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
