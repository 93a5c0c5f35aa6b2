"""Parallel tree copy, delta sync and removal for the dir driver.

Regular files are copied with the FICLONE reflink ioctl where the filesystem supports it (tried
once per tree), else with copy_file_range. Mode, numeric ownership, atime/mtime (ns), xattrs
(except security.selinux), symlinks, device nodes, fifos, sockets, hard links inside the tree
and holes are kept, like ``rsync -aHAX --sparse --numeric-ids``. Directories get their metadata
after their contents. Work is spread over a thread pool: the GIL is released in every syscall.

``Reuse`` lets a copy hard-link a file from an immutable tree instead of copying it when the
file is provably unchanged: same path, type, size, mtime, mode and owner, and a ctime older than
the moment the immutable tree was known to equal the live one. ctime cannot be set by users, so
a file rewritten in place and touched back is still seen as changed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pincus.storage.drivers._parallel import IS_ROOT, WORKERS, WorkPool, remove_tree

FICLONE = 0x40049409
# The delta pass also re-copies entries changed this long before pass 1 started: cheap insurance
# against timestamp granularity. Trust comparisons need none: fs_now_ns reads the filesystem's own
# clock, so any later change gets a ctime >= the stamp, and trust requires a ctime < the stamp.
MARGIN_NS = 1_000_000_000
SKIP_XATTRS = frozenset({"security.selinux"})
_NOT_SUPPORTED = frozenset({errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS})
# Answers of FICLONE/copy_file_range after which a plain read/write copy of the same file is tried:
# if the descriptors really are bad, pread/pwrite fail too and report it.
_FALL_BACK = _NOT_SUPPORTED | {errno.EBADF}
_EUID, _EGID = os.geteuid(), os.getegid()

Entry = tuple[str, os.stat_result]
# A link costs little kernel time next to the Python around it, so more threads mostly add GIL
# convoys: 2 threads linked 20k files in 0.56 s, 4 in 0.67 s, 8 in 0.85 s on this 2-CPU machine.
LINK_WORKERS = 2
HEAVY_FILE = 1 << 20  # files at least this big are copied by other threads ...
HEAVY_BATCH = 32 << 20  # ... in batches of about this many bytes
# The delta pass is mostly a stat walk (Python per entry): one thread walked 20k entries in
# 0.15 s, four in 0.29 s. A frozen container waits for exactly this walk.
SYNC_WORKERS = 1


@dataclass(frozen=True)
class Reuse:
    """Where unchanged regular files may be hard-linked from instead of copied.

    Snapshot mode (``live`` is None): the copy source is the live tree; a live file whose ctime
    is below ``trusted_before_ns`` and whose metadata equals ``base``'s file at the same path is
    linked from ``base`` (an immutable snapshot). Restore mode (``live`` set): the copy source is
    an immutable tree; the live file is linked instead (its inode leaves the live tree, which is
    deleted afterwards) when it matches the source file and is known equal to ``base``, where
    ``base`` is the source itself or a tree that shares the source file's inode.
    """

    base: Path
    trusted_before_ns: int
    live: Path | None = None


@dataclass
class CopyStats:
    """What a copy did."""

    files: int = 0  # non-directory entries created
    dirs: int = 0
    linked: int = 0  # regular files hard-linked through Reuse
    copied_bytes: int = 0  # bytes of regular files actually copied or cloned
    disk_bytes: int = 0  # st_blocks * 512 of every regular file in the result
    new_disk_bytes: int = 0  # the part of disk_bytes written by this copy (not hard-linked)

    def add(self, other: CopyStats) -> None:
        """Accumulate another CopyStats into this one."""
        self.files += other.files
        self.dirs += other.dirs
        self.linked += other.linked
        self.copied_bytes += other.copied_bytes
        self.disk_bytes += other.disk_bytes
        self.new_disk_bytes += other.new_disk_bytes


def _current_umask() -> int:
    """The process umask, read without changing it (threads may be creating files); -1 if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return -1


class _Replaced(Exception):
    """A regular file became something else between stat and open."""


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _under(root: str, rel: str) -> str:
    return f"{root}/{rel}" if rel else root


def _ignore_perm(exc: OSError) -> bool:
    """Ownership and trusted xattrs cannot be set without root: skip them, like cp -a."""
    return not IS_ROOT and exc.errno in (errno.EPERM, errno.EACCES)


def _copy_xattrs(src: int | str, dst: int | str, follow: bool = True) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=follow)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENODATA) or _ignore_perm(exc):
            return
        raise
    for name in names:
        if name in SKIP_XATTRS:
            continue
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=follow), follow_symlinks=follow)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.ENODATA) and not _ignore_perm(exc):
                raise


def _chown(path: int | str, st: os.stat_result, follow: bool = True) -> None:
    if st.st_uid == _EUID and st.st_gid == _EGID:
        return
    try:
        os.chown(path, st.st_uid, st.st_gid, follow_symlinks=follow)
    except OSError as exc:
        if not _ignore_perm(exc):
            raise


def set_metadata(src: str, dst: str, st: os.stat_result) -> None:
    """Give dst (a directory, symlink or special file) src's owner, xattrs, mode and times."""
    link = stat.S_ISLNK(st.st_mode)
    _chown(dst, st, follow=False)
    _copy_xattrs(src, dst, follow=False)
    if not link:
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def fs_now_ns(directory: Path) -> int:
    """The filesystem's own current time (the ctime a change made now would get)."""
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except OSError:
        name = directory / f".pincus-stamp-{os.getpid()}-{threading.get_ident()}"
        fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        os.unlink(name)
    try:
        return os.fstat(fd).st_ctime_ns
    finally:
        os.close(fd)


def fs_tick_ns(directory: Path) -> int:
    """A filesystem time strictly later than the ctime of every change made before the call.

    Timestamps are coarse (one kernel tick), so a stamp alone may equal the ctime of a file
    written just before it; waiting for the next tick (a few ms at most) separates them.
    """
    first = fs_now_ns(directory)
    while (now := fs_now_ns(directory)) <= first:
        time.sleep(0.0005)
    return now


class _Copier:
    """One tree copy (or delta sync) from src into dst."""

    def __init__(self, src: Path, dst: Path, reuse: Reuse | None, exclude: Iterable[str], pool: WorkPool):
        self.src = os.fsdecode(src)
        self.dst = os.fsdecode(dst)
        self.reuse = reuse
        self.exclude = tuple(exclude)
        self.pool = pool
        self.dirs: list[tuple[str, os.stat_result]] = []
        self.stats = CopyStats()
        self._lock = threading.Lock()
        self._inodes: dict[tuple[int, int], str | None] = {}
        self._deferred: list[tuple[str, os.stat_result]] = []
        self._clone: bool | None = None
        self._cfr = True
        self.move_in: frozenset[str] = frozenset()  # subdirectories renamed in from move_from
        self._umask = _current_umask()
        self.move_from = ""

    def copy_dir(self, rel: str) -> None:
        """Copy the contents of one directory; subdirectories and batches become new tasks."""
        batch: list[Entry] = []
        heavy: list[Entry] = []
        heavy_bytes = 0
        try:
            it = os.scandir(_under(self.src, rel))
        except FileNotFoundError:
            return  # vanished while a running container was copied
        with it:
            for e in it:
                if not rel and e.name.startswith(self.exclude):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                child = _join(rel, e.name)
                if stat.S_ISDIR(st.st_mode):
                    if child in self.move_in:
                        os.rename(f"{self.move_from}/{child}", f"{self.dst}/{child}")
                        continue
                    self.make_dir(child, st)
                    self.pool.submit(self.copy_dir, child)
                elif st.st_size >= HEAVY_FILE:
                    heavy.append((child, st))
                    heavy_bytes += st.st_size
                    if heavy_bytes >= HEAVY_BATCH:
                        self.pool.submit(self.copy_entries, heavy)
                        heavy, heavy_bytes = [], 0
                else:
                    batch.append((child, st))
        # Small entries are created by this one thread: threads creating in one directory queue on
        # its lock (measured: 4 threads in one directory spent ~10 % of the CPU spinning on it).
        # Data-heavy files go to other threads in batches: their time is the copy, not the create.
        batch += heavy
        if batch:
            self.copy_entries(batch)

    def make_dir(self, rel: str, st: os.stat_result) -> None:
        """Create an empty directory whose metadata is set at the end."""
        os.mkdir(f"{self.dst}/{rel}", 0o700)
        self.dirs.append((rel, st))

    def copy_entries(self, batch: list[Entry]) -> None:
        """Create a batch of non-directory entries."""
        local = CopyStats()
        for rel, st in batch:
            self._entry(rel, st, local)
        with self._lock:
            self.stats.add(local)

    def finish(self) -> None:
        """Link deferred hard-link members, then set directory metadata (after all contents)."""
        local = CopyStats()
        for rel, st in self._deferred:
            target = self._inodes.get((st.st_dev, st.st_ino))
            if target:
                os.link(target, f"{self.dst}/{rel}", follow_symlinks=False)
                local.files += 1
            else:
                self._create(rel, st, local)
        self._deferred.clear()
        self.stats.add(local)
        self.stats.dirs += len(self.dirs)
        self.pool.map(self._dir_meta, self.dirs)
        self.dirs = []

    def _dir_meta(self, chunk: list[tuple[str, os.stat_result]]) -> None:
        for rel, st in chunk:
            set_metadata(_under(self.src, rel), _under(self.dst, rel), st)

    def _entry(self, rel: str, st: os.stat_result, local: CopyStats) -> None:
        if st.st_nlink < 2:
            self._create(rel, st, local)
            return
        key = (st.st_dev, st.st_ino)
        with self._lock:
            claimed = key in self._inodes
            target = self._inodes.get(key)
            if not claimed:
                self._inodes[key] = None
            elif target is None:
                self._deferred.append((rel, st))  # the claimer is still creating it
                return
        if target is not None:
            os.link(target, f"{self.dst}/{rel}", follow_symlinks=False)
            local.files += 1
            return
        done = self._create(rel, st, local)
        with self._lock:
            if done:
                self._inodes[key] = f"{self.dst}/{rel}"
            else:
                del self._inodes[key]

    def _create(self, rel: str, st: os.stat_result, local: CopyStats) -> bool:
        """Create dst/rel as a copy of src/rel; False when the source vanished."""
        s, d = f"{self.src}/{rel}", f"{self.dst}/{rel}"
        mode = st.st_mode
        try:
            if stat.S_ISREG(mode):
                if not self._try_reuse(rel, st, d, local):
                    self._copy_file(s, d, st, local)
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(s), d)
                set_metadata(s, d, st)
            else:
                try:
                    os.mknod(d, mode, st.st_rdev)
                except PermissionError:
                    if IS_ROOT:
                        raise
                    return False  # device nodes need root; skipped like rsync without root
                set_metadata(s, d, st)
        except FileNotFoundError:
            if os.path.lexists(s):
                raise
            return False
        except _Replaced:
            return False  # a running container changed it; the delta pass sees the new ctime
        local.files += 1
        return True

    def _try_reuse(self, rel: str, st: os.stat_result, d: str, local: CopyStats) -> bool:
        source = reusable(self.reuse, self.src, rel, st) if self.reuse else None
        if source is None:
            return False
        try:
            os.link(source, d, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in (errno.EMLINK, errno.ENOENT, errno.EXDEV):
                return False
            raise
        local.linked += 1
        local.disk_bytes += st.st_blocks * 512
        return True

    def _copy_file(self, s: str, d: str, st: os.stat_result, local: CopyStats) -> None:
        # O_NONBLOCK: a file a running container swapped for a fifo must not hang the copy.
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | (os.O_NOATIME if IS_ROOT else 0)
        sfd = os.open(s, flags)
        try:
            if not stat.S_ISREG(os.fstat(sfd).st_mode):
                raise _Replaced(s)
            mode = stat.S_IMODE(st.st_mode)
            # Created with its final mode when the umask keeps it intact (no special bits, which a
            # chown would clear): saves an fchmod for almost every file.
            direct = self._umask >= 0 and not mode & (0o7000 | self._umask)
            dfd = os.open(
                d,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                mode if direct else 0o600,
            )
            try:
                self._copy_data(sfd, dfd, st)
                _chown(dfd, st)
                _copy_xattrs(sfd, dfd)
                if not direct:
                    os.fchmod(dfd, mode)
                os.utime(dfd, ns=(st.st_atime_ns, st.st_mtime_ns))
                blocks = st.st_blocks * 512  # the copy keeps the holes, so the source's count
                local.disk_bytes += blocks
                local.new_disk_bytes += blocks
            except BaseException:
                os.close(dfd)
                dfd = -1
                os.unlink(d)
                raise
            finally:
                if dfd >= 0:
                    os.close(dfd)
        finally:
            os.close(sfd)
        local.copied_bytes += st.st_size

    def _copy_data(self, sfd: int, dfd: int, st: os.stat_result) -> None:
        size = st.st_size
        if size == 0:
            return
        if self._clone is not False:
            try:
                fcntl.ioctl(dfd, FICLONE, sfd)
                self._clone = True
                return
            except OSError as exc:
                if exc.errno not in _FALL_BACK:
                    raise
                if self._clone is None and exc.errno in _NOT_SUPPORTED:
                    self._clone = False
        if st.st_blocks * 512 < size:
            self._copy_sparse(sfd, dfd, size)
        else:
            self._copy_range(sfd, dfd, 0, size)

    def _copy_sparse(self, sfd: int, dfd: int, size: int) -> None:
        pos = 0
        while pos < size:
            try:
                data = os.lseek(sfd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break  # only a hole remains
                raise
            hole = os.lseek(sfd, data, os.SEEK_HOLE)
            self._copy_range(sfd, dfd, data, min(hole, size) - data)
            pos = hole
        os.ftruncate(dfd, size)

    def _copy_range(self, sfd: int, dfd: int, offset: int, count: int) -> None:
        end = offset + count
        if self._cfr:
            try:
                while offset < end:
                    n = os.copy_file_range(sfd, dfd, end - offset, offset, offset)
                    if n == 0:
                        return
                    offset += n
                return
            except OSError as exc:
                if exc.errno not in _FALL_BACK:
                    raise
                if exc.errno in _NOT_SUPPORTED:
                    self._cfr = False
        while offset < end:
            buf = os.pread(sfd, min(1 << 20, end - offset), offset)
            if not buf:
                return
            os.pwrite(dfd, buf, offset)
            offset += len(buf)


def reusable(r: Reuse, src_root: str, rel: str, st: os.stat_result) -> str | None:
    """The path of a file provably equal to the regular file src_root/rel (stat st), or None."""
    if r.live is None:
        if st.st_ctime_ns >= r.trusted_before_ns:
            return None
        source = f"{r.base}/{rel}"
        other = _lstat(source)
    else:
        source = f"{r.live}/{rel}"
        other = _lstat(source)
        if other is None or other.st_ctime_ns >= r.trusted_before_ns:
            return None
        if os.fsdecode(r.base) != src_root:
            known = _lstat(f"{r.base}/{rel}")
            if known is None or (known.st_dev, known.st_ino) != (st.st_dev, st.st_ino):
                return None
    if other is None or not _same_file(st, other):
        return None
    return source


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (
        a.st_mode == b.st_mode
        and a.st_size == b.st_size
        and a.st_mtime_ns == b.st_mtime_ns
        and a.st_uid == b.st_uid
        and a.st_gid == b.st_gid
    )


def copy_tree(
    src: Path,
    dst: Path,
    *,
    reuse: Reuse | None = None,
    exclude: Iterable[str] = (),
    move_in: tuple[Path, Iterable[str]] | None = None,
    workers: int | None = None,
) -> CopyStats:
    """Copy the contents of directory src into the existing empty directory dst, then src's metadata.

    ``exclude`` holds name prefixes of top-level entries of src that are not copied.
    ``move_in`` = (root, subdirectories): those subdirectories (relative paths) are renamed from
    root into dst instead of being copied; the caller has proven them equal to src's.
    ``workers`` defaults to WORKERS for a copy and LINK_WORKERS when files may be linked.
    """
    if workers is None:
        workers = WORKERS if reuse is None else LINK_WORKERS
    with WorkPool(workers) as pool:
        copier = _Copier(src, dst, reuse, exclude, pool)
        if move_in is not None:
            copier.move_from, copier.move_in = os.fsdecode(move_in[0]), frozenset(move_in[1])
        copier.dirs.append(("", os.lstat(src)))
        pool.submit(copier.copy_dir, "")
        pool.wait()
        copier.finish()
        return copier.stats


class _Syncer(_Copier):
    """The delta pass: make an earlier copy equal the source again."""

    def __init__(
        self, src: Path, dst: Path, since_ns: int, reuse: Reuse | None, exclude: Iterable[str], pool: WorkPool
    ):
        super().__init__(src, dst, reuse, exclude, pool)
        self.since_ns = since_ns

    def sync_dir(self, rel: str) -> None:
        """Re-copy the entries of one directory changed since since_ns; drop vanished ones."""
        s = _under(self.src, rel)
        try:
            fd = os.open(s, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return  # gone or replaced meanwhile: the parent's pass handles it
            raise
        try:
            self._sync_entries(rel, fd, os.fstat(fd))
        finally:
            os.close(fd)

    def _sync_entries(self, rel: str, fd: int, st_self: os.stat_result) -> None:
        # scandir on an fd: each entry's stat resolves one name, not the whole path (the walk is
        # what a frozen container waits for)
        with os.scandir(fd) as it:
            source = {e.name: e for e in it if rel or not e.name.startswith(self.exclude)}
        with os.scandir(_under(self.dst, rel)) as it:
            target = {e.name: e for e in it if rel or not e.name.startswith(self.exclude)}
        changed = False
        for name, de in target.items():
            if name not in source:
                _remove_entry(de)
                changed = True
        batch: list[Entry] = []
        for name, e in source.items():
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            child, old = _join(rel, name), target.get(name)
            if stat.S_ISDIR(st.st_mode):
                if old is not None and old.is_dir(follow_symlinks=False):
                    self.pool.submit(self.sync_dir, child)
                    continue
                if old is not None:
                    _remove_entry(old)
                self.make_dir(child, st)
                self.pool.submit(self.copy_dir, child)
            else:
                if old is not None:
                    if st.st_ctime_ns < self.since_ns and _same_kind(old, st):
                        continue
                    _remove_entry(old)
                batch.append((child, st))
            changed = True
        if batch:
            self.copy_entries(batch)
        if changed or st_self.st_ctime_ns >= self.since_ns:
            self.dirs.append((rel, st_self))


def _same_kind(de: os.DirEntry[str], st: os.stat_result) -> bool:
    if stat.S_ISREG(st.st_mode):
        return de.is_file(follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        return de.is_symlink()
    return stat.S_IFMT(de.stat(follow_symlinks=False).st_mode) == stat.S_IFMT(st.st_mode)


def _remove_entry(de: os.DirEntry[str]) -> None:
    if de.is_dir(follow_symlinks=False):
        remove_tree(Path(de.path), workers=1)
    else:
        os.unlink(de.path)


def sync_tree(
    src: Path,
    dst: Path,
    *,
    changed_since_ns: int,
    reuse: Reuse | None = None,
    exclude: Iterable[str] = (),
    workers: int = SYNC_WORKERS,
) -> CopyStats:
    """Bring dst (an earlier copy_tree of src) up to date: entries whose ctime is not below
    changed_since_ns are copied again, entries gone from src are removed. Existing files in dst
    are replaced, never written to, so dst files shared with other trees stay intact."""
    with WorkPool(workers) as pool:
        syncer = _Syncer(src, dst, changed_since_ns, reuse, exclude, pool)
        pool.submit(syncer.sync_dir, "")
        pool.wait()
        syncer.finish()
        return syncer.stats
