"""Replication scheduled inside the daemon: the book's nightly ``copy --refresh`` cron job, built in.

An instance with ``snapshots.replicate.target = NAME`` is refreshed onto the replication target
NAME (a server that trusts this daemon, added once with a trust token), as instance
``snapshots.replicate.instance`` (default: the same name). ``snapshots.replicate.schedule`` (cron
or alias, like ``snapshots.schedule``) says when; left empty, each scheduled snapshot is followed
by a refresh. The daemon pushes: it creates the target instance with a push-mode migration source,
then connects to it. Outcome: ``volatile.replicate.last_success`` / ``volatile.replicate.last_error``.
"""

from __future__ import annotations

import asyncio
import logging
import platform
from datetime import datetime
from typing import Any

import aiohttp

from pincus.base import tls
from pincus.base.errors import InvalidArgument, NotFound, PincusError
from pincus.base.gotime import format_time, local_zone
from pincus.client.connection import ClientError
from pincus.client.tls import fetch_certificate
from pincus.core import schedule
from pincus.core.services import Services
from pincus.db.records import InstanceRecord
from pincus.db.replication import ReplicationTarget, ReplicationTargets
from pincus.migration.dial import Dialer, pinned_context
from pincus.migration.source import Source
from pincus.migration.wire import TransferError, Wire

log = logging.getLogger(__name__)
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30)


class ReplicationFailed(PincusError):
    """A replication could not be done; the message says why."""

    status = 500


class Replication:
    """Replication targets and the replications themselves."""

    def __init__(self, s: Services) -> None:
        self.s = s
        self.targets = ReplicationTargets(s.st.store)
        self.running: dict[str, asyncio.Task[None]] = {}
        self._next: dict[int, tuple[str, datetime | None]] = {}

    # targets -----------------------------------------------------------------------------------

    async def add_target(self, name: str, token_text: str) -> ReplicationTarget:
        """Join a server with a trust token from ``config trust add`` there; pin its certificate."""
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise InvalidArgument(f'Invalid replication target name "{name}"')
        try:
            token = tls.decode_token(token_text)
        except Exception:  # noqa: BLE001 - any decoding failure is a bad token
            raise InvalidArgument("Invalid trust token") from None
        errors = []
        for address in token.addresses:
            try:
                der = await self.s.st.blocking(fetch_certificate, f"https://{address}")
            except ClientError as exc:
                errors.append(f"{address}: {exc}")
                continue
            if tls.fingerprint(der) != token.fingerprint:
                raise InvalidArgument(f'Certificate fingerprint mismatch between the token and server "{address}"')
            target = ReplicationTarget(name, f"https://{address}", tls.der_to_pem(der))
            body = {"type": "client", "name": platform.node() or "pincus", "trust_token": token_text,
                    "certificate": "", "restricted": False, "projects": None, "description": "", "token": False}
            await self._request(target, "POST", "/1.0/certificates", body)
            self.targets.add(target)
            return target
        raise InvalidArgument("All server addresses of the token are unavailable: " + "; ".join(errors))

    async def _request(self, target: ReplicationTarget, method: str, path: str, body: Any = None) -> dict[str, Any]:
        ctx = pinned_context(self.s.st.paths.root, target.certificate)
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            try:
                async with session.request(method, target.address + path, json=body, ssl=ctx) as resp:
                    data = await resp.json(content_type=None)
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                raise ReplicationFailed(f'Replication target "{target.name}" unreachable: {exc}') from None
        if not isinstance(data, dict) or data.get("type") == "error":
            msg = data.get("error") if isinstance(data, dict) else "malformed answer"
            raise ReplicationFailed(f'Replication target "{target.name}": {msg}')
        return data

    # replicating -------------------------------------------------------------------------------

    async def replicate(self, name: str) -> None:
        """Refresh instance ``name`` onto its replication target now; records the outcome."""
        rec = self.s.instances.get(name)
        config, _ = self.s.instances.expanded(rec)
        target_name = config.get("snapshots.replicate.target", "")
        if not target_name:
            raise InvalidArgument(f'Instance "{name}" has no snapshots.replicate.target')
        try:
            await self._push(rec, self.targets.get(target_name), config.get("snapshots.replicate.instance") or name)
        except Exception as exc:
            await self._record(name, "volatile.replicate.last_error", f"{format_time(self.s.st.clock())} {exc}")
            raise
        await self._record(name, "volatile.replicate.last_success", format_time(self.s.st.clock()))

    async def _record(self, name: str, key: str, value: str) -> None:
        async with self.s.st.locks.hold(f"instance:{name}"):
            try:
                rec = self.s.instances.get(name)
            except NotFound:
                return
            rec.config[key] = value
            if key.endswith("last_success"):
                rec.config.pop("volatile.replicate.last_error", None)
            self.s.st.store.update_instance(rec)

    async def _push(self, rec: InstanceRecord, target: ReplicationTarget, remote_name: str) -> None:
        local = {k: v for k, v in rec.config.items() if not k.startswith("volatile.") or k == "volatile.base_image"}
        body = {"name": remote_name, "config": local, "devices": rec.devices, "profiles": rec.profiles,
                "ephemeral": rec.ephemeral, "description": rec.description,
                "source": {"type": "migration", "mode": "push", "refresh": True}}
        created = await self._request(target, "POST", "/1.0/instances", body)
        op = created.get("metadata") or {}
        secret = (op.get("metadata") or {}).get("control")
        if not isinstance(secret, str):
            raise ReplicationFailed(f'Replication target "{target.name}" did not offer a migration websocket')
        dialer = Dialer()
        try:
            ctx = pinned_context(self.s.st.paths.root, target.certificate)
            ws = await dialer.connect(ctx, f"{target.address}/1.0/operations/{op['id']}", secret)
            wire = Wire(ws)
            try:
                await Source(self.s, rec.name).run(wire)
            finally:
                await wire.close()
        except TransferError:
            pass  # the target's operation says what went wrong
        finally:
            await dialer.close()
        done = await self._request(target, "GET", f"/1.0/operations/{op['id']}/wait?timeout=600")
        meta = done.get("metadata") or {}
        if meta.get("status") != "Success":
            raise ReplicationFailed(f'Replication to "{target.name}" failed: {meta.get("err") or meta.get("status")}')
        log.info('replicated instance "%s" to "%s" as "%s"', rec.name, target.name, remote_name)

    def start(self, name: str) -> bool:
        """Replicate in the background unless one is already running for this instance."""
        task = self.running.get(name)
        if task is not None and not task.done():
            return False

        async def run() -> None:
            try:
                await self.replicate(name)
            except Exception:  # noqa: BLE001 - recorded in volatile.replicate.last_error
                log.exception('replication of instance "%s" failed', name)

        self.running[name] = asyncio.get_running_loop().create_task(run())
        return True

    # scheduling --------------------------------------------------------------------------------

    def after_snapshot(self, rec: InstanceRecord) -> None:
        """Called after each scheduled snapshot: replicate when no own schedule is set."""
        config, _ = self.s.instances.expanded(rec)
        if config.get("snapshots.replicate.target") and not config.get("snapshots.replicate.schedule"):
            self.start(rec.name)

    def tick(self, since: datetime, minute: datetime) -> list[str]:
        """Start the replications whose ``snapshots.replicate.schedule`` fires in (since, minute]."""
        zone = local_zone()
        since_l, minute_l = since.astimezone(zone), minute.astimezone(zone)
        started = []
        for rec in self.s.st.store.instances():
            config, _ = self.s.instances.expanded(rec)
            spec = config.get("snapshots.replicate.schedule", "")
            if not spec or not config.get("snapshots.replicate.target"):
                self._next.pop(rec.id, None)
                continue
            cached = self._next.get(rec.id)
            try:
                if cached is None or cached[0] != spec or (cached[1] is not None and cached[1] <= since_l):
                    cached = (spec, schedule.next_fire(spec, rec.id, since_l))
                if cached[1] is not None and cached[1] <= minute_l:
                    cached = (spec, schedule.next_fire(spec, rec.id, minute_l))
                    if self.start(rec.name):
                        started.append(rec.name)
            except PincusError:
                log.warning('instance "%s" has an invalid snapshots.replicate.schedule %r', rec.name, spec)
                cached = (spec, None)
            self._next[rec.id] = cached
        return started
