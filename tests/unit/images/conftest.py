"""Fixtures for the image tests."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.images._imgtar import COMPRESSORS, tar_bytes


@pytest.fixture
def write_tar(tmp_path: Path) -> Callable[..., Path]:
    """Write entries (or raw bytes) to tmp_path/NAME with the given compression; returns the path."""
    def write(name: str, entries: list[tuple[tarfile.TarInfo, bytes]] | bytes, compression: str = "none") -> Path:
        raw = entries if isinstance(entries, bytes) else tar_bytes(entries)
        path = tmp_path / name
        path.write_bytes(COMPRESSORS[compression](raw))
        return path
    return write
