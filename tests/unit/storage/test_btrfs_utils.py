"""btrfs helpers that need no btrfs: sizes and mount table parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pincus.base import sizes
from pincus.base.errors import InvalidArgument
from pincus.storage.drivers import btrfs_utils as bu


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("20GiB", 20 * 2**30),
        ("5GB", 5 * 10**9),
        ("512MiB", 512 * 2**20),
        ("1073741824", 2**30),
        ("1.5GiB", 3 * 2**29),
        ("100kB", 100_000),
        ("2TiB", 2 * 2**40),
        ("7 MB", 7 * 10**6),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert sizes.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "-1GiB", "5XB", "five"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument):
        sizes.parse_size(text)


def test_format_size_round_trips() -> None:
    assert sizes.format_size(5 * 2**30) == "5GiB"
    assert sizes.format_size(1536 * 2**20) == "1536MiB"
    assert sizes.format_size(1000) == "1000B"
    for n in (2**30, 3 * 2**29, 123456):
        assert sizes.parse_size(sizes.format_size(n)) == n


def test_mount_table_lookup() -> None:
    assert bu.mount_of(Path("/")) is not None
    assert bu.mount_of(Path("/nonexistent-pincus-test")) is None
    assert bu.fs_type(Path("/proc/self")) == "proc"
    assert bu._unescape(r"/a\040b") == "/a b"


def test_is_subvolume_is_false_off_btrfs(tmp_path: Path) -> None:
    assert not bu.is_subvolume(tmp_path / "missing")
    assert bu.loop_backing_file("/dev/not-a-loop") == ""
