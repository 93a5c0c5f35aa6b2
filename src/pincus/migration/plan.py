"""Which snapshots a copy or refresh sends, which target snapshots it deletes, and the parents of
incremental streams. A pure function of the two sides' snapshot lists, decided on the target.

Matching follows Incus's CompareSnapshots: a target snapshot is the source's when the name and the
creation time (to the second) are equal. Beyond Incus, ``keep_target`` keeps the target snapshots
the source no longer has (a backup server keeps what the primary expired); a target snapshot that
shares a name with a different source snapshot is replaced either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class SnapInfo:
    """One snapshot as the plan sees it."""

    name: str
    created_at: datetime
    uuid: str = ""  # btrfs: the subvolume's UUID on the source
    received_uuid: str = ""  # btrfs: on the target, the source UUID it was received from


@dataclass(frozen=True)
class Item:
    """One volume to send: a snapshot (name) or the instance itself (name "")."""

    name: str
    parent: str = ""  # btrfs transport: the source snapshot to send the delta against
    base: str = ""  # rsync transport: the target snapshot to build on


@dataclass
class Plan:
    """What a transfer does, in order: items, then deletions on success."""

    items: list[Item] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


def _same(src: SnapInfo, dst: SnapInfo) -> bool:
    return src.name == dst.name and int(src.created_at.timestamp()) == int(dst.created_at.timestamp())


def plan_transfer(
    source: list[SnapInfo],
    target: list[SnapInfo],
    *,
    snapshots: bool = True,
    exclude_older: bool = False,
    keep_target: bool = False,
    btrfs: bool = False,
) -> Plan:
    """The items to send (oldest snapshot first, the instance last) and the snapshots to delete.

    ``source`` and ``target`` are oldest first. ``snapshots=False`` is ``--instance-only``.
    """
    by_name = {t.name: t for t in target}
    matched = {s.name for s in source if s.name in by_name and _same(s, by_name[s.name])}
    delete = [t.name for t in target if t.name not in matched and (not keep_target or t.name in {s.name for s in source})]
    if not snapshots:
        delete = []  # --instance-only leaves the target's snapshots alone
    kept = [t for t in target if t.name not in delete]
    missing = [s for s in source if s.name not in matched] if snapshots else []
    if exclude_older and matched:
        newest = max(s.created_at for s in source if s.name in matched)
        missing = [s for s in missing if s.created_at > newest]
    plan = Plan(delete=delete)
    order = [s.name for s in source]
    # What the target holds as the items land: bases (rsync) and parents (btrfs: received from this source).
    bases = [s.name for s in source if s.name in matched]
    parents = {s.name for s in source if s.name in matched and s.uuid and by_name[s.name].received_uuid == s.uuid}
    for snap in source:
        if snap in missing:
            plan.items.append(_item(snap.name, order, bases, parents, kept, btrfs))
            bases.append(snap.name)
            parents.add(snap.name)
    plan.items.append(_item("", order, bases, parents, kept, btrfs))
    return plan


def _item(name: str, order: list[str], bases: list[str], parents: set[str], kept: list[SnapInfo], btrfs: bool) -> Item:
    """The item for snapshot ``name`` (or the instance): parent/base = the newest earlier one held."""
    earlier = order[: order.index(name)] if name else order
    if btrfs:
        parent = next((p for p in reversed(earlier) if p in parents), "")
        return Item(name, parent=parent)
    base = next((b for b in reversed(earlier) if b in bases), "")
    if not base and kept:
        base = kept[-1].name  # rsync: any snapshot the target keeps is a fine base
    return Item(name, base=base)
