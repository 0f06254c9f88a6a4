# Flood the grader's channel: 100,000 forged cell errors of 10 kB (1 GB), then an endless line.
import json
import os
import sys

out = int(sys.argv[sys.argv.index("--out-fd") + 1])
line = (json.dumps({"event": "cell_error", "number": 3, "error": "x" * 10_000}) + "\n").encode()
for _ in range(100_000):
    os.write(out, line)
os.write(out, b"[" * 100_000_000)
