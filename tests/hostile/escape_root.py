# Act as root would: change kernel settings under /proc/sys (core_pattern runs a program as
# root on the host), press SysRq, write outside the working folder, rename the host.
# Raises a REPORT of what worked; the grader must leave only /tmp writable.
import json
import os
import socket

wrote = []
for path in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/sysrq", "/proc/sys/vm/drop_caches",
             "/proc/sys/net/ipv4/ip_forward", "/proc/sys/fs/protected_symlinks", "/proc/sysrq-trigger",
             "/sys/kernel/uevent_helper", "/pwned", "/dev/pwned", "/dev/shm/pwned", "/usr/pwned",
             "/etc/pwned", "/proc/pwned", "/tmp/pwned"):
    try:
        with open(path, "w") as stream:
            stream.write("|/tmp/pwned %p" if path.endswith("core_pattern") else "1")
        wrote.append(path)
    except OSError:
        pass
try:
    socket.sethostname("pwned")
    wrote.append("hostname")
except OSError:
    pass
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
raise RuntimeError("REPORT " + json.dumps({
    "uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups(),
    "uid_map": open("/proc/self/uid_map").read().split(), "caps": status["CapEff"].strip(),
    "bounding": status["CapBnd"].strip(), "nnp": status["NoNewPrivs"].strip(), "wrote": wrote}))
