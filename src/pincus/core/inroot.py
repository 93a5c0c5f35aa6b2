"""Paths resolved inside a container's rootfs as the container sees them, without chroot or fork.

Every lookup goes through openat2(2) with RESOLVE_IN_ROOT relative to an O_PATH fd of the rootfs:
absolute symlinks and ".." stop at the rootfs exactly as after chroot, even when the container swaps
a symlink in while we look, and /proc magic links are refused. Every fd is O_CLOEXEC.
"""

from __future__ import annotations

import ctypes
import errno
import os
import posixpath
import stat
from dataclasses import dataclass

from pincus.base.errors import InvalidArgument, NotFound, NotSupported

_SYS_OPENAT2 = 437  # the same number in every architecture's table since Linux 5.6 (alpha aside)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
_RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
_EAGAIN_TRIES = 16  # the kernel asks for a retry when a rename raced a ".." walk
MAX_SYMLINK_HOPS = 40  # the kernel's own limit


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def openat2(dir_fd: int, path: str, flags: int, mode: int = 0, resolve: int = _RESOLVE) -> int:
    """openat2(2); raises OSError like os.open, NotSupported when the kernel lacks it."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    raw = os.fsencode(path)
    for _ in range(_EAGAIN_TRIES):
        fd = _libc.syscall(_SYS_OPENAT2, ctypes.c_int(dir_fd), ctypes.c_char_p(raw), ctypes.byref(how),
                           ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err == errno.ENOSYS:
            raise NotSupported("File access needs openat2(2) (Linux 5.6 or later), which this kernel lacks")
        if err != errno.EAGAIN:
            raise OSError(err, os.strerror(err), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)


def kind_of(mode: int) -> str:
    """A file type in words, for messages and the X-Incus-type header."""
    for test, word in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return word
    return "unknown file type"


def served(mode: int) -> bool:
    """Only regular files, directories and symlinks are served; never a fifo, socket or device."""
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)


def refuse(path: str, mode: int) -> InvalidArgument:
    """The error for a path of a type the files API does not serve."""
    return InvalidArgument(f'Path "{path}" is a {kind_of(mode)}: only regular files, directories and '
                           "symlinks can be transferred")


def translate(exc: OSError, path: str, verb: str = "accessing") -> Exception:
    """An OSError met while working on path, as a pincus error naming it."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return NotFound(f'Path "{path}" not found in the instance')
    return InvalidArgument(f'Failed {verb} "{path}": {exc.strerror or exc}')


def check_path(path: str) -> str:
    """An absolute path without NUL, as the files API takes it."""
    if "\0" in path:
        raise InvalidArgument("Path must not contain a NUL byte")
    if not path.startswith("/"):
        raise InvalidArgument(f'Path "{path}" must be absolute')
    return path


def split(path: str) -> tuple[str, str]:
    """(parent, last component); the last is "" for the root itself, "." or ".." stay as they are."""
    trimmed = path.rstrip("/")
    if not trimmed:
        return "/", ""
    parent, name = posixpath.split(trimmed)
    return parent or "/", name


@dataclass
class Entry:
    """A path's last component: its parent directory (an O_PATH fd) and name, and what lies there."""

    parent: int
    name: str
    st: os.stat_result | None  # None when nothing is there yet


class Root:
    """An instance's rootfs opened O_PATH; every lookup below resolves inside it."""

    def __init__(self, rootfs: str) -> None:
        self.fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        """Close the rootfs fd."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def open(self, path: str, flags: int, mode: int = 0) -> int:
        """openat2 of path inside the rootfs (O_CLOEXEC is always added)."""
        return openat2(self.fd, path, flags, mode)

    def entry(self, path: str) -> Entry:
        """Open path's parent directory inside the rootfs and lstat the last component there."""
        parent_path, name = split(path)
        if name in ("", ".", ".."):
            raise InvalidArgument(f'Path "{path}" does not name an entry of a directory')
        parent = self.open(parent_path, os.O_PATH | os.O_DIRECTORY)
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        except BaseException:
            os.close(parent)
            raise
        return Entry(parent, name, st)

    def follow(self, path: str) -> tuple[str, Entry]:
        """Like entry(), but a symlink at the end is followed (inside the rootfs) to what it names.

        Returns the path that was finally reached; its entry may not exist yet (a dangling link).
        """
        for _ in range(MAX_SYMLINK_HOPS):
            found = self.entry(path)
            if found.st is None or not stat.S_ISLNK(found.st.st_mode):
                return path, found
            try:
                target = os.readlink(found.name, dir_fd=found.parent)
            finally:
                os.close(found.parent)
            path = target if target.startswith("/") else posixpath.join(split(path)[0], target)
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)


def reopen(fd: int, flags: int, before: os.stat_result) -> int:
    """Reopen an O_PATH fd for I/O through /proc/self/fd, checking it is still the same inode."""
    new = os.open(f"/proc/self/fd/{fd}", flags | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        after = os.fstat(new)
    except BaseException:
        os.close(new)
        raise
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) or not stat.S_ISREG(after.st_mode):
        os.close(new)
        raise OSError(errno.ESTALE, "the file changed while it was opened")
    return new
