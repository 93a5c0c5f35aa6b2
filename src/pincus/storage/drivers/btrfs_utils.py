"""btrfs helpers: subvolumes through the btrfsutil binding (no fork) or the ``btrfs`` CLI, mounts, sizes.

Subvolume trees are handled whole: a snapshot, restore or delete of a volume covers the
subvolumes nested inside it, read-only ones included.
"""

from __future__ import annotations

import array
import fcntl
import importlib
import os
import re
import stat
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from pincus.storage.drivers._common import run
from pincus.storage.drivers._parallel import remove_tree

_binding: ModuleType | None
try:
    _binding = importlib.import_module("btrfsutil")
except ImportError:  # the binding needs libbtrfsutil-dev at build time; the CLI always works
    _binding = None
btrfsutil: Any = _binding

FIRST_FREE_OBJECTID = 256  # the inode number of every subvolume root
_IOC_FS_INFO = 0x8400941F  # _IOR(0x94, 31, struct btrfs_ioctl_fs_info_args[1024])
_IOC_INO_LOOKUP = 0xD0009412  # _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args[4096])


def use_binding(enabled: bool) -> None:
    """Switch between the btrfsutil binding and the CLI (tests run both)."""
    global btrfsutil
    btrfsutil = _binding if enabled else None


def is_subvolume(path: Path) -> bool:
    """True when path is the root of a btrfs subvolume (what libbtrfsutil checks, minus statfs)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_ino == FIRST_FREE_OBJECTID


def create_subvolume(path: Path) -> None:
    """Create an empty subvolume."""
    if btrfsutil is not None:
        btrfsutil.create_subvolume(path)
    else:
        run(["btrfs", "-q", "subvolume", "create", str(path)])


def _snapshot_one(src: Path, dst: Path, read_only: bool) -> None:
    if btrfsutil is not None:
        btrfsutil.create_snapshot(src, dst, read_only=read_only)
    else:
        run(["btrfs", "-q", "subvolume", "snapshot", *(["-r"] if read_only else []), str(src), str(dst)])


def _delete_one(path: Path) -> None:
    if btrfsutil is not None:
        btrfsutil.delete_subvolume(path)
    else:
        run(["btrfs", "-q", "subvolume", "delete", str(path)])


def get_read_only(path: Path) -> bool:
    """True when the subvolume is read-only."""
    if btrfsutil is not None:
        return bool(btrfsutil.get_subvolume_read_only(path))
    return run(["btrfs", "property", "get", "-ts", str(path), "ro"]).strip() == "ro=true"


def set_read_only(path: Path, read_only: bool) -> None:
    """Make the subvolume read-only or writable."""
    if btrfsutil is not None:
        btrfsutil.set_subvolume_read_only(path, read_only)
    else:
        run(["btrfs", "property", "set", "-ts", str(path), "ro", "true" if read_only else "false"])


def _cli_subvolume_path(path: Path) -> str:
    """path of a subvolume relative to the filesystem's top level, as `btrfs subvolume list` prints it."""
    first = run(["btrfs", "subvolume", "show", str(path)]).splitlines()[0].strip()
    return "" if first == "/" else first.strip("/")


def nested_subvolumes(path: Path) -> list[str]:
    """Subvolumes below the subvolume at path, relative to it, parents before children."""
    if btrfsutil is not None:
        return sorted(p for p, _ in btrfsutil.SubvolumeIterator(path))
    found: list[str] = []
    todo = [("", path)]
    while todo:
        rel, sub = todo.pop()
        prefix = _cli_subvolume_path(sub)
        for line in run(["btrfs", "subvolume", "list", "-o", str(sub)]).splitlines():
            full = line.split(" path ", 1)[1]
            child = full[len(prefix) + 1 :] if prefix else full
            child_rel = f"{rel}/{child}" if rel else child
            found.append(child_rel)
            todo.append((child_rel, path / child_rel))
    return sorted(found)


def snapshot_tree(src: Path, dst: Path, read_only: bool) -> None:
    """Snapshot the subvolume src and every subvolume nested in it to dst; O(1) per subvolume."""
    nested = nested_subvolumes(src)
    if not nested:
        _snapshot_one(src, dst, read_only)
        return
    _snapshot_one(src, dst, False)
    try:
        for rel in nested:  # parents first: each placeholder lives in an already writable snapshot
            os.rmdir(dst / rel)
            _snapshot_one(src / rel, dst / rel, False)
        if read_only:
            for rel in reversed(nested):
                set_read_only(dst / rel, True)
            set_read_only(dst, True)
    except BaseException:
        delete_tree(dst)
        raise


def delete_tree(path: Path) -> None:
    """Delete path: a subvolume with its nested (even read-only) subvolumes, or a plain directory
    whose entries may be subvolumes; missing is not an error."""
    if not os.path.lexists(path):
        return
    if not is_subvolume(path):
        if not path.is_dir() or path.is_symlink():
            os.unlink(path)
            return
        for entry in os.scandir(path):
            if is_subvolume(Path(entry.path)):
                delete_tree(Path(entry.path))
        remove_tree(path)
        return
    nested = nested_subvolumes(path)
    for sub in [path, *(path / rel for rel in nested)]:
        if get_read_only(sub):
            set_read_only(sub, False)
    for rel in reversed(nested):
        _delete_one(path / rel)
    _delete_one(path)


def subvolume_id(path: Path) -> int:
    """The subvolume's id (BTRFS_IOC_INO_LOOKUP; no fork)."""
    buf = array.array("B", bytes(4096))
    buf[8:16] = array.array("B", FIRST_FREE_OBJECTID.to_bytes(8, "little"))
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, _IOC_INO_LOOKUP, buf, True)
    finally:
        os.close(fd)
    return int.from_bytes(buf[0:8].tobytes(), "little")


def fs_uuid(path: Path) -> str:
    """The filesystem's fsid, as /sys/fs/btrfs/ names it."""
    buf = array.array("B", bytes(1024))
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, _IOC_FS_INFO, buf, True)
    finally:
        os.close(fd)
    return str(uuid.UUID(bytes=buf[16:32].tobytes()))


def exclusive_bytes(path: Path) -> int:
    """Exclusive bytes of a subvolume from sysfs (qgroups); -1 when quotas are off."""
    try:
        qgroup = Path("/sys/fs/btrfs") / fs_uuid(path) / "qgroups" / f"0_{subvolume_id(path)}" / "exclusive"
        return int(qgroup.read_text())
    except (OSError, ValueError):
        return -1


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mount_of(path: Path) -> tuple[str, str] | None:
    """(fstype, source) of the filesystem mounted exactly at path, or None."""
    target = os.path.realpath(path)
    found = None
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            sep = fields.index("-")
            if _unescape(fields[4]) == target:
                found = (fields[sep + 1], _unescape(fields[sep + 2]))
    return found


def fs_type(path: Path) -> str:
    """Type of the filesystem path is on (longest mount point prefix)."""
    target = os.path.realpath(path)
    best, kind = "", ""
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            mp = _unescape(fields[4])
            inside = target == mp or target.startswith(mp.rstrip("/") + "/")
            if inside and len(mp) >= len(best):
                best, kind = mp, fields[fields.index("-") + 1]
    return kind


def loop_backing_file(device: str) -> str:
    """The file behind a loop device (``/dev/loop3``), or "" when it is not one."""
    name = os.path.basename(device)
    try:
        return Path(f"/sys/block/{name}/loop/backing_file").read_text().strip()
    except OSError:
        return ""


def subvolume_uuids(path: Path) -> tuple[str, str]:
    """(uuid, received_uuid) of a subvolume as hex strings; received_uuid is "" when it was not received."""
    if btrfsutil is not None:
        info = btrfsutil.subvolume_info(path)
        uuid, received = info.uuid.hex(), info.received_uuid.hex()
    else:
        fields = dict(
            line.strip().split(":", 1) for line in run(["btrfs", "subvolume", "show", str(path)]).splitlines()
            if ":" in line
        )
        uuid = fields.get("UUID", "").strip().replace("-", "")
        received = fields.get("Received UUID", "").strip().replace("-", "")
    return uuid, "" if received in ("", "-") or not received.strip("0") else received
