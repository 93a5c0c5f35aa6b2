"""pincusd's start-up on its directory: the one-daemon lock, and the modes an older install is
brought to (a local user must not read the trust store, the server key or container files)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pincus.core.state import Paths
from pincus.startup import AlreadyRunning, DaemonLock, secure_database, secure_directories, secure_pools


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_lock_names_the_directory_and_the_holder(tmp_path: Path) -> None:
    first = DaemonLock(tmp_path)
    first.acquire()
    try:
        assert mode(tmp_path / "pincusd.lock") == 0o600
        with pytest.raises(AlreadyRunning) as refused:
            DaemonLock(tmp_path).acquire()  # another open file: flock conflicts even in one process
        assert str(refused.value) == (f'pincusd is already running on "{tmp_path}" '
                                      f"(PID {os.getpid()} holds {tmp_path / 'pincusd.lock'})")
    finally:
        first.release()
    again = DaemonLock(tmp_path)
    again.acquire()  # released: the next daemon gets it
    again.release()


def test_an_older_install_is_brought_to_incus_modes(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        paths = Paths(tmp_path / "pincus")
        for d in ("database", "images", "logs", "lxc", "storage-pools/p1/containers", "storage-pools/p1/images"):
            (paths.root / d).mkdir(parents=True)
        for f in ("database/local.db", "database/local.db-wal", "database/local.db-shm", "server.key"):
            (paths.root / f).write_text("x")
            os.chmod(paths.root / f, 0o644)
        for d in paths.root.rglob("*"):
            if d.is_dir():
                os.chmod(d, 0o755)
        os.chmod(paths.root, 0o755)
        secure_directories(paths)
        secure_pools(paths)
    finally:
        os.umask(old)
    r = paths.root
    assert {p: mode(r / p) for p in ("", "database", "images", "logs", "lxc", "storage-pools")} == {
        "": 0o711, "database": 0o700, "images": 0o700, "logs": 0o700, "lxc": 0o711, "storage-pools": 0o711}
    assert {f: mode(r / "database" / f) for f in ("local.db", "local.db-wal", "local.db-shm")} == dict.fromkeys(
        ("local.db", "local.db-wal", "local.db-shm"), 0o600)
    assert mode(r / "server.key") == 0o600
    assert mode(r / "storage-pools/p1/containers") == 0o700 and mode(r / "storage-pools/p1/images") == 0o700


def test_a_new_database_is_created_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        secure_database(tmp_path / "database" / "local.db")
    finally:
        os.umask(old)
    assert mode(tmp_path / "database") == 0o700 and mode(tmp_path / "database" / "local.db") == 0o600
