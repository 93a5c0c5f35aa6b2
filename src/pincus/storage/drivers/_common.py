"""What the dir and btrfs drivers share: the Incus on-disk layout, the work area, errors, recovery.

Work in progress lives in the pool's work area, ``<root>/.pincus-work/``, a directory beside the
Incus top-level directories that no user-given name can reach (instances, snapshots and volumes
live only under ``containers/``, ``containers-snapshots/`` and the like), so a user may name a
snapshot ``.tmp-x`` or ``.delete-x`` without ever meeting a work tree:

* ``tmp-<id>``: a volume or snapshot being built; deleted by recover().
* ``delete-<id>``: a tree renamed aside to be deleted; deleted by recover().
* ``restore-<type>-<vol>``: a restored tree being staged (the core journals the restore and
  decides, after a crash, whether it is committed or aborted); aborted by recover() when left.
* ``old-<type>-<vol>``: the tree a restore or a received volume replaces; put back by recover()
  when the volume is missing, else deleted.

Volumes whose copy is atomic (btrfs snapshots) are made under their final name directly; the
database row (CREATING) covers them.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pincus.base import failpoints
from pincus.base.errors import (
    Conflict,
    InsufficientSpace,
    InvalidArgument,
    NotFound,
    PincusError,
    StorageError,
)
from pincus.base.revert import Reverter
from pincus.storage.drivers.base import DriverInfo, Freezer, Volume

log = logging.getLogger(__name__)

WORK_DIR = ".pincus-work"
TMP = "tmp-"
RESTORE = "restore-"
OLD = "old-"
DELETE = "delete-"
# Work names of earlier pincus versions, kept beside the volumes: recover() leaves them alone
# (a user may have named a snapshot so) except an ``.old-<vol>`` whose volume is missing.
LEGACY_OLD = ".old-"
# Incus creates these in every pool; the mode of each follows Incus, except containers: Incus
# needs 0711 so an idmapped container's root can reach its rootfs (and then makes each volume 0100);
# every pincus container is privileged, so nothing unprivileged has to traverse it.
POOL_DIRS = {
    "containers": 0o700,
    "containers-snapshots": 0o700,
    "custom": 0o711,
    "custom-snapshots": 0o700,
    "images": 0o700,
    "virtual-machines": 0o711,
    "virtual-machines-snapshots": 0o700,
}
_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def describe(vol: Volume) -> str:
    """How messages name a volume: ``snapshot "s" of volume "c"`` or ``volume "c"``."""
    if vol.is_snapshot:
        return f'snapshot "{vol.snapshot_name}" of volume "{vol.parent_name}"'
    return f'volume "{vol.name}"'


def not_found(vol: Volume, pool: str) -> NotFound:
    """The NotFound error for a missing volume or snapshot."""
    what = describe(vol)
    return NotFound(f'{what[0].upper()}{what[1:]} not found in pool "{pool}"')


@contextmanager
def pool_failure(pool: str, source: str) -> Iterator[None]:
    """Translate an OSError while creating a pool: the user's ``source`` is at fault (400) if given."""
    try:
        yield
    except OSError as exc:
        where = f' "{exc.filename}"' if exc.filename else ""
        msg = f'Failed creating storage pool "{pool}": {exc.strerror or exc}{where}'
        raise (InvalidArgument(msg) if source else StorageError(msg)) from exc


@contextmanager
def failing(action: str, vol: Volume, pool: str, detail: str = "") -> Iterator[None]:
    """Translate foreign errors raised inside into base.errors, naming the volume.

    ``Failed creating snapshot "snap0" of volume "c1" in pool "default": No space left on device``
    """
    try:
        yield
    except PincusError:
        raise
    except OSError as exc:
        msg = f'Failed {action} {describe(vol)}{detail} in pool "{pool}": {exc.strerror or exc}'
        log.warning("%s", msg, exc_info=True)  # keep the traceback: the message alone hides the step
        if exc.errno in _SPACE_ERRNOS:
            raise InsufficientSpace(msg) from exc
        raise StorageError(msg) from exc
    except subprocess.CalledProcessError as exc:
        out = (
            (exc.stderr or b"").decode(errors="replace").strip()
            if isinstance(exc.stderr, bytes)
            else exc.stderr
        )
        raise StorageError(f'Failed {action} {describe(vol)}{detail} in pool "{pool}": {out or exc}') from exc


def run(argv: list[str]) -> str:
    """Run a command; return stdout; raise OSError (ENOSPC when it says so) on failure."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip() or f"{argv[0]} exited {proc.returncode}"
        low = msg.lower()
        code = errno.ENOSPC if "no space left" in low else errno.EIO
        raise OSError(code, f"{' '.join(argv[:3])}: {msg}")
    return proc.stdout


class Layout:
    """Paths inside a pool, exactly as Incus lays them out, plus the pool's work area."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def snapshots_dir(self, vol: Volume) -> Path:
        """``<type>-snapshots/<inst>``: the directory that holds vol's snapshots."""
        return self.root / f"{vol.type}-snapshots" / vol.parent_name

    def path(self, vol: Volume) -> Path:
        """Where vol is."""
        if vol.is_snapshot:
            return self.snapshots_dir(vol) / vol.snapshot_name
        return self.root / vol.type / vol.name

    @property
    def work_dir(self) -> Path:
        """The pool's work area (same filesystem as the volumes, so renames out of it are atomic)."""
        return self.root / WORK_DIR

    def work(self, prefix: str, vol: Volume | None = None) -> Path:
        """A work path: ``<prefix><type>-<vol>`` for a volume's restore or replacement (one at a
        time per volume, under the instance lock), else a unique ``<prefix><id>``."""
        if vol is None:
            return self.work_dir / f"{prefix}{uuid.uuid4().hex[:16]}"
        if vol.is_snapshot:
            raise InvalidArgument("work paths of a volume are for volumes, not snapshots")
        return self.work_dir / f"{prefix}{vol.type}-{vol.name}"

    def new_work(self, prefix: str = TMP) -> Path:
        """A fresh unique work path whose parent exists."""
        self.work_dir.mkdir(mode=0o700, exist_ok=True)
        return self.work(prefix)

    def make_dirs(self, rev: Reverter | None = None) -> None:
        """Create the pool's top-level directories; with rev, register the removal of each one made."""
        for name, mode in POOL_DIRS.items():
            d = self.root / name
            if rev is not None and not d.exists():
                d.mkdir(mode=mode)
                rev.add(functools.partial(os.rmdir, d))
            d.mkdir(mode=mode, exist_ok=True)
            os.chmod(d, mode)
        self.work_dir.mkdir(mode=0o700, exist_ok=True)

    def has_volumes(self) -> bool:
        """True when any top-level directory still holds a volume."""
        for name in POOL_DIRS:
            d = self.root / name
            if d.is_dir() and any(True for _ in os.scandir(d)):
                return True
        return False

    def remove_dirs(self) -> None:
        """Remove the (empty) top-level directories and the work area."""
        for name in (*POOL_DIRS, WORK_DIR):
            try:
                os.rmdir(self.root / name)
            except FileNotFoundError:
                pass


def recover_layout(layout: Layout, delete: Callable[[Path], None],
                   abort_restore: Callable[[Path], None]) -> list[str]:
    """Empty the work area after a crash (the core has settled its journaled changes first):
    a replaced tree whose volume is missing goes back, a staged restore is aborted, the rest is
    deleted. Returns one line per action."""
    done: list[str] = []
    work = layout.work_dir
    try:
        entries = sorted(os.listdir(work))
    except FileNotFoundError:
        entries = []
    for name in entries:
        path = work / name
        if name.startswith(OLD) and not name.endswith(".moves"):
            vtype, _, vol = name[len(OLD):].partition("-")
            live = layout.root / vtype / vol
            if vtype in POOL_DIRS and vol and not os.path.lexists(live):
                os.rename(path, live)
                done.append(f"Put back {live} from interrupted replacement {path}")
                continue
        elif name.startswith(RESTORE) and not name.endswith(".moves"):
            abort_restore(path)
            done.append(f"Aborted the unfinished restore staged in {path}")
            continue
        if os.path.lexists(path):
            delete(path)
            done.append(f"Deleted leftover {path}")
    done.extend(_legacy_leftovers(layout))
    return done


def _legacy_leftovers(layout: Layout) -> list[str]:
    """Work names an earlier pincus left beside the volumes: only an ``.old-<vol>`` whose volume is
    missing is put back; the rest stays (it may be a user's ``.tmp-x`` snapshot) and is logged."""
    done: list[str] = []
    for name in POOL_DIRS:
        top = layout.root / name
        try:
            hidden = sorted(e.name for e in os.scandir(top) if e.name.startswith("."))
        except FileNotFoundError:
            continue
        for entry in hidden:
            live = top / entry[len(LEGACY_OLD):]
            if entry.startswith(LEGACY_OLD) and not os.path.lexists(live) and not name.endswith("-snapshots"):
                os.rename(top / entry, live)
                done.append(f"Put back {live} from an interrupted restore of an earlier version")
            else:
                log.warning("Left alone %s: not a volume of this pool; delete it if it is a leftover", top / entry)
    return done


def ensure_absent(path: Path, delete: Callable[[Path], None]) -> None:
    """Delete a leftover work path if present."""
    if os.path.lexists(path):
        delete(path)


def check_conflict(path: Path, what: str) -> None:
    """Raise Conflict when path exists."""
    if os.path.lexists(path):
        raise Conflict(f"{what} already exists")


class LayoutDriver:
    """The parts of a driver that are only names and renames in the Incus layout."""

    info: DriverInfo

    def __init__(self, pool_name: str, pool_path: Path, config: dict[str, str]) -> None:
        self.pool_name = pool_name
        self.pool_path = pool_path
        self.config = config  # create_pool records what it did here, as Incus does

    @property
    def layout(self) -> Layout:
        """The pool's layout, rooted where the volumes live."""
        return Layout(self.root())

    def root(self) -> Path:
        """Where the pool's top-level directories are."""
        return self.pool_path

    def delete_path(self, path: Path) -> None:
        """Delete a volume, snapshot or work tree at path; missing is not an error."""
        raise NotImplementedError

    def set_aside(self, path: Path) -> Path:
        """Rename path into the work area under a unique name, to be deleted later with delete_path;
        recover() deletes what a crash leaves there."""
        aside = self.layout.new_work(DELETE)
        os.rename(path, aside)
        return aside

    def usage(self) -> tuple[int, int]:
        """Bytes (used, total) of the filesystem under the pool."""
        st = os.statvfs(self.root())
        return (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_blocks * st.f_frsize

    def volume_path(self, vol: Volume) -> Path:
        """Where a volume (or snapshot) is, whether or not it exists."""
        return self.layout.path(vol)

    def volume_exists(self, vol: Volume) -> bool:
        """True when the volume (or snapshot) exists on disk."""
        return self.layout.path(vol).is_dir()

    def list_snapshots(self, vol: Volume) -> list[str]:
        """Bare names of the snapshots on disk for vol."""
        try:
            return sorted(e.name for e in os.scandir(self.layout.snapshots_dir(vol)))
        except FileNotFoundError:
            return []

    def delete_volume(self, vol: Volume) -> None:
        """Delete a volume and all of its snapshots; missing is not an error."""
        if vol.is_snapshot:
            self.delete_snapshot(vol)
            return
        with failing("deleting", vol, self.pool_name):
            for path in (self.layout.path(vol), self.layout.snapshots_dir(vol)):
                self.delete_aside(path)

    def delete_snapshot(self, snap_vol: Volume) -> None:
        """Delete one snapshot; missing is not an error."""
        with failing("deleting", snap_vol, self.pool_name):
            self.delete_aside(self.layout.path(snap_vol))
            try:
                os.rmdir(self.layout.snapshots_dir(snap_vol))  # Incus drops the emptied directory
            except OSError:
                pass

    def rename_volume(self, vol: Volume, new_name: str) -> None:
        """Rename a volume and its snapshots directory.

        Resumable: a part already under the new name is left as it is, so the core's journal can
        finish a rename a crash interrupted by calling this again."""
        if vol.is_snapshot:
            raise InvalidArgument("rename_volume takes a volume, not a snapshot")
        new = Volume(vol.pool, vol.type, new_name, vol.config)
        old_path, new_path = self.layout.path(vol), self.layout.path(new)
        old_snaps, new_snaps = self.layout.snapshots_dir(vol), self.layout.snapshots_dir(new)
        if not old_path.is_dir() and not new_path.is_dir():
            raise not_found(vol, self.pool_name)
        if old_path.is_dir():
            check_conflict(new_path, describe(new))
        if old_snaps.is_dir():
            check_conflict(new_snaps, f'Snapshots directory of volume "{new_name}"')
        with failing("renaming", vol, self.pool_name, f' to "{new_name}"'), Reverter() as rev:
            if old_snaps.is_dir():
                os.rename(old_snaps, new_snaps)
                rev.add(lambda: os.rename(new_snaps, old_snaps))
            failpoints.hit("volume-rename-halfway")
            if old_path.is_dir():
                os.rename(old_path, new_path)
            rev.success()

    def rename_snapshot(self, snap_vol: Volume, new_snapshot_name: str) -> None:
        """Rename one snapshot (bare new name); done already (only the new name exists) is no error."""
        new = snap_vol.parent().snapshot(new_snapshot_name)
        old_path, new_path = self.layout.path(snap_vol), self.layout.path(new)
        if not old_path.is_dir():
            if new_path.is_dir():
                return
            raise not_found(snap_vol, self.pool_name)
        check_conflict(new_path, describe(new))
        with failing("renaming", snap_vol, self.pool_name, f' to "{new_snapshot_name}"'):
            os.rename(old_path, new_path)

    def recover(self) -> list[str]:
        """Empty the work area after a crash; returns what was done."""
        if not self.root().is_dir():
            return []
        return recover_layout(self.layout, self.delete_path, self._abort_staged)

    def _abort_staged(self, staged: Path) -> None:
        """Drop a staged restore left in the work area (the dir driver also puts moved trees back)."""
        self.delete_path(staged)

    def delete_aside(self, path: Path) -> None:
        """Rename path into the work area (it disappears at once from the layout), then delete it."""
        if not os.path.lexists(path):
            return
        aside = self.layout.new_work(DELETE)
        os.rename(path, aside)
        self.delete_path(aside)

    def check_source(self, vol: Volume) -> Path:
        """The path of an existing volume, or NotFound."""
        path = self.layout.path(vol)
        if not path.is_dir():
            raise not_found(vol, self.pool_name)
        return path

    # --- restore in three steps: stage, commit, abort (see base.StorageDriver) ---------------

    def restore_snapshot(self, vol: Volume, snap_vol: Volume, defer_delete: bool = False) -> list[Path]:
        """Stage, then commit; a failure before the commit leaves vol as it was."""
        self.stage_restore(vol, snap_vol)
        try:
            return self.commit_restore(vol, snap_vol, defer_delete)
        except BaseException:
            if os.path.lexists(self.layout.path(vol)) and os.path.lexists(self.layout.work(RESTORE, vol)):
                self.abort_restore(vol)  # the commit was undone: drop the staged tree
            raise

    def stage_restore(self, vol: Volume, snap_vol: Volume) -> None:
        """Build the restored tree in the work area; vol is unchanged."""
        raise NotImplementedError

    def copy_to(self, src: Volume, dest: Path, freeze: Freezer | None = None) -> None:
        """A writable copy of src at dest (a new path in the work area)."""
        raise NotImplementedError

    def snapshot_to(self, vol: Volume, dest: Path, freeze: Freezer | None = None) -> None:
        """An immutable copy of vol at dest (a path in the work area, e.g. for a transfer)."""
        raise NotImplementedError

    def commit_restore(self, vol: Volume, snap_vol: Volume, defer_delete: bool = False) -> list[Path]:
        """Swap the staged tree in (resumable after a crash: a swap already done is finished). A failure
        of the swap undoes it and raises; once swapped, nothing raises (a replaced tree that cannot be
        deleted is left to recover())."""
        staged, old, live = self.layout.work(RESTORE, vol), self.layout.work(OLD, vol), self.layout.path(vol)
        with failing("restoring", vol, self.pool_name, f' from snapshot "{snap_vol.snapshot_name}"'):
            if os.path.lexists(staged):
                with Reverter() as rev:
                    if os.path.lexists(live):
                        ensure_absent(old, self.delete_path)
                        os.rename(live, old)
                        rev.add(lambda: os.rename(old, live))
                    failpoints.hit("restore-halfway")
                    os.rename(staged, live)
                    rev.success()
        try:
            self._committed(vol, snap_vol)
            if not os.path.lexists(old):
                return []
            if defer_delete:
                return [self.set_aside(old)]
            self.delete_path(old)
        except OSError:
            log.exception("Leaving %s to recover()", old)  # the restore itself is complete
        return []

    def _committed(self, vol: Volume, snap_vol: Volume) -> None:
        """Driver bookkeeping once the restored tree is live (the dir driver drops its moves journal)."""

    def abort_restore(self, vol: Volume) -> bool:
        """Drop a staged restore of vol whose swap has not begun; True when vol is as before the
        restore, False when the swap is halfway (the live tree is away: only commit_restore may
        finish it). Idempotent."""
        if not os.path.lexists(self.layout.path(vol)):
            return False
        staged = self.layout.work(RESTORE, vol)
        if os.path.lexists(staged):
            self._abort_staged(staged)
        return True
