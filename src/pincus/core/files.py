"""File access inside an instance's rootfs, resolved as the container sees it (core.inroot).

Everything runs in the daemon's own threads: no helper process, so nothing inherits the daemon's
sockets or another request's descriptors. Only regular files, directories and symlinks are served:
a fifo would block a thread forever, /dev/zero would stream without end, and a block device node
the container made must never be read or written by the host. A pushed file is written beside the
target under a temporary name and renamed over it, so a crash leaves the old content or the new.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pincus.base import failpoints
from pincus.base.errors import InvalidArgument, NotFound
from pincus.core.inroot import Entry, Root, check_path, kind_of, refuse, reopen, served, split, translate

CHUNK = 1 << 16
TEMP_PREFIX = ".pincus-push-"
_RUN = secrets.token_hex(4)  # this daemon run's temporary files; another run's are stale leftovers
MAX_LINK_TARGET = 4096  # PATH_MAX: a longer symlink target cannot be created anyway
NOT_GIVEN = -1  # X-Incus-uid/gid/mode absent or -1: keep what is there, or the default for a new path


@dataclass
class FileInfo:
    """What the files API reports about a path."""

    kind: str  # file, directory, symlink
    uid: int
    gid: int
    mode: int
    entries: list[str] | None = None
    target: str = ""


class FileReader:
    """A regular file's content, read a chunk at a time, never past the size it had when opened.

    A container that keeps appending to the file cannot make a pull stream without end.
    """

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._left = size
        self.size = size
        self._lock = threading.Lock()

    def read(self) -> bytes:
        """The next chunk, b"" at the end (or once closed)."""
        with self._lock:
            if self._fd < 0 or self._left <= 0:
                return b""
            data = os.read(self._fd, min(CHUNK, self._left))
            self._left -= len(data)
            return data

    def close(self) -> None:
        """Close the file (waits for a read in progress in another thread)."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __iter__(self) -> Iterator[bytes]:
        try:
            while data := self.read():
                yield data
        finally:
            self.close()


def _info(st: os.stat_result, kind: str) -> FileInfo:
    return FileInfo(kind, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))


def pull(rootfs: str, path: str) -> tuple[FileInfo, FileReader | None]:
    """Stat a path; a file comes with a reader of its content, a directory with its entries."""
    check_path(path)
    try:
        with Root(rootfs) as root:
            fd = root.open(path, os.O_PATH | os.O_NOFOLLOW)
            try:
                return _pull_fd(fd, path)
            finally:
                os.close(fd)
    except OSError as exc:
        raise translate(exc, path) from None


def _pull_fd(fd: int, path: str) -> tuple[FileInfo, FileReader | None]:
    st = os.fstat(fd)
    if not served(st.st_mode):
        raise refuse(path, st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        info = _info(st, "symlink")
        info.target = os.readlink("", dir_fd=fd)  # readlinkat(2) of the O_PATH fd of the link itself
        return info, None
    if stat.S_ISDIR(st.st_mode):
        info = _info(st, "directory")
        dfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        try:
            info.entries = sorted(os.listdir(dfd))
        finally:
            os.close(dfd)
        return info, None
    return _info(st, "file"), FileReader(reopen(fd, os.O_RDONLY, st), st.st_size)


def delete(rootfs: str, path: str) -> None:
    """Delete a file, symlink, empty directory or any other node (as Incus's SFTP remove does)."""
    check_path(path)
    try:
        with Root(rootfs) as root:
            found = root.entry(path)
            try:
                if found.st is None:
                    raise NotFound(f'Path "{path}" not found in the instance')
                if stat.S_ISDIR(found.st.st_mode):
                    os.rmdir(found.name, dir_fd=found.parent)
                else:
                    os.unlink(found.name, dir_fd=found.parent)
            finally:
                os.close(found.parent)
    except OSError as exc:
        raise translate(exc, path, "deleting") from None


def push(rootfs: str, path: str, kind: str, uid: int, gid: int, mode: int, append: bool,
         content: Iterable[bytes]) -> None:
    """Create or replace a file, directory or symlink (content is the data or the link target)."""
    if kind == "file":
        upload = Upload.begin(rootfs, path, uid, gid, mode, append)
        try:
            for chunk in content:
                upload.write(chunk)
            upload.commit()
        finally:
            upload.abort()
    elif kind == "directory":
        make_directory(rootfs, path, uid, gid, mode)
    elif kind == "symlink":
        target = b"".join(content)
        make_symlink(rootfs, path, target, uid, gid)
    else:
        raise InvalidArgument(f"Bad file type: {kind}")


def make_directory(rootfs: str, path: str, uid: int, gid: int, mode: int) -> None:
    """Create a directory; one that already exists is left as it is (as Incus does)."""
    check_path(path)
    try:
        with Root(rootfs) as root:
            if split(path)[1] in ("", ".", "..") or _is_directory(root, path):
                return  # exists (a symlink to a directory too, as Incus's stat sees it): nothing to do
            found = root.entry(path)
            try:
                _make_directory(found, path, uid, gid, mode)
            finally:
                os.close(found.parent)
    except OSError as exc:
        raise translate(exc, path, "creating directory") from None


def _is_directory(root: Root, path: str) -> bool:
    """Whether path, symlinks followed inside the rootfs, is a directory."""
    try:
        os.close(root.open(path, os.O_PATH | os.O_DIRECTORY))
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False


def _make_directory(found: Entry, path: str, uid: int, gid: int, mode: int) -> None:
    if found.st is not None:
        raise InvalidArgument(f'Path "{path}" exists and is a {kind_of(found.st.st_mode)}, not a directory')
    os.mkdir(found.name, 0o700, dir_fd=found.parent)  # final mode below, after the owner
    fd = os.open(found.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=found.parent)
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, 0o755 if mode == NOT_GIVEN else mode)
    finally:
        os.close(fd)


def make_symlink(rootfs: str, path: str, target: bytes, uid: int, gid: int) -> None:
    """Create a symlink, atomically replacing a file or symlink already there."""
    check_path(path)
    if not target or len(target) >= MAX_LINK_TARGET or b"\0" in target:
        raise InvalidArgument(f'Invalid symlink target for "{path}"')
    try:
        with Root(rootfs) as root:
            found = root.entry(path)
            try:
                _make_symlink(found, path, os.fsdecode(target), uid, gid)
            finally:
                os.close(found.parent)
    except OSError as exc:
        raise translate(exc, path, "creating symlink") from None


def _make_symlink(found: Entry, path: str, target: str, uid: int, gid: int) -> None:
    if found.st is not None:
        mode = found.st.st_mode
        if stat.S_ISLNK(mode) and os.readlink(found.name, dir_fd=found.parent) == target:
            return
        if not (stat.S_ISLNK(mode) or stat.S_ISREG(mode)):
            raise InvalidArgument(f'Path "{path}" exists and is a {kind_of(mode)}: it cannot be replaced by a symlink')
    temp = _temp_name()
    os.symlink(target, temp, dir_fd=found.parent)
    try:
        os.chown(temp, uid, gid, dir_fd=found.parent, follow_symlinks=False)
        os.rename(temp, found.name, src_dir_fd=found.parent, dst_dir_fd=found.parent)
    except BaseException:
        _unlink_quietly(found.parent, temp)
        raise
    _sync_dir(found.parent)


class Upload:
    """A file push in progress: data goes to a temporary file beside the target, renamed over it at the end.

    write() and commit() block (run them in the executor); abort() may be called from any thread at any
    time, also after commit() (then it does nothing): it waits for a write in progress.
    """

    def __init__(self, path: str, found: Entry, fd: int, temp: str) -> None:
        self.path = path
        self._found = found
        self._fd = fd
        self._temp = temp
        self._lock = threading.Lock()
        self._done = False

    @classmethod
    def begin(cls, rootfs: str, path: str, uid: int, gid: int, mode: int, append: bool) -> Upload:
        """Resolve the target (a symlink at the end is followed inside the rootfs, as Incus does) and
        create the temporary file, with the old content first when appending."""
        check_path(path)
        try:
            with Root(rootfs) as root:
                reached, found = root.follow(path)
        except OSError as exc:
            raise translate(exc, path) from None
        try:
            return cls._begin(reached, found, uid, gid, mode, append)
        except BaseException:
            os.close(found.parent)
            raise

    @classmethod
    def _begin(cls, path: str, found: Entry, uid: int, gid: int, mode: int, append: bool) -> Upload:
        old = found.st
        if old is not None and not stat.S_ISREG(old.st_mode):
            if stat.S_ISDIR(old.st_mode):
                raise InvalidArgument(f'Path "{path}" is a directory: a file cannot be written there')
            raise refuse(path, old.st_mode)
        if old is None and append:
            raise NotFound(f'Path "{path}" not found in the instance')
        try:
            _remove_stale_temps(found.parent)
            temp = _temp_name()
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=found.parent)
        except OSError as exc:
            raise translate(exc, path, "writing") from None
        upload = cls(path, found, fd, temp)
        try:
            upload._prepare(old, uid, gid, mode, append)
        except BaseException:
            upload.abort(close_parent=False)
            raise
        return upload

    def _prepare(self, old: os.stat_result | None, uid: int, gid: int, mode: int, append: bool) -> None:
        """Owner and mode: an existing file keeps its own (Incus applies the headers to new files only)."""
        try:
            if old is not None:
                uid, gid, mode = old.st_uid, old.st_gid, stat.S_IMODE(old.st_mode)
            elif mode == NOT_GIVEN:
                mode = 0o644
            os.fchown(self._fd, uid, gid)
            os.fchmod(self._fd, mode)  # after the chown, which would clear set-id bits
            if append and old is not None:
                self._copy_old(old)
        except OSError as exc:
            raise translate(exc, self.path, "writing") from None

    def _copy_old(self, old: os.stat_result) -> None:
        src = os.open(self._found.name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._found.parent)
        try:
            rfd = reopen(src, os.O_RDONLY, old)
        finally:
            os.close(src)
        try:
            _copy_fd(rfd, self._fd)
        finally:
            os.close(rfd)

    def write(self, data: bytes) -> None:
        """Append data to the temporary file."""
        with self._lock:
            if self._done:
                raise InvalidArgument(f'The push to "{self.path}" was already finished')
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError as exc:
                raise translate(exc, self.path, "writing") from None

    def commit(self) -> None:
        """Make the data durable, then rename it over the target."""
        with self._lock:
            if self._done:
                raise InvalidArgument(f'The push to "{self.path}" was already finished')
            try:
                os.fsync(self._fd)
                failpoints.hit("file-push-written")
                os.rename(self._temp, self._found.name, src_dir_fd=self._found.parent,
                          dst_dir_fd=self._found.parent)
                self._temp = ""
                _sync_dir(self._found.parent)
            except OSError as exc:
                raise translate(exc, self.path, "writing") from None
            finally:
                self._finish(close_parent=True)

    def abort(self, close_parent: bool = True) -> None:
        """Drop the temporary file and close everything (nothing once committed)."""
        with self._lock:
            self._finish(close_parent)

    def _finish(self, close_parent: bool) -> None:
        if self._done:
            return
        self._done = True
        os.close(self._fd)
        if self._temp:
            _unlink_quietly(self._found.parent, self._temp)
        if close_parent:
            os.close(self._found.parent)


def _copy_fd(src: int, dst: int) -> None:
    """Copy src's content to dst: copy_file_range (reflinks on btrfs), read/write where it cannot."""
    try:
        while os.copy_file_range(src, dst, 1 << 30):
            pass
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
    while data := os.read(src, CHUNK):
        view = memoryview(data)
        while view:
            view = view[os.write(dst, view):]


def _temp_name() -> str:
    return f"{TEMP_PREFIX}{_RUN}-{secrets.token_hex(8)}"


def _remove_stale_temps(parent: int) -> None:
    """Remove the temporary files of pushes a crash interrupted (an earlier daemon run's), in this directory."""
    mine = f"{TEMP_PREFIX}{_RUN}-"
    dfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=parent)
    try:
        with os.scandir(dfd) as entries:
            stale = [e.name for e in entries if e.name.startswith(TEMP_PREFIX) and not e.name.startswith(mine)
                     and (e.is_file(follow_symlinks=False) or e.is_symlink())]
    finally:
        os.close(dfd)
    for name in stale:
        _unlink_quietly(parent, name)


def _unlink_quietly(parent: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass


def _sync_dir(parent: int) -> None:
    dfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=parent)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
