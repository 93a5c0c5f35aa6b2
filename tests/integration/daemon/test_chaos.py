"""Bounded crash chaos: random operations, SIGKILL of pincusd at a random moment, restart, invariants.

Each cycle writes a fresh marker token into the instance it touches, sends one operation (snapshot
create/delete/rename, restore of a stopped or running instance, instance rename, copy of an instance
or of a snapshot, delete, start/stop), kills the daemon 0-300 ms later, restarts it and checks:
the daemon starts; no operation is left running; every instance and snapshot row has its directory
and no directory is unknown to the API; every rootfs and snapshot holds exactly its own token; the
state equals the one before or the one after the operation (only the one after when the answer came
back first), so an instance that was running is running. The long run is bench/chaos.py.
"""

from __future__ import annotations

import os

import pytest

from tests.support.chaos import chaos_daemon, finish, run_chaos

pytestmark = pytest.mark.integration

CYCLES = int(os.environ.get("PINCUS_CHAOS_CYCLES", "80"))
SEED = 1111


@pytest.mark.parametrize("driver", ["dir", "btrfs"])
def test_kill_at_random_moments_keeps_database_and_disk_consistent(driver):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    d = chaos_daemon(driver)  # its own daemon: this one gets SIGKILLed
    try:
        res = run_chaos(d, driver, CYCLES, SEED + (driver == "btrfs"))
    finally:
        finish(d)
    print(res.summary())
    assert res.failures == [], "\n".join([res.summary(), *res.failures])
