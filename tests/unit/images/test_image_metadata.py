from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pincus.base.errors import InvalidArgument
from pincus.images.metadata import ImageTemplate, canonical_architecture, parse_metadata, read_metadata
from tests.unit.images._imgtar import METADATA, basic_rootfs, dir_member, member, unified_entries


def test_parse_full_metadata() -> None:
    meta = parse_metadata(METADATA)
    assert meta.architecture == "x86_64"
    assert meta.creation_date == 1700000000
    assert meta.expiry_date == 0
    assert meta.properties == {"os": "Busybox", "release": "1.36", "description": "test image"}
    assert meta.templates == {"/etc/hostname": ImageTemplate(when=["create", "copy"], template="hostname.tpl")}


def test_scalars_keep_their_literal_text() -> None:
    meta = parse_metadata(b"architecture: amd64\ncreation_date: 1\nproperties:\n  release: 12.10\n  lts: yes\n")
    assert meta.properties == {"release": "12.10", "lts": "yes"}
    assert meta.architecture == "amd64"  # kept as written; the record canonicalises it


def test_templates_with_all_fields() -> None:
    meta = parse_metadata(
        b"architecture: x86_64\ncreation_date: 5\nexpiry_date: 9\ntemplates:\n"
        b"  /etc/hosts:\n    when: [start]\n    create_only: true\n    template: hosts.tpl\n"
        b"    properties: {a: b}\n    uid: '1000'\n    gid: '1000'\n    mode: '644'\n"
    )
    tpl = meta.templates["/etc/hosts"]
    assert tpl == ImageTemplate(["start"], True, "hosts.tpl", {"a": "b"}, "1000", "1000", "644")
    assert meta.expiry_date == 9
    assert meta.to_api()["templates"]["/etc/hosts"]["uid"] == "1000"
    assert "uid" not in ImageTemplate().to_api()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"architecture: x86_64\n", "Missing creation date"),
        (b"architecture: vax\ncreation_date: 1\n", "Architecture isn't supported: vax"),
        (b"creation_date: 1\n", "Architecture isn't supported: "),
        (b"architecture: x86_64\ncreation_date: soon\n", "creation_date must be an integer"),
        (b"architecture: [x86_64]\ncreation_date: 1\n", "architecture must be a scalar"),
        (b"architecture: x86_64\ncreation_date: 1\nproperties: [a, b]\n", "properties must map"),
        (b"architecture: x86_64\ncreation_date: 1\ntemplates: 3\n", "templates must map"),
        (b"architecture: x86_64\ncreation_date: 1\ntemplates: {/a: {create_only: maybe}}\n", "boolean"),
        (b"architecture: x86_64\n  creation_date: : 1\n", "not valid YAML"),
        (b"- a\n- b\n", "not a mapping"),
    ],
)
def test_invalid_metadata(text: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_metadata(text)


def test_architecture_aliases() -> None:
    assert canonical_architecture("amd64") == "x86_64"
    assert canonical_architecture("arm64") == "aarch64"
    assert canonical_architecture("ppc64el") == "ppc64le"


@pytest.mark.parametrize("comp", ["none", "gzip", "xz", "bzip2"])
def test_read_from_unified_tarball(comp: str, write_tar: Callable[..., Path]) -> None:
    meta, kind = read_metadata(write_tar("image", unified_entries(), comp))
    assert meta.properties["os"] == "Busybox"
    assert kind == "container"


def test_read_from_split_metadata_tarball(write_tar: Callable[..., Path]) -> None:
    path = write_tar("meta.tar.xz", [member("./metadata.yaml", METADATA)], "xz")
    meta, kind = read_metadata(path)
    assert meta.architecture == "x86_64"
    assert kind == "unknown"


def test_read_finds_metadata_after_rootfs(write_tar: Callable[..., Path]) -> None:
    path = write_tar("image.tar.gz", [*basic_rootfs(), member("metadata.yaml", METADATA)], "gzip")
    assert read_metadata(path)[1] == "container"


def test_vm_image_type(write_tar: Callable[..., Path]) -> None:
    path = write_tar("vm.tar", [member("metadata.yaml", METADATA), member("rootfs.img", b"\0" * 1024)])
    assert read_metadata(path)[1] == "virtual-machine"


def test_missing_metadata_yaml(write_tar: Callable[..., Path]) -> None:
    path = write_tar("image.tar.xz", basic_rootfs(), "xz")
    with pytest.raises(InvalidArgument, match="Invalid image tarball: metadata.yaml is missing"):
        read_metadata(path)


def test_metadata_yaml_must_be_a_file(write_tar: Callable[..., Path]) -> None:
    path = write_tar("image.tar", [dir_member("metadata.yaml"), *basic_rootfs()])
    with pytest.raises(InvalidArgument, match="metadata.yaml is missing"):
        read_metadata(path)


@pytest.mark.parametrize("comp", ["none", "gzip", "xz", "bzip2"])
def test_truncated_stream(comp: str, write_tar: Callable[..., Path]) -> None:
    big = member("metadata.yaml", METADATA.ljust(200_000, b"#"))
    path = write_tar("image", [big, *basic_rootfs()], comp)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InvalidArgument, match="Invalid image tarball: truncated or corrupt|truncated metadata"):
        read_metadata(path)


def test_garbage_after_a_valid_magic(tmp_path: Path) -> None:
    f = tmp_path / "image.tar.gz"
    f.write_bytes(b"\x1f\x8b" + b"garbage" * 100)
    with pytest.raises(InvalidArgument, match="Invalid image tarball: truncated or corrupt gzip"):
        read_metadata(f)
