"""Warm-up for the cgroup move of an attach: start the kernel's RCU grace period early.

Every liblxc attach moves its child into the container's cgroups. A move takes the kernel's global
cgroup_threadgroup_rwsem for writing, and that writer first waits for an RCU grace period (10-15 ms
on a 2-vCPU VM) unless another move ended within about one grace period before: only back-to-back
execs get the fast path. An exec is known milliseconds before its attach (the client still has to
connect the websockets), so pincusd moves itself into the cgroup it is already in, a no-op that
takes the same lock, in a worker thread meanwhile; the attach's own move then waits only for what
is left of that grace period. That saves ~10 ms of a ~50 ms `exec -- true` (bench/README.md).
Hosts that mount cgroups with favordynmods never wait, and gain nothing.
"""

from __future__ import annotations

import os
from functools import cache

_failed = False


def cgroup2_mount(mountinfo: str) -> str:
    """Mount point of the whole cgroup2 hierarchy (not of a subtree) in /proc/self/mountinfo text."""
    for line in mountinfo.splitlines():
        fields, _, fs = line.partition(" - ")
        parts = fields.split()
        if fs.startswith("cgroup2 ") and len(parts) > 4 and parts[3] == "/":
            return parts[4]
    return ""


def cgroup2_procs(mount: str, proc_cgroup: str) -> str:
    """The cgroup.procs file of the cgroup2 cgroup that /proc/PID/cgroup text names, "" if none."""
    path = next((line[3:] for line in proc_cgroup.splitlines() if line.startswith("0::/")), "")
    return f"{mount}{path.rstrip('/')}/cgroup.procs" if mount and path else ""


@cache
def _mount() -> str:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
            return cgroup2_mount(mountinfo.read())
    except OSError:
        return ""


def warm_cgroup_moves() -> None:
    """Move this process into the cgroup2 cgroup it is in; blocks for the grace period, never raises.

    The cgroup is read just before the write, so nothing moves anywhere; a host that refuses the
    write (no cgroup2, a read-only cgroupfs, a cgroup namespace boundary) is not asked again.
    """
    global _failed
    if _failed:
        return
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as cgroup:
            procs = cgroup2_procs(_mount(), cgroup.read())
        if not procs:
            _failed = True
            return
        fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    except OSError:
        _failed = True
