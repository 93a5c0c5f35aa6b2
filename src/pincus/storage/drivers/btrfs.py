"""The btrfs driver: volumes are subvolumes, snapshots are read-only subvolume snapshots (O(1)).

The pool is a sparse loop file ``$PINCUS_DIR/disks/<pool>.img`` (the default), a block device,
or a directory on an existing btrfs filesystem, as in Incus. ``mount -o loop`` gives the loop
device autoclear, so unmounting releases it; no loop device is ever detached by hand.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
from pathlib import Path

from pincus.base.errors import (
    Conflict,
    InsufficientSpace,
    InvalidArgument,
    NotFound,
    NotSupported,
    StorageError,
)
from pincus.base.revert import Reverter
from pincus.base.sizes import format_size, parse_size
from pincus.storage.drivers import btrfs_utils as bu
from pincus.storage.drivers._common import (
    OLD,
    RESTORE,
    LayoutDriver,
    check_conflict,
    describe,
    ensure_absent,
    failing,
    pool_failure,
    run,
)
from pincus.storage.drivers.base import IMAGE, DriverInfo, Filler, Freezer, Volume

DEFAULT_SIZE = 5 * 2**30
MIN_SIZE = 256 * 2**20
MOUNT_OPTIONS = "discard=async,user_subvol_rm_allowed"


def _probe(path: str) -> str:
    """The filesystem type blkid finds on a device or image file ("" for none: blkid then exits 2)."""
    probe = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", path], capture_output=True, text=True, check=False)
    return probe.stdout.strip()


class BtrfsDriver(LayoutDriver):
    """Storage on btrfs subvolumes (Incus driver ``btrfs``)."""

    info = DriverInfo(
        name="btrfs",
        optimized_snapshots=True,
        optimized_image_clone=True,
        running_copy_freeze=False,
        optimized_transfer=True,
    )

    def root(self) -> Path:
        """The ``source`` directory for a directory pool, else the mount point."""
        source = self.config.get("source", "")
        return Path(source) if source and self._source_kind() == "dir" else self.pool_path

    def delete_path(self, path: Path) -> None:
        """Delete subvolumes (nested and read-only ones too) or plain trees; missing is fine."""
        bu.delete_tree(path)

    def _source_kind(self) -> str:
        """ "" (nothing yet), "file" (loop file), "block" or "dir"; "missing" when it is gone."""
        source = self.config.get("source", "")
        if not source:
            return ""
        try:
            mode = os.stat(source).st_mode
        except FileNotFoundError:
            return "missing"
        if stat.S_ISBLK(mode):
            return "block"
        return "dir" if stat.S_ISDIR(mode) else "file"

    # --- pool ----------------------------------------------------------------------------

    def create_pool(self) -> None:
        """Create the pool: a new loop file, a formatted block device or an existing btrfs directory."""
        kind = self._source_kind()
        if kind == "missing":
            raise NotFound(f'Source "{self.config["source"]}" does not exist')
        # Every step registers its undo: a source that can't be mounted (a file that is no btrfs
        # image...) leaves no mount point, loop file or symlink behind.
        with Reverter() as rev, pool_failure(self.pool_name, self.config.get("source", "")):
            if kind == "dir":
                self._use_directory(rev)
                rev.success()
                return
            if shutil.which("mkfs.btrfs") is None:
                raise NotSupported("btrfs-progs (mkfs.btrfs) is not installed")
            if kind == "":
                self._create_loop_file(rev)
            elif kind == "block":
                self._format_block()
            elif _probe(self.config["source"]) != "btrfs":
                raise InvalidArgument(f'Source "{self.config["source"]}" is not a btrfs filesystem image')
            if not self.pool_path.exists():
                self.pool_path.mkdir(parents=True)
                rev.add(self.pool_path.rmdir)
            self.mount_pool()
            rev.add(self.unmount_pool)
            self.layout.make_dirs(rev)
            rev.success()

    def _create_loop_file(self, rev: Reverter) -> None:
        disks = self.pool_path.parent.parent / "disks"
        disks.mkdir(mode=0o700, parents=True, exist_ok=True)
        img = disks / f"{self.pool_name}.img"
        size = parse_size(self.config["size"]) if self.config.get("size") else _default_size(disks)
        if size < MIN_SIZE:
            raise InvalidArgument(f"Size {format_size(size)} is below the btrfs minimum of 256MiB")
        try:
            fd = os.open(img, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise Conflict(f'Disk image "{img}" already exists') from None
        rev.add(img.unlink)
        try:
            os.ftruncate(fd, size)  # sparse
        except OSError as exc:
            raise InvalidArgument(f"Size {format_size(size)} can't be allocated: {exc.strerror}") from None
        finally:
            os.close(fd)
        _pool_run(["mkfs.btrfs", "-q", "-L", self.pool_name, str(img)], f'formatting "{img}"', self.pool_name)
        before = dict(self.config)
        self.config["source"] = str(img)
        self.config["size"] = format_size(size)
        rev.add(lambda: _replace(self.config, before))

    def _format_block(self) -> None:
        """Format a block device unless it already holds btrfs (mkfs refuses other filesystems)."""
        dev = self.config["source"]
        if _probe(dev) != "btrfs":
            _pool_run(["mkfs.btrfs", "-q", "-L", self.pool_name, dev], f'formatting "{dev}"', self.pool_name)

    def _use_directory(self, rev: Reverter) -> None:
        source = Path(self.config["source"])
        if bu.fs_type(source) != "btrfs":
            raise InvalidArgument(f'Source "{source}" is not on a btrfs filesystem')
        self.pool_path.parent.mkdir(parents=True, exist_ok=True)
        if source != self.pool_path and not os.path.lexists(self.pool_path):
            os.symlink(source, self.pool_path)  # keeps the Incus path working for tools
            rev.add(self.pool_path.unlink)
        self.layout.make_dirs(rev)

    def _mounted_here(self) -> bool:
        """True when our loop file or device is what is mounted at the pool path."""
        mount = bu.mount_of(self.pool_path)
        if mount is None:
            return False
        fstype, device = mount
        source = os.path.realpath(self.config.get("source", ""))
        if fstype != "btrfs":
            return False
        return os.path.realpath(device) == source or bu.loop_backing_file(device) == source

    def mount_pool(self) -> None:
        """Mount the loop file or device at the pool path; idempotent."""
        kind = self._source_kind()
        if kind == "dir":
            if not self.root().is_dir():
                raise NotFound(f'Storage pool directory "{self.root()}" is missing')
            return
        if kind in ("", "missing"):
            raise NotFound(f'Source of storage pool "{self.pool_name}" is missing')
        if self._mounted_here():
            return
        if bu.mount_of(self.pool_path) is not None:
            raise Conflict(f'Something else is mounted at "{self.pool_path}"')
        self.pool_path.mkdir(parents=True, exist_ok=True)
        own = self.config.get("btrfs.mount_options") or MOUNT_OPTIONS  # e.g. noatime: reads stay out of refreshes
        options = f"loop,{own}" if kind == "file" else own
        _pool_run(
            ["mount", "-t", "btrfs", "-o", options, self.config["source"], str(self.pool_path)],
            "mounting",
            self.pool_name,
        )

    def unmount_pool(self) -> None:
        """Unmount our mount at the pool path (the loop device goes with it); idempotent."""
        if self._source_kind() in ("file", "block") and self._mounted_here():
            _pool_run(["umount", str(self.pool_path)], "unmounting", self.pool_name)

    def delete_pool(self) -> None:
        """Unmount and remove the pool's loop file; the pool must hold no volumes."""
        kind = self._source_kind()
        if kind in ("file", "block"):
            self.mount_pool()
        if self.root().is_dir():
            if self.layout.has_volumes():
                raise Conflict(f'Storage pool "{self.pool_name}" still holds volumes')
            self.recover()
            self.layout.remove_dirs()
        self.unmount_pool()
        source = Path(self.config.get("source", ""))
        if kind == "file" and source.parent == self.pool_path.parent.parent / "disks":
            source.unlink(missing_ok=True)  # only the image this driver made, as Incus does
        if self.pool_path.is_symlink():
            self.pool_path.unlink()
        elif self.pool_path.is_dir():
            os.rmdir(self.pool_path)

    # --- volumes -------------------------------------------------------------------------

    def create_volume(self, vol: Volume, filler: Filler) -> None:
        """Create an empty subvolume and fill it in the work area; images and snapshots appear
        read-only under their final name in one step; on failure nothing is left."""
        final = self.layout.path(vol)
        check_conflict(final, describe(vol))
        with failing("creating", vol, self.pool_name), Reverter() as rev:
            final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.layout.new_work()
            bu.create_subvolume(tmp)
            rev.add(lambda: bu.delete_tree(tmp))
            os.chmod(tmp, 0o711)
            filler(tmp)
            if vol.type == IMAGE or vol.is_snapshot:
                # A read-only subvolume cannot move to another directory: snapshot it into place.
                bu.snapshot_tree(tmp, final, read_only=True)
                bu.delete_tree(tmp)
            else:
                os.rename(tmp, final)
            rev.success()

    def create_volume_from_copy(self, vol: Volume, src: Volume, freeze: Freezer | None = None) -> None:
        """Create vol as a snapshot of src (read-only when vol is a snapshot) under its final name;
        O(1), and atomic unless src holds nested subvolumes (the database row covers that case)."""
        src_path = self.check_source(src)
        final = self.layout.path(vol)
        check_conflict(final, describe(vol))
        with failing("copying", vol, self.pool_name, f" from {describe(src)}"):
            final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            bu.snapshot_tree(src_path, final, read_only=vol.is_snapshot)

    def copy_to(self, src: Volume, dest: Path, freeze: Freezer | None = None) -> None:
        """A writable snapshot of src at dest (a new path in the work area); O(1)."""
        src_path = self.check_source(src)
        with failing("copying", src, self.pool_name, f' to "{dest.name}"'):
            bu.snapshot_tree(src_path, dest, read_only=False)

    # --- snapshots -----------------------------------------------------------------------

    def create_snapshot(self, snap_vol: Volume, freeze: Freezer | None = None) -> None:
        """Create a read-only snapshot of snap_vol.parent() under its final name; O(1), no freeze."""
        final = self.layout.path(snap_vol)
        check_conflict(final, describe(snap_vol))
        with failing("creating", snap_vol, self.pool_name):
            final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.snapshot_to(snap_vol.parent(), final, freeze)

    def snapshot_to(self, vol: Volume, dest: Path, freeze: Freezer | None = None) -> None:
        """A read-only snapshot of vol at dest (a snapshot's place, or a path in the work area)."""
        src = self.check_source(vol)
        self.layout.work_dir.mkdir(mode=0o700, exist_ok=True)
        bu.snapshot_tree(src, dest, read_only=True)

    def delete_aside(self, path: Path) -> None:
        """Delete a read-only subvolume (a snapshot, an image) in place: it cannot move to another
        directory, and its deletion is immediate in the namespace; anything else goes aside first."""
        if bu.is_subvolume(path) and bu.get_read_only(path):
            bu.delete_tree(path)
            return
        super().delete_aside(path)

    def stage_restore(self, vol: Volume, snap_vol: Volume) -> None:
        """A writable snapshot of the snapshot in the work area; O(1)."""
        self.check_source(vol)
        snap = self.check_source(snap_vol)
        staged, old = self.layout.work(RESTORE, vol), self.layout.work(OLD, vol)
        with failing("restoring", vol, self.pool_name, f' from snapshot "{snap_vol.snapshot_name}"'):
            ensure_absent(staged, bu.delete_tree)
            ensure_absent(old, bu.delete_tree)
            self.layout.work_dir.mkdir(mode=0o700, exist_ok=True)
            bu.snapshot_tree(snap, staged, read_only=False)

    def volume_size(self, vol: Volume) -> int:
        """Exclusive bytes from the qgroup in sysfs (no fork); -1 when quotas are off."""
        path = self.layout.path(vol)
        return bu.exclusive_bytes(path) if bu.is_subvolume(path) else -1


def _default_size(disks: Path) -> int:
    """5GiB, or half the free space when the disk is small (the file is sparse either way)."""
    st = os.statvfs(disks)
    free = st.f_bavail * st.f_frsize
    if free >= 2 * DEFAULT_SIZE:
        return DEFAULT_SIZE
    size = (free // 2) // 2**20 * 2**20
    if size < MIN_SIZE:
        raise InsufficientSpace(f'Not enough free space in "{disks}" for a storage pool')
    return size


def _pool_run(argv: list[str], action: str, pool: str) -> None:
    """Run a pool-level command; failures name the pool."""
    try:
        run(argv)
    except OSError as exc:
        msg = f'Failed {action} for storage pool "{pool}": {exc.strerror or exc}'
        raise (InsufficientSpace if exc.errno == errno.ENOSPC else StorageError)(msg) from exc


def _replace(config: dict[str, str], old: dict[str, str]) -> None:
    config.clear()
    config.update(old)
