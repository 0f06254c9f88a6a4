"""Speed of course_lib's optimizers against the frameworks' own (issue 3's speed bars).

Prints, measured in this one run, time ratios (ours / theirs; below 1 means ours is faster):

1. ``course_lib.torch`` Adam, SGD(momentum=0.9), Adagrad, RMSprop, Adadelta against the
   same ``torch.optim`` optimizer's foreach step (``foreach=True``), on ~10M float32
   parameters split into 16 and into 128 tensors, CPU, ``torch.set_num_threads(2)``; also
   against torch.optim's actual CPU default, a per-tensor loop (torch picks foreach only
   on accelerators), and, for Adam, torch's fused CPU kernel. Rows marked ``c64``: complex64
   parameters in 16 tensors, half as many elements (the same memory, ~10M real components),
   which both libraries update as their real and imaginary parts. Bar: <= 1.0x foreach.
2. ``course_lib.mxnet`` adapters in a ``gluon.Trainer`` against a Trainer with MXNet's
   built-in optimizer of the same name, same parameters, with the default conventions and
   with ``conventions="mxnet"`` (the built-in's formulas). Bar: <= 1.5x.
3. ``--only compiled`` (not in the default run: it compiles 12 graphs, minutes):
   ``course_lib.torch.compiled`` optimizers (the same rules through ``torch.compile``) on
   float32 10M parameters in 16 and 128 tensors, against torch.optim's fused CPU kernels
   (Adam, AdamW, SGD, Adagrad: torch has them) and its foreach step, with the compile cost:
   the first two steps' time (SGD compiles on its second) and the number of steps after
   which the compiled optimizer is ahead of the eager one.
   Bars: <= 1.2x fused for Adam and AdamW, <= 0.5x foreach for every optimizer. Lines
   marked ``ref`` give torch's own fused kernel against foreach, in the same run. For SGD
   with momentum, foreach makes 8 passes over memory (``buf *= mu``; ``buf += g``;
   ``p -= lr buf``) where one pass makes 5 (read p, g, buf; write p, buf), so a
   memory-bound one-pass kernel saves about 3/8: torch's fused SGD measured 0.53-0.61x
   foreach, not 0.5x.
4. The numpy engine, ``course_lib.descent.run``: 10,000 starts x 200 steps on Rosenbrock for
   each rule, in ms. Bar: <= 100 ms.

Each timing is the median of ``--steps`` (>= 20) optimizer steps after ``--warmup`` steps;
ours and theirs are interleaved step by step, so a noisy shared machine slows both alike.
Run it as ``OPENBLAS_NUM_THREADS=1 python benchmarks/optimizers.py`` (``--quick``: small
sizes, a smoke run for tests/test_benchmarks_smoke.py; its figures mean nothing).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time


def _threads(argv=None):
    """``--threads N`` (default 2), read before numpy, torch and MXNet are imported."""
    import sys
    args = sys.argv[1:] if argv is None else argv
    for i, a in enumerate(args):
        if a == "--threads" and i + 1 < len(args):
            return int(args[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 2


THREADS = _threads()
# MXNet reads its thread counts when it is imported; set them first.
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
os.environ.setdefault("MXNET_CPU_WORKER_NTHREADS", str(THREADS))

import numpy as np  # noqa: E402

TORCH_OPTIMIZERS = [  # (name, kwargs) used for both libraries
    ("Adam", dict(lr=1e-3)),
    ("SGD", dict(lr=1e-3, momentum=0.9)),
    ("Adagrad", dict(lr=1e-2)),
    ("RMSprop", dict(lr=1e-2)),
    ("Adadelta", dict(lr=1.0)),
]
MXNET_OPTIMIZERS = [  # (course_lib.mxnet class, MXNet built-in name, kwargs for both)
    ("SGD", "sgd", dict(learning_rate=1e-3, momentum=0.9)),
    ("Adagrad", "adagrad", dict(learning_rate=1e-2)),
    ("RMSProp", "rmsprop", dict(learning_rate=1e-2)),
    ("Adam", "adam", dict(learning_rate=1e-3)),
    ("AdaDelta", "adadelta", dict()),
]
NUMPY_HYPER = {
    "sgd": dict(lr=1e-4), "momentum": dict(lr=1e-4, momentum=0.9),
    "nesterov": dict(lr=1e-4, momentum=0.9), "adagrad": dict(lr=0.1),
    "rmsprop": dict(lr=1e-3), "adam": dict(lr=1e-2), "adamw": dict(lr=1e-2),
    "adadelta": dict(lr=1.0), "newton": dict(lr=0.5),
}


def _split(total, n):
    """n tensor sizes summing to about ``total``, unequal like a network's layers."""
    weights = np.random.default_rng(n).uniform(0.2, 1.8, n)
    return [max(1, int(s)) for s in weights / weights.sum() * total]


def _interleaved(steps, warmup, *fns):
    """Median seconds per call of each fn, calling them in turn (after warm-up)."""
    times = [[] for _ in fns]
    for i in range(warmup + steps):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            if i >= warmup:
                times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def bench_torch(total, layouts, steps, warmup):
    """Rows for each (number of tensors, dtype) in ``layouts``: float32 or complex64."""
    import torch

    import course_lib.torch as ct

    torch.set_num_threads(THREADS)
    print(f"\n## course_lib.torch vs torch.optim {torch.__version__} "
          f"(CPU, {torch.get_num_threads()} threads, float32 or complex64 (c64), "
          f"median of {steps} steps)")
    print(f"{'optimizer':<16}{'tensors':>8}{'params':>12}{'ours ms':>9}{'foreach ms':>11}"
          f"{'ratio':>7}{'loop ms':>9}{'ratio':>7}{'fused ms':>9}{'ratio':>7}")
    rows = []
    for n, dtype in layouts:
        is_complex = dtype == "complex64"
        dtype = getattr(torch, dtype)
        sizes = _split(total // 2 if is_complex else total, n)
        gen = torch.Generator().manual_seed(0)
        base = [torch.randn(s, generator=gen, dtype=dtype) for s in sizes]
        grads = [torch.randn(s, generator=gen, dtype=dtype) * 1e-2 for s in sizes]
        for name, kw in TORCH_OPTIMIZERS:
            def make(cls, **extra):
                params = [torch.nn.Parameter(b.clone()) for b in base]
                for p, g in zip(params, grads):
                    p.grad = g.clone()
                return cls(params, **kw, **extra)

            ours = make(getattr(ct, name))
            # torch.optim's foreach step, and its actual CPU default (a per-tensor loop:
            # torch only defaults to foreach on accelerators)
            foreach = make(getattr(torch.optim, name), foreach=True)
            loop = make(getattr(torch.optim, name))
            fns = [ours.step, foreach.step, loop.step]
            if name == "Adam" and not is_complex:  # fused has no complex kernel
                fns.append(make(torch.optim.Adam, fused=True).step)
            t = _interleaved(steps, warmup, *fns)
            label = name + ("(mom.)" if name == "SGD" else "") + (" c64" if is_complex else "")
            line = (f"{label:<16}{n:>8}{sum(sizes):>12,}{t[0] * 1e3:>9.1f}{t[1] * 1e3:>11.1f}"
                    f" {t[0] / t[1]:>5.2f}x{t[2] * 1e3:>9.1f} {t[0] / t[2]:>5.2f}x")
            if len(t) > 3:
                line += f"{t[3] * 1e3:>9.1f} {t[0] / t[3]:>5.2f}x"
            print(line, flush=True)
            rows.append(("torch", label, n, t[0] / t[1]))
            rows.append(("torch-loop", label, n, t[0] / t[2]))
            del ours, foreach, loop, fns
    return rows


COMPILED_OPTIMIZERS = TORCH_OPTIMIZERS[:1] + [("AdamW", dict(lr=1e-3))] + TORCH_OPTIMIZERS[1:]
FUSED = ("Adam", "AdamW", "SGD", "Adagrad")


def bench_compiled(total, layouts, steps, warmup):
    """Rows: compiled / fused and compiled / foreach, and the compile cost, per layout."""
    import torch

    import course_lib.torch as ct

    torch.set_num_threads(THREADS)
    print(f"\n## course_lib.torch.compiled vs torch.optim {torch.__version__} fused and "
          f"foreach (CPU, {torch.get_num_threads()} threads, float32, median of {steps} steps)")
    print(f"{'optimizer':<12}{'tensors':>8}{'compiled ms':>12}{'fused ms':>9}{'ratio':>7}"
          f"{'foreach ms':>11}{'ratio':>7}{'eager ms':>9}{'2 steps s':>10}{'amortised':>10}")
    rows = []
    for n in layouts:
        sizes = _split(total, n)
        gen = torch.Generator().manual_seed(0)
        base = [torch.randn(s, generator=gen) for s in sizes]
        grads = [torch.randn(s, generator=gen) * 1e-2 for s in sizes]
        for name, kw in COMPILED_OPTIMIZERS:
            def make(cls, **extra):
                params = [torch.nn.Parameter(b.clone()) for b in base]
                for p, g in zip(params, grads):
                    p.grad = g.clone()
                return cls(params, **kw, **extra)

            compiled = make(ct.compiled(getattr(ct, name)))
            t0 = time.perf_counter()
            compiled.step()  # compiles (SGD: the second step does; its first is eager)
            compiled.step()
            first = time.perf_counter() - t0
            fns = [compiled.step, make(getattr(torch.optim, name), foreach=True).step,
                   make(getattr(ct, name)).step]
            if name in FUSED:
                fns.append(make(getattr(torch.optim, name), fused=True).step)
            t = _interleaved(steps, warmup, *fns)
            saved = t[2] - t[0]  # per step, against the eager rule
            amortised = (f"{(first - 2 * t[0]) / saved:>10.0f}" if saved > 0
                         else f"{'never':>10}")
            fused = (f"{t[3] * 1e3:>9.1f}{t[0] / t[3]:>6.2f}x" if name in FUSED
                     else f"{'-':>9}{'-':>7}")
            print(f"{name:<12}{n:>8}{t[0] * 1e3:>12.1f}{fused}{t[1] * 1e3:>11.1f}"
                  f"{t[0] / t[1]:>6.2f}x{t[2] * 1e3:>9.1f}{first:>10.1f}{amortised}", flush=True)
            rows.append(("compiled-foreach", name, n, t[0] / t[1]))
            if name in ("Adam", "AdamW"):
                rows.append(("compiled-fused", name, n, t[0] / t[3]))
            if name in FUSED:  # what torch's own one-pass kernel reaches against foreach
                rows.append(("fused-foreach", name, n, t[3] / t[1]))
    return rows


def bench_mxnet(total, layouts, steps, warmup):
    try:
        import mxnet as mx
        from mxnet import gluon
    except ImportError:
        print("\n## MXNet not installed: course_lib.mxnet not measured")
        return []
    import course_lib.mxnet as cm

    print(f"\n## course_lib.mxnet vs MXNet {mx.__version__} built-in optimizers "
          f"(gluon.Trainer.step, CPU, float32, median of {steps} steps)")
    print(f"{'optimizer':<16}{'tensors':>8}{'params':>12}{'ours ms':>9}{'built-in ms':>12}"
          f"{'ratio':>8}{'mxnet-conv. ms':>15}{'ratio':>8}")
    rows = []
    for n in layouts:
        sizes = _split(total, n)
        rng = np.random.default_rng(0)
        base = [rng.standard_normal(s).astype(np.float32) for s in sizes]
        grads = [(rng.standard_normal(s) * 1e-2).astype(np.float32) for s in sizes]
        for ours_name, builtin, kw in MXNET_OPTIMIZERS:
            def make(optimizer, params_kw=None):
                params = gluon.ParameterDict(prefix=f"b{n}_{ours_name}_{id(optimizer)}_")
                for i, (b, g) in enumerate(zip(base, grads)):
                    p = params.get(f"w{i}", shape=b.shape)
                    p.initialize(mx.init.Zero(), ctx=mx.cpu())
                    p.set_data(mx.nd.array(b))
                    p.grad()[:] = mx.nd.array(g)
                trainer = gluon.Trainer(params, optimizer, params_kw, kvstore=None)
                arrays = [p.data() for p in params.values()]

                def step():
                    for a in arrays:  # as if backward had just written the gradients
                        a._fresh_grad = True
                    trainer.step(1)
                    mx.nd.waitall()
                return step

            ours = make(getattr(cm, ours_name)(**kw))
            theirs = make(builtin, dict(kw))
            same = make(getattr(cm, ours_name)(**kw, conventions="mxnet"))
            t = _interleaved(steps, warmup, ours, theirs, same)
            label = ours_name + ("(mom.)" if ours_name == "SGD" else "")
            print(f"{label:<16}{n:>8}{sum(sizes):>12,}{t[0] * 1e3:>9.1f}{t[1] * 1e3:>12.1f}"
                  f" {t[0] / t[1]:>6.2f}x{t[2] * 1e3:>15.1f} {t[2] / t[1]:>6.2f}x", flush=True)
            rows.append(("mxnet", label, n, t[0] / t[1]))
            rows.append(("mxnet-conv", label, n, t[2] / t[1]))
    return rows


def bench_numpy(starts, steps, repeats):
    from course_lib import descent, surfaces

    print(f"\n## numpy engine: descent.run on Rosenbrock, {starts:,} starts x {steps} steps "
          f"(median of {repeats} runs)")
    points = np.random.default_rng(0).uniform([-2.0, -1.0], [2.0, 3.0], (starts, 2))
    rows = []
    for name, hyper in NUMPY_HYPER.items():
        descent.run(name, surfaces.rosenbrock, points[:100], 5, **hyper)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            descent.run(name, surfaces.rosenbrock, points, steps, **hyper)
            times.append(time.perf_counter() - t0)
        ms = statistics.median(times) * 1e3
        print(f"{name:<22}{ms:>10.1f} ms", flush=True)
        rows.append(("numpy", name, starts, ms))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few steps (a smoke test; figures mean nothing)")
    parser.add_argument("--params", type=int, default=10_000_000)
    parser.add_argument("--steps", type=int, default=20, help="measured steps (median)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2,
                        help="CPU threads for torch and MXNet (the bars are for 2)")
    parser.add_argument("--only", choices=["torch", "compiled", "mxnet", "numpy"],
                        action="append",
                        help="run only these parts (repeatable)")
    args = parser.parse_args(argv)
    if args.quick:
        args.params, args.steps, args.warmup = 20_000, 3, 1
        starts, numpy_steps, repeats = 500, 20, 1
    else:
        starts, numpy_steps, repeats = 10_000, 200, 7
    if args.steps < 3:
        parser.error("--steps must be >= 3")
    parts = args.only or ["torch", "mxnet", "numpy"]
    print(f"optimizer speed, one run: ~{args.params:,} parameters in 16 and 128 tensors; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    rows = []
    if "torch" in parts:
        rows += bench_torch(args.params, ((16, "float32"), (128, "float32"), (16, "complex64")),
                            args.steps, args.warmup)
    if "compiled" in parts:
        rows += bench_compiled(args.params, (16, 128), args.steps, args.warmup)
    if "mxnet" in parts:
        rows += bench_mxnet(args.params, (16, 128), args.steps, args.warmup)
    if "numpy" in parts:
        rows += bench_numpy(starts, numpy_steps, repeats)
    print("\n## bars: torch <= 1.0x foreach, compiled <= 0.5x foreach and <= 1.2x fused "
          "(Adam, AdamW), MXNet <= 1.5x built-in, numpy <= 100 ms")
    for kind, label, n, value in rows:
        if kind == "fused-foreach":
            print(f"ref  {label} ({n} tensors) torch.optim fused vs torch.optim foreach: "
                  f"{value:.2f}x")
        elif kind == "numpy":
            ok = value <= 100
            print(f"{'met ' if ok else 'MISS'} numpy {label}: {value:.1f} ms")
        else:
            ok = value <= {"compiled-foreach": 0.5, "compiled-fused": 1.2}.get(
                kind, 1.5 if kind.startswith("mxnet") else 1.0)
            against = {"torch": "vs torch.optim foreach",
                       "compiled-foreach": "compiled vs torch.optim foreach",
                       "compiled-fused": "compiled vs torch.optim fused",
                       "torch-loop": "vs torch.optim CPU default",
                       "mxnet": "vs gluon.Trainer built-in",
                       "mxnet-conv": "conventions='mxnet' vs gluon.Trainer built-in"}[kind]
            print(f"{'met ' if ok else 'MISS'} {label} ({n} tensors) {against}: {value:.2f}x")
    return rows


if __name__ == "__main__":
    main()
