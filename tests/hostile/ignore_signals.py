# Ignore every signal that can be ignored, leave a child in a session of its own that does
# the same, and loop forever: only SIGKILL of the whole tree ends this.
import os
import signal

for number in range(1, signal.NSIG):
    try:
        signal.signal(number, signal.SIG_IGN)
    except (OSError, ValueError, RuntimeError):
        pass
if os.fork() == 0:
    os.setsid()
    while True:
        pass
while True:
    pass
