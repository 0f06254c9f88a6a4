# Answer q1 while the cells are still running, before the kernel said it is ready.
import json
import os
import sys

out = int(sys.argv[sys.argv.index("--out-fd") + 1])
os.write(out, (json.dumps({"event": "answer", "name": "q1", "results": [{"ok": True, "value": 1.0}]})
               + "\n").encode())
