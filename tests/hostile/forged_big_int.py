# Forge an answer of 10**400, an integer no float (or int64) holds.
import json
import os
import sys

out = int(sys.argv[sys.argv.index("--out-fd") + 1])
for message in ({"event": "ready", "student_id": "big"}, {"event": "question", "name": "q1"},
                {"event": "answer", "name": "q1", "results": [{"ok": True, "value": 10**400}] * 8}):
    os.write(out, (json.dumps(message) + "\n").encode())
