"""In-memory runtime for daemon unit tests: LxcRuntime's state machine and errors, no containers.

tests/integration/runtime/test_contract.py runs it and LxcRuntime through the same suite.

exec runs the argv on the HOST with subprocess (no isolation; uid and gid are ignored), with the
same default environment as LxcRuntime, in ``<rootfs>/<cwd or HOME>`` when that directory exists,
else in the rootfs, else in ``/``. So ``touch f`` lands in the rootfs like it would in a container,
but absolute paths are host paths. ``reply(argv, ...)`` registers canned output for an exact argv
instead. ``fail_start[name] = "log text"`` makes the next start of that name fail.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import subprocess
import termios
import threading
from dataclasses import dataclass, field

from pincus.base.errors import Conflict, InvalidArgument, NotFound, RuntimeFailure
from pincus.runtime.base import FROZEN, RUNNING, STOPPED, ContainerSpec, ContainerState, ExecSpec
from pincus.runtime.lxc_config import check_name, check_spec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class FakeContainer:
    """One container the fake knows about."""

    spec: ContainerSpec
    status: str = STOPPED
    pid: int = -1
    starts: int = 0


@dataclass(frozen=True)
class CannedReply:
    """Output of a canned exec."""

    stdout: bytes = b""
    stderr: bytes = b""
    code: int = 0


@dataclass
class FakeRuntime:
    """Runtime double; ``calls`` records (method, name) in order, ``stop_requests`` the stop arguments."""

    containers: dict[str, FakeContainer] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_start: dict[str, str] = field(default_factory=dict)
    replies: dict[tuple[str, ...], CannedReply] = field(default_factory=dict)
    stop_requests: list[tuple[str, float, bool]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _next_pid: int = field(default=10000, init=False, repr=False)

    def reply(self, argv: list[str], stdout: bytes = b"", stderr: bytes = b"", code: int = 0) -> None:
        """Answer execs of exactly this argv with canned output instead of running it."""
        self.replies[tuple(argv)] = CannedReply(stdout, stderr, code)

    def state(self, name: str) -> ContainerState:
        """Current state; STOPPED for an unknown name."""
        check_name(name)
        with self._lock:
            box = self.containers.get(name)
            if box is None or box.status == STOPPED:
                return ContainerState(status=STOPPED)
            return ContainerState(
                box.status,
                box.pid,
                processes=1,
                memory_usage=1 << 20,
                memory_peak=1 << 20,
                memory_total=1 << 30,
                cpu_usage_ns=1000,
                cpu_allocated_ns=1_000_000_000,
            )

    def status(self, name: str) -> str:
        """RUNNING, FROZEN or STOPPED."""
        return self.state(name).status

    def start(self, spec: ContainerSpec) -> None:
        """Mark the container running; Conflict if it already is, RuntimeFailure if told to fail."""
        with self._lock:
            self.calls.append(("start", spec.name))
            check_spec(spec)  # the same validation as LxcRuntime, in the same order
            box = self.containers.get(spec.name)
            if box is not None and box.status != STOPPED:
                raise Conflict(f'Container "{spec.name}" is already running')
            if not os.path.isdir(spec.rootfs):
                raise NotFound(f'Rootfs "{spec.rootfs}" of container "{spec.name}" not found')
            if spec.name in self.fail_start:
                log = self.fail_start.pop(spec.name)
                raise RuntimeFailure(f'Failed starting container "{spec.name}":\n{log}')
            box = self.containers.setdefault(spec.name, FakeContainer(spec))
            box.spec, box.status, box.pid = spec, RUNNING, self._next_pid
            box.starts += 1
            self._next_pid += 1

    def stop(self, name: str, timeout: float, force: bool) -> None:
        """Mark the container stopped; a no-op if it is not running."""
        with self._lock:
            self.calls.append(("stop", name))
            self.stop_requests.append((name, timeout, force))
            check_name(name)
            box = self.containers.get(name)
            if box is not None:
                box.status, box.pid = STOPPED, -1

    def freeze(self, name: str) -> None:
        """Mark a running container frozen."""
        with self._lock:
            self.calls.append(("freeze", name))
            self._running(name).status = FROZEN

    def unfreeze(self, name: str) -> None:
        """Thaw a frozen container; a no-op if it is running."""
        with self._lock:
            self.calls.append(("unfreeze", name))
            self._running(name).status = RUNNING

    def running(self) -> list[str]:
        """Names of running or frozen containers."""
        with self._lock:
            return sorted(name for name, box in self.containers.items() if box.status != STOPPED)

    def forget(self, name: str) -> None:
        """Drop a stopped container; Conflict while it runs."""
        with self._lock:
            self.calls.append(("forget", name))
            check_name(name)
            box = self.containers.get(name)
            if box is not None and box.status != STOPPED:
                raise Conflict(f'Container "{name}" is running, stop it first')
            self.containers.pop(name, None)

    def exec(
        self, name: str, spec: ExecSpec, interactive: bool, width: int = 80, height: int = 24
    ) -> FakeExecProcess:
        """Run the argv on the host (or answer from a canned reply); see the module docstring."""
        with self._lock:
            self.calls.append(("exec", name))
            if not spec.argv:
                raise InvalidArgument(f'Empty command for container "{name}"')
            box = self._running(name)
            if box.status == FROZEN:
                raise Conflict(f'Container "{name}" is frozen')
            rootfs = box.spec.rootfs
        canned = self.replies.get(tuple(spec.argv))
        if canned is not None:
            return _canned_process(canned, interactive, width, height)
        try:
            return _host_process(spec, rootfs, interactive, width, height)
        except OSError as err:  # out of fds or processes, as LxcRuntime reports it
            raise RuntimeFailure(f'Failed running {spec.argv[0]!r} in container "{name}": {err}') from err

    def prepare_exec(self) -> None:
        """Nothing to prepare."""

    def try_exec(self, name: str, spec: ExecSpec) -> FakeExecProcess | None:
        """A non-interactive exec(): the fake's lock is never held for long."""
        return self.exec(name, spec, False)

    def _running(self, name: str) -> FakeContainer:
        check_name(name)
        box = self.containers.get(name)
        if box is None or box.status == STOPPED:
            raise Conflict(f'Container "{name}" is not running')
        return box


class FakeExecProcess:
    """A host process (or a canned reply) behind the ExecProcess interface."""

    def __init__(
        self, popen: subprocess.Popen[bytes] | None, fds: tuple[int, int, int, int], code: int = 0
    ) -> None:
        self._popen = popen
        self.pid = popen.pid if popen is not None else -1
        self.stdin_fd, self.stdout_fd, self.stderr_fd, self.master_fd = fds
        self.pidfd = os.pidfd_open(popen.pid) if popen is not None else -1  # canned: wait() in a thread
        self._code = code
        self.signals: list[int] = []

    def wait(self) -> int:
        """Exit code; 128+N for a signal."""
        if self._popen is None:
            return self._code
        code = self._popen.wait()
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        return 128 - code if code < 0 else code

    def resize(self, width: int, height: int) -> None:
        """Set the pty window size (interactive only)."""
        if self.master_fd >= 0:
            fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def signal(self, signum: int) -> None:
        """Send a signal to the host process; recorded for canned replies."""
        self.signals.append(signum)
        if self._popen is not None and self._popen.returncode is None:
            self._popen.send_signal(signum)


def _environment(spec: ExecSpec) -> dict[str, str]:
    env = {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"}
    if spec.uid == 0:
        env.update(HOME="/root", USER="root")
    env.update(spec.environment)
    return env


def _host_cwd(rootfs: str, cwd: str) -> str:
    for candidate in (os.path.join(rootfs, cwd.lstrip("/")), rootfs):
        if rootfs and os.path.isdir(candidate):
            return candidate
    return "/"


def _host_process(spec: ExecSpec, rootfs: str, interactive: bool, width: int, height: int) -> FakeExecProcess:
    env = _environment(spec)
    cwd = _host_cwd(rootfs, spec.cwd or env.get("HOME", "/"))
    failed = _unrunnable(spec.argv[0], env)
    if failed is not None:  # LxcRuntime's child reports it and exits, the exec itself succeeds
        return _canned_process(failed, interactive, width, height)
    if interactive:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        try:
            popen = subprocess.Popen(
                spec.argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True
            )
        finally:
            os.close(slave)
        return FakeExecProcess(popen, (-1, -1, -1, master))
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    try:
        popen = subprocess.Popen(spec.argv, stdin=stdin_r, stdout=stdout_w, stderr=stderr_w, cwd=cwd, env=env)
    except OSError:
        for fd in (stdin_w, stdout_r, stderr_r):
            os.close(fd)
        raise
    finally:
        for fd in (stdin_r, stdout_w, stderr_w):
            os.close(fd)
    return FakeExecProcess(popen, (stdin_w, stdout_r, stderr_r, -1))


def _unrunnable(command: str, env: dict[str, str]) -> CannedReply | None:
    """What LxcRuntime's attached child answers for a command it cannot exec: 127 when missing,
    126 when not executable; None when the command can run."""
    if "/" in command:
        candidates = [command]
    else:
        candidates = [os.path.join(d or ".", command) for d in env.get("PATH", "").split(":")]
    denied = False
    for path in candidates:
        if os.path.isfile(path):
            if os.access(path, os.X_OK):
                return None
            denied = True
    code = errno.EACCES if denied else errno.ENOENT
    return CannedReply(stderr=f"{command}: {os.strerror(code)}\n".encode(), code=126 if denied else 127)


def _canned_process(reply: CannedReply, interactive: bool, width: int, height: int) -> FakeExecProcess:
    """Feed the canned output from a thread (it may exceed a pipe buffer); drain stdin the same way."""
    if interactive:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        _feed([(slave, reply.stdout + reply.stderr)], drain=-1)
        return FakeExecProcess(None, (-1, -1, -1, master), reply.code)
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    _feed([(stdout_w, reply.stdout), (stderr_w, reply.stderr)], drain=stdin_r)
    return FakeExecProcess(None, (stdin_w, stdout_r, stderr_r, -1), reply.code)


def _feed(outputs: list[tuple[int, bytes]], drain: int) -> None:
    def run() -> None:
        for fd, data in outputs:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError:
                pass
            finally:
                os.close(fd)
        if drain >= 0:
            try:
                while os.read(drain, 65536):
                    pass
            finally:
                os.close(drain)

    threading.Thread(target=run, name="fake-exec-feed", daemon=True).start()
