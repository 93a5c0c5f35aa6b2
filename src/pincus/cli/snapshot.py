"""``pincus snapshot``: Incus 6 subcommands, plus the book's ``snapshot INST [NAME]`` and ``restore INST SNAP``."""

from __future__ import annotations

import sys

from pincus.cli.common import (
    CLIError,
    Command,
    Ctx,
    is_snapshot,
    load_yaml,
    prompt_yes,
    run_command,
    stdin_is_tty,
)
from pincus.cli.expiry import expiry_from_flag, yaml_time
from pincus.cli.flags import Flag, Options
from pincus.cli.format import fmt_date, render, validate_format
from pincus.cli.listing import FORMAT_HELP
from pincus.cli.prune import PRUNE
from pincus.client.connection import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_COLUMNS = "nTEs"


def _stdin_expiry() -> str:
    if stdin_is_tty():
        return ""
    text = sys.stdin.read()
    doc = load_yaml(text) if text.strip() else None
    if doc is not None and not isinstance(doc, dict):
        raise CLIError("yaml: unmarshal errors: cannot unmarshal into api.InstanceSnapshotPut")
    return yaml_time((doc or {}).get("expires_at"))


def run_create(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Create a snapshot (``--reuse`` replaces an existing one of the same name)."""
    from pincus.base.gotime import ZERO_TIME

    if opts.no_expiry and opts.expiry:
        raise CLIError("Can't use both --no-expiry and --expiry")
    stdin_expiry = _stdin_expiry()
    client, _, name = ctx.resolve(args[0])
    snap = args[1] if len(args) > 1 else ""
    if is_snapshot(name):
        if snap:
            raise CLIError(f"Invalid instance name: {name}")
        name, snap = name.split("/", 1)
    if opts.reuse and snap:
        try:
            client.get_instance_snapshot(name, snap)
        except ClientError:
            pass
        else:
            client.delete_instance_snapshot(name, snap).wait()
    expires_at: str | None = None
    if opts.no_expiry:
        expires_at = ZERO_TIME
    elif opts.expiry:
        try:
            expires_at = expiry_from_flag(opts.expiry)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    elif stdin_expiry:
        expires_at = stdin_expiry
    client.create_instance_snapshot(name, snap, bool(opts.stateful), expires_at).wait()
    return 0


def run_delete(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Delete one snapshot."""
    client, _, name = ctx.resolve(args[0])
    if opts.interactive:
        prompt_yes(f"Remove snapshot {args[1]} from {name} (yes/no): ")
    client.delete_instance_snapshot(name, args[1]).wait()
    return 0


def _date_or_space(value: Any) -> str:
    return fmt_date(value) or " "


SNAPSHOT_COLUMNS = {
    "n": ("NAME", lambda s: str(s.get("name", ""))),
    "T": ("TAKEN AT", lambda s: _date_or_space(s.get("created_at"))),
    "E": ("EXPIRES AT", lambda s: _date_or_space(s.get("expires_at"))),
    "s": ("STATEFUL", lambda s: "YES" if s.get("stateful") else "NO"),
}


def parse_snapshot_columns(spec: str) -> list[tuple[str, Any]]:
    """Parse ``-c`` for snapshot lists (only n, T, E and s exist)."""
    columns = []
    for entry in spec.split(","):
        if entry == "":
            raise CLIError(f"Empty column entry (redundant, leading or trailing command) in '{spec}'")
        for char in entry:
            if char not in SNAPSHOT_COLUMNS:
                raise CLIError(f"Unknown column shorthand char '{char}' in '{entry}'")
            columns.append(SNAPSHOT_COLUMNS[char])
    return columns


def run_list(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """List the snapshots of an instance."""
    validate_format(opts.format)
    client, _, name = ctx.resolve(args[0])
    snapshots = client.get_instance_snapshots(name)
    columns = parse_snapshot_columns(opts.columns)
    rows = [[col[1](snap) for col in columns] for snap in snapshots]

    def raw() -> Any:
        from pincus.cli.schema import shape_list

        return shape_list(snapshots, "InstanceSnapshot")

    sys.stdout.write(render(opts.format, [c[0] for c in columns], rows, raw))
    return 0


def run_rename(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Rename a snapshot."""
    client, _, name = ctx.resolve(args[0])
    client.rename_instance_snapshot(name, args[1], args[2]).wait()
    return 0


def run_restore(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Restore an instance from a snapshot (a running instance is stopped and restarted by the server)."""
    if opts.stateful and getattr(opts, "diskonly", False):
        raise CLIError("--stateful and --diskonly can't be used together")
    client, _, name = ctx.resolve(args[0])
    client.restore_instance_snapshot(
        name, args[1], bool(opts.stateful), bool(getattr(opts, "diskonly", False))
    ).wait()
    return 0


def run_show(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Show one snapshot as YAML."""
    from pincus.cli.common import dump_yaml

    client, _, name = ctx.resolve(args[0])
    snap, _ = client.get_instance_snapshot(name, args[1])
    sys.stdout.write(dump_yaml(snap, "InstanceSnapshot"))
    return 0


CREATE_FLAGS = [
    Flag("stateful", help="Whether or not to snapshot the instance's running state"),
    Flag("no-expiry", help="Ignore any configured auto-expiry for the instance"),
    Flag("reuse", help="If the snapshot name already exists, delete and create a new one"),
    Flag("expiry", kind="str", help="Expiry date or time span for the new snapshot"),
]
RESTORE_FLAGS = [
    Flag(
        "stateful", help="Whether or not to restore the instance's running state from snapshot (if available)"
    ),
    Flag("diskonly", help="Whether or not to restore the instance's disk only"),
]

CREATE = Command(
    "create",
    "[<remote>:]<instance> [<snapshot name>]",
    "Create instance snapshot",
    run_create,
    CREATE_FLAGS,
    nargs=(1, 2),
    aliases=("add",),
    long="Create instance snapshots\n\nWhen --stateful is used, attempt to checkpoint the instance's\n"
    "running state, including process memory state, TCP connections, ...",
)
RESTORE = Command(
    "restore",
    "[<remote>:]<instance> <snapshot name>",
    "Restore instance snapshots",
    run_restore,
    RESTORE_FLAGS,
    nargs=(2, 2),
)
SUBCOMMANDS = [
    CREATE,
    Command(
        "delete",
        "[<remote>:]<instance> <snapshot name>",
        "Delete instance snapshots",
        run_delete,
        [Flag("interactive", "i", help="Require user confirmation")],
        nargs=(2, 2),
        aliases=("rm", "remove"),
    ),
    Command(
        "list",
        "[<remote>:]<instance>",
        "List instance snapshots",
        run_list,
        [
            Flag("format", "f", "str", "table", FORMAT_HELP),
            Flag("columns", "c", "str", DEFAULT_COLUMNS, "Columns"),
        ],
        nargs=(1, 1),
        aliases=("ls",),
        long="List instance snapshots\n\nDefault column layout: nTEs",
    ),
    PRUNE,
    Command(
        "rename",
        "[<remote>:]<instance> <old snapshot name> <new snapshot name>",
        "Rename instance snapshots",
        run_rename,
        nargs=(3, 3),
    ),
    RESTORE,
    Command(
        "show",
        "[<remote>:]<instance> <snapshot>",
        "Show instance snapshot configuration",
        run_show,
        nargs=(2, 2),
    ),
]


def book_snapshot(ctx: Ctx, argv: list[str]) -> int:
    """The LXD/book form ``snapshot INSTANCE [NAME]`` (Incus 6 dropped it): same as ``snapshot create``."""
    return run_command(ctx, CREATE, argv, "snapshot")


SNAPSHOT = Command(
    "snapshot",
    "",
    "Manage instance snapshots",
    subcommands=SUBCOMMANDS,
    fallback=book_snapshot,
    long="Manage instance snapshots",
)
BOOK_RESTORE = Command(
    "restore",
    "[<remote>:]<instance> <snapshot name>",
    "Restore instance snapshots (book syntax for `snapshot restore`)",
    run_restore,
    RESTORE_FLAGS,
    nargs=(2, 2),
)

COMMANDS = {"snapshot": SNAPSHOT, "restore": BOOK_RESTORE}
