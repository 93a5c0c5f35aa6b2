"""Plan a dir restore: which live subtrees already equal the snapshot and can move over whole.

A directory of the live volume can be renamed into the restored tree when its whole subtree
provably equals the snapshot's: the same names, directory metadata and xattrs, symlinks with the
same targets, special files with the same numbers, and regular files that ``reusable`` proves
unchanged (a ctime below the trust time and the same metadata). A rename is O(1) per subtree and
keeps the files' ctimes, so the next snapshot can still share them; rsync's restore stats every
file too, but then rewrites the live tree in place, which a crash leaves half done.

Moving subtrees out of the live volume before the swap is made crash-safe by a journal that is
written before the first move and lets recover() put every moved subtree back.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from pincus.storage.drivers._copy import SKIP_XATTRS, Reuse, _join, _under, reusable
from pincus.storage.drivers._parallel import WORKERS, WorkPool


def _parent(rel: str) -> str:
    return rel.rpartition("/")[0]


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
        return {n: os.getxattr(path, n, follow_symlinks=False) for n in names if n not in SKIP_XATTRS}
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENODATA):
            return {}
        raise


def _same_meta(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_mode, a.st_uid, a.st_gid, a.st_mtime_ns) == (b.st_mode, b.st_uid, b.st_gid, b.st_mtime_ns)


class _Planner:
    """Scans the snapshot and the live tree side by side; one verdict per directory."""

    def __init__(
        self, snap: Path, live: Path, reuse: Reuse, exclude: tuple[str, ...], pool: WorkPool
    ) -> None:
        self.snap, self.live = os.fsdecode(snap), os.fsdecode(live)
        self.reuse = reuse
        self.exclude = exclude
        self.pool = pool
        self.verdicts: dict[str, tuple[bool, list[str]]] = {}  # rel -> (own entries equal, subdirs)

    def _entries(self, path: str, top: bool) -> dict[str, os.DirEntry[str]] | None:
        try:
            with os.scandir(path) as it:
                return {e.name: e for e in it if not (top and e.name.startswith(self.exclude))}
        except (FileNotFoundError, NotADirectoryError):
            return None

    def scan(self, rel: str) -> None:
        """Judge one directory's own entries; queue its subdirectories."""
        source = self._entries(_under(self.snap, rel), not rel) or {}
        live = self._entries(_under(self.live, rel), not rel)
        clean = live is not None and len(live) == len(source)
        subdirs: list[str] = []
        for name, e in source.items():
            st = e.stat(follow_symlinks=False)
            child = _join(rel, name)
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(child)
                self.pool.submit(self.scan, child)
            elif clean:
                clean = live is not None and name in live and self._same_entry(child, st)
        if clean and rel:
            s, lv = _under(self.snap, rel), _under(self.live, rel)
            clean = _same_meta(os.lstat(s), os.lstat(lv)) and _xattrs(s) == _xattrs(lv)
        self.verdicts[rel] = (clean, subdirs)

    def _same_entry(self, rel: str, st: os.stat_result) -> bool:
        if stat.S_ISREG(st.st_mode):
            return reusable(self.reuse, self.snap, rel, st) is not None
        s, lv = f"{self.snap}/{rel}", f"{self.live}/{rel}"
        try:
            other = os.lstat(lv)
        except FileNotFoundError:
            return False
        if not _same_meta(st, other) or st.st_rdev != other.st_rdev:
            return False
        if stat.S_ISLNK(st.st_mode) and os.readlink(s) != os.readlink(lv):
            return False
        return _xattrs(s) == _xattrs(lv)

    def maximal_clean(self) -> list[str]:
        """The topmost directories whose whole subtree is equal (the root itself never moves)."""
        whole: dict[str, bool] = {}
        for rel in sorted(self.verdicts, key=lambda r: r.count("/") if r else -1, reverse=True):
            clean, subdirs = self.verdicts[rel]
            whole[rel] = clean and all(whole[c] for c in subdirs)
        return sorted(
            rel for rel, ok in whole.items() if ok and rel and (not _parent(rel) or not whole[_parent(rel)])
        )


def plan_moves(
    snap: Path, live: Path, reuse: Reuse, exclude: Iterable[str] = (), workers: int = WORKERS
) -> list[str]:
    """Relative paths of the live subdirectories that may be renamed into the restored tree."""
    with WorkPool(workers) as pool:
        planner = _Planner(snap, live, reuse, tuple(exclude), pool)
        pool.submit(planner.scan, "")
        pool.wait()
    return planner.maximal_clean()


def undo_moves(moves: list[str], aside: Path, target: Path) -> int:
    """Rename moved subtrees from aside back to target where they are missing; returns how many."""
    undone = 0
    for rel in moves:
        src, dst = aside / rel, target / rel
        if os.path.lexists(src) and not os.path.lexists(dst):
            os.rename(src, dst)
            undone += 1
    return undone
