"""Crash recovery at daemon start: finish or undo what an interrupted change left behind."""

from __future__ import annotations

import json
import logging

from pincus.core.errors import NotFound
from pincus.core.services import Services
from pincus.db.schema import CREATING, DELETING

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
        await s.st.blocking(s.st.driver(inst.pool).delete_snapshot, vol)
        store.delete_snapshot(snap.id)
        verb = "undid the creation" if snap.pending == CREATING else "finished the deletion"
        done.append(f'{verb} of snapshot "{snap.name}" of instance "{inst.name}"')
    for inst in by_id.values():
        if inst.pending in (CREATING, DELETING):
            await s.instances.finish_delete(inst)
            verb = "undid the creation" if inst.pending == CREATING else "finished the deletion"
            done.append(f'{verb} of instance "{inst.name}"')
        elif inst.pending_restore:
            intent = json.loads(inst.pending_restore)
            try:
                snap = store.get_snapshot(inst, intent["snapshot"])
            except NotFound:
                inst.pending_restore = ""
                store.update_instance(inst)
                continue
            await s.snapshots.finish_restore(inst, snap, bool(intent.get("disk_only")))
            done.append(f'finished restoring snapshot "{snap.name}" of instance "{inst.name}"')
    for line in done:
        log.warning("recovery: %s", line)
    return done
