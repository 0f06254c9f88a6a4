"""benchmarks/grading_throughput.py --quick grades its class and prints the rate."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.xdist_group("grading")
def test_grading_benchmark_quick_runs_and_prints_rate():
    out = subprocess.run([sys.executable, "benchmarks/grading_throughput.py", "--quick"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert re.search(r"\d+\.\d submissions/s .*full marks 6/6; grader peak RSS \d+ MiB",
                     out.stdout), out.stdout
