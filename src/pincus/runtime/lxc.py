"""System containers run by liblxc through the `lxc` binding.

One LXC "lxcpath" per daemon: ``<lxc_path>/<name>/config`` is written here at every start (never
through ``set_config_item``, which mangles prefixed and multi-valued keys). ``Container.start()`` runs
in a short-lived forked child, because liblxc moves its caller into the container's monitor cgroup.
Containers outlive this process; a new ``LxcRuntime`` on the same path finds them again.
``Container.destroy()`` is never called: it deletes the rootfs, which storage owns.
"""

from __future__ import annotations

import os
import signal as _signal
import threading
import time
from pathlib import Path

import lxc

from pincus.base.errors import Conflict, InvalidArgument, NotFound, RuntimeFailure
from pincus.runtime.attach import AttachRequest, LxcExecProcess, attach_pipes, attach_terminal
from pincus.runtime.base import FROZEN, RUNNING, STOPPED, ContainerSpec, ContainerState, ExecSpec
from pincus.runtime.cgroup_warmup import warm_cgroup_moves
from pincus.runtime.cgroups import (
    cgroup_int,
    cpu_allocated,
    cpu_usage,
    memory_peak,
    memory_total,
    memory_usage,
    set_frozen,
)
from pincus.runtime.lxc_config import (
    NAME_RE,
    check_name,
    check_spec,
    detect_cgroup_layout,
    remove_stale_cgroups,
    render_config,
)
from pincus.runtime.procs import (
    find_monitor,
    kill_pidfd,
    monitor_pidfd,
    open_pidfd,
    start_in_child,
    wait_pidfd,
)

LOG_TAIL_LINES = 8
KILL_WAIT = 10.0  # seconds a SIGKILLed container gets to disappear

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
        check_name(name)
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
            processes=cgroup_int(container, "pids.current", -1),
            memory_usage=memory_usage(container),
            memory_peak=memory_peak(container),
            memory_total=memory_total(container),
            cpu_usage_ns=cpu_usage(container),
            cpu_allocated_ns=cpu_allocated(container),
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
            if NAME_RE.match(entry.name) and (entry / "config").exists():
                if self._status(self._container(entry.name)) != STOPPED:
                    names.append(entry.name)
        return names

    # -- lifecycle

    def start(self, spec: ContainerSpec) -> None:
        """Write the config and start the container; raise RuntimeFailure with the log's last lines."""
        check_spec(spec)
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
                code = start_in_child(self._container(name), log_file)
            except OSError as err:
                raise RuntimeFailure(f'Failed starting container "{name}": {err}') from err
            if code == 0 and self._status(self._container(name)) != STOPPED:
                return
            tail = _log_tail(log_file)
            monitor = find_monitor(self.lxc_path, name)
            if monitor is not None:
                wait_pidfd(monitor, 5.0)  # let the failed start clean up first
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
        monitor, init = monitor_pidfd(init_pid), open_pidfd(init_pid)
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
            if not set_frozen(container, True):
                set_frozen(container, False)  # leave it running rather than half frozen
                raise RuntimeFailure(f'Failed freezing container "{name}"')

    def unfreeze(self, name: str) -> None:
        """Thaw a frozen container; a no-op if it is running."""
        with self._lock(name):
            container = self._running_container(name)
            if self._status(container) != FROZEN:
                return
            if not set_frozen(container, False):
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
        request = AttachRequest(list(spec.argv), dict(spec.environment), spec.cwd, spec.uid)
        options = {"env_policy": lxc.LXC_ATTACH_CLEAR_ENV, "uid": spec.uid, "gid": spec.gid, "initial_cwd": "/"}
        container = self._container(name) if self.config_file(name).exists() else None
        status = STOPPED if container is None else self._status(container)
        if container is None or status == STOPPED:
            raise Conflict(f'Container "{name}" is not running')
        if status == FROZEN:
            raise Conflict(f'Container "{name}" is frozen')
        try:
            if interactive:
                return attach_terminal(container, name, request, options, width, height)
            return attach_pipes(container, name, request, options)
        except OSError as err:  # out of fds or processes
            raise RuntimeFailure(f'Failed running {spec.argv[0]!r} in container "{name}": {err}') from err

    # -- helpers

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _container(self, name: str) -> lxc.Container:
        check_name(name)
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
            set_frozen(container, False)  # frozen tasks cannot handle the signal
        container.shutdown(0)  # shutdown(timeout) would hold the GIL for the whole wait
        return self._wait_stopped(container, monitor, None if timeout < 0 else timeout)

    def _kill(self, container: lxc.Container, init: int | None) -> None:
        """SIGKILL init, which takes its pid namespace along; Container.stop() would hold the GIL."""
        if self._status(container) == FROZEN:
            set_frozen(container, False)  # a task frozen by the v1 freezer does not die
        if init is None:
            container.stop()
            return
        kill_pidfd(init, _signal.SIGKILL)

    def _wait_stopped(self, container: lxc.Container, monitor: int | None, timeout: float | None) -> bool:
        """Wait for the monitor to exit (it removes the cgroups last); poll the state without one."""
        if monitor is not None:
            return wait_pidfd(monitor, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._status(container) != STOPPED:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True


def _rotate(log_file: Path) -> None:
    try:
        os.replace(log_file, log_file.with_name(log_file.name + ".old"))
    except FileNotFoundError:
        pass
