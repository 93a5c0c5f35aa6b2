"""The storage driver contract: a Volume in, bytes on disk out, exceptions from base.errors.

Drivers never import core services, api or db. The pool layer (storage/pool.py) turns
instances into Volumes, keeps the database and the locks, and calls these methods.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pincus.storage.drivers._common import Layout

# Volume types, named as Incus names the directories under storage-pools/<pool>/.
CONTAINER = "containers"
IMAGE = "images"

SNAPSHOT_DELIMITER = "/"


@dataclass(frozen=True)
class DriverInfo:
    """What a driver can do; callers branch on these flags, never on the driver's name."""

    name: str
    optimized_snapshots: bool  # snapshots are O(1) copy-on-write
    optimized_image_clone: bool  # a new instance is a CoW clone of the image volume
    running_copy_freeze: bool  # copying a running volume needs a (short) freeze for consistency
    optimized_transfer: bool  # has a native incremental send/receive stream


@dataclass(frozen=True)
class Volume:
    """A storage volume: ``name`` is ``inst`` or, for a snapshot, ``inst/snap``."""

    pool: str
    type: str
    name: str
    config: dict[str, str] = field(default_factory=dict)

    @property
    def is_snapshot(self) -> bool:
        """True for a snapshot volume (``inst/snap``)."""
        return SNAPSHOT_DELIMITER in self.name

    @property
    def parent_name(self) -> str:
        """The instance part of the name."""
        return self.name.split(SNAPSHOT_DELIMITER, 1)[0]

    @property
    def snapshot_name(self) -> str:
        """The bare snapshot name (empty for a non-snapshot volume)."""
        return self.name.split(SNAPSHOT_DELIMITER, 1)[1] if self.is_snapshot else ""

    def snapshot(self, snapshot_name: str) -> Volume:
        """The Volume of one snapshot of this volume."""
        return Volume(self.pool, self.type, f"{self.name}{SNAPSHOT_DELIMITER}{snapshot_name}", self.config)

    def parent(self) -> Volume:
        """The parent Volume of a snapshot volume."""
        return Volume(self.pool, self.type, self.parent_name, self.config)


# A context manager that keeps the volume's writers still (the runtime's freeze) while active.
Freezer = Callable[[], AbstractContextManager[None]]
# Fills a freshly created, empty volume directory.
Filler = Callable[[Path], None]


class StorageDriver(Protocol):
    """One backend (dir, btrfs). Paths follow Incus: <pool>/<type>/<vol>, <type>-snapshots/<vol>/<snap>."""

    info: DriverInfo

    @property
    def layout(self) -> Layout:
        """The pool's Incus directory layout (volumes, snapshots, the work area)."""

    def create_pool(self) -> None:
        """Create the pool's backing storage (directory, loop file + mkfs) and mount it."""

    def mount_pool(self) -> None:
        """Make the pool usable after a daemon start (mount the loop file); idempotent."""

    def unmount_pool(self) -> None:
        """Undo mount_pool; idempotent."""

    def delete_pool(self) -> None:
        """Unmount and remove the pool's backing storage; it must hold no volumes."""

    def usage(self) -> tuple[int, int]:
        """Bytes (used, total) of the pool."""

    def volume_path(self, vol: Volume) -> Path:
        """Where a volume (or snapshot) is, whether or not it exists."""

    def volume_exists(self, vol: Volume) -> bool:
        """True when the volume (or snapshot) exists on disk."""

    def create_volume(self, vol: Volume, filler: Filler) -> None:
        """Create an empty volume and fill it; on failure nothing is left."""

    def create_volume_from_copy(self, vol: Volume, src: Volume, freeze: Freezer | None = None) -> None:
        """Create vol as a writable copy of src (a volume, image or snapshot); atomic."""

    def delete_volume(self, vol: Volume) -> None:
        """Delete a volume and all of its snapshots; missing is not an error."""

    def rename_volume(self, vol: Volume, new_name: str) -> None:
        """Rename a volume and its snapshots directory; resumable (parts already renamed are kept)."""

    def create_snapshot(self, snap_vol: Volume, freeze: Freezer | None = None) -> None:
        """Create a read-only snapshot of snap_vol.parent(); atomic: complete or absent."""

    def delete_snapshot(self, snap_vol: Volume) -> None:
        """Delete one snapshot; missing is not an error."""

    def rename_snapshot(self, snap_vol: Volume, new_snapshot_name: str) -> None:
        """Rename one snapshot (bare new name); already renamed is no error."""

    def restore_snapshot(self, vol: Volume, snap_vol: Volume, defer_delete: bool = False) -> list[Path]:
        """stage_restore, then commit_restore; a failure before the swap leaves vol as it was."""

    def stage_restore(self, vol: Volume, snap_vol: Volume) -> None:
        """Build vol's restored tree from the snapshot in the pool's work area; vol itself is
        unchanged (the dir driver moves unchanged live subtrees into the staged tree, journaled so
        that abort_restore puts them back). The caller keeps vol still meanwhile."""

    def commit_restore(self, vol: Volume, snap_vol: Volume, defer_delete: bool = False) -> list[Path]:
        """Swap the staged tree in, in one step; resumable after a crash at any point (a swap that
        is already done is finished). The replaced tree is deleted before returning; with
        defer_delete it is set aside instead and returned, for the caller to delete_path after
        answering (deleting a btrfs subvolume whose inodes are cached, as after the instance ran,
        takes ~0.7 s per 100k files)."""

    def abort_restore(self, vol: Volume) -> bool:
        """Drop a staged restore of vol whose swap has not begun, putting back what it took: True
        when vol is as before; False when the swap is halfway (only commit_restore may finish it)."""

    def copy_to(self, src: Volume, dest: Path, freeze: Freezer | None = None) -> None:
        """A writable copy of src at dest (a new path in the work area)."""

    def snapshot_to(self, vol: Volume, dest: Path, freeze: Freezer | None = None) -> None:
        """An immutable copy of vol at dest (a path in the work area, e.g. for a transfer)."""

    def delete_path(self, path: Path) -> None:
        """Delete a volume, snapshot or work tree at path; missing is not an error."""

    def set_aside(self, path: Path) -> Path:
        """Rename path into the work area under a unique name, to be deleted later with delete_path."""

    def list_snapshots(self, vol: Volume) -> list[str]:
        """Bare names of the snapshots on disk for vol."""

    def volume_size(self, vol: Volume) -> int:
        """Bytes used by the volume or snapshot, or -1 when unknown."""

    def recover(self) -> list[str]:
        """Empty the pool's work area at daemon start, after the core has settled its journaled
        changes (a replaced volume whose live tree is missing goes back, a staged restore is
        aborted); returns what was done."""
