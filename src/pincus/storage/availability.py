"""Which storage drivers can work on this host."""

from __future__ import annotations

import functools
import shutil


@functools.cache
def available_drivers() -> list[str]:
    """dir always; btrfs when the kernel knows btrfs and mkfs.btrfs is installed."""
    drivers = ["dir"]
    try:
        with open("/proc/filesystems", encoding="utf-8") as f:
            kernel_btrfs = any(line.split()[-1] == "btrfs" for line in f if line.strip())
    except OSError:
        kernel_btrfs = False
    if kernel_btrfs and shutil.which("mkfs.btrfs"):
        drivers.append("btrfs")
    return drivers
