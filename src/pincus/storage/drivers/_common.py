"""What the dir and btrfs drivers share: the Incus on-disk layout, work names, errors, recovery.

Work in progress lives under hidden names next to its final place, so a crash leaves a name
recover() knows, never a half-made volume under a real name (instance and snapshot names
cannot start with a dot):

* ``<type>/.tmp-<vol>`` and ``<type>-snapshots/<inst>/.tmp-<snap>``: being built; deleted.
* ``<type>/.restore-<vol>``: a restored tree being built; deleted.
* ``<type>/.old-<vol>``: the volume a restore replaces; renamed back when the volume is missing,
  else deleted.
* ``.delete-<name>`` anywhere: renamed aside to be deleted; deleted.
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

from pincus.core.errors import (
    Conflict,
    InsufficientSpace,
    InvalidArgument,
    NotFound,
    PincusError,
    StorageError,
)
from pincus.core.revert import Reverter
from pincus.storage.drivers.base import DriverInfo, Volume

log = logging.getLogger(__name__)

TMP = ".tmp-"
RESTORE = ".restore-"
OLD = ".old-"
DELETE = ".delete-"
WORK_PREFIXES = (TMP, RESTORE, OLD, DELETE)
# Incus creates these in every pool; the mode of each follows Incus.
POOL_DIRS = {
    "containers": 0o711,
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
    """Translate foreign errors raised inside into core.errors, naming the volume.

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
    """Paths inside a pool, exactly as Incus lays them out."""

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

    def work_path(self, vol: Volume, prefix: str) -> Path:
        """The hidden name used while vol is being built, replaced or deleted."""
        final = self.path(vol)
        return final.with_name(prefix + final.name)

    def make_dirs(self, rev: Reverter | None = None) -> None:
        """Create the pool's top-level directories; with rev, register the removal of each one made."""
        for name, mode in POOL_DIRS.items():
            d = self.root / name
            if rev is not None and not d.exists():
                d.mkdir(mode=mode)
                rev.add(functools.partial(os.rmdir, d))
            d.mkdir(mode=mode, exist_ok=True)
            os.chmod(d, mode)

    def has_volumes(self) -> bool:
        """True when any top-level directory still holds a volume."""
        for name in POOL_DIRS:
            d = self.root / name
            if d.is_dir() and any(not e.name.startswith(".") for e in os.scandir(d)):
                return True
        return False

    def remove_dirs(self) -> None:
        """Remove the (empty) top-level directories."""
        for name in POOL_DIRS:
            try:
                os.rmdir(self.root / name)
            except FileNotFoundError:
                pass


def _hidden(d: Path) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(d) if e.name.startswith(WORK_PREFIXES))
    except FileNotFoundError:
        return []


def recover_layout(layout: Layout, delete: Callable[[Path], None]) -> list[str]:
    """Fix every leftover of an interrupted operation; return one line per action."""
    done: list[str] = []
    for name in POOL_DIRS:
        top = layout.root / name
        for p in _hidden(top):
            if p.name.startswith(OLD):
                live = top / p.name[len(OLD) :]
                if not os.path.lexists(live):
                    os.rename(p, live)
                    done.append(f"Put back {live} from interrupted restore {p}")
                    continue
            delete(p)
            done.append(f"Deleted leftover {p}")
        if not name.endswith("-snapshots") or not top.is_dir():
            continue
        for inst in sorted(e.path for e in os.scandir(top) if not e.name.startswith(".") and e.is_dir()):
            for p in _hidden(Path(inst)):
                delete(p)
                done.append(f"Deleted leftover {p}")
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
        """Rename path to a unique hidden name beside it, to be deleted later with delete_path;
        recover() deletes what a crash leaves there."""
        aside = path.with_name(f"{DELETE}{uuid.uuid4().hex[:12]}")
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
            return sorted(
                e.name for e in os.scandir(self.layout.snapshots_dir(vol)) if not e.name.startswith(".")
            )
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
        """Rename a volume and its snapshots directory."""
        if vol.is_snapshot:
            raise InvalidArgument("rename_volume takes a volume, not a snapshot")
        new = Volume(vol.pool, vol.type, new_name, vol.config)
        old_path, new_path = self.layout.path(vol), self.layout.path(new)
        if not old_path.is_dir():
            raise not_found(vol, self.pool_name)
        check_conflict(new_path, describe(new))
        old_snaps, new_snaps = self.layout.snapshots_dir(vol), self.layout.snapshots_dir(new)
        if old_snaps.is_dir():
            check_conflict(new_snaps, f'Snapshots directory of volume "{new_name}"')
        with failing("renaming", vol, self.pool_name, f' to "{new_name}"'), Reverter() as rev:
            if old_snaps.is_dir():
                os.rename(old_snaps, new_snaps)
                rev.add(lambda: os.rename(new_snaps, old_snaps))
            os.rename(old_path, new_path)
            rev.success()

    def rename_snapshot(self, snap_vol: Volume, new_snapshot_name: str) -> None:
        """Rename one snapshot (bare new name)."""
        new = snap_vol.parent().snapshot(new_snapshot_name)
        old_path, new_path = self.layout.path(snap_vol), self.layout.path(new)
        if not old_path.is_dir():
            raise not_found(snap_vol, self.pool_name)
        check_conflict(new_path, describe(new))
        with failing("renaming", snap_vol, self.pool_name, f' to "{new_snapshot_name}"'):
            os.rename(old_path, new_path)

    def recover(self) -> list[str]:
        """Clean leftovers of interrupted operations at daemon start; returns what was done."""
        if not self.root().is_dir():
            return []
        return recover_layout(self.layout, self.delete_path)

    def delete_aside(self, path: Path) -> None:
        """Rename path to a hidden name (it disappears at once), then delete it."""
        if not os.path.lexists(path):
            return
        aside = path.with_name(DELETE + path.name)
        self.delete_path(aside)
        os.rename(path, aside)
        self.delete_path(aside)

    def check_source(self, vol: Volume) -> Path:
        """The path of an existing volume, or NotFound."""
        path = self.layout.path(vol)
        if not path.is_dir():
            raise not_found(vol, self.pool_name)
        return path
