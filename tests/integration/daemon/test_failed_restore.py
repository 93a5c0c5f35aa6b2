"""Regression: a restore that fails (no space) leaves the instance exactly as it was, running,
and is not re-run by a later daemon start."""

from __future__ import annotations

import os
import secrets

import pytest

from tests.integration.daemon._chaos_helpers import (
    answer,
    file_digest,
    free_bytes,
    init,
    rootfs,
    small_ext4,
)
from tests.support.chaos import BACKGROUND, disk_mismatches, finish, running_operations
from tests.support.pincusd import start_pincusd

pytestmark = pytest.mark.integration

DATA_MIB = 24


def _write(path, seed: bytes, mib: int) -> None:
    block = (seed * (2**20 // len(seed) + 1))[: 2**20]
    with open(path, "r+b" if path.exists() else "wb") as f:  # in place: the snapshot keeps its own copy
        for _ in range(mib):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())


def _status(d, name: str) -> str:
    status, data = d.api("GET", f"/1.0/instances/{name}")
    assert status == 200, data
    return str(data["metadata"]["status"])


def test_restore_without_space_leaves_the_instance_as_it_was(name):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    pool = f"small-{secrets.token_hex(3)}"
    with small_ext4(96) as mnt:
        d = start_pincusd()
        try:
            status, data = d.api("POST", "/1.0/storage-pools", {"name": pool, "driver": "dir",
                                                                  "config": {"source": str(mnt)}})
            assert status == 200, data
            d.pools.append(pool)
            d.import_busybox()
            init(d, name, pool=pool)
            live = rootfs(d, name, pool)
            (live / "root" / "marker").write_text("before\n")
            _write(live / "root" / "data", b"snapshot-content", DATA_MIB)
            assert answer(d, "POST", f"/1.0/instances/{name}/snapshots", {"name": "s1"}).ok
            # The live data now differs from the snapshot's, so a restore must copy it back.
            _write(live / "root" / "data", b"live-content-differs", DATA_MIB)
            (live / "root" / "marker").write_text("live\n")
            want = file_digest(live / "root" / "data")
            assert answer(d, "PUT", f"/1.0/instances/{name}/state", {"action": "start", "timeout": -1}).ok
            filler = mnt / f"filler-{secrets.token_hex(3)}"
            with open(filler, "wb") as f:
                os.posix_fallocate(f.fileno(), 0, free_bytes(mnt) - DATA_MIB // 3 * 2**20)
            assert free_bytes(mnt) < DATA_MIB * 2**20 // 2

            got = answer(d, "PUT", f"/1.0/instances/{name}", {"restore": "s1"})

            assert not got.ok
            assert got.code == 507 or (got.via_operation and "No space left on device" in got.error), got
            assert "No space left on device" in got.error, got

            def unchanged(when: str, in_flight: tuple[str, ...] = ()) -> None:
                assert (live / "root" / "marker").read_text() == "live\n", when
                assert file_digest(live / "root" / "data") == want, when
                assert _status(d, name) == "Running", when
                assert running_operations(d) == [], when
                assert disk_mismatches(d, pool, in_flight) == [], when

            unchanged("after the failed restore", BACKGROUND)
            d.restart()
            unchanged("after a daemon restart")
            filler.unlink()
            d.restart()
            unchanged("after freeing the space and another restart")
        finally:
            finish(d)  # also when the daemon no longer starts: its containers are stopped by name
