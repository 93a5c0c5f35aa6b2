"""Fixtures for storage driver tests."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pincus.storage.drivers._parallel import remove_tree
from tests.unit.storage._storage_helpers import build_tree, settle


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A fresh pincus-test-* directory, removed afterwards (read-only parts included)."""
    path = Path(tempfile.mkdtemp(prefix="pincus-test-"))
    try:
        yield path
    finally:
        remove_tree(path)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A populated source tree."""
    src = tmp_path / "src"
    src.mkdir()
    build_tree(src)
    settle(tmp_path)
    return src
