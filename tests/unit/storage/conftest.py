"""Fixtures for storage driver tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from _storage_helpers import build_tree, settle


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A populated source tree."""
    src = tmp_path / "src"
    src.mkdir()
    build_tree(src)
    settle(tmp_path)
    return src
