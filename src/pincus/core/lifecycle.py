"""Start, stop, restart, freeze and unfreeze instances through the runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pincus.base.errors import InvalidArgument
from pincus.core.events import (
    INSTANCE_PAUSED,
    INSTANCE_RESTARTED,
    INSTANCE_RESUMED,
    INSTANCE_SHUTDOWN,
    INSTANCE_STARTED,
    INSTANCE_STOPPED,
)
from pincus.core.instances import Instances, instance_url
from pincus.core.state import State
from pincus.db.records import InstanceRecord
from pincus.db.store import db_time
from pincus.runtime.base import FROZEN, RUNNING, STOPPED, ContainerSpec

MAX_STOP_TIMEOUT = 600.0


class Lifecycle:
    """Power-state changes; each holds the instance lock."""

    def __init__(self, st: State, instances: Instances) -> None:
        self.st = st
        self.instances = instances
        self.after_start: list[Callable[[str], Awaitable[None]]] = []

    def spec(self, rec: InstanceRecord) -> ContainerSpec:
        """The runtime description of an instance."""
        config, _ = self.instances.expanded(rec)
        env = {k.removeprefix("environment."): v for k, v in config.items() if k.startswith("environment.")}
        limits = {k: v for k, v in config.items() if k.startswith("limits.") and v}
        log_dir = self.st.paths.logs / rec.name
        log_dir.mkdir(parents=True, exist_ok=True)
        return ContainerSpec(
            name=self.st.runtime_name(rec.name),
            hostname=rec.name,
            rootfs=str(self.instances.rootfs(rec)),
            environment=env,
            limits=limits,
            privileged=True,
            log_file=str(log_dir / "lxc.log"),
        )

    async def start(self, name: str) -> None:
        """Start a stopped instance, then run the after-start hooks (``@startup`` snapshots)."""
        async with self.instances.changing(name) as rec:
            await self._start(rec)
        self.st.hub.lifecycle(INSTANCE_STARTED, instance_url(name))
        for hook in self.after_start:
            await hook(name)

    async def _start(self, rec: InstanceRecord) -> None:
        status = self.instances.status(rec)
        if status == RUNNING:
            raise InvalidArgument("The instance is already running")
        if status == FROZEN:  # as Incus: starting a frozen instance thaws it
            await self.st.blocking(self.st.runtime.unfreeze, self.st.runtime_name(rec.name))
        else:
            await self.st.blocking(self.st.runtime.start, self.spec(rec))
        rec.config["volatile.last_state.power"] = "RUNNING"
        rec.config.pop("volatile.apply_template", None)  # image templates are not rendered (yet)
        rec.last_used_at = db_time(self.st.clock())
        self.st.store.update_instance(rec)

    async def stop(self, name: str, timeout: float, force: bool) -> None:
        """Stop an instance: clean shutdown within timeout (negative: wait up to the cap), or kill.
        Always allowed, even while an interrupted change is unsettled (stopping is safe)."""
        async with self.instances.changing(name, unsettled_ok=True) as rec:
            if self.instances.status(rec) == STOPPED:
                raise InvalidArgument("The instance is already stopped")
            await self._stop(rec, timeout, force)
        self.st.hub.lifecycle(INSTANCE_STOPPED if force else INSTANCE_SHUTDOWN, instance_url(name))

    async def _stop(self, rec: InstanceRecord, timeout: float, force: bool) -> None:
        if timeout < 0 or timeout > MAX_STOP_TIMEOUT:
            timeout = MAX_STOP_TIMEOUT
        await self.st.blocking(self.st.runtime.stop, self.st.runtime_name(rec.name), timeout, force)
        rec.config["volatile.last_state.power"] = "STOPPED"
        self.st.store.update_instance(rec)

    async def restart(self, name: str, timeout: float, force: bool) -> None:
        """Stop then start a running instance."""
        async with self.instances.changing(name) as rec:
            if self.instances.status(rec) == STOPPED:
                raise InvalidArgument("The instance isn't running")
            await self._stop(rec, timeout, force)
            await self._start(rec)
        self.st.hub.lifecycle(INSTANCE_RESTARTED, instance_url(name))

    async def freeze(self, name: str) -> None:
        """Freeze a running instance."""
        async with self.instances.changing(name) as rec:
            if self.instances.status(rec) != RUNNING:
                raise InvalidArgument("The instance isn't running")
            await self.st.blocking(self.st.runtime.freeze, self.st.runtime_name(name))
            rec.config["volatile.last_state.power"] = "FROZEN"
            self.st.store.update_instance(rec)
        self.st.hub.lifecycle(INSTANCE_PAUSED, instance_url(name))

    async def unfreeze(self, name: str) -> None:
        """Thaw a frozen instance."""
        async with self.instances.changing(name) as rec:
            if self.instances.status(rec) != FROZEN:
                raise InvalidArgument("The instance is not frozen")
            await self.st.blocking(self.st.runtime.unfreeze, self.st.runtime_name(name))
            rec.config["volatile.last_state.power"] = "RUNNING"
            self.st.store.update_instance(rec)
        self.st.hub.lifecycle(INSTANCE_RESUMED, instance_url(name))

    async def stop_for_change(self, rec: InstanceRecord) -> bool:
        """Kill a running instance before a disk change (restore); return whether it was running."""
        if self.instances.status(rec) == STOPPED:
            return False
        await self.st.blocking(self.st.runtime.stop, self.st.runtime_name(rec.name), 0.0, True)
        return True

    async def give_back(self, rec: InstanceRecord, power: str) -> None:
        """Put a stopped instance back in the power state it had before a change (RUNNING or FROZEN)."""
        if power == STOPPED or self.instances.status(rec) != STOPPED:
            return
        await self._start(rec)
        if power == FROZEN:
            await self.st.blocking(self.st.runtime.freeze, self.st.runtime_name(rec.name))
            rec.config["volatile.last_state.power"] = "FROZEN"
            self.st.store.update_instance(rec)
