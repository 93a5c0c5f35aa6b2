from __future__ import annotations

import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pincus.base.errors import InvalidArgument
from pincus.images.compression import detect_compression, detect_compression_bytes, open_tar_stream
from tests.unit.images._imgtar import COMPRESSORS, unified_entries

TOOLS = {"zstd": "zstd", "lz4": "lz4"}


def _have(comp: str) -> bool:
    return comp not in TOOLS or shutil.which(TOOLS[comp]) is not None


@pytest.mark.parametrize("comp", sorted(COMPRESSORS))
def test_detects_and_decompresses(comp: str, write_tar: Callable[..., Path]) -> None:
    if not _have(comp):
        pytest.skip(f"{comp} tool not installed")
    path = write_tar(f"image.{comp}", unified_entries(), comp)
    assert detect_compression(path).name == comp
    for prefer_tool in (False, True):
        with open_tar_stream(path, prefer_tool=prefer_tool) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            names = [m.name for m in tar]
        assert names[0] == "metadata.yaml" and "rootfs/bin/busybox" in names


@pytest.mark.parametrize(
    ("head", "name"),
    [(b"hsqs" + bytes(300), "squashfs"), (b"QFI\xfb" + bytes(300), "qcow2"), (b"\x5d\x00\x00\x80", "lzma")],
)
def test_other_magics(head: bytes, name: str) -> None:
    assert detect_compression_bytes(head).name == name


def test_unknown_compression_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "junk"
    f.write_bytes(b"PK\x03\x04 this is a zip file" + bytes(300))
    with pytest.raises(InvalidArgument, match="Invalid image tarball: unsupported compression"):
        detect_compression(f)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "empty"
    f.write_bytes(b"")
    with pytest.raises(InvalidArgument, match="empty"):
        detect_compression(f)


def test_squashfs_is_not_a_tar_stream(tmp_path: Path) -> None:
    f = tmp_path / "rootfs.squashfs"
    f.write_bytes(b"hsqs" + bytes(600))
    with pytest.raises(InvalidArgument, match="not a tarball"), open_tar_stream(f):
        pass


def test_a_failing_tool_is_reported(write_tar: Callable[..., Path]) -> None:
    if not _have("zstd"):
        pytest.skip("zstd not installed")
    path = write_tar("image.tar.zst", unified_entries(), "zstd")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidArgument, match="zstd failed"), open_tar_stream(path) as stream:
        while stream.read(65536):
            pass
