"""``pincus storage`` (pools) and ``pincus profile`` (list, show, device)."""

from __future__ import annotations

import sys

from pincus.cli.common import CLIError, Command, Ctx, dump_yaml, shorthand_columns
from pincus.cli.config import device_commands
from pincus.cli.flags import Flag, Options
from pincus.cli.format import render, sort_rows, validate_format
from pincus.cli.listing import FORMAT_HELP

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

POOL_COLUMNS = {
    "n": ("NAME", lambda p: str(p.get("name", ""))),
    "D": ("DRIVER", lambda p: str(p.get("driver", ""))),
    "d": ("DESCRIPTION", lambda p: str(p.get("description", ""))),
    "S": ("SOURCE", lambda p: str((p.get("config") or {}).get("source", ""))),
    "u": ("USED BY", lambda p: str(len(p.get("used_by") or []))),
    "s": ("STATE", lambda p: str(p.get("status", "")).upper()),
}
PROFILE_COLUMNS = {
    "n": ("NAME", lambda p: str(p.get("name", ""))),
    "e": ("PROJECT", lambda p: str(p.get("project", ""))),
    "d": ("DESCRIPTION", lambda p: str(p.get("description", ""))),
    "u": ("USED BY", lambda p: str(len(p.get("used_by") or []))),
}


def _render_list(opts: Options, items: list[dict[str, Any]], table: dict[str, Any], kind: str) -> int:
    validate_format(opts.format)
    columns = shorthand_columns(opts.columns, table)
    rows = sort_rows([[col[1](item) for col in columns] for item in items])

    def raw() -> Any:
        from pincus.cli.schema import shape_list

        return shape_list(items, kind)

    sys.stdout.write(render(opts.format, [c[0] for c in columns], rows, raw))
    return 0


def run_pool_list(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """List storage pools."""
    client, _, _ = ctx.resolve(args[0] if args else "")
    return _render_list(opts, client.get_storage_pools(), POOL_COLUMNS, "StoragePool")


def run_pool_show(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Show a storage pool as YAML."""
    client, _, name = ctx.resolve(args[0])
    pool, _ = client.get_storage_pool(name)
    pool = {**pool, "used_by": sorted(pool.get("used_by") or [])}
    sys.stdout.write(dump_yaml(pool, "StoragePool"))
    return 0


def run_pool_create(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Create a storage pool: NAME DRIVER [key=value...]."""
    client, _, name = ctx.resolve(args[0])
    config = {}
    for entry in args[2:]:
        key, sep, value = entry.partition("=")
        if not sep:
            raise CLIError(f"Bad key=value pair: {entry}")
        config[key] = value
    client.create_storage_pool(name, args[1], config, opts.description)
    if not ctx.quiet:
        sys.stdout.write(f"Storage pool {name} created\n")
    return 0


def run_pool_delete(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Delete a storage pool."""
    client, _, name = ctx.resolve(args[0])
    client.delete_storage_pool(name)
    if not ctx.quiet:
        sys.stdout.write(f"Storage pool {name} deleted\n")
    return 0


def run_profile_list(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """List profiles."""
    client, _, _ = ctx.resolve(args[0] if args else "")
    return _render_list(opts, client.get_profiles(), PROFILE_COLUMNS, "Profile")


def run_profile_show(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Show a profile as YAML."""
    client, _, name = ctx.resolve(args[0])
    profile, _ = client.get_profile(name)
    sys.stdout.write(dump_yaml(profile, "Profile"))
    return 0


def run_profile_copy(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Copy a profile, to another server too (``profile copy macvlan incus-snapshot:``)."""
    src, _, name = ctx.resolve(args[0])
    dst, _, new_name = ctx.resolve(args[1])
    profile, _ = src.get_profile(name)
    put = {"config": profile.get("config") or {}, "description": profile.get("description", ""),
           "devices": profile.get("devices") or {}}
    if opts.refresh and any(p.get("name") == (new_name or name) for p in dst.get_profiles()):
        dst.update_profile(new_name or name, put)
    else:
        dst.create_profile(new_name or name, put)
    return 0


def _list_flags(default: str) -> list[Flag]:
    return [Flag("format", "f", "str", "table", FORMAT_HELP), Flag("columns", "c", "str", default, "Columns")]


STORAGE = Command(
    "storage",
    "",
    "Manage storage pools and volumes",
    subcommands=[
        Command("create", "[<remote>:]<pool> <driver> [key=value...]", "Create storage pools", run_pool_create,
                [Flag("description", kind="str", help="Storage pool description"),
                 Flag("target", kind="str", help="Cluster member name")], nargs=(2, -1), aliases=("add",)),
        Command("delete", "[<remote>:]<pool>", "Delete storage pools", run_pool_delete, nargs=(1, 1),
                aliases=("rm",)),
        Command("list", "[<remote>:]", "List available storage pools", run_pool_list, _list_flags("nDdus"),
                nargs=(0, 1), aliases=("ls",)),
        Command("show", "[<remote>:]<pool>", "Show storage pool configurations and resources", run_pool_show,
                [Flag("resources", help="Show the resources available to the storage pool"),
                 Flag("target", kind="str", help="Cluster member name")], nargs=(1, 1)),
    ],
)  # fmt: skip

PROFILE = Command(
    "profile",
    "",
    "Manage profiles",
    subcommands=[
        Command("device", "", "Manage devices", subcommands=device_commands(True)),
        Command("copy", "[<remote>:]<profile> [<remote>:]<profile>", "Copy profiles", run_profile_copy,
                [Flag("refresh", help="Update the target profile from the source if it already exists"),
                 Flag("target-project", kind="str", help="Copy to a project different from the source")],
                nargs=(2, 2), aliases=("cp",)),
        Command("list", "[<remote>:]", "List profiles", run_profile_list,
                [*_list_flags("ndu"), Flag("all-projects", help="Display profiles from all projects")],
                nargs=(0, 1), aliases=("ls",)),
        Command("show", "[<remote>:]<profile>", "Show profile configurations", run_profile_show, nargs=(1, 1)),
    ],
)  # fmt: skip

COMMANDS = {"storage": STORAGE, "profile": PROFILE}
