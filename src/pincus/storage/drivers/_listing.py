"""Tree listings made by find(1), and the restore plan computed from two of them.

A restore must know which live subtrees still equal the snapshot. Statting both trees entry by
entry from Python costs ~1 s per 100k-entry pair here (and reads both trees' inode tables when
they are not cached). find(1) lists a tree in C; an immutable snapshot's listing is written once,
when the snapshot is made (``MANIFEST``), so a restore lists only the live tree and compares the
two listings as sets.

A record is ``meta/path`` (plus the target for a symlink): ``meta`` holds type, mode, owner,
size (not for directories, whose size depends on their history, nor device nodes) and mtime. On the live side, an entry whose
ctime is not below the trust time gets `` n`` and a device node `` v``, so neither ever equals
a snapshot record by itself: a regular file with a new ctime is changed (as the Python planner
decides), other entries are then compared in Python (metadata, target, device numbers, xattrs).
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pincus.storage.drivers._fsmeta import SKIP_XATTRS
from pincus.storage.drivers._paths import lstat_or_none

MANIFEST = ".pincus-listing"
_HEADER = b"pincus-listing 2\n"
_FILE = "%y %m %U %G %s %T@"
_OTHER = "%y %m %U %G %T@"  # directories and device nodes: no size
_ENV = {"LC_ALL": "C", "PATH": "/usr/bin:/bin"}
_LINKS = "/dev/fd/LINKS"  # stands for the symlink output's fd until _run opens it
SPLIT_ABOVE = 20_000  # entries; one find(1) lists 100k in ~0.35 s here, two in ~0.25 s


class ListingError(Exception):
    """find(1) could not list a tree."""


def _chunks(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(8, "little") + p for p in parts)


def _unchunk(body: bytes, count: int) -> list[bytes]:
    parts, pos = [], 0
    for _ in range(count):
        n = int.from_bytes(body[pos : pos + 8], "little")
        if len(body) < pos + 8 + n:
            raise ListingError("Truncated tree listing")
        parts.append(body[pos + 8 : pos + 8 + n])
        pos += 8 + n
    return parts


@dataclass(frozen=True)
class Listing:
    """find(1)'s output for one tree: ``meta/path\\0`` per entry; symlinks apart, as
    ``meta/path\\0target\\0`` (a target may hold any byte but NUL). ``split`` names
    subdirectories holding about half the entries (``\\0``-separated), so that two find(1)
    processes list a tree like it in parallel."""

    entries: bytes
    links: bytes
    split: bytes = b""

    def pack(self) -> bytes:
        """The manifest file's content."""
        return _HEADER + zlib.compress(_chunks(self.entries, self.links, self.split), 1)

    @classmethod
    def unpack(cls, data: bytes) -> Listing:
        """Inverse of pack; ListingError when data is not a listing."""
        if not data.startswith(_HEADER):
            raise ListingError("Not a tree listing")
        try:
            body = zlib.decompress(data[len(_HEADER) :])
        except zlib.error as exc:
            raise ListingError(f"Damaged tree listing: {exc}") from exc
        return cls(*_unchunk(body, 3))

    def __add__(self, other: Listing) -> Listing:
        return Listing(self.entries + other.entries, self.links + other.links)

    def entry_set(self) -> set[bytes]:
        """Every non-symlink record."""
        found = set(self.entries.split(b"\0"))
        found.discard(b"")
        return found

    def link_set(self) -> set[tuple[bytes, bytes]]:
        """Every symlink record, with its target."""
        fields = self.links.split(b"\0")
        if len(fields) % 2 != 1 or fields[-1]:
            raise ListingError("Truncated symlink listing")
        fields.pop()
        it = iter(fields)
        return set(zip(it, it, strict=True))

    def half(self, most: int = 64, least: int = SPLIT_ABOVE) -> list[bytes]:
        """Up to ``most`` disjoint subdirectories holding about half of the entries; none for a
        tree of fewer than ``least`` entries (a second process would cost more than it saves)."""
        direct: dict[bytes, int] = {}
        for rec in self.entries.split(b"\0"):
            parent = rec.partition(b"/")[2].rpartition(b"/")[0]
            direct[parent] = direct.get(parent, 0) + 1
        total = sum(direct.values())
        if total < least:
            return []
        size: dict[bytes, int] = {}
        for d, n in direct.items():
            while d:
                size[d] = size.get(d, 0) + n
                d = d.rpartition(b"/")[0]
        need = total // 2
        taken: list[bytes] = []
        for d, n in sorted(size.items(), key=lambda kv: -kv[1]):
            if need < total // 50 or len(taken) >= most:
                break
            if n <= need and not any(_nested(d, t) for t in taken):
                taken.append(d)
                need -= n
        return sorted(taken)


def _nested(a: bytes, b: bytes) -> bool:
    return a == b or a.startswith(b + b"/") or b.startswith(a + b"/")


def xattrs(path: str) -> dict[str, bytes]:
    """An entry's own xattrs (not followed), without those copies skip."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
        return {n: os.getxattr(path, n, follow_symlinks=False) for n in names if n not in SKIP_XATTRS}
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENODATA):
            return {}
        raise


def same_meta(a: os.stat_result, b: os.stat_result) -> bool:
    """Same type and mode, owner and mtime."""
    return (a.st_mode, a.st_uid, a.st_gid, a.st_mtime_ns) == (b.st_mode, b.st_uid, b.st_gid, b.st_mtime_ns)


def verify_other(s: str, lv: str) -> bool:
    """A directory, symlink or special file equals another: metadata, target, device numbers, xattrs."""
    st, lst = lstat_or_none(s), lstat_or_none(lv)
    if st is None or lst is None or stat.S_ISREG(lst.st_mode):
        return False
    if not same_meta(st, lst) or st.st_rdev != lst.st_rdev:
        return False
    if stat.S_ISLNK(st.st_mode) and os.readlink(s) != os.readlink(lv):
        return False
    return xattrs(s) == xattrs(lv)


def _stamp(ns: int) -> str:
    return f"@{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


def _branches(trusted_before_ns: int | None, path: str) -> list[str]:
    """find(1)'s expression printing every entry (``path`` is %P or %p); with a trust time,
    live entries whose ctime is not older get " n" and device nodes " v" (see the module doc)."""
    live = trusted_before_ns is not None
    newer = ["-newerct", _stamp(trusted_before_ns - 1)] if trusted_before_ns is not None else []  # strict: ctime >= trust
    name, link = f"/{path}\\0", f"/{path}\\0%l\\0"
    branches = [
        ["-type", "l", *newer, "-fprintf", _LINKS, _FILE + " n" + link] if live else [],
        ["-type", "l", "-fprintf", _LINKS, _FILE + link],
        ["(", "-type", "b", "-o", "-type", "c", ")", "-printf", _OTHER + (" v" if live else "") + name],
        ["-type", "d", *newer, "-printf", _OTHER + " n" + name] if live else [],
        ["-type", "d", "-printf", _OTHER + name],
        [*newer, "-printf", _FILE + " n" + name] if live else [],
        ["-printf", _FILE + name],
    ]
    args: list[str] = []
    for branch in filter(None, branches):
        args += [*branch, "-o"]
    return args[:-1]


def _commands(
    root: Path, trusted_before_ns: int | None, split: dict[str, int]
) -> list[tuple[Path, list[str]]]:
    """find(1) argument lists (with _LINKS for the symlink output) listing root, run in root:
    one for the whole tree, or with ``split`` (subdirectory: inode), one for those subtrees and
    one for the rest (pruned by inode: find tests -path before anything else, per entry)."""
    if not split:
        return [(root, ["find", ".", "-mindepth", "1", *_branches(trusted_before_ns, "%P")])]
    prune: list[str] = []
    for ino in split.values():
        prune += ["-inum", str(ino), "-o"]
    rest = ["find", ".", "-mindepth", "1", "-type", "d", "(", *prune[:-1], ")", "-prune", "-o"]
    return [
        (root, ["find", *split, *_branches(trusted_before_ns, "%p")]),
        (root, [*rest, *_branches(trusted_before_ns, "%P")]),
    ]


def _run(cwd: Path, args: list[str], out: list[Listing | BaseException], key: int) -> None:
    try:
        with tempfile.TemporaryFile() as links, tempfile.TemporaryFile() as entries:
            args = [f"/dev/fd/{links.fileno()}" if a == _LINKS else a for a in args]
            done = subprocess.run(
                args, cwd=cwd, stdout=entries, stderr=subprocess.PIPE, env=_ENV,
                pass_fds=(links.fileno(),), check=False,
            )  # fmt: skip
            if done.returncode != 0:
                error = done.stderr.decode(errors="replace").strip() or f"find exited {done.returncode}"
                out[key] = ListingError(f"Failed listing {cwd}: {error}")
                return
            entries.seek(0)
            links.seek(0)
            out[key] = Listing(entries.read(), links.read())
    except OSError as exc:
        out[key] = ListingError(f"Failed listing {cwd}: {exc}")


def list_trees(*trees: tuple[Path, int | None, dict[str, int]]) -> list[Listing]:
    """List (root, trust time or None, split) trees, every find(1) at once; one Listing per tree."""
    commands = [(i, c) for i, tree in enumerate(trees) for c in _commands(*tree)]
    out: list[Listing | BaseException] = [ListingError("not run")] * len(commands)
    threads = [threading.Thread(target=_run, args=(*c, out, k)) for k, (_, c) in enumerate(commands)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = [Listing(b"", b"") for _ in trees]
    for (i, _), value in zip(commands, out, strict=True):
        if isinstance(value, BaseException):
            raise value
        results[i] = results[i] + value
    return results


def write_manifest(tree: Path) -> None:
    """Record the listing of an immutable tree inside it (copies skip top-level ``.pincus-`` names)."""
    (listing,) = list_trees((tree, None, {}))
    listing = Listing(listing.entries, listing.links, b"\0".join(listing.half()))
    tmp = tree / f"{MANIFEST}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(listing.pack())
        os.rename(tmp, tree / MANIFEST)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def read_manifest(tree: Path) -> Listing | None:
    """The listing recorded in tree; None when it has none (older snapshots) or it is damaged."""
    try:
        with open(tree / MANIFEST, "rb") as fh:
            return Listing.unpack(fh.read())
    except (OSError, ListingError):
        return None


def _excluded(path: bytes, exclude: tuple[bytes, ...]) -> bool:
    return bool(exclude) and path.partition(b"/")[0].startswith(exclude)


# per differing path: [snapshot meta, live meta, snapshot link target, live link target]
_Sides = dict[bytes, list[bytes | None]]


def _sides(snap: Listing, a: set[bytes], live: Listing) -> _Sides:
    sides: _Sides = {}
    b = live.entry_set()
    for side, records in ((0, a - b), (1, b - a)):
        for rec in records:
            meta, _, path = rec.partition(b"/")
            sides.setdefault(path, [None, None, None, None])[side] = meta
    la, lb = snap.link_set(), live.link_set()
    for side, links in ((0, la - lb), (1, lb - la)):
        for rec, target in links:
            meta, _, path = rec.partition(b"/")
            got = sides.setdefault(path, [None, None, None, None])
            got[side], got[2 + side] = meta, target
    return sides


def plan_from_listings(
    snap_root: Path, live_root: Path, snap: Listing, live: Listing, exclude: Iterable[str] = ()
) -> list[str]:
    """The topmost live subdirectories whose whole subtree equals the snapshot's (see module doc)."""
    prefixes = tuple(os.fsencode(e) for e in exclude)
    snap_set = snap.entry_set()
    dirty: set[bytes] = set()
    for path, (s, lv, s_target, l_target) in _sides(snap, snap_set, live).items():
        if _excluded(path, prefixes):
            continue
        if s and lv and _flag_only(s, lv) and s_target == l_target and _verified(snap_root, live_root, path):
            continue
        dirty.add(path)
        parent = path.rpartition(b"/")[0]
        while parent and parent not in dirty:
            dirty.add(parent)
            parent = parent.rpartition(b"/")[0]
    moves = []
    for rec in snap_set:
        if rec[:1] != b"d":
            continue
        path = rec.partition(b"/")[2]
        if path in dirty or _excluded(path, prefixes):
            continue
        parent = path.rpartition(b"/")[0]
        if not parent or parent in dirty:
            moves.append(os.fsdecode(path))
    return sorted(moves)


def _flag_only(s: bytes, lv: bytes) -> bool:
    """The live record differs only by its flag, and is not a regular file (those are changed)."""
    return lv[:1] != b"f" and lv[-2:] in (b" n", b" v") and lv[:-2] == s


def _verified(snap: Path, live: Path, path: bytes) -> bool:
    rel = os.fsdecode(path)
    return verify_other(f"{os.fsdecode(snap)}/{rel}", f"{os.fsdecode(live)}/{rel}")


def _live_split(live: Path, recorded: Listing) -> dict[str, int]:
    """The recorded split subdirectories that are directories in the live tree too, with their
    inodes. A path through a symlink is dropped: the container owns the tree, and find(1) resolves
    the components of its starting points."""
    split: dict[str, int] = {}
    real = os.path.realpath(live)
    for rel in recorded.split.split(b"\0") if recorded.split else []:
        name = os.fsdecode(rel)
        path = os.path.join(real, name)
        if rel.startswith((b"-", b"(", b")", b"!", b",")) or os.path.realpath(path) != path:
            continue
        st = lstat_or_none(path)
        if st is not None and stat.S_ISDIR(st.st_mode):
            split[name] = st.st_ino
    return split


def plan(snap: Path, live: Path, trusted_before_ns: int, exclude: Iterable[str] = ()) -> list[str]:
    """List the live tree (and the snapshot, when it has no manifest) and plan the moves."""
    recorded = read_manifest(snap)
    if recorded is not None:
        (listing,) = list_trees((live, trusted_before_ns, _live_split(live, recorded)))
        return plan_from_listings(snap, live, recorded, listing, exclude)
    listing, recorded = list_trees((live, trusted_before_ns, {}), (snap, None, {}))
    return plan_from_listings(snap, live, recorded, listing, exclude)
