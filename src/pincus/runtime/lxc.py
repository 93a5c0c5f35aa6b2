"""System containers run by liblxc through the `lxc` binding.

One LXC "lxcpath" per daemon: ``<lxc_path>/<name>/config`` is written here at every start (never
through ``set_config_item``, which mangles prefixed and multi-valued keys). ``Container.start()`` runs
in a short-lived forked child, because liblxc moves its caller into the container's monitor cgroup.
Containers outlive this process; a new ``LxcRuntime`` on the same path finds them again.
``Container.destroy()`` is never called: it deletes the rootfs, which storage owns.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import select
import signal as _signal
import socket
import struct
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import lxc

try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - no libc
    _LIBC = None

from pincus.base.errors import Conflict, InvalidArgument, NotFound, RuntimeFailure
from pincus.runtime.base import FROZEN, RUNNING, STOPPED, ContainerSpec, ContainerState, ExecSpec
from pincus.runtime.cgroup_warmup import warm_cgroup_moves
from pincus.runtime.lxc_config import (  # noqa: F401 - re-exported for callers and tests
    _NAME_RE,
    CgroupLayout,
    _check_name,
    _check_spec,
    cpuset_cpus,
    cpuset_for,
    detect_cgroup_layout,
    host_memory,
    limit_config,
    parse_memory_limit,
    remove_stale_cgroups,
    render_config,
)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LOG_TAIL_LINES = 8
KILL_WAIT = 10.0  # seconds a SIGKILLed container gets to disappear
FREEZE_WAIT = 10.0  # seconds to reach FROZEN or THAWED

_LXC_STATES = {"STOPPED": STOPPED, "ABORTING": STOPPED, "FROZEN": FROZEN, "FREEZING": FROZEN}


def _config_value(config: Path, key: str) -> str:
    try:
        text = config.read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        left, sep, right = line.partition("=")
        if sep and left.strip() == key:
            return right.strip()
    return ""


def _log_tail(log_file: Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    errors = [line for line in lines if " ERROR " in line]
    return "\n".join((errors or lines)[-LOG_TAIL_LINES:]) or "(empty log)"


# --- inside the container (runs in the child liblxc forks for attach) --------------------------


@dataclass(frozen=True)
class _AttachRequest:
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


def _attached_environment(request: _AttachRequest) -> dict[str, str]:
    """Incus's exec defaults (PATH, HOME, USER, LANG), then the request's own variables."""
    env = {"PATH": DEFAULT_PATH + (":/snap/bin" if os.path.isdir("/snap") else "")}
    entry = ("root", "/root") if request.uid == 0 else _passwd_entry(request.uid)
    if entry:
        env["USER"], env["HOME"] = entry
    env["LANG"] = "C.UTF-8"
    env.update(request.environment)
    return env


def _become_terminal_session(request: _AttachRequest) -> None:
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


_SYS_RT_SIGACTION = 13  # x86_64
_KERNEL_SIGACTION_DEFAULT = bytes(32)  # handler SIG_DFL, no flags, no restorer, empty mask


def _default_ignored_signals() -> None:
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


def _run_attached(request: _AttachRequest) -> int:
    """Entry point inside the container: environment, optional pty, cwd, then exec."""
    try:
        _default_ignored_signals()
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
                try:
                    _signal.pidfd_send_signal(self.pidfd, signum)
                except ProcessLookupError:
                    pass


# --- the runtime -------------------------------------------------------------------------------


class LxcRuntime:
    """Runtime on liblxc; every method is blocking and safe to call from worker threads."""

    def __init__(self, lxc_path: Path, log_level: str = "warn") -> None:
        self.lxc_path = Path(lxc_path).absolute()
        self.lxc_path.mkdir(parents=True, exist_ok=True)
        self.log_level = log_level
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def config_file(self, name: str) -> Path:
        """Path of the LXC config file of a container."""
        _check_name(name)
        return self.lxc_path / name / "config"

    def log_file(self, name: str) -> Path:
        """The LXC log of a container: lxc.log.file from its config, else <lxc_path>/<name>/lxc.log."""
        configured = _config_value(self.config_file(name), "lxc.log.file")
        return Path(configured) if configured else self.lxc_path / name / "lxc.log"

    # -- queries

    def state(self, name: str) -> ContainerState:
        """Current state from the monitor and the cgroup files; STOPPED for an unknown name."""
        if not self.config_file(name).exists():
            return ContainerState(status=STOPPED)
        container = self._container(name)
        status = _LXC_STATES.get(container.state, RUNNING)
        pid = container.init_pid if status != STOPPED else -1
        if pid <= 0:
            return ContainerState(status=STOPPED)
        return ContainerState(
            status=status,
            pid=pid,
            processes=_cgroup_int(container, "pids.current", -1),
            memory_usage=self._memory_usage(container),
            memory_peak=self._memory_peak(container),
            memory_total=self._memory_total(container),
            cpu_usage_ns=self._cpu_usage(container),
            cpu_allocated_ns=self._cpu_allocated(container),
        )

    def status(self, name: str) -> str:
        """RUNNING, FROZEN or STOPPED as state() says, from the monitor alone (no cgroup reads)."""
        if not self.config_file(name).exists():
            return STOPPED
        container = self._container(name)
        status = self._status(container)
        if status != STOPPED and container.init_pid <= 0:
            return STOPPED
        return status

    def running(self) -> list[str]:
        """Names under lxc_path whose container is running or frozen."""
        names = []
        for entry in sorted(self.lxc_path.iterdir()):
            if _NAME_RE.match(entry.name) and (entry / "config").exists():
                if self._status(self._container(entry.name)) != STOPPED:
                    names.append(entry.name)
        return names

    # -- lifecycle

    def start(self, spec: ContainerSpec) -> None:
        """Write the config and start the container; raise RuntimeFailure with the log's last lines."""
        _check_spec(spec)
        name = spec.name
        with self._lock(name):
            if self.config_file(name).exists() and self._status(self._container(name)) != STOPPED:
                raise Conflict(f'Container "{name}" is already running')
            if not os.path.isdir(spec.rootfs):
                raise NotFound(f'Rootfs "{spec.rootfs}" of container "{name}" not found')
            log_file = Path(spec.log_file) if spec.log_file else self.lxc_path / name / "lxc.log"
            try:
                self._write_config(spec, log_file)
                _rotate(log_file)
                code = _start_in_child(self._container(name), log_file)
            except OSError as err:
                raise RuntimeFailure(f'Failed starting container "{name}": {err}') from err
            if code == 0 and self._status(self._container(name)) != STOPPED:
                return
            tail = _log_tail(log_file)
            monitor = _find_monitor(self.lxc_path, name)
            if monitor is not None:
                _wait_pidfd(monitor, 5.0)  # let the failed start clean up first
                os.close(monitor)
            remove_stale_cgroups(name, detect_cgroup_layout())
            raise RuntimeFailure(f'Failed starting container "{name}":\n{tail}')

    def stop(self, name: str, timeout: float, force: bool) -> None:
        """SIGPWR to init and wait up to timeout (< 0: forever), then SIGKILL; force or 0 kills at once."""
        if not self.config_file(name).exists():
            return
        container = self._container(name)
        if self._status(container) == STOPPED:
            return
        init_pid = container.init_pid
        monitor, init = _monitor_pidfd(init_pid), _pidfd(init_pid)
        try:
            if force or timeout == 0 or not self._shutdown(container, monitor, timeout):
                self._kill(container, init)
                if not self._wait_stopped(container, monitor, KILL_WAIT):
                    raise RuntimeFailure(f'Failed stopping container "{name}": still running after SIGKILL')
        finally:
            for fd in (monitor, init):
                if fd is not None:
                    os.close(fd)
        with self._lock(name):  # not while a start of the same name creates its cgroups
            if self._status(container) == STOPPED:
                remove_stale_cgroups(name, detect_cgroup_layout())

    def freeze(self, name: str) -> None:
        """Freeze every process of the container; a no-op if already frozen."""
        with self._lock(name):  # waits for attaches in flight, see exec()
            container = self._running_container(name)
            if self._status(container) == FROZEN:
                return
            if not _set_frozen(container, True):
                _set_frozen(container, False)  # leave it running rather than half frozen
                raise RuntimeFailure(f'Failed freezing container "{name}"')

    def unfreeze(self, name: str) -> None:
        """Thaw a frozen container; a no-op if it is running."""
        with self._lock(name):
            container = self._running_container(name)
            if self._status(container) != FROZEN:
                return
            if not _set_frozen(container, False):
                raise RuntimeFailure(f'Failed unfreezing container "{name}"')

    def forget(self, name: str) -> None:
        """Remove the config and logs of a stopped container; the rootfs is never touched."""
        with self._lock(name):
            if not self.config_file(name).exists():
                return
            if self._status(self._container(name)) != STOPPED:
                raise Conflict(f'Container "{name}" is running, stop it first')
            log_file = self.log_file(name)
            lock_file = Path(f"/run/lxc/lock{self.lxc_path}/.{name}")  # liblxc's, for root
            for path in (
                log_file,
                log_file.with_name(log_file.name + ".old"),
                self.config_file(name),
                lock_file,
            ):
                path.unlink(missing_ok=True)
            try:
                (self.lxc_path / name).rmdir()
            except OSError:
                pass  # something else lives there; not ours to delete

    # -- exec

    def prepare_exec(self) -> None:
        """Start the grace period the attach's cgroup move would wait for (see cgroup_warmup)."""
        warm_cgroup_moves()

    def exec(
        self, name: str, spec: ExecSpec, interactive: bool, width: int = 80, height: int = 24
    ) -> LxcExecProcess:
        """Start a command inside; interactive gives a pty allocated inside the container."""
        with self._lock(name):
            return self._attach(name, spec, interactive, width, height)

    def try_exec(self, name: str, spec: ExecSpec) -> LxcExecProcess | None:
        """A non-interactive exec() that returns None instead of waiting for the container's lock.

        The binding holds the GIL for the whole attach, so a worker thread would not let the event
        loop run meanwhile anyway; only the wait for a start or freeze in flight must stay off it.
        """
        lock = self._lock(name)
        if not lock.acquire(blocking=False):
            return None
        try:
            return self._attach(name, spec, False, 80, 24)
        finally:
            lock.release()

    def _attach(self, name: str, spec: ExecSpec, interactive: bool, width: int, height: int) -> LxcExecProcess:
        """exec() with the container's lock held.

        An attach whose child gets frozen never returns, hanging every thread (the binding holds the
        GIL): no freeze while an attach is in flight (the lock), no attach into a frozen container.
        """
        if not spec.argv:
            raise InvalidArgument(f'Empty command for container "{name}"')
        request = _AttachRequest(list(spec.argv), dict(spec.environment), spec.cwd, spec.uid)
        options = {"env_policy": lxc.LXC_ATTACH_CLEAR_ENV, "uid": spec.uid, "gid": spec.gid, "initial_cwd": "/"}
        container = self._container(name) if self.config_file(name).exists() else None
        status = STOPPED if container is None else self._status(container)
        if container is None or status == STOPPED:
            raise Conflict(f'Container "{name}" is not running')
        if status == FROZEN:
            raise Conflict(f'Container "{name}" is frozen')
        try:
            if interactive:
                return _attach_terminal(container, name, request, options, width, height)
            return _attach_pipes(container, name, request, options)
        except OSError as err:  # out of fds or processes
            raise RuntimeFailure(f'Failed running {spec.argv[0]!r} in container "{name}": {err}') from err

    # -- helpers

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _container(self, name: str) -> lxc.Container:
        _check_name(name)
        try:
            return lxc.Container(name, config_path=str(self.lxc_path))
        except Exception as err:  # the binding raises bare errors for unreadable configs
            raise RuntimeFailure(f'Failed loading container "{name}": {err}') from err

    def _running_container(self, name: str) -> lxc.Container:
        container = self._container(name) if self.config_file(name).exists() else None
        if container is None or self._status(container) == STOPPED:
            raise Conflict(f'Container "{name}" is not running')
        return container

    @staticmethod
    def _status(container: lxc.Container) -> str:
        return _LXC_STATES.get(container.state, RUNNING)

    def _write_config(self, spec: ContainerSpec, log_file: Path) -> None:
        text = render_config(spec, str(log_file), self.log_level, detect_cgroup_layout())
        config = self.config_file(spec.name)
        config.parent.mkdir(parents=True, exist_ok=True)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        scratch = config.with_name("config.new")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # environment may hold secrets
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(scratch, config)

    def _shutdown(self, container: lxc.Container, monitor: int | None, timeout: float) -> bool:
        """Send lxc.signal.halt (SIGPWR) and wait off the GIL; False if still running after timeout."""
        if self._status(container) == FROZEN:
            _set_frozen(container, False)  # frozen tasks cannot handle the signal
        container.shutdown(0)  # shutdown(timeout) would hold the GIL for the whole wait
        return self._wait_stopped(container, monitor, None if timeout < 0 else timeout)

    def _kill(self, container: lxc.Container, init: int | None) -> None:
        """SIGKILL init, which takes its pid namespace along; Container.stop() would hold the GIL."""
        if self._status(container) == FROZEN:
            _set_frozen(container, False)  # a task frozen by the v1 freezer does not die
        if init is None:
            container.stop()
            return
        try:
            _signal.pidfd_send_signal(init, _signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _wait_stopped(self, container: lxc.Container, monitor: int | None, timeout: float | None) -> bool:
        """Wait for the monitor to exit (it removes the cgroups last); poll the state without one."""
        if monitor is not None:
            return _wait_pidfd(monitor, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._status(container) != STOPPED:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    @staticmethod
    def _memory_usage(container: lxc.Container) -> int:
        key = "memory.usage_in_bytes" if "memory" in detect_cgroup_layout().v1 else "memory.current"
        return _cgroup_int(container, key, 0)

    @staticmethod
    def _memory_peak(container: lxc.Container) -> int:
        key = "memory.max_usage_in_bytes" if "memory" in detect_cgroup_layout().v1 else "memory.peak"
        return _cgroup_int(container, key, 0)

    @staticmethod
    def _memory_total(container: lxc.Container) -> int:
        v1 = "memory" in detect_cgroup_layout().v1
        limit = _cgroup_int(container, "memory.limit_in_bytes" if v1 else "memory.max", 0)
        host = host_memory()
        return limit if 0 < limit < host else host

    @staticmethod
    def _cpu_allocated(container: lxc.Container) -> int:
        cpus = _cgroup_value(container, "cpuset.cpus") if "cpuset" in detect_cgroup_layout().v1 else ""
        count = len(cpuset_cpus(cpus)) if cpus else (os.cpu_count() or 1)
        return count * 1_000_000_000

    @staticmethod
    def _cpu_usage(container: lxc.Container) -> int:
        if "cpuacct" in detect_cgroup_layout().v1:
            return _cgroup_int(container, "cpuacct.usage", 0)
        for line in _cgroup_value(container, "cpu.stat").splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) * 1000
        return 0


# --- process plumbing --------------------------------------------------------------------------


def _start_in_child(container: lxc.Container, log_file: Path) -> int:
    """Run Container.start() in a forked child that exits at once; return the child's exit code."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _close_inherited(keep=str(log_file))
            null = os.open(os.devnull, os.O_RDWR)
            log = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(log, 2)  # anything liblxc prints lands in the container log
            _default_ignored_signals()  # else init and every service inherit Python's SIG_IGN for SIGPIPE
            code = 0 if container.start() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _close_inherited(keep: str) -> None:
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


def _attach_pipes(
    container: lxc.Container, name: str, request: _AttachRequest, options: dict
) -> LxcExecProcess:
    (stdin_r, stdin_w), (stdout_r, stdout_w), (stderr_r, stderr_w) = os.pipe(), os.pipe(), os.pipe()
    theirs, ours = (stdin_r, stdout_w, stderr_w), (stdin_w, stdout_r, stderr_r)
    process = None
    try:
        pid = container.attach(
            _run_attached, request, stdin=stdin_r, stdout=stdout_w, stderr=stderr_w, **options
        )
        if pid > 0:
            process = LxcExecProcess(pid, *ours, -1)
    finally:
        for fd in theirs if process else theirs + ours:
            os.close(fd)
    if process is None:
        raise RuntimeFailure(f'Failed running {request.argv[0]!r} in container "{name}"')
    return process


def _attach_terminal(
    container: lxc.Container, name: str, request: _AttachRequest, options: dict, width: int, height: int
) -> LxcExecProcess:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    request = _AttachRequest(
        request.argv, request.environment, request.cwd, request.uid, theirs, width, height
    )
    try:
        pid = container.attach(_run_attached, request, **options)
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


def _set_frozen(container: lxc.Container, frozen: bool) -> bool:
    """Freeze or thaw the container's cgroup.

    liblxc re-checks a v1 freezer once a second while holding the GIL, so on v1 the state is
    reached by hand first; liblxc's own call then returns at once and updates the monitor's state.
    """
    if "freezer" in detect_cgroup_layout().v1:
        want = "FROZEN" if frozen else "THAWED"
        deadline = time.monotonic() + FREEZE_WAIT
        delay = 0.001
        # While FREEZING, writing FROZEN again retries the tasks that could not be frozen yet.
        while _cgroup_value(container, "freezer.state") != want:
            if time.monotonic() > deadline or not container.set_cgroup_item("freezer.state", want):
                return False
            if _cgroup_value(container, "freezer.state") != want:
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
    return bool(container.freeze() if frozen else container.unfreeze())


def _cgroup_value(container: lxc.Container, key: str) -> str:
    """A cgroup file of the container, "" if unreadable.

    The binding asks liblxc for the length, then reads again: a file that changes length in
    between (a counter, FREEZING -> FROZEN) raises ValueError, so try again.
    """
    for _ in range(5):
        try:
            return container.get_cgroup_item(key) or ""
        except ValueError:
            continue
    return ""


def _cgroup_int(container: lxc.Container, key: str, default: int) -> int:
    value = _cgroup_value(container, key)
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid) if pid > 0 else None
    except OSError:
        return None


def _monitor_pidfd(init_pid: int) -> int | None:
    """A pidfd on the container's monitor (the parent of init), or None if it is already gone."""
    try:
        stat = Path(f"/proc/{init_pid}/stat").read_text()
        monitor = int(stat.rsplit(")", 1)[1].split()[1])
        if not Path(f"/proc/{monitor}/cmdline").read_bytes().startswith(b"[lxc monitor] "):
            return None
        return os.pidfd_open(monitor)
    except (OSError, ValueError, IndexError):
        return None


def _find_monitor(lxc_path: Path, name: str) -> int | None:
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


def _wait_pidfd(pidfd: int, timeout: float | None) -> bool:
    """True once the process behind the pidfd has exited (None: wait forever); closes nothing."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))


def _rotate(log_file: Path) -> None:
    try:
        os.replace(log_file, log_file.with_name(log_file.name + ".old"))
    except FileNotFoundError:
        pass
