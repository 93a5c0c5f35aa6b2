"""``pincus list``: instances as a table (or csv/json/yaml/compact/markdown), incus 6 columns and filters."""

from __future__ import annotations

import sys

from pincus.cli.common import CLIError, Command, Ctx
from pincus.cli.flags import Flag, Options
from pincus.cli.format import fmt_date, render, sort_rows, validate_format

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Column = tuple[
        str, Callable[[dict[str, Any]], str], bool, bool
    ]  # header, data, needs state, needs snapshots

DEFAULT_COLUMNS = "ns46tSL"
STOPPED, ERROR = 102, 112
INSTANCE_FIELDS = frozenset(
    "architecture config devices ephemeral profiles restore stateful description created_at expanded_config "
    "expanded_devices name status status_code last_used_at location type project backups state snapshots".split()
)


def is_active(inst: dict[str, Any]) -> bool:
    """api.Instance.IsActive."""
    return inst.get("status_code") not in (STOPPED, ERROR)


def _state(inst: dict[str, Any]) -> dict[str, Any] | None:
    state = inst.get("state")
    return state if isinstance(state, dict) else None


def _ips(inst: dict[str, Any], family: str) -> str:
    state = _state(inst)
    if not is_active(inst) or not state or not state.get("network"):
        return ""
    found = []
    for net_name, net in state["network"].items():
        if net.get("type") == "loopback":
            continue
        for addr in net.get("addresses") or []:
            if addr.get("scope") in ("link", "local") or addr.get("family") != family:
                continue
            found.append(f"{addr.get('address')} ({net_name})")
    return "\n".join(sorted(found, reverse=True))


def root_disk_name(devices: dict[str, Any] | None) -> str:
    """instance.GetRootDiskDevice: the disk device mounted at / without a source."""
    for name, dev in (devices or {}).items():
        if dev.get("type") == "disk" and dev.get("path") == "/" and not dev.get("source"):
            return str(name)
    return ""


def parse_byte_size(text: str) -> int:
    """units.ParseByteSizeString for limits.memory values (``512MiB``, ``1GB``, ``1024``)."""
    text = text.strip()
    if not text:
        return 0
    digits = len(text) - len(text.lstrip("0123456789"))
    number, suffix = text[:digits], text[digits:].strip()
    if not number:
        raise ValueError(text)
    mult = {"": 1, "B": 1, "bit": 1}
    for i, (si, iec) in enumerate(
        (("kB", "KiB"), ("MB", "MiB"), ("GB", "GiB"), ("TB", "TiB"), ("PB", "PiB"))
    ):
        mult[si] = 1000 ** (i + 1)
        mult[iec] = 1024 ** (i + 1)
    if suffix not in mult:
        raise ValueError(text)
    return int(number) * mult[suffix]


def _mem_pct(inst: dict[str, Any]) -> str:
    state = _state(inst)
    usage = (state or {}).get("memory", {}).get("usage", 0)
    limit = (inst.get("expanded_config") or {}).get("limits.memory", "")
    if not is_active(inst) or not usage or not limit or "%" in limit:
        return ""
    try:
        value = parse_byte_size(limit)
    except ValueError:
        return ""
    return f"{usage / value * 100:.1f}%" if value > 0 else ""


def _active_state(inst: dict[str, Any], fn: Callable[[dict[str, Any]], str]) -> str:
    state = _state(inst)
    return fn(state) if is_active(inst) and state else ""


def _disk(inst: dict[str, Any]) -> str:
    from pincus.base.sizes import byte_size_iec

    state = _state(inst)
    usage = (
        ((state or {}).get("disk") or {})
        .get(root_disk_name(inst.get("expanded_devices")), {})
        .get("usage", 0)
    )
    return byte_size_iec(usage) if usage and usage > 0 else ""


def _type(inst: dict[str, Any]) -> str:
    kind = (inst.get("type") or "container").upper()
    return f"{kind} (EPHEMERAL)" if inst.get("ephemeral") else kind


def _pool(inst: dict[str, Any]) -> str:
    for dev in (inst.get("expanded_devices") or {}).values():
        if dev.get("type") == "disk" and dev.get("path") == "/":
            return str(dev.get("pool", ""))
    return ""


def _mem(inst: dict[str, Any]) -> str:
    from pincus.base.sizes import byte_size_iec

    usage = ((_state(inst) or {}).get("memory") or {}).get("usage", 0)
    return byte_size_iec(usage) if is_active(inst) and usage > 0 else ""


def _cpu(inst: dict[str, Any]) -> str:
    usage = ((_state(inst) or {}).get("cpu") or {}).get("usage", 0)
    return f"{usage // 1000000000}s" if is_active(inst) and usage > 0 else ""


def _base(inst: dict[str, Any], long: bool) -> str:
    value = str((inst.get("config") or {}).get("volatile.base_image", ""))
    return value if long else value[:12]


def shorthand_columns() -> dict[str, Column]:
    """The pre-defined column shorthand chars of ``incus list``."""
    return {
        "4": ("IPV4", lambda i: _ips(i, "inet"), True, False),
        "6": ("IPV6", lambda i: _ips(i, "inet6"), True, False),
        "a": ("ARCHITECTURE", lambda i: i.get("architecture", ""), False, False),
        "b": ("STORAGE POOL", _pool, False, False),
        "c": ("CREATED AT", lambda i: fmt_date(i.get("created_at")), False, False),
        "d": ("DESCRIPTION", lambda i: i.get("description", ""), False, False),
        "D": ("DISK USAGE", _disk, True, False),
        "e": ("PROJECT", lambda i: i.get("project", ""), False, False),
        "f": ("BASE IMAGE", lambda i: _base(i, False), False, False),
        "F": ("BASE IMAGE", lambda i: _base(i, True), False, False),
        "l": ("LAST USED AT", lambda i: fmt_date(i.get("last_used_at")), False, False),
        "m": ("MEMORY USAGE", _mem, True, False),
        "M": ("MEMORY USAGE%", _mem_pct, True, False),
        "n": ("NAME", lambda i: i.get("name", ""), False, False),
        "N": ("PROCESSES", lambda i: _active_state(i, lambda s: str(s.get("processes", 0))), True, False),
        "p": ("PID", lambda i: _active_state(i, lambda s: str(s.get("pid", 0))), True, False),
        "P": ("PROFILES", lambda i: "\n".join(i.get("profiles") or []), False, False),
        "S": ("SNAPSHOTS", lambda i: str(len(i.get("snapshots") or [])), False, True),
        "s": ("STATE", lambda i: str(i.get("status", "")).upper(), False, False),
        "t": ("TYPE", _type, False, False),
        "u": ("CPU USAGE", _cpu, True, False),
        "U": ("STARTED AT", lambda i: fmt_date((_state(i) or {}).get("started_at")), True, False),
        "L": ("LOCATION", lambda i: i.get("location", ""), False, False),
    }


def parse_columns(spec: str, clustered: bool) -> tuple[list[Column], bool]:
    """Parse ``-c``; return the columns and whether state/snapshots are needed."""
    shorthands = shorthand_columns()
    if not clustered:
        if spec not in (DEFAULT_COLUMNS, "e" + DEFAULT_COLUMNS) and "L" in spec:
            raise CLIError("Can't specify column L when not clustered")
        spec = spec.replace("L", "")
    columns: list[Column] = []
    for entry in spec.split(","):
        if entry == "":
            raise CLIError(f"Empty column entry (redundant, leading or trailing command) in '{spec}'")
        if "." not in entry:
            for char in entry:
                if char not in shorthands:
                    raise CLIError(f"Unknown column shorthand char '{char}' in '{entry}'")
                columns.append(shorthands[char])
        else:
            columns.append(_custom_column(entry))
    return columns, any(c[2] or c[3] for c in columns)


def _custom_column(entry: str) -> Column:
    fields = entry.split(":")
    kind = "config"
    if fields[0] in ("config", "devices") and len(fields) > 1:
        kind = fields.pop(0)
    if len(fields) > 3:
        raise CLIError(f"Invalid config key column format (too many fields): '{entry}'")
    key, name, max_width = fields[0], fields[0], -1
    if len(fields) > 1:
        if not fields[1] and len(fields) != 3:
            raise CLIError(f"Invalid name in '{entry}', empty string is only allowed when defining maxWidth")
        name = fields[1]
    if len(fields) > 2:
        try:
            width = int(fields[2])
        except ValueError:
            raise CLIError(f"Invalid max width (must be an integer) '{fields[2]}' in '{entry}'") from None
        if width < -1:
            raise CLIError(f"Invalid max width (must -1, 0 or a positive integer) '{fields[2]}' in '{entry}'")
        max_width = len(name) if width == 0 else width

    def data(inst: dict[str, Any]) -> str:
        if kind == "config":
            conf = inst.get("config") or {}
            value = conf[key] if key in conf else (inst.get("expanded_config") or {}).get(key, "")
        else:
            dev, _, dkey = key.partition(".")
            if not dkey or "." in dkey:
                return ""
            local = (inst.get("devices") or {}).get(dev) or {}
            value = (
                local[dkey]
                if dkey in local
                else ((inst.get("expanded_devices") or {}).get(dev) or {}).get(dkey, "")
            )
        return value[:max_width] if max_width > 0 and len(value) > max_width else value

    return (name, data, False, False)


def split_filters(filters: list[str]) -> tuple[list[str], list[str]]:
    """getServerSupportedFilters: key=value on top-level fields go to the server."""
    server, client = [], []
    for item in filters:
        key, sep, value = item.partition("=")
        if sep and key in INSTANCE_FIELDS and "," not in value and "." not in key:
            server.append(item)
        else:
            client.append(item)
    return server, client


def run_list(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """List instances."""
    validate_format(opts.format)
    if ctx.project and opts.all_projects:
        raise CLIError("Can't specify --project with --all-projects")
    columns_spec = opts.columns
    if opts.all_projects and columns_spec == DEFAULT_COLUMNS:
        columns_spec = "e" + DEFAULT_COLUMNS
    if opts.fast:
        if columns_spec not in (DEFAULT_COLUMNS, "e" + DEFAULT_COLUMNS):
            raise CLIError("Can't specify --fast with --columns")
        columns_spec = "ensacPt" if opts.all_projects else "nsacPt"
    remote, filters = "", list(args)
    if args and ":" in args[0] and "=" not in args[0]:
        remote, name = ctx.parse_remote(args[0])
        filters = args[1:] + ([name] if name else [])
    filters = [f"status={f[6:]}" if f.startswith("state=") else f for f in filters]
    client = ctx.client(remote)
    is_default = columns_spec in (DEFAULT_COLUMNS, "e" + DEFAULT_COLUMNS)
    clustered = "L" in columns_spec and not is_default and _clustered(client)
    columns, needs_data = parse_columns(columns_spec, clustered)
    server_filters, client_filters = split_filters(filters)
    instances = client.get_instances(full=needs_data, filters=server_filters, all_projects=opts.all_projects)
    if is_default and any(i.get("location") not in ("", "none", None) for i in instances):
        columns, needs_data = parse_columns(columns_spec, True)
    if client_filters:
        from pincus.cli.listfilter import should_show

        instances = [i for i in instances if should_show(client_filters, i)]
    rows = sort_rows([[col[1](inst) for col in columns] for inst in instances])

    def raw() -> Any:
        from pincus.cli.schema import shape_list

        return shape_list(instances, "InstanceFull")

    sys.stdout.write(render(opts.format, [c[0] for c in columns], rows, raw))
    return 0


def _clustered(client: Any) -> bool:
    server, _ = client.get_server()
    return bool((server.get("environment") or {}).get("server_clustered"))


FORMAT_HELP = 'Format (csv|json|table|yaml|compact|markdown), use suffix ",noheader" to disable headers and ",header" to enable it if missing, e.g. csv,header'

LIST = Command(
    "list",
    "[<remote>:] [<filter>...]",
    "List instances",
    run_list,
    [
        Flag("columns", "c", "str", DEFAULT_COLUMNS, "Columns"),
        Flag("format", "f", "str", "table", FORMAT_HELP),
        Flag("fast", help="Fast mode (same as --columns=nsacPt)"),
        Flag("all-projects", help="Display instances from all projects"),
    ],
    aliases=("ls",),
    long="List instances\n\nDefault column layout: ns46tS\nFast column layout: nsacPt",
)

COMMANDS = {"list": LIST, "ls": LIST}
