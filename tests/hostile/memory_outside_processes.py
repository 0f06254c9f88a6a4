# Memory no process's resident size shows: anonymous files, System V shared memory and
# message queues, a user namespace (to mount a tmpfs of one's own). REPORT what worked.
import ctypes
import json
import os

libc = ctypes.CDLL(None, use_errno=True)
IPC_PRIVATE, IPC_CREAT = 0, 0o1000


def attempt(call):
    return "ok" if call() >= 0 else os.strerror(ctypes.get_errno())


report = {"shmget": attempt(lambda: libc.shmget(IPC_PRIVATE, 2**30, IPC_CREAT | 0o600)),
          "msgget": attempt(lambda: libc.msgget(IPC_PRIVATE, IPC_CREAT | 0o600)),
          "unshare_user": attempt(lambda: libc.unshare(0x10000000))}
try:
    os.memfd_create("hoard")
    report["memfd_create"] = "ok"
except OSError as error:
    report["memfd_create"] = error.strerror
raise RuntimeError("REPORT " + json.dumps(report))
