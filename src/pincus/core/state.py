"""The daemon's shared state, handed to every service: store, hub, operations, locks, drivers."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pincus.base.errors import NotFound
from pincus.base.gotime import now_utc
from pincus.core.events import EventHub
from pincus.core.locks import Locks
from pincus.core.operations import OperationRegistry
from pincus.db.journal import JournalStore
from pincus.db.store import Store
from pincus.runtime.base import Runtime
from pincus.storage.drivers.base import StorageDriver

T = TypeVar("T")


@dataclass
class Paths:
    """Where the daemon keeps things, all under $PINCUS_DIR."""

    root: Path

    @property
    def database(self) -> Path:
        """The SQLite database."""
        return self.root / "database" / "local.db"

    @property
    def socket(self) -> Path:
        """The unix socket of the API."""
        return self.root / "unix.socket"

    @property
    def images(self) -> Path:
        """Image tarballs by fingerprint."""
        return self.root / "images"

    @property
    def pools(self) -> Path:
        """Mount points of the storage pools."""
        return self.root / "storage-pools"

    @property
    def lxc(self) -> Path:
        """The liblxc lxcpath (configs and logs of the containers)."""
        return self.root / "lxc"

    @property
    def logs(self) -> Path:
        """Per-instance logs."""
        return self.root / "logs"

    def pool(self, name: str) -> Path:
        """Mount point of one pool."""
        return self.pools / name


@dataclass
class State:
    """Everything a service needs; built once by the daemon (or by a test with fakes)."""

    paths: Paths
    store: Store
    runtime: Runtime
    hub: EventHub = field(default_factory=EventHub)
    locks: Locks = field(default_factory=Locks)
    drivers: dict[str, StorageDriver] = field(default_factory=dict)
    clock: Callable[[], datetime] = now_utc
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(16, "pincus-io"))
    ops: OperationRegistry = field(init=False)
    journal: JournalStore = field(init=False)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)  # background work kept alive until done

    def __post_init__(self) -> None:
        self.ops = OperationRegistry(self.hub)
        self.journal = JournalStore(self.store)
        self.daemon_id = hashlib.sha256(str(self.paths.root.resolve()).encode()).hexdigest()[:6]

    def driver(self, pool: str) -> StorageDriver:
        """The driver of a pool."""
        try:
            return self.drivers[pool]
        except KeyError:
            raise NotFound(f'Storage pool "{pool}" not found') from None

    def runtime_name(self, instance_name: str) -> str:
        """The liblxc name of an instance: prefixed, so daemons on one host never share cgroups."""
        return f"pincus-{self.daemon_id}-{instance_name}"

    def background(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run ``work`` after the caller returns (clean-up the client need not wait for); failures are logged."""

        async def run() -> None:
            try:
                await work
            except Exception:  # noqa: BLE001 - nobody awaits this; recovery redoes clean-ups at start
                logging.getLogger(__name__).exception("background work failed: %s", what)

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work (storage, liblxc) on the I/O thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
