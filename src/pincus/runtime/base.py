"""The container runtime contract (liblxc in runtime/lxc.py, in-memory in runtime/fake.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

RUNNING = "Running"
STOPPED = "Stopped"
FROZEN = "Frozen"


@dataclass(frozen=True)
class ContainerSpec:
    """What the runtime needs to start a container; the runtime writes the LXC config from it."""

    name: str  # runtime-unique name (the daemon prefixes instance names to avoid clashes)
    hostname: str  # the instance name, as seen inside
    rootfs: str  # absolute path of the rootfs directory
    init: list[str] = field(default_factory=lambda: ["/sbin/init"])
    environment: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)  # incus limits.* keys
    privileged: bool = True
    log_file: str = ""


@dataclass(frozen=True)
class ContainerState:
    """Runtime view of one container."""

    status: str  # RUNNING, STOPPED or FROZEN
    pid: int = -1  # init pid on the host, -1 when stopped
    processes: int = -1
    memory_usage: int = 0
    memory_peak: int = 0
    memory_total: int = 0  # the limit, else the host's memory
    cpu_usage_ns: int = 0
    cpu_allocated_ns: int = 0  # CPU time available per second (CPUs x 1e9), as Incus reports


@dataclass(frozen=True)
class ExecSpec:
    """One command to run inside a container."""

    argv: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    cwd: str = ""
    uid: int = 0
    gid: int = 0


class ExecProcess(Protocol):
    """A running exec; file descriptors belong to the caller, who closes them."""

    pid: int
    stdin_fd: int  # write end; -1 for a pty exec (use master_fd)
    stdout_fd: int  # read end; -1 for a pty exec
    stderr_fd: int  # read end; -1 for a pty exec
    master_fd: int  # pty master for interactive execs, else -1
    # Readable once the process has exited (then wait() returns at once), so an event loop can wait
    # without a thread; -1 when there is none or after wait(), which closes it.
    pidfd: int

    def wait(self) -> int:
        """Block until the process exits; return its exit code (128+N for a signal)."""

    def resize(self, width: int, height: int) -> None:
        """Set the pty window size (interactive execs only)."""

    def signal(self, signum: int) -> None:
        """Send a signal to the process."""


class Runtime(Protocol):
    """Start, stop and enter system containers.

    Blocking calls: the caller runs them in threads, except status() and try_exec(), which an event
    loop may call (they never wait for another call to finish).
    """

    def state(self, name: str) -> ContainerState:
        """Current state; STOPPED for an unknown name."""

    def start(self, spec: ContainerSpec) -> None:
        """Write the config and start the container; raise RuntimeFailure with the log's last lines."""

    def stop(self, name: str, timeout: float, force: bool) -> None:
        """Clean shutdown (SIGPWR to init) within timeout, else or with force kill; no-op if stopped."""

    def freeze(self, name: str) -> None:
        """Freeze every process of the container."""

    def unfreeze(self, name: str) -> None:
        """Thaw a frozen container."""

    def status(self, name: str) -> str:
        """RUNNING, FROZEN or STOPPED, without the resource figures state() gathers."""

    def prepare_exec(self) -> None:
        """An exec follows within milliseconds: start what would slow its attach down (blocks; never raises)."""

    def exec(self, name: str, spec: ExecSpec, interactive: bool, width: int = 80, height: int = 24) -> ExecProcess:
        """Start a command inside; interactive gives a pty allocated inside the container."""

    def try_exec(self, name: str, spec: ExecSpec) -> ExecProcess | None:
        """A non-interactive exec() for an event loop: None, at once, where exec() would first wait for
        a start or freeze of the container to finish (the caller then runs exec() in a thread)."""

    def running(self) -> list[str]:
        """Names of the containers this runtime knows that are running or frozen."""

    def forget(self, name: str) -> None:
        """Remove the runtime's own files (config, logs) of a stopped container; never the rootfs."""
