"""Sphinx extension: expose how the book was built (mode and device) as MyST substitutions.

``{{ build_mode }}`` is ``fast`` or ``full`` (course_lib.config.mode()), ``{{ build_device }}``
the device the chapters executed on (``CPU`` or the CUDA device's name).
"""
from __future__ import annotations


def _device() -> str:
    try:
        import torch
    except ImportError:
        return "CPU"
    if torch.cuda.is_available():
        return f"GPU ({torch.cuda.get_device_name(0)})"
    return "CPU"


def _add_substitutions(app, config):
    from course_lib.config import mode

    subs = dict(getattr(config, "myst_substitutions", {}) or {})
    subs.update(build_mode=mode(), build_device=_device())
    config.myst_substitutions = subs


def setup(app):
    app.connect("config-inited", _add_substitutions, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
