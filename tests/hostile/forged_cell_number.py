# Claim to run cell number 1e999.
import os
import sys

out = int(sys.argv[sys.argv.index("--out-fd") + 1])
os.write(out, b'{"event": "cell", "number": 1e999}\n')
