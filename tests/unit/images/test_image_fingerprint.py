from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pincus.base.errors import InvalidArgument
from pincus.images.fingerprint import fingerprint, image_size


def test_unified_is_sha256_of_the_file(tmp_path: Path) -> None:
    f = tmp_path / "image.tar.xz"
    f.write_bytes(b"x" * 3_000_000)
    assert fingerprint(f) == hashlib.sha256(b"x" * 3_000_000).hexdigest()


def test_split_is_sha256_of_metadata_then_rootfs(tmp_path: Path) -> None:
    meta, rootfs = tmp_path / "meta.tar.xz", tmp_path / "rootfs.squashfs"
    meta.write_bytes(b"metadata-bytes")
    rootfs.write_bytes(b"rootfs-bytes" * 100_000)
    expected = hashlib.sha256(b"metadata-bytes" + b"rootfs-bytes" * 100_000).hexdigest()
    assert fingerprint(meta, rootfs) == expected
    assert fingerprint(rootfs, meta) != expected  # order matters


def test_size_is_the_sum_of_the_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"1" * 288)
    b.write_bytes(b"2" * 881248)
    assert image_size(a, b) == 881536


def test_needs_one_or_two_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        fingerprint()
    f = tmp_path / "f"
    f.write_bytes(b"")
    with pytest.raises(InvalidArgument):
        fingerprint(f, f, f)
