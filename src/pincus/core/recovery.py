"""Crash recovery: finish or undo what an interrupted change left behind.

Runs at daemon start (after the pools are mounted, before their work areas are emptied) and at every
scheduler tick for instances whose last attempt failed. Creations and deletions are settled from
their rows' ``pending`` state; restores and renames from the journal: a restore that had not begun
its swap is rolled back (the instance gets its power state back), one that had is rolled forward, a
rename is always finished. A step that fails is logged and marks its instance (``error``, shown as
status Error); it never stops the daemon, and it is tried again later.
"""

from __future__ import annotations

import logging

from pincus.base.errors import NotFound
from pincus.core.instances import RENAME
from pincus.core.services import Services
from pincus.core.snapshots import COMMITTING, REDO, RESTARTING, RESTORE, SNAPSHOT_RENAME, STAGING
from pincus.db.records import InstanceRecord, JournalRecord
from pincus.db.schema import CREATING, DELETING
from pincus.runtime.base import STOPPED

log = logging.getLogger(__name__)


async def recover(s: Services) -> list[str]:
    """Bring the database and the volumes back in step; return what was done."""
    done: list[str] = []
    store = s.st.store
    by_id = {r.id: r for r in store.instances(include_pending=True)}
    for snap in store.pending_snapshots():
        inst = by_id.get(snap.instance_id)
        if inst is None:
            store.delete_snapshot(snap.id)
            continue
        vol = s.instances.volume(inst).snapshot(snap.name)
        try:
            await s.st.blocking(s.st.driver(inst.pool).delete_snapshot, vol)
        except Exception as exc:  # noqa: BLE001 - one failure must not stop the daemon
            _failed(s, inst, f'settling snapshot "{snap.name}"', exc, done)
            continue
        store.delete_snapshot(snap.id)
        verb = "undid the creation" if snap.pending == CREATING else "finished the deletion"
        done.append(f'{verb} of snapshot "{snap.name}" of instance "{inst.name}"')
    for inst in list(by_id.values()):
        if inst.pending in (CREATING, DELETING):
            try:
                await s.instances.finish_delete(inst)
            except Exception as exc:  # noqa: BLE001
                _failed(s, inst, "settling its creation or deletion", exc, done)
                continue
            by_id.pop(inst.id)
            verb = "undid the creation" if inst.pending == CREATING else "finished the deletion"
            done.append(f'{verb} of instance "{inst.name}"')
    done += await settle_journal(s, by_id)
    for line in done:
        log.warning("recovery: %s", line)
    return done


async def settle_journal(s: Services, by_id: dict[int, InstanceRecord] | None = None) -> list[str]:
    """Settle every journaled change (at daemon start, before anything else runs)."""
    if by_id is None:
        by_id = {r.id: r for r in s.st.store.instances()}
    done: list[str] = []
    for instance_id in dict.fromkeys(entry.instance_id for entry in s.st.journal.pending()):
        if instance_id in by_id:
            done += await _settle_instance(s, by_id[instance_id])
    return done


async def retry_unsettled(s: Services) -> list[str]:
    """At a scheduler tick: try again the changes that recovery could not settle before."""
    done: list[str] = []
    for rec in s.st.store.unsettled_instances():
        async with s.instances.changing(rec.name, unsettled_ok=True) as fresh:
            done += await _settle_instance(s, fresh)
    for line in done:
        log.warning("recovery: %s", line)
    return done


async def _settle_instance(s: Services, inst: InstanceRecord) -> list[str]:
    """Settle an instance's journaled changes in order; the first that fails stops it and marks the
    instance (retried later), else its mark goes."""
    done: list[str] = []
    for entry in s.st.journal.of_instance(inst.id):
        try:
            done.append(await _settle(s, inst, entry))
        except Exception as exc:  # noqa: BLE001 - marked and retried later; the daemon goes on
            _failed(s, inst, f"settling an interrupted {entry.kind}", exc, done)
            return done
    if inst.error:
        inst.error = ""
        s.st.store.update_instance(inst)
    return done


async def _settle(s: Services, inst: InstanceRecord, entry: JournalRecord) -> str:
    """Finish or undo one journaled change; return what was done."""
    if entry.kind == RENAME:
        await s.instances.finish_rename(inst, entry)
        return f'finished renaming instance "{entry.data["old"]}" to "{entry.data["new"]}"'
    if entry.kind == SNAPSHOT_RENAME:
        snap = next((x for x in s.st.store.snapshots(inst.id) if x.id == entry.data["snapshot"]), None)
        if snap is None:
            s.st.journal.remove(entry)
            return f'dropped the rename of a deleted snapshot of instance "{inst.name}"'
        await s.snapshots.finish_rename(inst, snap, entry)
        return f'finished renaming snapshot "{entry.data["old"]}" of instance "{inst.name}" to "{entry.data["new"]}"'
    if entry.kind == RESTORE:
        return await _settle_restore(s, inst, entry)
    raise NotFound(f'Unknown journal entry "{entry.kind}"')


async def _settle_restore(s: Services, inst: InstanceRecord, entry: JournalRecord) -> str:
    name = str(entry.data.get("snapshot", ""))
    power = str(entry.data.get("power", STOPPED))
    driver, vol = s.st.driver(inst.pool), s.instances.volume(inst)
    if entry.phase == RESTARTING:  # disk and config settled: only the power state was left
        await s.snapshots.give_back(inst, entry)
        return f'gave instance "{inst.name}" its power state ({power}) back after a restore'
    if entry.phase == STAGING:
        if not await s.st.blocking(driver.abort_restore, vol):
            raise NotFound(f'The volume of instance "{inst.name}" is missing after an interrupted restore')
        s.st.journal.set_phase(entry, RESTARTING)
        await s.snapshots.give_back(inst, entry)
        return f'rolled back the unfinished restore of snapshot "{name}" of instance "{inst.name}"'
    snap = s.st.store.get_snapshot(inst, name)
    if entry.phase == REDO:  # an earlier version's pending restore: redo it whole, as it did
        await s.st.blocking(driver.stage_restore, vol, vol.snapshot(name))
        s.st.journal.set_phase(entry, COMMITTING)
    await s.snapshots.commit_restore(inst, snap, entry)
    await s.snapshots.give_back(inst, entry)
    return f'finished restoring snapshot "{name}" of instance "{inst.name}"'


def _failed(s: Services, inst: InstanceRecord, what: str, exc: Exception, done: list[str]) -> None:
    log.error('recovery of instance "%s" failed while %s', inst.name, what, exc_info=exc)
    inst.error = f"{what}: {exc}"
    try:
        s.st.store.update_instance(inst)
    except Exception:  # noqa: BLE001 - the log line above is what remains
        log.exception("could not record the recovery error")
    done.append(f'could not finish {what} of instance "{inst.name}": {exc}')
