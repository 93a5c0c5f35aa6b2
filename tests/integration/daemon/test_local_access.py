"""What a local user who is not root can do to a running pincusd: nothing. Containers are
privileged, so reading a pending trust token (and redeeming it over HTTPS) or reaching the socket
would make that user root. Also: a second pincusd on the same directory refuses to start."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pincus.base import tls
from tests.support.pincusd import VENV_BIN, Pincusd, private_daemon

pytestmark = pytest.mark.integration


@dataclass
class LocalUser:
    """A throwaway unprivileged account; ``run`` executes a command as it."""

    name: str
    uid: int
    gid: int

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run argv as this user, with no supplementary groups."""
        return subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--",
                               *argv], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def user() -> Iterator[LocalUser]:
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs root, useradd and setpriv")
    name = f"pincus-t-{secrets.token_hex(4)}"
    subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", name], check=True)
    try:
        entry = pwd.getpwnam(name)
        yield LocalUser(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run(["userdel", name], check=False)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Pincusd]:
    """A private pincusd with a dir pool and the busybox image."""
    with private_daemon("dir") as d:
        yield d


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _refused(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode != 0 and "Permission denied" in proc.stderr


def test_a_local_user_reads_no_secret_and_no_container_file(daemon: Pincusd, user: LocalUser) -> None:
    inst = f"local-{secrets.token_hex(3)}"
    daemon.run("launch", "busybox", inst)
    daemon.run("snapshot", "create", inst, "snap0")
    daemon.run("config", "set", "core.https_address", f"127.0.0.1:{_free_port()}")
    secret = tls.decode_token(daemon.run("config", "trust", "add", "pending").stdout.splitlines()[-1]).secret
    root, pool = daemon.root, daemon.root / "storage-pools" / "default"
    db = root / "database" / "local.db"
    wal = db.with_name("local.db-wal")
    assert db.exists() and wal.exists() and (root / "server.key").exists()
    rootfs_file = pool / "containers" / inst / "rootfs" / "etc" / "passwd"
    assert rootfs_file.exists()

    # The user can run commands and reach the directory: what follows is refused by modes alone.
    assert user.run("cat", str(root / "server.crt")).returncode == 0
    for path in (db, wal, root / "server.key", rootfs_file, pool / "containers" / inst / "metadata.yaml"):
        assert _refused(user.run("cat", str(path))), path
    for directory in (root / "database", pool / "containers", pool / "containers-snapshots", pool / "images",
                      root / "images", root / "logs", root / "lxc", root / "storage-pools"):
        assert _refused(user.run("ls", str(directory))), directory
    assert _refused(user.run("ls", str(pool / "containers-snapshots" / inst / "snap0")))
    connect = user.run("/usr/bin/python3", "-c", "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])",
                       str(daemon.socket))
    assert connect.returncode != 0 and "PermissionError" in connect.stderr

    # The pending token's secret is in no file the user can read, and in no file at all.
    found = user.run("grep", "-rlsF", secret, str(root))
    assert found.returncode in (1, 2) and found.stdout == "", found.stdout  # 2: unreadable files, expected
    assert subprocess.run(["grep", "-rlsF", secret, str(root)], capture_output=True, text=True).stdout == ""
    daemon.run("delete", "--force", inst)


def test_a_second_daemon_on_the_same_directory_refuses_to_start(daemon: Pincusd) -> None:
    socket_inode = daemon.socket.stat().st_ino
    env = {**os.environ, "PINCUS_DIR": str(daemon.root)}
    second = subprocess.run([str(VENV_BIN / "pincusd")], env=env, capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert second.returncode != 0
    assert f'pincusd is already running on "{daemon.root}"' in second.stderr
    assert f"PID {daemon.proc.pid}" in second.stderr
    assert daemon.socket.stat().st_ino == socket_inode  # the first daemon's socket was left alone
    assert daemon.api("GET", "/1.0")[0] == 200
    lock = daemon.root / "pincusd.lock"
    assert lock.stat().st_mode & 0o777 == 0o600


def test_of_two_daemons_started_together_on_a_fresh_directory_one_serves() -> None:
    """Started at the same instant, neither sees the other's socket yet: only the lock decides."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = Path(tempfile.mkdtemp(prefix="pincus-test-", dir="/var/tmp"))
    env = {**os.environ, "PINCUS_DIR": str(root)}
    procs = [subprocess.Popen([str(VENV_BIN / "pincusd")], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60  # generous: the loser exits at once
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        loser = next((p for p in procs if p.poll() is not None), None)
        assert loser is not None, "both daemons are running on one directory"
        winner = procs[1 - procs.index(loser)]
        assert loser.returncode != 0 and f"PID {winner.pid}" in (loser.stderr.read() if loser.stderr else "")
        Pincusd(root=root, proc=winner, log=root / "unused.log").wait_ready()
        assert winner.poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
            if proc.stderr:
                proc.stderr.close()
        shutil.rmtree(root, ignore_errors=True)
