"""``pincus info``: the incus 6 instance report, ending with the Snapshots table."""

from __future__ import annotations

import sys

from pincus.base.sizes import byte_size, byte_size_iec
from pincus.cli.common import CLIError, Command, Ctx
from pincus.cli.flags import Flag, Options
from pincus.cli.format import fmt_date, tablewriter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _resources(state: dict[str, Any]) -> list[str]:
    lines = ["", "Resources:", f"  Processes: {state.get('processes', 0)}"]
    disks = [
        f"    {name}: {byte_size_iec(disk.get('usage', 0))}"
        for name, disk in (state.get("disk") or {}).items()
        if disk.get("usage", 0) != 0
    ]
    if disks:
        lines += ["  Disk usage:", *disks]
    cpu = (state.get("cpu") or {}).get("usage", 0)
    if cpu:
        lines += ["  CPU usage:", f"    CPU usage (in seconds): {cpu // 1000000000}"]
    memory = state.get("memory") or {}
    mem = [
        f"    {label}: {byte_size_iec(memory[key])}"
        for key, label in (
            ("usage", "Memory (current)"),
            ("usage_peak", "Memory (peak)"),
            ("swap_usage", "Swap (current)"),
            ("swap_usage_peak", "Swap (peak)"),
        )
        if memory.get(key, 0)
    ]
    if mem:
        lines += ["  Memory usage:", *mem]
    network = state.get("network") or {}
    if network:
        lines.append("  Network usage:")
        for name in sorted(network):
            lines += _network(name, network[name])
    return lines


def _network(name: str, net: dict[str, Any]) -> list[str]:
    counters = net.get("counters") or {}
    lines = [
        f"    {name}:",
        f"      Type: {net.get('type', '')}",
        f"      State: {str(net.get('state', '')).upper()}",
    ]
    if net.get("host_name"):
        lines.append(f"      Host interface: {net['host_name']}")
    if net.get("hwaddr"):
        lines.append(f"      MAC address: {net['hwaddr']}")
    if net.get("mtu"):
        lines.append(f"      MTU: {net['mtu']}")
    lines += [
        f"      Bytes received: {byte_size(counters.get('bytes_received', 0))}",
        f"      Bytes sent: {byte_size(counters.get('bytes_sent', 0))}",
        f"      Packets received: {counters.get('packets_received', 0)}",
        f"      Packets sent: {counters.get('packets_sent', 0)}",
        "      IP addresses:",
    ]
    for addr in net.get("addresses") or []:
        gap = "  " if addr.get("family") == "inet" else " "
        lines.append(
            f"        {addr.get('family')}:{gap}{addr.get('address')}/{addr.get('netmask')} ({addr.get('scope')})"
        )
    return lines


def _os_info(info: dict[str, Any]) -> list[str]:
    return [
        "",
        "Operating System:",
        f"  OS: {info.get('os', '')}",
        f"  OS Version: {info.get('os_version', '')}",
        f"  Kernel Version: {info.get('kernel_version', '')}",
        f"  Hostname: {info.get('hostname', '')}",
        f"  FQDN: {info.get('fqdn', '')}",
    ]


def _date_or_space(value: Any) -> str:
    return fmt_date(value) or " "


def snapshot_rows(snapshots: list[dict[str, Any]]) -> list[list[str]]:
    """Rows of the Snapshots table (name, taken at, expires at, stateful)."""
    return [
        [
            str(snap.get("name", "")).split("/")[-1],
            _date_or_space(snap.get("created_at")),
            _date_or_space(snap.get("expires_at")),
            "YES" if snap.get("stateful") else "NO",
        ]
        for snap in snapshots
    ]


def render_info(inst: dict[str, Any], clustered: bool = False) -> str:
    """The text ``incus info NAME`` prints."""
    state = inst.get("state") or {}
    kind = inst.get("type") or "container"
    lines = [
        f"Name: {inst.get('name', '')}",
        f"Description: {inst.get('description', '')}",
        f"Status: {str(inst.get('status', '')).upper()}",
        f"Type: {kind} (ephemeral)" if inst.get("ephemeral") else f"Type: {kind}",
        f"Architecture: {inst.get('architecture', '')}",
    ]
    if inst.get("error"):  # pincusd: why recovery left the instance in status Error
        lines.insert(3, f"Error: {inst['error']}")
    if inst.get("location") and clustered:
        lines.append(f"Location: {inst['location']}")
    pid = state.get("pid", 0)
    if pid:
        lines.append(f"PID: {pid}")
    for key, label in (("created_at", "Created"), ("last_used_at", "Last Used")):
        if fmt_date(inst.get(key)):
            lines.append(f"{label}: {fmt_date(inst.get(key))}")
    if pid:
        if fmt_date(state.get("started_at")):
            lines.append(f"Started: {fmt_date(state.get('started_at'))}")
        if state.get("os_info"):
            lines += _os_info(state["os_info"])
        lines += _resources(state)
    out = "\n".join(lines) + "\n"
    snapshots = inst.get("snapshots") or []
    if snapshots:
        out += "\nSnapshots:\n"
        out += tablewriter(["Name", "Taken at", "Expires at", "Stateful"], snapshot_rows(snapshots))
    backups = inst.get("backups") or []
    if backups:
        rows = [
            [
                b.get("name", ""),
                _date_or_space(b.get("created_at")),
                _date_or_space(b.get("expires_at")),
                "YES" if b.get("instance_only") else "NO",
                "YES" if b.get("optimized_storage") else "NO",
            ]
            for b in backups
        ]
        out += "\nBackups:\n"
        out += tablewriter(["Name", "Taken at", "Expires at", "Instance Only", "Optimized Storage"], rows)
    return out


def run_info(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Show instance (or server) information."""
    client, _, name = ctx.resolve(args[0] if args else "")
    if not name:
        server, _ = client.get_server()
        from pincus.cli import goyaml

        env = server.get("environment") or {}
        if isinstance(env.get("storage_supported_drivers"), list):
            # ServerStorageDriverInfo has capitalised JSON names but lower-case YAML names.
            drivers = [{k.lower(): v for k, v in d.items()} for d in env["storage_supported_drivers"]]
            server = {**server, "environment": {**env, "storage_supported_drivers": drivers}}
        sys.stdout.write(goyaml.dump(server))
        return 0
    if opts.target:
        raise CLIError("--target cannot be used with instances")
    inst = client.get_instance_full(name)
    sys.stdout.write(render_info(inst))
    if opts.show_log:
        from pincus.client.connection import quote_path

        logname = "qemu.log" if inst.get("type") == "virtual-machine" else "lxc.log"
        raw = client.conn.request("GET", f"/1.0/instances/{quote_path(name)}/logs/{logname}")
        sys.stdout.write(f"\nLog:\n\n{raw.body.decode('utf-8', 'replace')}\n")
    return 0


INFO = Command(
    "info",
    "[<remote>:][<instance>]",
    "Show instance or server information",
    run_info,
    [
        Flag("show-log", help="Show the instance's last 100 log lines?"),
        Flag("resources", help="Show the resources available to the server"),
        Flag("target", kind="str", help="Cluster member name"),
        Flag("show-access", help="Show the instance's access list"),
    ],
    nargs=(0, 1),
)

COMMANDS = {"info": INFO}
