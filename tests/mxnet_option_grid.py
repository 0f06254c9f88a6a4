"""The option grid of MXNet 1.9.1's optimizer tests, run against course_lib.mxnet.

Reproduced from ``tests/python/unittest/test_optimizer.py`` of apache/mxnet at tag 1.9.1
(``test_sgd``, ``test_sparse_sgd``, ``test_std_sparse_sgd``, ``test_nag``, ``test_adam``,
``test_rms``, ``test_adagrad``, ``test_adadelta``): the same kwargs combinations, dtypes,
``multi_precision`` options, storage types, shapes and tolerances, 5184 configurations.
There each configuration compares the built-in optimizer with a Python reference after one
update; here it compares the built-in with ours (``conventions="mxnet"``) after each of 5
updates, on fresh gradients each step (for row_sparse gradients, random rows present, and
none at the third step).

Agreement is MXNet's test criterion ``|ours - theirs| <= atol + rtol |theirs|`` on the
weights; with float16 weights and ``multi_precision``, on the float32 master copies too.

``python tests/mxnet_option_grid.py OUT.json`` runs the whole grid and writes one summary
per configuration (:func:`summary`); tests/test_mxnet_optim.py runs it so, in a child
process with MXNet's NaiveEngine (every operator in the calling thread: the same kernels,
without the threaded engine's hand-offs, which on a busy 2-core machine tripled the wall
time of these thousands of tiny updates).
"""
from __future__ import annotations

import itertools
import json
import sys
import time
from typing import NamedTuple

import numpy as np

import mxnet as mx

import course_lib.mxnet as cm

SHAPE = (3, 4, 5)
STEPS = 5
_CLIP = [{}, {"clip_gradient": 0.4}, {"clip_gradient": 0.5}]
_RESCALE = [{}, {"rescale_grad": 0.14}, {"rescale_grad": 0.8}]
_WD = [{}, {"wd": 0.03}, {"wd": 0.05}, {"wd": 0.07}]
_MP = [{}, {"multi_precision": False}, {"multi_precision": True}]
_DTYPES = (np.float16, np.float32, np.float64)

#: Configurations per test function of MXNet's file (its loops, counted).
COUNTS = {"sgd": 936, "sparse_sgd": 432, "std_sparse_sgd": 144, "nag": 504, "adam": 1260,
          "rms": 1728, "adagrad": 108, "adadelta": 72}


class Config(NamedTuple):
    test: str          # MXNet's test function, without "test_"
    builtin: type      # MXNet's optimizer class
    ours: type         # course_lib.mxnet's
    kwargs: dict       # passed to both
    dtype: type
    w_stype: str = "default"
    g_stype: str = "default"
    shape: tuple = SHAPE
    rtol: float = 1e-4
    atol: float = 1e-5


def _product(*options):
    for combo in itertools.product(*options):
        yield {k: v for option in combo for k, v in option.items()}


def _skipped(dtype, kwargs):
    """MXNet's tests run float16 only with multi_precision=True."""
    return dtype == np.float16 and not kwargs.get("multi_precision")


def _sgd_family():
    out = []
    for dtype in _DTYPES:  # test_sgd
        for kw in _product([{}, {"momentum": 0.9}], _CLIP, _RESCALE, _WD, _MP):
            if _skipped(dtype, kw):
                continue
            rtol = 1e-3 if dtype == np.float16 else 1e-4
            out.append(Config("sgd", mx.optimizer.SGD, cm.SGD, kw, dtype, rtol=rtol))
            if dtype != np.float16:  # "operator fallback" with csr weight and gradient
                out.append(Config("sgd", mx.optimizer.SGD, cm.SGD, kw, dtype, "csr", "csr",
                                  SHAPE[:2]))
    for kw in _product([{}, {"momentum": 0.9}], _CLIP, _RESCALE, _WD, _MP):  # test_sparse_sgd
        for w_stype in ("row_sparse", "default"):
            out.append(Config("sparse_sgd", mx.optimizer.SGD, cm.SGD, kw, np.float32, w_stype,
                              "row_sparse"))
    for kw in _product([{"momentum": 0.0}, {"momentum": 0.9}], _CLIP, _RESCALE, _WD):
        for w_stype in ("row_sparse", "default"):  # test_std_sparse_sgd
            out.append(Config("std_sparse_sgd", mx.optimizer.SGD, cm.SGD,
                              {**kw, "lazy_update": False}, np.float32, w_stype, "row_sparse"))
    for dtype in _DTYPES:  # test_nag
        for kw in _product([{}, {"momentum": 0.9}], _CLIP, _RESCALE, _WD, _MP):
            if not _skipped(dtype, kw):
                out.append(Config("nag", mx.optimizer.NAG, cm.NAG, kw, dtype, rtol=1e-3,
                                  atol=1e-4))
    return out


def _adaptive_family():
    out = []
    adam = dict(rtol=1e-4, atol=2e-5)
    for dtype in _DTYPES:  # test_adam
        for kw in _product(_CLIP, _RESCALE, _WD, _MP):
            if _skipped(dtype, kw):
                continue
            dense = {**kw, "lazy_update": False}
            for kwargs, w_stype, g_stype in [(kw, "default", "default"),
                                             (kw, "row_sparse", "row_sparse"),
                                             (dense, "row_sparse", "row_sparse"),
                                             (kw, "default", "row_sparse"),
                                             (dense, "default", "row_sparse")]:
                out.append(Config("adam", mx.optimizer.Adam, cm.Adam, kwargs, dtype, w_stype,
                                  g_stype, **adam))
    for dtype in (np.float16, np.float32):  # test_rms
        tol = dict(rtol=0.1, atol=0.1) if dtype == np.float16 else dict(rtol=0.01, atol=0.01)
        for kw in _product([{}, {"clip_weights": 0.01}], _CLIP,
                           [{}, {"centered": False}, {"centered": True}], _RESCALE, _WD, _MP):
            if _skipped(dtype, kw):
                continue
            for g_stype in ("default", "row_sparse"):
                out.append(Config("rms", mx.optimizer.RMSProp, cm.RMSProp, kw, dtype,
                                  g_stype=g_stype, **tol))
    for kw in _product([{}, {"eps": 1e-8}], _CLIP, _RESCALE, [{}, {"wd": 0.0}]):  # test_adagrad
        for w_stype, g_stype in [("default", "default"), ("row_sparse", "row_sparse"),
                                 ("default", "row_sparse")]:
            out.append(Config("adagrad", mx.optimizer.AdaGrad, cm.Adagrad, kw, np.float32,
                              w_stype, g_stype))
    for dtype in (np.float16, np.float32):  # test_adadelta
        for kw in _product([{"rho": 0.9}], [{}, {"epsilon": 1e-8}], _CLIP, _RESCALE,
                           [{}, {"wd": 0.0}]):
            if dtype == np.float16:
                kw = {**kw, "multi_precision": True}
            out.append(Config("adadelta", mx.optimizer.AdaDelta, cm.AdaDelta, kw, dtype))
    return out


def configs(test=None):
    """Every configuration, or those of one of MXNet's test functions (a key of COUNTS)."""
    out = _sgd_family() + _adaptive_family()
    return out if test is None else [c for c in out if c.test == test]


def _array(value, stype, dtype):
    """An NDArray of ``stype``; a row_sparse one holds the rows of ``value`` that are not
    all zero (a weight of uniform(0, 1) values: all of them)."""
    array = mx.nd.array(value, dtype=dtype)
    return array if stype == "default" else array.tostype(stype)


def _data(config, seed):
    """The start weight and STEPS gradients, uniform(0, 1) as in MXNet's test; a sparse
    gradient keeps each row (row_sparse) or entry (csr) with probability 0.6 (0.5), none at
    the third step."""
    rng = np.random.default_rng(seed)
    shape, dtype = config.shape, config.dtype
    weight = rng.uniform(0, 1, shape).astype(dtype)
    grads = []
    for step in range(STEPS):
        g = rng.uniform(0, 1, shape)
        if config.g_stype == "row_sparse":
            keep = rng.uniform(size=shape[0]) < (0.0 if step == 2 else 0.6)
            g = g * keep.reshape((-1,) + (1,) * (len(shape) - 1))
        elif config.g_stype == "csr":
            g = g * (rng.uniform(size=shape) < 0.5)
        grads.append(g.astype(dtype))
    return weight, grads


def _master(config, optimizer, state):
    """The float32 master copy in a multi-precision state, or None (MXNet's SGD and NAG
    keep it second, the Optimizer base class, which ours use, first)."""
    if config.dtype != np.float16 or not config.kwargs.get("multi_precision"):
        return None
    return state[1] if isinstance(optimizer, (mx.optimizer.SGD, mx.optimizer.NAG)) else state[0]


def run(config, seed):
    """``(theirs, ours)``: for each optimizer the list of (weight, master copy or None) after
    each update, as float64 numpy arrays, both fed the same gradients."""
    weight, grads = _data(config, seed)
    optimizers = [config.builtin(**config.kwargs),
                  config.ours(**config.kwargs, conventions="mxnet")]
    weights = [_array(weight, config.w_stype, config.dtype) for _ in optimizers]
    states = [o.create_state_multi_precision(0, w) for o, w in zip(optimizers, weights)]
    out = ([], [])
    for g in grads:
        g = _array(g, config.g_stype, config.dtype)
        for o, w, s, trajectory in zip(optimizers, weights, states, out):
            # MXNet's AdaDelta scales the gradient it is given in place: each gets a copy
            o.update_multi_precision(0, w, g.copy() if config.test == "adadelta" else g, s)
            master = _master(config, o, s)
            trajectory.append((w.asnumpy().astype(np.float64),
                               None if master is None else master.asnumpy().astype(np.float64)))
    return out


def error(config, got, expected):
    """MXNet's criterion as a ratio: max |got - expected| / (atol + rtol |expected|)."""
    return float(np.max(np.abs(got - expected) / (config.atol + config.rtol * np.abs(expected))))


def float16_ulps(got, expected):
    """The largest distance between two float16 arrays in units in the last place."""
    a, b = got.astype(np.float16), expected.astype(np.float16)
    return float(np.max(np.abs(a.astype(np.float64) - b) / np.spacing(np.abs(b))))


def summary(config, seed):
    """What a test needs of one configuration: the largest error ratios over the 5 updates,
    on the weights and on the float32 master copies (0 where there are none), and the
    largest distance of float16 weights in float16 ulps."""
    theirs, ours = run(config, seed)
    masters = [error(config, o[1], t[1]) for o, t in zip(ours, theirs) if t[1] is not None]
    return {"test": config.test, "kwargs": config.kwargs, "dtype": config.dtype.__name__,
            "w_stype": config.w_stype, "g_stype": config.g_stype,
            "weights": max(error(config, o[0], t[0]) for o, t in zip(ours, theirs)),
            "masters": max(masters, default=0.0),
            "float16_ulps": (max(float16_ulps(o[0], t[0]) for o, t in zip(ours, theirs))
                             if config.dtype == np.float16 else None)}


def main(path):
    """Run every configuration (seed: its index within its MXNet test function) and write
    the summaries and the CPU seconds taken to ``path`` as JSON."""
    start = time.process_time()
    seeds = {}
    out = []
    for config in configs():
        seed = seeds[config.test] = seeds.get(config.test, -1) + 1
        out.append(summary(config, seed))
    with open(path, "w") as f:
        json.dump({"configs": out, "cpu_seconds": time.process_time() - start}, f)


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")  # MXNet's float16 and lazy-update notices
    main(sys.argv[1])
