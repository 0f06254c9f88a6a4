# Speak the kernel's protocol directly: claim to be ready, send made-up answers, say done.
import json
import os
import sys

out_fd = int(sys.argv[sys.argv.index("--out-fd") + 1])


def send(message):
    os.write(out_fd, (json.dumps(message) + "\n").encode())


send({"event": "ready", "student_id": "forged"})
for name in ("q1", "q2", "q3", "q4"):
    send({"event": "answer", "name": name, "results": [{"ok": True, "value": 1.0}] * 8})
send({"event": "done"})
