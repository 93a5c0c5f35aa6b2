"""``pincus replication``: the servers this daemon replicates to, and replication on demand.

Set up once per snapshot server (on it: ``pincus config trust add NAME`` prints a token), then per
instance ``snapshots.replicate.target`` (and optionally ``snapshots.replicate.schedule``).
"""

from __future__ import annotations

import sys

from pincus.cli.common import Command, Ctx
from pincus.cli.flags import Flag, Options
from pincus.cli.format import render
from pincus.cli.listing import FORMAT_HELP

BASE = "/1.0/replication-targets"


def run_target_add(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Join a server with its trust token; the daemon (not this client) is what it trusts."""
    client, _, name = ctx.resolve(args[0])
    target = client.conn.request("POST", BASE, {"name": name, "token": args[1]}).metadata
    sys.stdout.write(f"Replication target {target['name']} added: {target['address']} ({target['fingerprint'][:12]})\n")
    return 0


def run_target_list(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """List replication targets."""
    client, _, _ = ctx.resolve(args[0] if args else "")
    items = client.conn.request("GET", f"{BASE}?recursion=1").metadata or []
    rows = [[t["name"], t["address"], t["fingerprint"][:12]] for t in items]
    sys.stdout.write(render(opts.format, ["NAME", "ADDRESS", "FINGERPRINT"], rows, lambda: items))
    return 0


def run_target_remove(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Forget a replication target."""
    client, _, name = ctx.resolve(args[0])
    client.conn.request("DELETE", f"{BASE}/{name}")
    return 0


def run_replicate(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Refresh instances onto their snapshots.replicate.target now."""
    from pincus.client.operations import Operation

    for arg in args:
        client, _, name = ctx.resolve(arg)
        resp = client.conn.request("POST", f"/1.0/instances/{name}/replicate", {})
        Operation.from_response(client.conn, resp).wait()
    return 0


REPLICATION = Command(
    "replication",
    "",
    "Replicate instances to a snapshot server from inside the daemon",
    subcommands=[
        Command("target", "", "Manage the servers instances are replicated to", subcommands=[
            Command("add", "[<remote>:]<name> <token>", "Add a replication target from its trust token",
                    run_target_add, nargs=(2, 2)),
            Command("list", "[<remote>:]", "List replication targets", run_target_list,
                    [Flag("format", "f", "str", "table", FORMAT_HELP)], nargs=(0, 1), aliases=("ls",)),
            Command("remove", "[<remote>:]<name>", "Remove a replication target", run_target_remove,
                    nargs=(1, 1), aliases=("rm",)),
        ]),
        Command("run", "[<remote>:]<instance> [[<remote>:]<instance>...]",
                "Replicate instances to their snapshots.replicate.target now", run_replicate, nargs=(1, -1)),
    ],
)  # fmt: skip

COMMANDS = {"replication": REPLICATION}
