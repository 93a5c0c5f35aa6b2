"""Which storage drivers can work on this host."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess


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


@functools.cache
def driver_version(name: str) -> str:
    """The version Incus reports for a driver: btrfs-progs' for btrfs, "1" for dir."""
    if name != "btrfs":
        return "1"
    try:
        out = subprocess.run(["btrfs", "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return "1"
    match = re.search(r"v(\d+(?:\.\d+)*)", out)
    return match.group(1) if match else "1"
