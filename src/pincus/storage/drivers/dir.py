"""The dir driver: volumes are plain directories, snapshots are copies.

Faster than Incus's rsync on the same shape: a parallel copy (``_copy``, ``_sync``), unchanged files of a
new snapshot hard-linked from the previous immutable snapshot, restores that reuse the live
volume's own unchanged files, a two-pass copy so a running container is frozen only for the
delta, and parallel deletes. A live volume never shares an inode with a snapshot or an image.

Markers (top-level names starting with ``.pincus-``, never copied):

* ``<snapshot or image>/.pincus-snapshot.json``: ``{"id", "trusted_before_ns", "disk_bytes",
  "new_disk_bytes"}``.
  Live files with a ctime below ``trusted_before_ns`` (the filesystem time when the copy
  started) and the same metadata hold the same bytes as this tree.
* ``<snapshot>/.pincus-listing``: the snapshot's find(1) listing (``_listing``), so that a restore
  lists only the live tree to find the subtrees it can move back whole.
* ``<volume>/.pincus-base.json``: ``{"base", "id", "trusted_before_ns"}``, written when a
  volume was made from an immutable tree (restore, copy of a snapshot or image): the same
  claim, for that tree.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pincus.base.errors import Conflict, NotFound
from pincus.base.revert import Reverter
from pincus.storage.drivers._common import (
    OLD,
    POOL_DIRS,
    RESTORE,
    LayoutDriver,
    check_conflict,
    describe,
    ensure_absent,
    failing,
    not_found,
    pool_failure,
)
from pincus.storage.drivers._copy import copy_tree
from pincus.storage.drivers._fstime import MARGIN_NS, fs_now_ns, fs_tick_ns
from pincus.storage.drivers._listing import ListingError, write_manifest
from pincus.storage.drivers._parallel import remove_tree
from pincus.storage.drivers._restore import plan_moves, undo_moves
from pincus.storage.drivers._reuse import Reuse
from pincus.storage.drivers._stats import CopyStats
from pincus.storage.drivers._sync import sync_tree
from pincus.storage.drivers.base import IMAGE, DriverInfo, Filler, Freezer, Volume

log = logging.getLogger(__name__)

SNAPSHOT_MARKER = ".pincus-snapshot.json"
MOVES = ".moves"  # <work>/restore-<type>-<vol>.moves: the live subtrees a staged restore took
BASE_MARKER = ".pincus-base.json"
MARKERS = (".pincus-",)  # top-level prefix copies skip
_ALWAYS = 1 << 62  # trusted_before_ns that trusts every file (linking one immutable tree to another)


@dataclass(frozen=True)
class _Claim:
    """An immutable tree known to equal the live files whose ctime is below trusted_before_ns."""

    path: Path
    trusted_before_ns: int


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.rename(tmp, path)


def _moves_journal(staged: Path) -> Path:
    """The journal of the live subtrees a staged restore moved into its tree."""
    return staged.with_name(staged.name + MOVES)


def _write_marker(root: Path, name: str, data: dict[str, Any]) -> None:
    """Write a marker file into a tree root, keeping the root's own times (copies skip markers)."""
    st = os.lstat(root)
    _write_json(root / name, data)
    os.utime(root, ns=(st.st_atime_ns, st.st_mtime_ns))


def _mark_immutable(path: Path, trusted_before_ns: int, stats: CopyStats | None, listing: bool = True) -> None:
    """Write the marker, and for a snapshot the listing that restores compare the live tree with."""
    if listing:
        try:
            write_manifest(path)
        except (ListingError, OSError) as exc:  # restores then list the snapshot themselves
            log.warning("No listing recorded for %s: %s", path, exc)
    marker = {"id": uuid.uuid4().hex, "trusted_before_ns": trusted_before_ns}
    marker["disk_bytes"] = stats.disk_bytes if stats else -1
    marker["new_disk_bytes"] = stats.new_disk_bytes if stats else -1
    _write_marker(path, SNAPSHOT_MARKER, marker)


class DirDriver(LayoutDriver):
    """Storage on plain directories (Incus driver ``dir``)."""

    info = DriverInfo(
        name="dir",
        optimized_snapshots=False,
        optimized_image_clone=False,
        running_copy_freeze=True,
        optimized_transfer=False,
    )

    def root(self) -> Path:
        """The ``source`` directory, else the pool path."""
        return Path(self.config.get("source") or self.pool_path)

    def delete_path(self, path: Path) -> None:
        """Delete a tree in parallel; missing is not an error."""
        remove_tree(path)

    # --- pool ----------------------------------------------------------------------------

    def create_pool(self) -> None:
        """Create the pool directory (or use the existing ``source`` directory)."""
        source = self.config.get("source", "")
        if source and not Path(source).is_dir():
            raise NotFound(f'Source path "{source}" does not exist or is not a directory')
        if not source:
            self.config["source"] = str(self.pool_path)
        self.pool_path.parent.mkdir(parents=True, exist_ok=True)
        # Whatever fails half-way (a file where a pool directory goes...) leaves nothing behind.
        with Reverter() as rev, pool_failure(self.pool_name, source):
            if source and Path(source) != self.pool_path and not os.path.lexists(self.pool_path):
                os.symlink(source, self.pool_path)  # keeps the Incus path working for tools
                rev.add(self.pool_path.unlink)
            root = self.layout.root
            if not root.exists():
                root.mkdir(mode=0o711)
                rev.add(root.rmdir)
            self.layout.make_dirs(rev)
            rev.success()

    def mount_pool(self) -> None:
        """Nothing to mount; checks the directory is there."""
        if not self.layout.root.is_dir():
            raise NotFound(f'Storage pool directory "{self.layout.root}" is missing')

    def unmount_pool(self) -> None:
        """Nothing to unmount."""

    def delete_pool(self) -> None:
        """Remove the pool's directories; the pool must hold no volumes."""
        if not self.layout.root.is_dir():
            return
        if self.layout.has_volumes():
            raise Conflict(f'Storage pool "{self.pool_name}" still holds volumes')
        self.recover()
        self.layout.remove_dirs()
        if self.pool_path.is_symlink():
            self.pool_path.unlink()
        elif self.layout.root == self.pool_path:
            os.rmdir(self.pool_path)

    # --- volumes -------------------------------------------------------------------------

    def create_volume(self, vol: Volume, filler: Filler) -> None:
        """Create an empty volume and fill it; on failure nothing is left."""
        final = self.layout.path(vol)
        check_conflict(final, describe(vol))
        with failing("creating", vol, self.pool_name), Reverter() as rev:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.layout.new_work()
            tmp.mkdir(mode=0o711)
            rev.add(lambda: remove_tree(tmp))
            filler(tmp)
            if vol.type == IMAGE or vol.is_snapshot:
                _mark_immutable(tmp, 0, None, listing=vol.is_snapshot)
            os.rename(tmp, final)
            rev.success()

    def create_volume_from_copy(self, vol: Volume, src: Volume, freeze: Freezer | None = None) -> None:
        """Create vol as a copy of src (a volume, image or snapshot); atomic.

        A snapshot target (``inst/snap``) copied from an immutable source hard-links all files.
        """
        src_path, final = self.layout.path(src), self.layout.path(vol)
        if not src_path.is_dir():
            raise not_found(src, self.pool_name)
        check_conflict(final, describe(vol))
        immutable = src.is_snapshot or src.type == IMAGE  # the source never changes: no freeze
        with failing("copying", vol, self.pool_name, f" from {describe(src)}"), Reverter() as rev:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.layout.new_work()
            tmp.mkdir(mode=0o700)
            rev.add(lambda: remove_tree(tmp))
            if vol.is_snapshot and immutable:
                stats = copy_tree(src_path, tmp, reuse=Reuse(src_path, _ALWAYS), exclude=MARKERS)
                _mark_immutable(tmp, 0, stats)
            elif vol.is_snapshot:
                self._copy(src_path, tmp, None, freeze)
                _mark_immutable(tmp, 0, None)
            else:
                self._copy_into(src, tmp, freeze)
            os.rename(tmp, final)
            rev.success()

    def copy_to(self, src: Volume, dest: Path, freeze: Freezer | None = None) -> None:
        """A writable copy of src at dest (a new path in the work area); nothing is left on failure."""
        self.check_source(src)
        with failing("copying", src, self.pool_name, f' to "{dest.name}"'), Reverter() as rev:
            dest.mkdir(mode=0o700)
            rev.add(lambda: remove_tree(dest))
            self._copy_into(src, dest, freeze)
            rev.success()

    def _copy_into(self, src: Volume, dest: Path, freeze: Freezer | None) -> None:
        """Fill the empty directory dest with a writable copy of src; a copy of an immutable tree
        records the claim that lets the next snapshot share its unchanged files."""
        src_path = self.layout.path(src)
        immutable = src.is_snapshot or src.type == IMAGE
        self._copy(src_path, dest, None, freeze if not immutable else None)
        if immutable:
            self._write_base(dest, src_path, fs_tick_ns(dest))

    def create_snapshot(self, snap_vol: Volume, freeze: Freezer | None = None) -> None:
        """Create a snapshot of snap_vol.parent(); atomic: complete or absent."""
        check_conflict(self.layout.path(snap_vol), describe(snap_vol))
        with failing("creating", snap_vol, self.pool_name):
            final = self.layout.path(snap_vol)
            final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.snapshot_to(snap_vol.parent(), final, freeze)

    def snapshot_to(self, vol: Volume, dest: Path, freeze: Freezer | None = None) -> None:
        """Make an immutable copy of vol at dest (a snapshot's place, or a path in the work area),
        sharing unchanged files with vol's newest snapshot; atomic: built aside, renamed in."""
        src = self.layout.path(vol)
        if not src.is_dir():
            raise not_found(vol, self.pool_name)
        with Reverter() as rev:
            claim = self._best_claim(vol)
            tmp = self.layout.new_work()
            tmp.mkdir(mode=0o700)
            rev.add(lambda: remove_tree(tmp))
            started = fs_now_ns(tmp)
            reuse = Reuse(claim.path, claim.trusted_before_ns) if claim else None
            stats = self._copy(src, tmp, reuse, freeze, started)
            _mark_immutable(tmp, started, stats)
            os.rename(tmp, dest)
            rev.success()

    def stage_restore(self, vol: Volume, snap_vol: Volume) -> None:
        """Build vol's restored tree in the work area: live subtrees proven equal to the snapshot's
        are moved into it (journaled, so an abort puts them back), other unchanged live files are
        hard-linked, the rest is copied out of the snapshot. The caller keeps vol still meanwhile
        (the instance is stopped)."""
        live, snap = self.check_source(vol), self.check_source(snap_vol)
        staged, old = self.layout.work(RESTORE, vol), self.layout.work(OLD, vol)
        journal = _moves_journal(staged)
        with failing("restoring", vol, self.pool_name, f' from snapshot "{snap_vol.snapshot_name}"'):
            with Reverter() as rev:
                self.abort_restore(vol)
                ensure_absent(old, remove_tree)  # a finished restore's leftover: vol is live
                claim = self._restore_claim(vol, snap)
                self.layout.work_dir.mkdir(mode=0o700, exist_ok=True)
                staged.mkdir(mode=0o700)
                rev.add(lambda: self.abort_restore(vol))
                reuse = Reuse(claim.path, claim.trusted_before_ns, live) if claim else None
                moves = plan_moves(snap, live, reuse, MARKERS) if reuse else []
                _write_json(journal, {"moves": moves})
                copy_tree(snap, staged, reuse=reuse, exclude=MARKERS, move_in=(live, moves))
                rev.success()

    def commit_restore(self, vol: Volume, snap_vol: Volume, defer_delete: bool = False) -> list[Path]:
        """Swap the staged tree in and delete the replaced one now, even with defer_delete: what is
        left of it is small (moved subtrees are gone), and unlinking its names bumps the ctime of files
        hard-linked into the restored tree, which must happen before the trust stamp below, or the
        next snapshot copies them again."""
        super().commit_restore(vol, snap_vol, defer_delete=False)
        live = self.layout.path(vol)
        if not os.path.lexists(self.layout.work(OLD, vol)):  # else the stamp waits for recover()
            self._write_base(live, self.layout.path(snap_vol), fs_tick_ns(live))
        return []

    def _committed(self, vol: Volume, snap_vol: Volume) -> None:
        """The moved subtrees belong to the live tree now: the moves journal is done."""
        _moves_journal(self.layout.work(RESTORE, vol)).unlink(missing_ok=True)

    def _abort_staged(self, staged: Path) -> None:
        """Put the live subtrees a staged restore took back (its journal names them), then drop it."""
        journal = _moves_journal(staged)
        data = _read_json(journal)
        if data is not None and staged.is_dir():
            vtype, _, name = staged.name[len(RESTORE):].partition("-")
            moved = undo_moves(list(data.get("moves", [])), staged, self.layout.root / vtype / name)
            if moved:
                log.warning("Put back %d subtrees moved by an unfinished restore of %s", moved, name)
        remove_tree(staged)
        journal.unlink(missing_ok=True)

    def recover(self) -> list[str]:
        """Empty the work area (putting back what an unfinished restore moved), drop stale markers."""
        for vtype in POOL_DIRS:
            top = self.root() / vtype
            try:
                names = sorted(os.listdir(top))
            except FileNotFoundError:
                continue
            for name in names:
                for stale in (top / name).glob(f"{BASE_MARKER}.tmp-*"):
                    stale.unlink()
        return super().recover()

    def volume_size(self, vol: Volume) -> int:
        """Disk bytes a snapshot added when it was made (not shared with an older snapshot then);
        recorded at creation, so free to read. -1 for live volumes."""
        marker = _read_json(self.layout.path(vol) / SNAPSHOT_MARKER) if vol.is_snapshot else None
        return int(marker.get("new_disk_bytes", -1)) if marker else -1

    def _copy(
        self, src: Path, dst: Path, reuse: Reuse | None, freeze: Freezer | None, started: int | None = None
    ) -> CopyStats:
        """Copy src into dst; with a freezer, copy while running and freeze only for the delta."""
        if started is None:
            started = fs_now_ns(dst)
        stats = copy_tree(src, dst, reuse=reuse, exclude=MARKERS)
        if freeze is not None and self.info.running_copy_freeze:
            with freeze():
                stats.add(
                    sync_tree(src, dst, changed_since_ns=started - MARGIN_NS, reuse=reuse, exclude=MARKERS)
                )
        return stats

    def _write_base(self, live: Path, base: Path, trusted_before_ns: int) -> None:
        """Record that live's files with older ctimes equal the immutable tree base."""
        marker = _read_json(base / SNAPSHOT_MARKER)
        if marker is None:
            return
        rel = os.path.relpath(base, self.layout.root)
        data = {"base": rel, "id": marker.get("id"), "trusted_before_ns": trusted_before_ns}
        _write_marker(live, BASE_MARKER, data)

    def _claims(self, vol: Volume) -> list[_Claim]:
        """Every immutable tree known to equal vol's old-enough files."""
        claims: list[_Claim] = []
        by_id: dict[str, Path] = {}
        sdir = self.layout.snapshots_dir(vol)
        for name in self.list_snapshots(vol):
            marker = _read_json(sdir / name / SNAPSHOT_MARKER)
            if marker is None:
                continue
            by_id[str(marker.get("id"))] = sdir / name
            if int(marker.get("trusted_before_ns", 0)) > 0:
                claims.append(_Claim(sdir / name, int(marker["trusted_before_ns"])))
        base = _read_json(self.layout.path(vol) / BASE_MARKER)
        if base is not None:
            path = self.layout.root / str(base.get("base", ""))
            marker = _read_json(path / SNAPSHOT_MARKER)
            if marker is None or marker.get("id") != base.get("id"):
                path = by_id.get(str(base.get("id")), Path())  # the snapshot was renamed
            if path != Path():
                claims.append(_Claim(path, int(base.get("trusted_before_ns", 0))))
        return claims

    def _best_claim(self, vol: Volume) -> _Claim | None:
        """The claim with the latest trust time: the most files can be shared."""
        claims = self._claims(vol)
        return max(claims, key=lambda c: c.trusted_before_ns) if claims else None

    def _restore_claim(self, vol: Volume, snap: Path) -> _Claim | None:
        """Prefer a claim on the restored snapshot itself; else the latest one (inode checks apply)."""
        claims = self._claims(vol)
        direct = [c for c in claims if c.path == snap]
        pool = direct or claims
        return max(pool, key=lambda c: c.trusted_before_ns) if pool else None
