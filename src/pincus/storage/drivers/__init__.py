"""Storage drivers by Incus driver name, and the one way to build one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pincus.base.errors import NotSupported
from pincus.storage.drivers.base import StorageDriver
from pincus.storage.drivers.btrfs import BtrfsDriver
from pincus.storage.drivers.dir import DirDriver
from pincus.storage.drivers.fake import FakeDriver

DriverClass = Callable[[str, Path, dict[str, str]], StorageDriver]
DRIVERS: dict[str, DriverClass] = {"dir": DirDriver, "btrfs": BtrfsDriver}
# Not offered to users; tests of the layers above may ask for it by name.
TEST_DRIVERS: dict[str, DriverClass] = {"fake": FakeDriver}


def load_driver(driver_name: str, pool_name: str, pool_path: Path, config: dict[str, str]) -> StorageDriver:
    """A driver instance for one pool; ``config`` is kept (create_pool records what it did in it)."""
    cls = DRIVERS.get(driver_name) or TEST_DRIVERS.get(driver_name)
    if cls is None:
        raise NotSupported(f'Storage driver "{driver_name}" is not supported')
    return cls(pool_name, pool_path, config)


__all__ = ["DRIVERS", "BtrfsDriver", "DirDriver", "FakeDriver", "load_driver"]
