"""The forked child that calls liblxc's start() closes every fd it was not meant to keep."""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

import pytest

procs = pytest.importorskip("pincus.runtime.procs")


def _open(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
        return True
    except OSError:
        return False


def test_only_the_log_survives(tmp_path: Path) -> None:
    log = tmp_path / "lxc.log"
    keep = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "unix.socket"))
    listener.listen()
    r, w = os.pipe()
    high = os.dup2(w, 1000, inheritable=True)
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                procs.close_inherited(keep=str(log))
                closed = not any(_open(fd) for fd in (listener.fileno(), r, w, high))
                code = 0 if closed and _open(keep) and _open(2) else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        for fd in (keep, r, w, high):
            os.close(fd)
        listener.close()
