"""The stock incus client's interactive exec against pincusd: in-container pty, resize, exit code."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time

import pytest

pytestmark = pytest.mark.integration


def _read(fd: int, until: bytes, timeout: float = 10.0) -> str:
    out = b""
    end = time.monotonic() + timeout
    while until not in out and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out.decode(errors="replace")


def _winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def test_interactive_exec_with_resize(daemon, name):
    d = daemon
    d.incus("launch", "busybox", name)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the stock client on a terminal of its own
        os.execvpe("incus", ["incus", "exec", name, "--", "sh"], d.env())
    try:
        _winsize(fd, 30, 100)
        _read(fd, b"# ")
        os.write(fd, b"tty; stty size\n")
        out = _read(fd, b"30 100")
        assert "/dev/pts/" in out and "30 100" in out
        _winsize(fd, 20, 90)
        os.kill(pid, signal.SIGWINCH)
        time.sleep(0.3)
        os.write(fd, b"stty size\n")
        assert "20 90" in _read(fd, b"20 90")
        os.write(fd, b"exit 7\n")
        _read(fd, b"\x00", timeout=2.0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 7
    finally:
        os.close(fd)
    d.incus("delete", "--force", name)
