"""Fixtures for storage integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.storage._pool_helpers import scratch_dir


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A unique /var/tmp/pincus-test-* directory, removed afterwards."""
    with scratch_dir() as base:
        yield base
