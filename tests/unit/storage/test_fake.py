"""The fake driver behaves like the real ones for the layers above, and records what they did."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pincus.base.errors import Conflict, NotFound, StorageError
from pincus.storage.drivers import load_driver
from pincus.storage.drivers.base import CONTAINER, Volume
from pincus.storage.drivers.fake import FakeDriver

C1 = Volume("p", CONTAINER, "c1")


def fill(path: Path) -> None:
    (path / "rootfs").mkdir()
    (path / "rootfs/f").write_text("v1")


@pytest.fixture
def fake(tmp_path: Path) -> FakeDriver:
    d = load_driver("fake", "p", tmp_path / "storage-pools/p", {})
    assert isinstance(d, FakeDriver)
    d.create_pool()
    d.create_volume(C1, fill)
    return d


def test_snapshot_restore_cycle(fake: FakeDriver) -> None:
    fake.create_snapshot(C1.snapshot("s0"))
    (fake.volume_path(C1) / "rootfs/f").write_text("v2")
    fake.restore_snapshot(C1, C1.snapshot("s0"))
    assert (fake.volume_path(C1) / "rootfs/f").read_text() == "v1"
    assert fake.list_snapshots(C1) == ["s0"]
    assert ("create_snapshot", "c1/s0") in fake.calls
    assert fake.volume_size(C1) == 2


def test_freezer_is_entered_when_one_is_given(fake: FakeDriver) -> None:
    entered = []

    @contextmanager
    def freeze() -> Iterator[None]:
        entered.append(True)
        yield

    fake.create_snapshot(C1.snapshot("s0"), freeze=freeze)
    assert entered == [True] and fake.freezes == 1


def test_injected_failure_and_errors(fake: FakeDriver) -> None:
    fake.fail_next["create_snapshot"] = StorageError("boom")
    with pytest.raises(StorageError):
        fake.create_snapshot(C1.snapshot("s0"))
    fake.create_snapshot(C1.snapshot("s0"))
    with pytest.raises(Conflict):
        fake.create_snapshot(C1.snapshot("s0"))
    with pytest.raises(NotFound):
        fake.create_snapshot(Volume("p", CONTAINER, "nope/s0"))
    with pytest.raises(Conflict):
        fake.delete_pool()
    fake.delete_volume(C1)
    fake.delete_pool()
