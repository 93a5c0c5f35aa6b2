"""``pincus snapshot prune``: apply an instance's retention policy from the client, over the standard API.

It works against pincusd and a real Incus alike: it reads the instance's expanded config, lists its
snapshots, plans with the daemon's own pure code (``core/prune.make_plan``) and deletes with the
ordinary DELETE. The policy is read from ``snapshots.retention.*``; when none of those is set, from
``user.snapshots.retention.*`` (a real Incus refuses keys it does not know, but stores ``user.`` keys).
Periods are computed in this client's local time zone (``$TZ``). ``--dry-run`` runs the same code
with a delete that only records the name.
"""

from __future__ import annotations

import sys

from pincus.cli.common import CLIError, Command, Ctx
from pincus.cli.flags import Flag, Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from typing import Any

    from pincus.core.prune import PrunePlan


def _times(snapshots: list[dict[str, Any]]) -> list[tuple[str, datetime]]:
    """``(name, created_at)`` pairs from API snapshot objects."""
    from datetime import datetime, timezone

    from pincus.cli.format import parse_time

    out = []
    for snap in snapshots:
        epoch = parse_time(snap.get("created_at"))
        if epoch is not None:
            out.append((str(snap["name"]), datetime.fromtimestamp(epoch, timezone.utc)))
    return out


def _plan(name: str, instance: dict[str, Any], snapshots: list[dict[str, Any]]) -> PrunePlan:
    from datetime import datetime

    from pincus.base.gotime import local_zone
    from pincus.core.prune import make_plan
    from pincus.core.retention import CONFIG_PREFIX, USER_PREFIX

    config = instance.get("expanded_config") or instance.get("config") or {}
    try:
        return make_plan(name, config, _times(snapshots), datetime.now(local_zone()), (CONFIG_PREFIX, USER_PREFIX))
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _rows(plan: PrunePlan, snapshots: list[dict[str, Any]]) -> list[list[str]]:
    from pincus.cli.format import fmt_date

    rows = []
    for snap in snapshots:
        name = str(snap.get("name", ""))
        if name in plan.keep:
            action, why = "keep", ", ".join(plan.keep[name])
        elif name in plan.prune:
            action, why = "delete", ""
        else:
            action, why = "skip", f"not named by snapshots.pattern {plan.pattern}"
        rows.append([name, fmt_date(snap.get("created_at")), action, why])
    return rows


def execute(plan: PrunePlan, delete: Callable[[str], None]) -> list[str]:
    """Delete what the plan prunes, oldest first; return the names."""
    names = list(reversed(plan.prune))
    for name in names:
        delete(name)
    return names


def run_prune(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Show what the retention policy keeps and removes, and remove it unless --dry-run."""
    from pincus.cli.format import render

    client, _, name = ctx.resolve(args[0])
    instance, _ = client.get_instance(name)
    snapshots = client.get_instance_snapshots(name)
    plan = _plan(name, instance, snapshots)
    out = sys.stdout if not ctx.quiet else None
    if not plan.policy.enabled:
        if out:
            out.write(f"Instance {name} has no retention policy (snapshots.retention.* or "
                      "user.snapshots.retention.*): nothing to prune\n")
        return 0
    if out:
        out.write(f"Retention policy of {name} ({plan.source}*): {plan.policy.describe()}\n")
        out.write(render("table", ["NAME", "TAKEN AT", "ACTION", "REASON"], _rows(plan, snapshots)))
    recorded: list[str] = []
    if opts.dry_run:
        delete: Callable[[str], None] = recorded.append
    else:
        def delete(snap: str) -> None:
            """Delete one snapshot and wait for the operation."""
            client.delete_instance_snapshot(name, snap).wait()
    done = execute(plan, delete)
    if out:
        verb = "would be deleted (dry run: nothing changed)" if opts.dry_run else "deleted"
        out.write(f"{len(done)} snapshot{'s' if len(done) != 1 else ''} {verb}\n")
    return 0


PRUNE = Command(
    "prune",
    "[<remote>:]<instance>",
    "Delete the scheduled snapshots that the retention policy does not keep",
    run_prune,
    [Flag("dry-run", help="Only show what would be deleted")],
    nargs=(1, 1),
    long="Delete the scheduled snapshots that the retention policy does not keep\n\n"
    "The policy is snapshots.retention.{last,hourly,daily,weekly,monthly,yearly} (on a real Incus,\n"
    "user.snapshots.retention.*). Only snapshots named by snapshots.pattern are candidates;\n"
    "periods are computed in the local time zone.",
)
