"""Copying the metadata of tree entries (owner, xattrs, mode, times) for the dir driver."""

from __future__ import annotations

import errno
import os
import stat

from pincus.storage.drivers._parallel import IS_ROOT

SKIP_XATTRS = frozenset({"security.selinux"})
_EUID, _EGID = os.geteuid(), os.getegid()


def current_umask() -> int:
    """The process umask, read without changing it (threads may be creating files); -1 if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return -1


def _ignore_perm(exc: OSError) -> bool:
    """Ownership and trusted xattrs cannot be set without root: skip them, like cp -a."""
    return not IS_ROOT and exc.errno in (errno.EPERM, errno.EACCES)


def copy_xattrs(src: int | str, dst: int | str, follow: bool = True) -> None:
    """Copy src's extended attributes to dst, but SKIP_XATTRS and those the filesystem refuses."""
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


def chown(path: int | str, st: os.stat_result, follow: bool = True) -> None:
    """Give path the owner in st, unless it is ours already or we may not."""
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
    chown(dst, st, follow=False)
    copy_xattrs(src, dst, follow=False)
    if not link:
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
