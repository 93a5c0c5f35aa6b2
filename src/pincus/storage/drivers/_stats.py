"""What a tree copy or delta sync of the dir driver did: counts of entries and bytes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CopyStats:
    """What a copy did."""

    files: int = 0  # non-directory entries created
    dirs: int = 0
    linked: int = 0  # regular files hard-linked through Reuse
    copied_bytes: int = 0  # bytes of regular files actually copied or cloned
    disk_bytes: int = 0  # st_blocks * 512 of every regular file in the result
    new_disk_bytes: int = 0  # the part of disk_bytes written by this copy (not hard-linked)

    def add(self, other: CopyStats) -> None:
        """Accumulate another CopyStats into this one."""
        self.files += other.files
        self.dirs += other.dirs
        self.linked += other.linked
        self.copied_bytes += other.copied_bytes
        self.disk_bytes += other.disk_bytes
        self.new_disk_bytes += other.new_disk_bytes
