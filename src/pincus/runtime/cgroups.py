"""A running container's cgroup through liblxc: value reads, resource figures, freeze and thaw."""

from __future__ import annotations

import os
import time

import lxc

from pincus.runtime.lxc_config import cpuset_cpus, detect_cgroup_layout, host_memory

FREEZE_WAIT = 10.0  # seconds to reach FROZEN or THAWED


def cgroup_value(container: lxc.Container, key: str) -> str:
    """A cgroup file of the container, "" if unreadable.

    The binding asks liblxc for the length, then reads again: a file that changes length in
    between (a counter, FREEZING -> FROZEN) raises ValueError, so try again.
    """
    for _ in range(5):
        try:
            return container.get_cgroup_item(key) or ""
        except ValueError:
            continue
    return ""


def cgroup_int(container: lxc.Container, key: str, default: int) -> int:
    """A cgroup file read as an integer, default if unreadable or not a number."""
    value = cgroup_value(container, key)
    try:
        return int(value) if value else default
    except ValueError:
        return default


def set_frozen(container: lxc.Container, frozen: bool) -> bool:
    """Freeze or thaw the container's cgroup.

    liblxc re-checks a v1 freezer once a second while holding the GIL, so on v1 the state is
    reached by hand first; liblxc's own call then returns at once and updates the monitor's state.
    """
    if "freezer" in detect_cgroup_layout().v1:
        want = "FROZEN" if frozen else "THAWED"
        deadline = time.monotonic() + FREEZE_WAIT
        delay = 0.001
        # While FREEZING, writing FROZEN again retries the tasks that could not be frozen yet.
        while cgroup_value(container, "freezer.state") != want:
            if time.monotonic() > deadline or not container.set_cgroup_item("freezer.state", want):
                return False
            if cgroup_value(container, "freezer.state") != want:
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
    return bool(container.freeze() if frozen else container.unfreeze())


def memory_usage(container: lxc.Container) -> int:
    """Bytes of memory the container uses now."""
    key = "memory.usage_in_bytes" if "memory" in detect_cgroup_layout().v1 else "memory.current"
    return cgroup_int(container, key, 0)


def memory_peak(container: lxc.Container) -> int:
    """Most bytes of memory the container has used."""
    key = "memory.max_usage_in_bytes" if "memory" in detect_cgroup_layout().v1 else "memory.peak"
    return cgroup_int(container, key, 0)


def memory_total(container: lxc.Container) -> int:
    """The container's memory limit, else the host's memory."""
    v1 = "memory" in detect_cgroup_layout().v1
    limit = cgroup_int(container, "memory.limit_in_bytes" if v1 else "memory.max", 0)
    host = host_memory()
    return limit if 0 < limit < host else host


def cpu_allocated(container: lxc.Container) -> int:
    """CPU time available per second (CPUs x 1e9), as Incus reports it."""
    cpus = cgroup_value(container, "cpuset.cpus") if "cpuset" in detect_cgroup_layout().v1 else ""
    count = len(cpuset_cpus(cpus)) if cpus else (os.cpu_count() or 1)
    return count * 1_000_000_000


def cpu_usage(container: lxc.Container) -> int:
    """Nanoseconds of CPU time the container has used."""
    if "cpuacct" in detect_cgroup_layout().v1:
        return cgroup_int(container, "cpuacct.usage", 0)
    for line in cgroup_value(container, "cpu.stat").splitlines():
        if line.startswith("usage_usec "):
            return int(line.split()[1]) * 1000
    return 0
