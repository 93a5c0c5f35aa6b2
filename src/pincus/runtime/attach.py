"""Exec inside a liblxc container: what runs in the attached child, the pipe and pty attach helpers,
and the handle on the started command."""

from __future__ import annotations

import errno
import fcntl
import os
import signal as _signal
import socket
import struct
import termios
import threading
from dataclasses import dataclass

import lxc

from pincus.base.errors import RuntimeFailure
from pincus.runtime.procs import default_ignored_signals, kill_pidfd

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# --- inside the container (runs in the child liblxc forks for attach) --------------------------


@dataclass(frozen=True)
class AttachRequest:
    """What the attached child needs; only modules imported before attach may be used there."""

    argv: list[str]
    environment: dict[str, str]
    cwd: str
    uid: int
    sock: socket.socket | None = None  # interactive: where the pty master goes
    width: int = 80
    height: int = 24


def _passwd_entry(uid: int) -> tuple[str, str] | None:
    """(user, home) from the container's /etc/passwd, parsed by hand: NSS would load its libraries."""
    try:
        with open("/etc/passwd", encoding="utf-8", errors="replace") as passwd:
            for line in passwd:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[0], fields[5]
    except OSError:
        pass
    return None


def _attached_environment(request: AttachRequest) -> dict[str, str]:
    """Incus's exec defaults (PATH, HOME, USER, LANG), then the request's own variables."""
    env = {"PATH": DEFAULT_PATH + (":/snap/bin" if os.path.isdir("/snap") else "")}
    entry = ("root", "/root") if request.uid == 0 else _passwd_entry(request.uid)
    if entry:
        env["USER"], env["HOME"] = entry
    env["LANG"] = "C.UTF-8"
    env.update(request.environment)
    return env


def _become_terminal_session(request: AttachRequest) -> None:
    """Open a pty on the container's devpts, hand its master back, make the slave our terminal."""
    assert request.sock is not None
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", request.height, request.width, 0, 0))
    socket.send_fds(request.sock, [b"P"], [master])
    os.close(master)
    request.sock.close()
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def run_attached(request: AttachRequest) -> int:
    """Entry point inside the container: environment, optional pty, cwd, then exec."""
    try:
        default_ignored_signals()
        env = _attached_environment(request)
        if request.sock is not None:
            _become_terminal_session(request)
        try:
            os.chdir(request.cwd or env.get("HOME") or "/")
        except OSError:
            os.chdir("/")  # like liblxc's initial_cwd: a missing cwd is not fatal
        os.closerange(3, 1 << 20)  # the daemon's inheritable fds must not reach the container
        os.execvpe(request.argv[0], request.argv, env)
    except OSError as err:
        os.write(2, f"{request.argv[0]}: {err.strerror}\n".encode(errors="replace"))
        os._exit(127 if err.errno in (errno.ENOENT, errno.ENOTDIR) else 126)
    except BaseException:
        os._exit(126)
    return 126


# --- exec handle -------------------------------------------------------------------------------


class LxcExecProcess:
    """A command started by attach; it is a child of this process (liblxc uses CLONE_PARENT)."""

    def __init__(self, pid: int, stdin_fd: int, stdout_fd: int, stderr_fd: int, master_fd: int) -> None:
        self.pid = pid
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        self.stderr_fd = stderr_fd
        self.master_fd = master_fd
        self.pidfd = os.pidfd_open(pid)  # signals never reach a recycled pid; readable at exit
        self._pidfd_lock = threading.Lock()
        self._wait_lock = threading.Lock()
        self._code: int | None = None

    def wait(self) -> int:
        """Block until the process exits; return its exit code (128+N for a signal)."""
        with self._wait_lock:
            if self._code is None:
                try:
                    _, status = os.waitpid(self.pid, 0)
                    code = os.waitstatus_to_exitcode(status)
                    self._code = 128 - code if code < 0 else code
                except ChildProcessError:  # someone else reaped it (waitpid(-1) elsewhere)
                    self._code = 255
                with self._pidfd_lock:
                    os.close(self.pidfd)
                    self.pidfd = -1
            return self._code

    def resize(self, width: int, height: int) -> None:
        """Set the pty window size; a no-op for non-interactive execs."""
        if self.master_fd >= 0:
            fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def signal(self, signum: int) -> None:
        """Send a signal to the process; nothing happens once it has exited."""
        with self._pidfd_lock:
            if self.pidfd >= 0:
                kill_pidfd(self.pidfd, signum)


# --- attach ------------------------------------------------------------------------------------


def attach_pipes(container: lxc.Container, name: str, request: AttachRequest, options: dict) -> LxcExecProcess:
    """Start the request with three pipes as stdin, stdout and stderr; ours are in the handle."""
    (stdin_r, stdin_w), (stdout_r, stdout_w), (stderr_r, stderr_w) = os.pipe(), os.pipe(), os.pipe()
    theirs, ours = (stdin_r, stdout_w, stderr_w), (stdin_w, stdout_r, stderr_r)
    process = None
    try:
        pid = container.attach(
            run_attached, request, stdin=stdin_r, stdout=stdout_w, stderr=stderr_w, **options
        )
        if pid > 0:
            process = LxcExecProcess(pid, *ours, -1)
    finally:
        for fd in theirs if process else theirs + ours:
            os.close(fd)
    if process is None:
        raise RuntimeFailure(f'Failed running {request.argv[0]!r} in container "{name}"')
    return process


def attach_terminal(
    container: lxc.Container, name: str, request: AttachRequest, options: dict, width: int, height: int
) -> LxcExecProcess:
    """Start the request on a pty the child opens inside the container and sends back its master."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    request = AttachRequest(request.argv, request.environment, request.cwd, request.uid, theirs, width, height)
    try:
        pid = container.attach(run_attached, request, **options)
    finally:
        theirs.close()
    fds: list[int] = []
    try:
        if pid > 0:
            ours.settimeout(10)
            _, fds, _, _ = socket.recv_fds(ours, 1, 1, socket.MSG_CMSG_CLOEXEC)
    except OSError:
        fds = []
    finally:
        ours.close()
    if not fds:
        if pid > 0:
            os.kill(pid, _signal.SIGKILL)  # still our unreaped child: the pid cannot be reused yet
            os.waitpid(pid, 0)
        raise RuntimeFailure(f'Failed running {request.argv[0]!r} on a terminal in container "{name}"')
    return LxcExecProcess(pid, -1, -1, -1, fds[0])
