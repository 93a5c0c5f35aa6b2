"""What pincusd does to its directory before anything else: take the one-daemon lock, and give
every directory and secret file the mode Incus gives it (a local user must not read the trust
store, the server key or a container's files)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from pincus.base.errors import Conflict
from pincus.core.state import Paths
from pincus.storage.drivers._common import POOL_DIRS

LOCK_NAME = "pincusd.lock"

# Directory modes, as Incus's initDirs: 0711 where something unprivileged must traverse (nothing
# may list), 0700 where only the daemon looks.
DIR_MODES: tuple[tuple[str, int], ...] = (
    ("", 0o711),
    ("database", 0o700),
    ("images", 0o700),
    ("logs", 0o700),
    ("lxc", 0o711),
    ("storage-pools", 0o711),
)
SECRET_FILES = ("server.key",)
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")


class AlreadyRunning(Conflict):
    """Another pincusd holds the lock of this directory."""


class DaemonLock:
    """An exclusive flock on $PINCUS_DIR/pincusd.lock, held for the daemon's life."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self.fd = -1

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunning naming the directory and the holder's PID."""
        self.path.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_pid(fd)
            os.close(fd)
            who = f"PID {holder}" if holder else "another process"
            raise AlreadyRunning(f'pincusd is already running on "{self.path.parent}" ({who} holds {self.path})') from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        """Drop the lock (at exit the kernel drops it anyway)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _holder_pid(fd: int) -> int:
    """The PID the lock's holder wrote; a holder that has just taken the lock may not have written it
    yet, so wait for it a moment (up to a second)."""
    for _ in range(100):
        pid = _read_pid(fd)
        if pid:
            return pid
        time.sleep(0.01)
    return 0


def _read_pid(fd: int) -> int:
    try:
        return int(os.pread(fd, 32, 0).split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def secure_directories(paths: Paths) -> None:
    """Create the daemon's directories and (for existing installs too) set their modes."""
    for rel, mode in DIR_MODES:
        d = paths.root / rel if rel else paths.root
        d.mkdir(mode=mode, parents=True, exist_ok=True)
        os.chmod(d, mode)
    for name in SECRET_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(paths.root / name, 0o600, follow_symlinks=False)
    secure_database(paths.database)


def secure_pools(paths: Paths) -> None:
    """Give the top-level directories of every mounted pool their modes (installs made before)."""
    for pool in paths.pools.iterdir() if paths.pools.is_dir() else ():
        for name, mode in POOL_DIRS.items():
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                os.chmod(pool / name, mode)


def secure_database(db: Path) -> None:
    """The database and its WAL/SHM files readable by root only (they hold the trust store).

    A new database is created 0600 before SQLite opens it: SQLite gives the WAL and SHM files
    the database file's mode."""
    db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(db.parent, 0o700)
    os.close(os.open(db, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600))
    for suffix in DATABASE_SUFFIXES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{db}{suffix}", 0o600, follow_symlinks=False)
