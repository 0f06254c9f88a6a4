# Fork until the system says no (every child sleeps, then exits); REPORT how many forks worked.
import json
import os
import time

children, failure = [], None
try:
    for _ in range(100_000):
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        children.append(pid)
except OSError as error:
    failure = error.strerror
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
raise RuntimeError("REPORT " + json.dumps({"forks": len(children), "error": failure}))
