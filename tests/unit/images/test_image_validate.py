"""validate_image: unpack's member checks over an uploaded image, with nothing extracted."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pincus.base.errors import InvalidArgument
from pincus.images.unpack import validate_image
from tests.unit.images._imgtar import METADATA, basic_rootfs, dir_member, member, unified_entries
from tests.unit.images.test_image_unpack_hostile import HOSTILE

WriteTar = Callable[..., Path]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_every_hostile_member_is_refused_without_extracting(case: str, write_tar: WriteTar, tmp_path: Path) -> None:
    entries, unified, match = HOSTILE[case]
    if unified:
        if not any(e[0].name == "metadata.yaml" for e in entries):
            entries = [member("metadata.yaml", METADATA), *entries]
        files = (write_tar("image.tar", entries),)
    else:
        files = (write_tar("meta.tar", [member("metadata.yaml", METADATA)]), write_tar("rootfs.tar", entries))
    before = _tree(tmp_path)
    match = match.replace('symlink "', 'symlink "(rootfs/)?')  # a whole image's paths keep the rootfs/ prefix
    with pytest.raises(InvalidArgument, match=match):
        validate_image(*files)
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("comp", ["none", "gzip", "xz", "zstd"])
def test_good_unified_and_split_images_pass(comp: str, write_tar: WriteTar) -> None:
    assert validate_image(write_tar("image", unified_entries(), comp)) > 5
    meta = write_tar("meta", [member("metadata.yaml", METADATA), dir_member("templates")], comp)
    assert validate_image(meta, write_tar("rootfs", basic_rootfs("./"), comp)) > 5


def test_truncated_xz_is_refused(write_tar: WriteTar) -> None:
    path = write_tar("image", [*unified_entries(), member("rootfs/big", os.urandom(300_000))], "xz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidArgument, match="Invalid image tarball: (truncated or corrupt|xz failed)"):
        validate_image(path)


def test_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.tar.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x01" * 5000)
    with pytest.raises(InvalidArgument, match="Invalid image tarball"):
        validate_image(path)


@pytest.mark.parametrize(("entries", "missing"), [
    ([dir_member("rootfs"), member("rootfs/f", b"x")], "metadata.yaml is missing"),
    ([member("metadata.yaml", METADATA)], "rootfs is missing"),
])  # fmt: skip
def test_missing_parts_are_refused(entries, missing: str, write_tar: WriteTar) -> None:
    with pytest.raises(InvalidArgument, match=missing):
        validate_image(write_tar("image.tar", entries))


def test_split_metadata_without_metadata_yaml(write_tar: WriteTar) -> None:
    meta = write_tar("meta.tar", [dir_member("templates"), member("templates/a.tpl", b"a")])
    with pytest.raises(InvalidArgument, match="metadata.yaml is missing"):
        validate_image(meta, write_tar("rootfs.tar", basic_rootfs("./")))
