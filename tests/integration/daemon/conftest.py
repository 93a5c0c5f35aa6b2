from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator

import pytest

from tests.support.pincusd import Pincusd, start_pincusd


def _usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("lxc-start"):
        return "needs liblxc"
    return None


@pytest.fixture(scope="session", params=["dir", "btrfs"])
def daemon(request: pytest.FixtureRequest) -> Iterator[Pincusd]:
    """A private pincusd with a pool of the given driver and the busybox image."""
    reason = _usable()
    if reason:
        pytest.skip(reason)
    d = start_pincusd()
    try:
        d.init_pool(request.param)
        d.import_busybox()
        yield d
    finally:
        d.stop()


@pytest.fixture
def name() -> str:
    """A unique instance name."""
    return f"it-{secrets.token_hex(3)}"
