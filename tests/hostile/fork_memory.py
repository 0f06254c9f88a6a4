# Six children of 150 MiB each: every one under the per-process limit, 900 MiB together.
# REPORT how they ended (killed by the memory limit, or not).
import json
import os
import time

children = []
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        try:
            hoard = [b"x" * (50 * 2**20) for _ in range(3)]  # written, so really resident
            time.sleep(1)
        finally:
            os._exit(0)
    children.append(pid)
statuses = [os.waitpid(pid, 0)[1] for pid in children]
raise RuntimeError("REPORT " + json.dumps({"killed": sum(os.WIFSIGNALED(s) for s in statuses),
                                            "exited": sum(os.WIFEXITED(s) for s in statuses)}))
