"""Where the cgroup warm-up writes (the write itself is exercised in tests/integration/runtime)."""

from __future__ import annotations

from pincus.runtime.cgroup_warmup import cgroup2_mount, cgroup2_procs

HYBRID = """\
35 31 0:30 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
UNIFIED = "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
SUBTREE = "30 24 0:26 /lxc.payload.c1 /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"


def test_cgroup2_mount() -> None:
    assert cgroup2_mount(HYBRID) == "/sys/fs/cgroup/unified"
    assert cgroup2_mount(UNIFIED) == "/sys/fs/cgroup"
    assert cgroup2_mount(SUBTREE) == ""  # a bind of a subtree: /proc/self/cgroup paths would not map
    assert cgroup2_mount(HYBRID.splitlines()[0]) == ""


def test_cgroup2_procs() -> None:
    assert cgroup2_procs("/sys/fs/cgroup/unified", "1:cpu:/\n0::/\n") == "/sys/fs/cgroup/unified/cgroup.procs"
    assert (cgroup2_procs("/sys/fs/cgroup", "0::/system.slice/pincusd.service\n")
            == "/sys/fs/cgroup/system.slice/pincusd.service/cgroup.procs")
    assert cgroup2_procs("/sys/fs/cgroup", "4:memory:/x\n") == ""  # v1 only
    assert cgroup2_procs("", "0::/\n") == ""  # no cgroup2 mount
