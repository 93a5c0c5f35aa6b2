"""Plan a dir restore: which live subtrees already equal the snapshot and can move over whole.

A directory of the live volume can be renamed into the restored tree when its whole subtree
provably equals the snapshot's: the same names, directory metadata and xattrs, symlinks with the
same targets, special files with the same numbers, and regular files that ``reusable`` proves
unchanged (a ctime below the trust time and the same metadata, as ``_reuse.reusable`` checks). A rename is O(1) per subtree and
keeps the files' ctimes, so the next snapshot can still share them; rsync's restore stats every
file too, but then rewrites the live tree in place, which a crash leaves half done.

Two planners give the same answer: ``_listing`` compares find(1) listings (the snapshot's is
recorded when it is made; the live tree is listed by two processes), 2-3x faster on 100k entries;
the walk here stats both trees from Python and serves claims on another snapshot (inode checks)
and a failed listing.

Moving subtrees out of the live volume before the swap is made crash-safe by a journal that is
written before the first move and lets recover() put every moved subtree back.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from pincus.storage.drivers import _listing
from pincus.storage.drivers._listing import same_meta, verify_other, xattrs
from pincus.storage.drivers._parallel import WorkPool
from pincus.storage.drivers._paths import join_rel, lstat_or_none, under
from pincus.storage.drivers._reuse import Reuse

log = logging.getLogger(__name__)

# Mostly Python per entry: extra threads only add GIL convoys (measured 0.16 s vs 0.25 s per 20k entries).
PLAN_WORKERS = 1


def _parent(rel: str) -> str:
    return rel.rpartition("/")[0]


class _Planner:
    """Scans the snapshot and the live tree side by side; one verdict per directory."""

    def __init__(
        self, snap: Path, live: Path, reuse: Reuse, exclude: tuple[str, ...], pool: WorkPool
    ) -> None:
        self.snap, self.live = os.fsdecode(snap), os.fsdecode(live)
        self.reuse = reuse
        self.exclude = exclude
        self.pool = pool
        self.same_base = os.fsdecode(reuse.base) == self.snap
        self.trusted = reuse.trusted_before_ns
        self.verdicts: dict[str, tuple[bool, list[str]]] = {}  # rel -> (own entries equal, subdirs)

    def _open(self, path: str) -> int:
        """An fd for scandir, so each entry's stat resolves one name only; -1 when missing."""
        try:
            return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return -1

    def _entries(self, fd: int, top: bool) -> dict[str, os.DirEntry[str]]:
        with os.scandir(fd) as it:
            return {e.name: e for e in it if not (top and e.name.startswith(self.exclude))}

    def scan(self, rel: str) -> None:
        """Judge one directory's own entries; queue its subdirectories."""
        sfd = self._open(under(self.snap, rel))
        if sfd < 0:
            raise FileNotFoundError(errno.ENOENT, "Snapshot directory is missing", under(self.snap, rel))
        lfd = self._open(under(self.live, rel))
        try:
            self._judge(rel, self._entries(sfd, not rel), self._entries(lfd, not rel) if lfd >= 0 else None)
        finally:
            os.close(sfd)
            if lfd >= 0:
                os.close(lfd)

    def _judge(
        self, rel: str, source: dict[str, os.DirEntry[str]], live: dict[str, os.DirEntry[str]] | None
    ) -> None:
        clean = live is not None and len(live) == len(source)
        subdirs: list[str] = []
        for name, e in source.items():
            if e.is_dir(follow_symlinks=False):  # d_type: no stat
                child = join_rel(rel, name)
                subdirs.append(child)
                self.pool.submit(self.scan, child)
            elif clean:  # once dirty, the rest of this directory needs no stat
                other = live.get(name) if live is not None else None
                if other is None:
                    clean = False
                elif e.is_file(follow_symlinks=False):  # the hot path, kept inline
                    st, lst = e.stat(follow_symlinks=False), other.stat(follow_symlinks=False)
                    clean = (
                        lst.st_ctime_ns < self.trusted
                        and st.st_size == lst.st_size
                        and st.st_mtime_ns == lst.st_mtime_ns
                        and st.st_mode == lst.st_mode
                        and st.st_uid == lst.st_uid
                        and st.st_gid == lst.st_gid
                        and (self.same_base or self._same_inode(join_rel(rel, name), st))
                    )
                else:
                    clean = self._same_other(rel, name)
        if clean and rel:
            s, lv = under(self.snap, rel), under(self.live, rel)
            clean = same_meta(os.lstat(s), os.lstat(lv)) and xattrs(s) == xattrs(lv)
        self.verdicts[rel] = (clean, subdirs)

    def _same_inode(self, rel: str, st: os.stat_result) -> bool:
        """The claim is on another snapshot: it proves equality only if it holds this very inode."""
        known = lstat_or_none(f"{self.reuse.base}/{rel}")
        return known is not None and (known.st_dev, known.st_ino) == (st.st_dev, st.st_ino)

    def _same_other(self, rel: str, name: str) -> bool:
        """Symlinks and special files: same metadata, target or device numbers, and xattrs."""
        return verify_other(f"{under(self.snap, rel)}/{name}", f"{under(self.live, rel)}/{name}")

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
    snap: Path, live: Path, reuse: Reuse, exclude: Iterable[str] = (), workers: int = PLAN_WORKERS
) -> list[str]:
    """Relative paths of the live subdirectories that may be renamed into the restored tree.

    A claim on the restored snapshot itself is checked from find(1) listings (``_listing``);
    a claim on another snapshot needs inode checks, and a failed listing falls back: both walk
    the trees here.
    """
    if os.fsdecode(reuse.base) == os.fsdecode(snap):
        try:
            return _listing.plan(snap, live, reuse.trusted_before_ns, exclude)
        except _listing.ListingError as exc:
            log.warning("Comparing %s with %s by walking both trees: %s", snap, live, exc)
    return walk_plan(snap, live, reuse, exclude, workers)


def walk_plan(
    snap: Path, live: Path, reuse: Reuse, exclude: Iterable[str] = (), workers: int = PLAN_WORKERS
) -> list[str]:
    """plan_moves by statting both trees from Python."""
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
