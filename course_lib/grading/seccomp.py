"""A seccomp filter for the student's kernel: the few system calls that would slip past the limits.

Memory that belongs to no process's resident set escapes a grader that counts the tree's
memory by polling (:mod:`course_lib.grading.cage`, where no cgroup is available): anonymous
files (``memfd_create``), System V shared memory and message queues (``shmget``,
``msgget``), io_uring's kernel buffers. A new user namespace would let the kernel mount an
unbounded tmpfs of its own. The filter answers these calls with EPERM (``clone3`` with
ENOSYS, so that the C library falls back to ``clone``, whose flags can be checked), and
every call of another ABI (32-bit ``int 0x80``, x32) with EPERM. Everything else is
allowed.

The program is classic BPF, as ``bwrap --seccomp FD`` reads it: an array of
``struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}``. :func:`program` returns None on
an architecture it does not know (the limits then rest on the cgroup or the rlimits).
"""
from __future__ import annotations

import errno
import platform
import struct

# BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
LOAD_WORD, JEQ, JGE, JSET, RETURN = 0x20, 0x15, 0x35, 0x45, 0x06
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
CLONE_NEWUSER = 0x10000000
NR, ARCH, ARG0 = 0, 4, 16  # offsets in struct seccomp_data (little-endian low word of args[0])

#: audit arch, x32 bit (or None), and the numbers of the calls involved.
ARCHITECTURES = {
    "x86_64": (0xC000003E, 0x40000000, dict(memfd_create=319, shmget=29, msgget=68, io_uring_setup=425,
                                            setns=308, unshare=272, clone=56, clone3=435)),
    "aarch64": (0xC00000B7, None, dict(memfd_create=279, shmget=194, msgget=186, io_uring_setup=425,
                                       setns=268, unshare=97, clone=220, clone3=435)),
}
DENIED = ("memfd_create", "shmget", "msgget", "io_uring_setup", "setns")


def _assemble(code: list[tuple]) -> bytes:
    """Instructions (opcode, k, jump-if-true label, jump-if-false label) or labels (str)."""
    labels, position = {}, 0
    for item in code:
        if isinstance(item, str):
            labels[item] = position
        else:
            position += 1
    out, position = [], 0
    for item in code:
        if isinstance(item, str):
            continue
        opcode, k, true, false = (*item, None, None)[:4]
        jump = [labels[target] - position - 1 if target else 0 for target in (true, false)]
        out.append(struct.pack("=HBBI", opcode, jump[0], jump[1], k))
        position += 1
    return b"".join(out)


def program(machine: str | None = None) -> bytes | None:
    """The filter for this machine's architecture (``platform.machine()``), or None."""
    known = ARCHITECTURES.get(machine or platform.machine())
    if known is None:
        return None
    audit, x32, numbers = known
    code = [(LOAD_WORD, ARCH), (JEQ, audit, None, "deny"), (LOAD_WORD, NR)]
    if x32 is not None:
        code.append((JGE, x32, "deny", None))
    code += [(JEQ, numbers[name], "deny", None) for name in DENIED]
    code += [(JEQ, numbers["clone3"], "enosys", None), (JEQ, numbers["unshare"], "flags", None),
             (JEQ, numbers["clone"], "flags", None), (RETURN, ALLOW),
             "flags", (LOAD_WORD, ARG0), (JSET, CLONE_NEWUSER, "deny", None), (RETURN, ALLOW),
             "deny", (RETURN, ERRNO | errno.EPERM), "enosys", (RETURN, ERRNO | errno.ENOSYS)]
    return _assemble(code)
