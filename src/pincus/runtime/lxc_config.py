"""The LXC config file of a container: base keys, limits as cgroup keys, validation of a spec."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pincus.base.errors import InvalidArgument, NotSupported, RuntimeFailure
from pincus.runtime.base import ContainerSpec

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}$")
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CPU_SET_RE = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$")
_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4, "pb": 1000**5, "eb": 1000**6,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4, "pib": 1024**5, "eib": 1024**6,
}  # fmt: skip

# The device cgroup of a privileged container: what Incus allows by default.
_DEVICES_ALLOWED = (
    "b *:* m", "c *:* m", "c 136:* rwm", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
    "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 10:229 rwm", "c 10:200 rwm",
)  # fmt: skip
_BASE_CONFIG = (
    "lxc.net.0.type = empty",
    "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
    "lxc.autodev = 1",
    "lxc.pty.max = 1024",
    "lxc.tty.max = 0",
    "lxc.signal.halt = SIGPWR",
    "lxc.apparmor.profile = unconfined",
    "lxc.cap.drop = mac_admin mac_override sys_module sys_rawio sys_time",
)


# --- host cgroup layout and limits -------------------------------------------------------------


@dataclass(frozen=True)
class CgroupLayout:
    """Which controllers sit on cgroup v1 hierarchies and which on the unified (v2) one."""

    v1: frozenset[str]
    v2: frozenset[str]
    unified: bool  # a cgroup2 hierarchy is mounted
    mounts: tuple[str, ...] = ()  # mount points of every hierarchy, v1 and v2

    def prefix(self, controller: str) -> str:
        """The LXC config prefix for a controller: lxc.cgroup or lxc.cgroup2; "" when absent."""
        if controller in self.v1:
            return "lxc.cgroup"
        if controller in self.v2:
            return "lxc.cgroup2"
        return ""


@cache
def detect_cgroup_layout() -> CgroupLayout:
    """v1 controllers from /proc/cgroups (hierarchy id set), v2 ones from the cgroup2 mount."""
    v1: set[str] = set()
    for line in Path("/proc/cgroups").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 4 and fields[1] != "0" and fields[3] == "1":
            v1.add(fields[0])
    v2: set[str] = set()
    unified = False
    mounts: list[str] = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] in ("cgroup", "cgroup2"):
            mounts.append(fields[1])
        if len(fields) > 2 and fields[2] == "cgroup2":
            unified = True
            try:
                v2.update((Path(fields[1]) / "cgroup.controllers").read_text().split())
            except OSError:
                pass
    return CgroupLayout(frozenset(v1), frozenset(v2 - v1), unified, tuple(mounts))


def remove_stale_cgroups(name: str, layout: CgroupLayout) -> None:
    """rmdir the cgroups liblxc left behind for a container that is gone; exact name only.

    liblxc cannot remove a cgroup that still holds a process, such as the caller of start() when
    a start fails fast, or an attach caught by a freeze. rmdir of a cgroup in use fails, harmlessly.
    """
    for mount in layout.mounts:
        for leaf in (f"lxc.monitor.{name}", f"lxc.payload.{name}/.lxc", f"lxc.payload.{name}"):
            try:
                os.rmdir(os.path.join(mount, leaf))
            except OSError:
                pass


def parse_memory_limit(value: str) -> int:
    """Bytes for an Incus size ("256MiB", "1GB", "268435456") or a share of host RAM ("50%")."""
    text = value.strip()
    if text.endswith("%"):
        try:
            share = float(text[:-1])
        except ValueError:
            share = -1.0
        if not 0 < share <= 100:
            raise InvalidArgument(f'Invalid memory limit "{value}"')
        return int(host_memory() * share / 100)
    match = _SIZE_RE.match(text)
    unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise InvalidArgument(f'Invalid memory limit "{value}"')
    size = int(float(match.group(1)) * unit)
    if size <= 0:
        raise InvalidArgument(f'Invalid memory limit "{value}"')
    return size


@cache
def host_memory() -> int:
    """The host's memory in bytes."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise RuntimeFailure("Failed reading the host memory size")


def cpuset_cpus(text: str) -> list[int]:
    """The CPU numbers of a cpuset list such as "0-1,3"."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if part:
            low, _, high = part.partition("-")
            cpus.extend(range(int(low), int(high or low) + 1))
    return cpus


def _online_cpus() -> list[int]:
    return cpuset_cpus(Path("/sys/devices/system/cpu/online").read_text())


def cpuset_for(value: str) -> str:
    """A cpuset for limits.cpu: a count picks the first online CPUs, a set ("0-1,3") is kept."""
    text = value.strip()
    if text.isdigit():
        count = int(text)
        if count < 1:
            raise InvalidArgument(f'Invalid CPU limit "{value}"')
        return ",".join(str(cpu) for cpu in _online_cpus()[:count])
    if not _CPU_SET_RE.match(text):
        raise InvalidArgument(f'Invalid CPU limit "{value}"')
    return text


def limit_config(name: str, limits: dict[str, str], layout: CgroupLayout) -> list[str]:
    """LXC cgroup lines for limits.memory, limits.processes and limits.cpu; other keys are ignored."""
    wanted: list[tuple[str, str, str, str]] = []  # (incus key, v1 file, v2 file, value)
    try:
        if limits.get("limits.memory"):
            size = str(parse_memory_limit(limits["limits.memory"]))
            if limits.get("limits.memory.enforce") == "soft":
                wanted.append(("limits.memory", "memory.soft_limit_in_bytes", "memory.low", size))
            else:
                wanted.append(("limits.memory", "memory.limit_in_bytes", "memory.max", size))
        if limits.get("limits.processes"):
            count = limits["limits.processes"].strip()
            if not count.isdigit() or int(count) < 1:
                raise InvalidArgument(f'Invalid process limit "{count}"')
            wanted.append(("limits.processes", "pids.max", "pids.max", count))
        if limits.get("limits.cpu"):
            wanted.append(("limits.cpu", "cpuset.cpus", "cpuset.cpus", cpuset_for(limits["limits.cpu"])))
    except InvalidArgument as err:
        raise InvalidArgument(f'{err} for container "{name}"') from err
    lines = []
    for key, v1_file, v2_file, value in wanted:
        controller = v1_file.split(".")[0]
        prefix = layout.prefix(controller)
        if not prefix:
            raise NotSupported(f'Cannot apply {key} to container "{name}": no {controller} cgroup controller')
        lines.append(f"{prefix}.{v1_file if prefix == 'lxc.cgroup' else v2_file} = {value}")
    return lines


# --- config file -------------------------------------------------------------------------------


def check_name(name: str) -> None:
    """InvalidArgument unless name is a valid LXC container name."""
    if not NAME_RE.match(name):
        raise InvalidArgument(f'Invalid container name "{name}"')


def check_spec(spec: ContainerSpec) -> None:
    """InvalidArgument (or NotSupported) unless the spec can become an LXC config."""
    check_name(spec.name)
    if not spec.privileged:
        raise NotSupported(f'Container "{spec.name}": unprivileged containers are not supported yet')
    if not spec.hostname or any(ch.isspace() for ch in spec.hostname):
        raise InvalidArgument(f'Invalid hostname "{spec.hostname}" for container "{spec.name}"')
    if not os.path.isabs(spec.rootfs) or "\n" in spec.rootfs:
        raise InvalidArgument(f'Invalid rootfs path "{spec.rootfs}" for container "{spec.name}"')
    # liblxc splits lxc.init.cmd on spaces, without quoting.
    if not spec.init or any(not arg or any(ch.isspace() for ch in arg) for arg in spec.init):
        raise InvalidArgument(f'Invalid init command {spec.init} for container "{spec.name}"')
    for key, value in spec.environment.items():
        if not _ENV_KEY_RE.match(key) or "\n" in value:
            raise InvalidArgument(f'Invalid environment variable "{key}" for container "{spec.name}"')


def render_config(spec: ContainerSpec, log_file: str, log_level: str, layout: CgroupLayout) -> str:
    """The LXC config file text for a spec (validated first)."""
    check_spec(spec)
    if "\n" in log_file:
        raise InvalidArgument(f'Invalid log file "{log_file}" for container "{spec.name}"')
    lines = [
        "# pincus: rewritten at every start",
        f"lxc.uts.name = {spec.hostname}",
        f"lxc.rootfs.path = {spec.rootfs}",
        f"lxc.init.cmd = {' '.join(spec.init)}",
        *_BASE_CONFIG,
        f"lxc.log.file = {log_file}",
        f"lxc.log.level = {log_level}",
    ]
    lines += [f"lxc.environment = {key}={value}" for key, value in spec.environment.items()]
    devices = layout.prefix("devices") or ("lxc.cgroup2" if layout.unified else "")
    if devices:
        lines.append(f"{devices}.devices.deny = a")
        lines += [f"{devices}.devices.allow = {rule}" for rule in _DEVICES_ALLOWED]
    lines += limit_config(spec.name, spec.limits, layout)
    return "\n".join(lines) + "\n"
