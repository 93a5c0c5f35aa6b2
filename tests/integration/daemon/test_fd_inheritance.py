"""Processes the daemon starts (liblxc's monitor, the container's init, an exec'd command) hold none of
its descriptors: not the unix.socket listener (else a restarted daemon finds the socket "alive" and
clients hang on a process that never answers), not the database."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.pincusd import VENV_BIN

pytestmark = pytest.mark.integration


def _listener_inodes(socket_path: Path) -> set[str]:
    """Inodes of the unix sockets bound to socket_path (the daemon's listener)."""
    found = set()
    with open("/proc/net/unix", encoding="utf-8") as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == str(socket_path):
                found.add(fields[6])
    return found


def _fd_targets(pid: int) -> list[str]:
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return out


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _find(cmdline: bytes) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read() == cmdline:
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def _leaks(d, pid: int, listener: set[str]) -> list[str]:
    database = str(d.root / "database")
    return [t for t in _fd_targets(pid)
            if t.startswith(database) or (t.startswith("socket:[") and t[8:-1] in listener)]


def test_monitor_init_and_exec_hold_no_daemon_fd(daemon, name):
    d = daemon
    listener = _listener_inodes(d.socket)
    assert listener  # the probe itself works
    assert _leaks(d, d.proc.pid, listener)  # ... and would see the daemon's own descriptors
    d.run("launch", "busybox", name)
    client = None
    try:
        _, state = d.api("GET", f"/1.0/instances/{name}/state")
        init = state["metadata"]["pid"]
        monitor = _ppid(init)
        with open(f"/proc/{monitor}/cmdline", "rb") as f:
            assert f.read().startswith(b"[lxc monitor]")
        marker = f"{4000 + int.from_bytes(os.urandom(2), 'big')}"
        client = subprocess.Popen([str(VENV_BIN / "pincus"), "exec", name, "--", "sleep", marker], env=d.env(),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        helper: list[int] = []
        deadline = time.monotonic() + 30
        while not helper and time.monotonic() < deadline:
            helper = _find(f"sleep\0{marker}\0".encode())
            time.sleep(0.05)
        assert helper, "the exec'd command did not show up"
        for pid in (monitor, init, *helper):
            assert _leaks(d, pid, listener) == [], pid
    finally:
        d.run("delete", "--force", name)
        if client is not None:
            client.kill()
            client.wait()
