"""The driver registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from pincus.base.errors import NotSupported
from pincus.storage.drivers import DRIVERS, BtrfsDriver, DirDriver, load_driver


def test_registry_names_incus_drivers() -> None:
    assert DRIVERS == {"dir": DirDriver, "btrfs": BtrfsDriver}


def test_load_driver_passes_the_config_through(tmp_path: Path) -> None:
    config = {"source": ""}
    d = load_driver("dir", "default", tmp_path / "default", config)
    assert isinstance(d, DirDriver) and d.info.name == "dir" and d.info.running_copy_freeze
    d.create_pool()
    assert config["source"] == str(tmp_path / "default")
    b = load_driver("btrfs", "b", tmp_path / "b", {})
    assert b.info.optimized_snapshots and not b.info.running_copy_freeze


def test_unknown_driver() -> None:
    with pytest.raises(NotSupported, match='"zfs"'):
        load_driver("zfs", "p", Path("/nonexistent"), {})
