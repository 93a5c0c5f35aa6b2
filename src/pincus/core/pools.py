"""Storage pools: create, load at start, delete."""

from __future__ import annotations

from pincus.base.errors import Conflict, InvalidArgument, NotFound
from pincus.base.revert import Reverter
from pincus.core import names
from pincus.core.state import State
from pincus.db.records import PoolRecord
from pincus.storage.drivers import DRIVERS, load_driver


class Pools:
    """Pool records and their drivers."""

    def __init__(self, st: State) -> None:
        self.st = st

    def load_all(self) -> None:
        """Mount every pool at daemon start."""
        for rec in self.st.store.pools():
            driver = load_driver(rec.driver, rec.name, self.st.paths.pool(rec.name), rec.config)
            driver.mount_pool()
            self.st.drivers[rec.name] = driver

    def clean_all(self) -> list[str]:
        """Empty every pool's work area (after the core settled its journaled changes)."""
        done: list[str] = []
        for name, driver in self.st.drivers.items():
            done.extend(f"{name}: {line}" for line in driver.recover())
        return done

    async def create(self, name: str, driver_name: str, config: dict[str, str], description: str = "") -> PoolRecord:
        """Create a pool and its backing storage; nothing is left if it fails."""
        names.validate_pool_name(name)
        if driver_name not in DRIVERS:
            raise InvalidArgument(f'Storage driver "{driver_name}" is not supported (supported: dir, btrfs)')
        try:
            self.st.store.get_pool(name)
            raise Conflict(f'Storage pool "{name}" already exists')
        except NotFound:
            pass
        rec = PoolRecord(name=name, driver=driver_name, description=description, config=dict(config))
        driver = load_driver(driver_name, name, self.st.paths.pool(name), rec.config)
        with Reverter() as rev:
            await self.st.blocking(driver.create_pool)
            rev.add(driver.delete_pool)
            self.st.store.create_pool(rec)
            rev.success()
        self.st.drivers[name] = driver
        return rec

    async def delete(self, name: str) -> None:
        """Delete an unused pool and its backing storage."""
        rec = self.st.store.get_pool(name)
        if any(i.pool == name for i in self.st.store.instances(include_pending=True)):
            raise InvalidArgument("The storage pool is currently in use")
        driver = self.st.driver(name)
        await self.st.blocking(driver.delete_pool)
        self.st.store.delete_pool(rec.name)
        self.st.drivers.pop(name, None)

    def used_by(self, name: str) -> list[str]:
        """API paths of what uses a pool (instances and profiles)."""
        out = [f"/1.0/instances/{i.name}" for i in self.st.store.instances() if i.pool == name]
        for prof in self.st.store.profiles():
            if any(d.get("pool") == name for d in prof.devices.values()):
                out.append(f"/1.0/profiles/{prof.name}")
        return out
