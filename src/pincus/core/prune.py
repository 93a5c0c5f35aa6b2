"""Retention in practice: which of an instance's scheduled snapshots its policy removes, and removing them.

Only snapshots the schedule made are candidates: a snapshot counts as scheduled when its name has
the shape of the instance's ``snapshots.pattern`` (``pattern.name_regex``); any other name is a
manual snapshot and is never touched. (Unnamed manual snapshots are named by the same pattern and
cannot be told apart by name.) Deletion goes through the normal snapshot delete, so each removal
sends an ``instance-snapshot-deleted`` lifecycle event.

``make_plan`` is pure and light to import, so the CLI builds the same plan from the REST API.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pincus.base.errors import NotFound
from pincus.core.pattern import DEFAULT_PATTERN, name_regex
from pincus.core.retention import CONFIG_PREFIX, RetentionPolicy, evaluate, find_policy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pincus.core.services import Services
    from pincus.db.records import InstanceRecord

log = logging.getLogger(__name__)
PolicyKey = tuple[RetentionPolicy, str]


@dataclass(frozen=True)
class PrunePlan:
    """What retention does to one instance: keep (with reasons), prune, and leave alone."""

    instance: str
    policy: RetentionPolicy
    source: str
    pattern: str
    keep: dict[str, tuple[str, ...]]
    prune: tuple[str, ...]
    unmanaged: tuple[str, ...]

    @property
    def key(self) -> PolicyKey:
        """The policy and pattern this plan applied (to notice when either changes)."""
        return self.policy, self.pattern


def make_plan(
    instance: str, config: Mapping[str, str], snapshots: Iterable[tuple[str, datetime]], now: datetime,
    prefixes: Iterable[str] = (CONFIG_PREFIX,), manual: frozenset[str] = frozenset(),
) -> PrunePlan:
    """Plan retention from an expanded config and ``(name, created_at)`` pairs; ``now`` in the local zone.

    ``manual`` names snapshots known not to come from the schedule: never pruned, whatever their name.
    """
    policy, source = find_policy(config, prefixes)
    pattern = config.get("snapshots.pattern") or DEFAULT_PATTERN
    regex = name_regex(pattern)
    managed: list[tuple[str, datetime]] = []
    unmanaged: list[str] = []
    for name, created in snapshots:
        if name not in manual and regex is not None and regex.fullmatch(name):
            managed.append((name, created))
        else:
            unmanaged.append(name)
    result = evaluate(policy, managed, now)
    return PrunePlan(instance, policy, source, pattern, result.keep, result.prune, tuple(unmanaged))


def policy_key(config: Mapping[str, str]) -> PolicyKey | None:
    """The instance's retention policy and pattern, or None when it has no (valid) policy."""
    try:
        policy, _ = find_policy(config)
    except ValueError:
        return None
    return (policy, config.get("snapshots.pattern") or DEFAULT_PATTERN) if policy.enabled else None


def plan_prune(services: Services, instance: str) -> PrunePlan:
    """The retention plan of one instance, from the store, at the daemon's clock."""
    from pincus.base.gotime import local_now
    from pincus.db.store import from_db_time

    rec = services.instances.get(instance)
    config, _ = services.instances.expanded(rec)
    snaps = []
    manual = set()
    for snap in services.snapshots.list(rec):
        created = from_db_time(snap.created_at)
        if created is not None:
            snaps.append((snap.name, created))
        if not snap.scheduled:
            manual.add(snap.name)
    return make_plan(instance, config, snaps, local_now(services.st.clock()), manual=frozenset(manual))


async def apply_prune(services: Services, plan: PrunePlan) -> list[str]:
    """Delete what ``plan`` prunes (one failure does not stop the others); return the names deleted."""
    deleted: list[str] = []
    for name in plan.prune:
        try:
            await services.snapshots.delete(plan.instance, name)
        except NotFound:
            continue
        except Exception:  # noqa: BLE001 - log it and go on with the other snapshots
            log.exception('retention failed deleting snapshot "%s" of instance "%s"', name, plan.instance)
            continue
        deleted.append(f"{plan.instance}/{name}")
    return deleted


class RetentionWatch:
    """The scheduler's memory of the policy last applied per instance, so that a new or changed
    policy (or a daemon restart) is applied at the next minute, and again after each scheduled snapshot."""

    def __init__(self) -> None:
        self.applied: dict[int, PolicyKey] = {}
        self.changed: dict[int, str] = {}
        self.deleted: list[str] = []

    def observe(self, inst_id: int, name: str, key: PolicyKey | None) -> None:
        """Note an instance's current ``policy_key`` (the scheduler sees every instance each minute)."""
        if key is None:
            self.applied.pop(inst_id, None)
            self.changed.pop(inst_id, None)
        elif self.applied.get(inst_id) != key:
            self.changed[inst_id] = name

    def forget_others(self, ids: set[int]) -> None:
        """Drop what is known of instances that no longer exist."""
        for stale in set(self.applied) - ids:
            del self.applied[stale]
        for stale in set(self.changed) - ids:
            del self.changed[stale]

    async def prune(self, services: Services, rec: InstanceRecord) -> list[str]:
        """Apply the instance's policy now (if it has one); remember it as applied."""
        plan = plan_prune(services, rec.name)
        self.changed.pop(rec.id, None)
        if not plan.policy.enabled:
            self.applied.pop(rec.id, None)
            return []
        deleted = await apply_prune(services, plan)
        self.applied[rec.id] = plan.key
        self.deleted.extend(deleted)
        return deleted

    async def prune_changed(self, services: Services) -> None:
        """Apply the policy of every instance whose policy is new or changed."""
        for name in list(self.changed.values()):
            try:
                await self.prune(services, services.instances.get(name))
            except NotFound:
                continue
            except Exception:  # noqa: BLE001 - one instance must not stop the others
                log.exception('retention of instance "%s" failed', name)

    def drain(self) -> list[str]:
        """The full names deleted since the last call."""
        out, self.deleted = self.deleted, []
        return out
