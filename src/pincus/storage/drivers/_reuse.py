"""When a dir driver copy may hard-link a file instead of copying it.

``Reuse`` lets a copy hard-link a file from an immutable tree instead of copying it when the
file is provably unchanged: same path, type, size, mtime, mode and owner, and a ctime older than
the moment the immutable tree was known to equal the live one. ctime cannot be set by users, so
a file rewritten in place and touched back is still seen as changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pincus.storage.drivers._paths import lstat_or_none


@dataclass(frozen=True)
class Reuse:
    """Where unchanged regular files may be hard-linked from instead of copied.

    Snapshot mode (``live`` is None): the copy source is the live tree; a live file whose ctime
    is below ``trusted_before_ns`` and whose metadata equals ``base``'s file at the same path is
    linked from ``base`` (an immutable snapshot). Restore mode (``live`` set): the copy source is
    an immutable tree; the live file is linked instead (its inode leaves the live tree, which is
    deleted afterwards) when it matches the source file and is known equal to ``base``, where
    ``base`` is the source itself or a tree that shares the source file's inode.
    """

    base: Path
    trusted_before_ns: int
    live: Path | None = None


def reusable(r: Reuse, src_root: str, rel: str, st: os.stat_result) -> str | None:
    """The path of a file provably equal to the regular file src_root/rel (stat st), or None."""
    if r.live is None:
        if st.st_ctime_ns >= r.trusted_before_ns:
            return None
        source = f"{r.base}/{rel}"
        other = lstat_or_none(source)
    else:
        source = f"{r.live}/{rel}"
        other = lstat_or_none(source)
        if other is None or other.st_ctime_ns >= r.trusted_before_ns:
            return None
        if os.fsdecode(r.base) != src_root:
            known = lstat_or_none(f"{r.base}/{rel}")
            if known is None or (known.st_dev, known.st_ino) != (st.st_dev, st.st_ino):
                return None
    if other is None or not _same_file(st, other):
        return None
    return source


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (
        a.st_mode == b.st_mode
        and a.st_size == b.st_size
        and a.st_mtime_ns == b.st_mtime_ns
        and a.st_uid == b.st_uid
        and a.st_gid == b.st_gid
    )
