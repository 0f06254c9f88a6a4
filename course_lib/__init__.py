"""course_lib: the companion package of the course *Optimization for deep learning*.

Each optimizer's math is written once in :mod:`course_lib.rules`; adapters drive it with
numpy arrays (:mod:`course_lib.descent`), torch tensors (:mod:`course_lib.torch`) and MXNet
NDArrays (:mod:`course_lib.mxnet`). Importing ``course_lib`` imports neither torch nor MXNet.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Submodules load on first attribute access so that ``import course_lib`` stays light and
# works without torch or MXNet installed.
_SUBMODULES = {
    "config", "rules", "schedules", "surfaces", "descent", "torch", "mxnet", "hessian",
    "landscape", "constrained", "sampling", "data", "models", "experiments", "plotting",
    "widgets", "grading", "doctor", "losses",
}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "diagnose":
        return importlib.import_module(f"{__name__}.doctor").diagnose
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | {"diagnose"})
