"""Host processes around liblxc: the forked start helper, signal dispositions, pidfd waits, monitors.

Everything here works on pids and pidfds, never on a container's state.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal as _signal
from pathlib import Path

import lxc

try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - no libc
    _LIBC = None

_SYS_RT_SIGACTION = 13  # x86_64
_KERNEL_SIGACTION_DEFAULT = bytes(32)  # handler SIG_DFL, no flags, no restorer, empty mask


def default_ignored_signals() -> None:
    """Give the command default dispositions: an ignored signal survives exec (Python ignores SIGPIPE
    and SIGXFSZ; a daemon's own parent may have ignored others, glibc's reserved 32 and 33 included,
    which the signal module refuses to touch, so those go through the raw syscall)."""
    for signum in range(1, _signal.NSIG):
        if signum in (_signal.SIGKILL, _signal.SIGSTOP):
            continue
        if _LIBC is not None:  # just before exec, so resetting handled signals too changes nothing
            _LIBC.syscall(_SYS_RT_SIGACTION, signum, _KERNEL_SIGACTION_DEFAULT, None, 8)
        else:
            try:
                _signal.signal(signum, _signal.SIG_DFL)
            except (OSError, ValueError):
                pass


def start_in_child(container: lxc.Container, log_file: Path) -> int:
    """Run Container.start() in a forked child that exits at once; return the child's exit code."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            close_inherited(keep=str(log_file))
            null = os.open(os.devnull, os.O_RDWR)
            log = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(log, 2)  # anything liblxc prints lands in the container log
            default_ignored_signals()  # else init and every service inherit Python's SIG_IGN for SIGPIPE
            code = 0 if container.start() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def close_inherited(keep: str) -> None:
    """In a forked child, first thing: close every fd but those open on ``keep`` (liblxc's own log).

    The fork copied all the daemon's fds, close-on-exec or not: its sockets, its database and other
    requests' pipes must not live on in liblxc's monitor or the container's init.
    """
    kept = []
    for entry in os.listdir("/proc/self/fd"):
        try:
            if int(entry) > 2 and os.readlink(f"/proc/self/fd/{entry}") == keep:
                kept.append(int(entry))
        except OSError:
            pass  # the directory's own fd, gone already
    low = 3
    for fd in sorted(kept):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)


def open_pidfd(pid: int) -> int | None:
    """A pidfd on pid, or None if there is no such process (or pid <= 0)."""
    try:
        return os.pidfd_open(pid) if pid > 0 else None
    except OSError:
        return None


def monitor_pidfd(init_pid: int) -> int | None:
    """A pidfd on the container's monitor (the parent of init), or None if it is already gone."""
    try:
        stat = Path(f"/proc/{init_pid}/stat").read_text()
        monitor = int(stat.rsplit(")", 1)[1].split()[1])
        if not Path(f"/proc/{monitor}/cmdline").read_bytes().startswith(b"[lxc monitor] "):
            return None
        return os.pidfd_open(monitor)
    except (OSError, ValueError, IndexError):
        return None


def find_monitor(lxc_path: Path, name: str) -> int | None:
    """A pidfd on the monitor process of a container, found by its title."""
    title = f"[lxc monitor] {lxc_path} {name}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().rstrip(b"\0") == title:
                    return os.pidfd_open(int(entry.name))
            except OSError:
                continue
    return None


def wait_pidfd(pidfd: int, timeout: float | None) -> bool:
    """True once the process behind the pidfd has exited (None: wait forever); closes nothing."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))


def kill_pidfd(pidfd: int, signum: int) -> None:
    """Send a signal through a pidfd; nothing happens if the process has exited."""
    try:
        _signal.pidfd_send_signal(pidfd, signum)
    except ProcessLookupError:
        pass
