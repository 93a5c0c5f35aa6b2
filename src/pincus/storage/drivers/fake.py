"""A fake storage driver on plain temporary directories, for fast unit tests of the layers above.

Same layout, trees and errors as the real drivers (tests/integration/storage/test_contract.py runs
it through the same suite), no root, no markers, no atomic tricks: every copy is a plain full copy
with the dir driver's tree copier (owners, hard links, xattrs, special files kept). Tests can
inspect ``calls``, inject failures with ``fail_next``, and change ``info`` to exercise callers'
capability branches.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pincus.base.errors import Conflict, PincusError, StorageError
from pincus.storage.drivers._common import RESTORE, LayoutDriver, check_conflict, describe, not_found
from pincus.storage.drivers._copy import copy_tree
from pincus.storage.drivers.base import DriverInfo, Filler, Freezer, Volume


class FakeDriver(LayoutDriver):
    """Directories in a temp dir; every call recorded in ``calls`` as (method, volume name)."""

    def __init__(self, pool_name: str, pool_path: Path, config: dict[str, str]) -> None:
        super().__init__(pool_name, pool_path, config)
        self.info = DriverInfo(
            name="fake",
            optimized_snapshots=True,
            optimized_image_clone=False,
            running_copy_freeze=True,
            optimized_transfer=False,
        )
        self.calls: list[tuple[str, str]] = []
        self.fail_next: dict[str, PincusError] = {}  # method name -> error its next call raises
        self.freezes = 0  # how often a freezer was entered
        self.mounted = False

    def _call(self, method: str, name: str = "") -> None:
        self.calls.append((method, name))
        err = self.fail_next.pop(method, None)
        if err is not None:
            raise err

    def delete_path(self, path: Path) -> None:
        """Remove a tree; missing is not an error."""
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif os.path.lexists(path):
            path.unlink()

    def create_pool(self) -> None:
        """Create the pool directories."""
        self._call("create_pool")
        self.pool_path.mkdir(parents=True, exist_ok=True)
        self.layout.make_dirs()
        self.config.setdefault("source", str(self.pool_path))
        self.mounted = True

    def mount_pool(self) -> None:
        """Mark the pool mounted."""
        self._call("mount_pool")
        self.mounted = True

    def unmount_pool(self) -> None:
        """Mark the pool unmounted."""
        self._call("unmount_pool")
        self.mounted = False

    def delete_pool(self) -> None:
        """Remove the pool directory; it must hold no volumes."""
        self._call("delete_pool")
        if self.pool_path.is_dir() and self.layout.has_volumes():
            raise Conflict(f'Storage pool "{self.pool_name}" still holds volumes')
        if self.pool_path.is_dir():
            shutil.rmtree(self.pool_path)

    def usage(self) -> tuple[int, int]:
        """Bytes (used, total) of the filesystem under the pool, as the dir driver reports."""
        self._call("usage")
        return super().usage()

    def create_volume(self, vol: Volume, filler: Filler) -> None:
        """Create a directory and fill it."""
        self._call("create_volume", vol.name)
        path = self.layout.path(vol)
        check_conflict(path, describe(vol))
        path.mkdir(parents=True)
        try:
            filler(path)
        except Exception as exc:
            shutil.rmtree(path)
            if isinstance(exc, PincusError):
                raise
            raise StorageError(f'Failed creating {describe(vol)} in pool "{self.pool_name}": {exc}') from exc

    def create_volume_from_copy(self, vol: Volume, src: Volume, freeze: Freezer | None = None) -> None:
        """Copy the source directory."""
        self._call("create_volume_from_copy", vol.name)
        self._copy(src, vol, freeze)

    def copy_to(self, src: Volume, dest: Path, freeze: Freezer | None = None) -> None:
        """Copy the source directory to dest."""
        self._call("copy_to", src.name)
        _copy_tree(self.check_source(src), dest)

    def snapshot_to(self, vol: Volume, dest: Path, freeze: Freezer | None = None) -> None:
        """Copy the volume to dest."""
        self._call("snapshot_to", vol.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        _copy_tree(self.check_source(vol), dest)

    def create_snapshot(self, snap_vol: Volume, freeze: Freezer | None = None) -> None:
        """Copy the volume into its snapshot directory."""
        self._call("create_snapshot", snap_vol.name)
        self._copy(snap_vol.parent(), snap_vol, freeze)

    def stage_restore(self, vol: Volume, snap_vol: Volume) -> None:
        """Copy the snapshot into the work area (commit_restore swaps it in)."""
        self._call("stage_restore", vol.name)
        self.check_source(vol)
        snap = self.check_source(snap_vol)
        staged = self.layout.work(RESTORE, vol)
        self.delete_path(staged)
        staged.parent.mkdir(parents=True, exist_ok=True)
        _copy_tree(snap, staged)

    def volume_size(self, vol: Volume) -> int:
        """Sum of the file sizes in the volume."""
        self._call("volume_size", vol.name)
        path = self.layout.path(vol)
        return _tree_size(path) if path.is_dir() else -1

    def _copy(self, src: Volume, dst: Volume, freeze: Freezer | None) -> None:
        src_path, dst_path = self.layout.path(src), self.layout.path(dst)
        if not src_path.is_dir():
            raise not_found(src, self.pool_name)
        check_conflict(dst_path, describe(dst))
        dst_path.parent.mkdir(parents=True, exist_ok=True)
        if freeze is not None and self.info.running_copy_freeze:
            with freeze():
                self.freezes += 1
        _copy_tree(src_path, dst_path)


def _copy_tree(src: Path, dst: Path) -> None:
    """A full copy of src at the new path dst; nothing is left at dst if it fails."""
    dst.mkdir()
    try:
        copy_tree(src, dst)
    except BaseException:
        shutil.rmtree(dst, ignore_errors=True)
        raise


def _tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
