"""benchmarks/optimizers.py --quick runs and prints its ratios (no timing thresholds)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_optimizer_benchmark_quick_runs_and_prints_ratios():
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "benchmarks/optimizers.py", "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    ratio = r"\s+\d+\.\d+\s+\d+\.\d+x"  # "<ms> <ratio>x"
    for name in ("Adam", "SGD(mom.)", "Adagrad", "RMSprop", "Adadelta"):
        # ours, then ratios to torch.optim foreach and to its CPU default loop
        rows = re.findall(rf"^{re.escape(name)}\s+(16|128)\s+[\d,]+\s+\d+\.\d+{ratio}{ratio}",
                          text, re.M)
        assert set(rows) == {"16", "128"}, (name, text)
    assert len(re.findall(rf"^Adam\s+(?:16|128)\s.*{ratio}{ratio}{ratio}$", text, re.M)) == 2, \
        "no ratio to fused Adam"
    for name in ("Adam", "SGD(mom.)", "Adagrad", "RMSprop", "Adadelta"):  # complex64 rows
        assert re.search(rf"^{re.escape(name)} c64\s+16\s+[\d,]+\s+\d+\.\d+{ratio}{ratio}$",
                         text, re.M), (name, text)
    try:
        import mxnet  # noqa: F401
    except ImportError:
        assert "MXNet not installed" in text
    else:
        for name in ("RMSProp", "AdaDelta"):
            assert re.search(rf"^{name}\s+128\s.*\d+\.\d+x$", text, re.M), (name, text)
    for rule in ("sgd", "momentum", "adam", "adadelta", "newton"):
        assert re.search(rf"^{rule}\s+\d+\.\d+ ms$", text, re.M), (rule, text)
    assert "## bars" in text
