from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pincus.api.app import build_app
from pincus.core.services import Services
from pincus.core.state import Paths, State
from pincus.db.records import ProfileRecord
from pincus.db.store import Store
from pincus.replication import Replication
from pincus.runtime.fake import FakeRuntime
from pincus.storage.drivers.fake import FakeDriver


class Clock:
    """A settable clock for the daemon under test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 7, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Api:
    """An in-process daemon on fakes, driven over HTTP like a client."""

    client: TestClient
    services: Services
    replication: Replication
    runtime: FakeRuntime
    driver: FakeDriver
    clock: Clock

    async def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                   wait: bool = True) -> tuple[int, dict[str, Any]]:
        resp = await self.client.request(method, path, json=body, headers=headers)
        data = await resp.json()
        if resp.status == 202 and wait:
            w = await self.client.get(data["operation"] + "/wait?timeout=-1")
            return resp.status, (await w.json())["metadata"]
        return resp.status, data

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, data = await self.call(method, path, body, **kw)
        if status == 202:
            assert data["status"] == "Success", data
            return data
        assert status == 200, data
        return data["metadata"]

    async def create(self, name: str = "c1", config: dict[str, str] | None = None) -> None:
        await self.ok("POST", "/1.0/instances", {"name": name, "source": {"type": "none"}, "config": config or {}})
        rootfs = self.services.instances.rootfs(self.services.instances.get(name))
        (rootfs / "etc").mkdir()
        (rootfs / "etc" / "version").write_text("1\n")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    paths = Paths(tmp_path / "pincus")
    paths.root.mkdir()
    runtime = FakeRuntime()
    clock = Clock()
    st = State(paths=paths, store=Store(tmp_path / "local.db"), runtime=runtime, clock=clock)
    driver = FakeDriver("default", paths.pool("default"), {})
    driver.create_pool()
    st.drivers["default"] = driver
    st.store.create_profile(ProfileRecord(name="default", devices={"root": {"type": "disk", "path": "/", "pool": "default"}}))
    from pincus.db.records import PoolRecord

    st.store.create_pool(PoolRecord(name="default", driver="dir"))
    services = Services.build(st)
    replication = Replication(services)
    client = TestClient(TestServer(build_app(services, replication)))
    await client.start_server()
    try:
        yield Api(client, services, replication, runtime, driver, clock)
    finally:
        await client.close()
        st.store.close()
