"""Smoke run of benchmarks/hessian.py at its --quick sizes, without PyHessian.

PyHessian is a benchmark-only dependency (benchmarks/requirements.txt); the script must run
without it, skip only PyHessian's columns and say so. Timings are not checked here, only
that every section runs and that course_lib's own numbers are accurate.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_hessian_benchmark_runs_quickly_without_pyhessian():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", COURSE_LIB_MODE="fast")
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "hessian.py"), "--quick", "--no-pyhessian"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "PyHessian --no-pyhessian: its columns are SKIPPED" in out
    assert "pyhessian  median" not in out                       # no PyHessian row at all
    for section in ("MLP 64-16-10: top-5", "CNN: top-1", "trace: MLP", "density: SLQ", "summary:"):
        assert section in out, section
    # course_lib's default rows: top-5, top-1, two densities, against float64 ARPACK (the
    # faster top-5 variant is printed too, but its error is not promised: no assertion)
    errors = [float(e) for e in re.findall(r"course_lib +median.*max relative error ([0-9.eE+-]+)", out)]
    assert len(errors) == 4 and max(errors) < 1e-3, out
    assert "tol=1e-2, start=gradient median" in out
    # the MLPs use the layer-by-layer engine, the CNN autograd; the autograd rows are printed too
    assert re.search(r"MLP 64-16-10: top-5 .*course_lib's engine: mlp", out)
    assert re.search(r"CNN: top-1 .*course_lib's engine: autograd", out)
    assert out.count("course_lib's engine: mlp") == 3                     # top-5 and two densities
    assert "engine=autograd median" in out and out.count("autograd   median") == 2
    assert "MLP top-5 PASS" in out and "density PASS" in out and "density (batch 200) PASS" in out
