"""Hostile and broken tarballs: every one is refused, nothing lands outside, the target is cleaned."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pincus.base.errors import InvalidArgument
from pincus.images.unpack import unpack_image, unpack_metadata, unpack_rootfs
from tests.unit.images._imgtar import METADATA, basic_rootfs, dir_member, hardlink, member, symlink, tar_bytes

WriteTar = Callable[..., Path]


def _refused(path: Path, tmp_path: Path, match: str, unified: bool = True) -> None:
    target = tmp_path / "work/target"
    with pytest.raises(InvalidArgument, match=match):
        unpack_rootfs(path, target, unified=unified)
    assert not target.exists(), "a failed unpack must not leave a half-made target"
    outside = sorted(p.name for p in (tmp_path / "work").iterdir())
    assert outside == [], f"files escaped the target: {outside}"


HOSTILE = {
    "absolute path": ([member("/etc/evil", b"x")], False, "absolute path"),
    "absolute under rootfs": ([member("/rootfs/evil", b"x")], True, "absolute path"),
    "dotdot": ([member("rootfs/../../evil", b"x")], True, r'escapes the target directory with "\.\."'),
    "dotdot split": ([member("./a/../../evil", b"x")], False, r'"\.\."'),
    "hard link with dotdot": ([hardlink("rootfs/passwd", "rootfs/../../../etc/passwd")], True, "hard link"),
    "hard link absolute": ([hardlink("rootfs/passwd", "/etc/passwd")], True, "hard link"),
    "hard link to host file": ([hardlink("passwd", "etc/passwd")], False, "hard link"),
    "hard link out of rootfs": ([member("metadata.yaml", METADATA), hardlink("rootfs/m", "metadata.yaml")],
                                True, "hard link"),
    "hard link forward": ([hardlink("rootfs/a", "rootfs/b"), member("rootfs/b", b"x")], True, "hard link"),
    "write through symlink": ([symlink("rootfs/evil", "../.."), member("rootfs/evil/pwned", b"x")], True,
                              'through the symlink "evil"'),
    "write through abs symlink": ([symlink("etc", "/etc"), member("etc/cron.d/evil", b"x")], False,
                                  'through the symlink "etc"'),
    "replace symlink": ([symlink("rootfs/s", "/etc/shadow"), member("rootfs/s", b"x")], True, "replace a symlink"),
    "hard link through symlink": ([symlink("rootfs/d", "/etc"), hardlink("rootfs/x", "rootfs/d/passwd")], True,
                                  "hard link"),
    "dir replaced by symlink": ([dir_member("rootfs/etc"), symlink("rootfs/etc", "/etc"),
                                 member("rootfs/etc/passwd", b"x")], True, "would replace a directory"),
    "implied dir replaced by link": ([member("rootfs/a/b/f", b"x"), member("rootfs/t", b"t"),
                                      hardlink("rootfs/a/b", "rootfs/t")], True, "would replace a directory"),
    "below a file": ([member("rootfs/f", b"x"), member("rootfs/f/g", b"x")], True, "below the non-directory"),
    "unsupported type": ([member("rootfs/vol", type=b"V")], True, "unsupported type"),
    "rootfs not a dir": ([symlink("rootfs", "/")], True, "must be a directory"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_member_is_refused(case: str, write_tar: WriteTar, tmp_path: Path) -> None:
    entries, unified, match = HOSTILE[case]
    (tmp_path / "work").mkdir()
    if unified and not any(e[0].name == "metadata.yaml" for e in entries):
        entries = [member("metadata.yaml", METADATA), *entries]
    _refused(write_tar("image.tar", entries), tmp_path, match, unified)


def test_symlink_may_point_anywhere(write_tar: WriteTar, tmp_path: Path) -> None:
    target = tmp_path / "t"
    unpack_rootfs(write_tar("image.tar", [symlink("rootfs/shadow", "/etc/shadow"),
                                         symlink("rootfs/up", "../../../..")]), target, unified=True)
    assert Path(target / "shadow").readlink() == Path("/etc/shadow")
    assert Path(target / "up").readlink() == Path("../../../..")


@pytest.mark.parametrize("entry", [symlink("templates/hosts.tpl", "/etc/shadow"),
                                   hardlink("templates/h.tpl", "metadata.yaml"),
                                   member("templates/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)])
def test_templates_hold_only_files_and_dirs(entry: tuple[tarfile.TarInfo, bytes], write_tar: WriteTar,
                                            tmp_path: Path) -> None:
    image = write_tar("image.tar", [member("metadata.yaml", METADATA), dir_member("templates"), entry,
                                    *basic_rootfs()])
    with pytest.raises(InvalidArgument, match="may only hold files and directories"):
        unpack_metadata(image, tmp_path / "meta")
    with pytest.raises(InvalidArgument, match="may only hold files and directories"):
        unpack_image(tmp_path / "vol", image)
    assert not (tmp_path / "meta").exists() and not (tmp_path / "vol").exists()


@pytest.mark.parametrize("comp", ["none", "gzip", "xz", "bzip2"])
def test_truncated_data(comp: str, write_tar: WriteTar, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    entries = [member("metadata.yaml", METADATA), *basic_rootfs(), member("rootfs/big", bytes(range(256)) * 4000)]
    path = write_tar("image", entries, comp)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - len(data) // 4])
    _refused(path, tmp_path, "Invalid image tarball: truncated or corrupt")


def test_corrupt_header_checksum(write_tar: WriteTar, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    raw = bytearray(tar_bytes([member("metadata.yaml", METADATA), *basic_rootfs()]))
    raw[1024 + 10] ^= 0xFF  # inside the second header's name
    _refused(write_tar("image.tar", bytes(raw)), tmp_path, "checksum")


def test_garbage_compressed_stream(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    path = tmp_path / "image.tar.xz"
    path.write_bytes(b"\xfd7zXZ\x00" + b"\x01" * 5000)
    _refused(path, tmp_path, "Invalid image tarball: (truncated or corrupt|xz failed)")


def test_unified_without_rootfs(write_tar: WriteTar, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    _refused(write_tar("image.tar", [member("metadata.yaml", METADATA)]), tmp_path, "rootfs is missing")


def test_metadata_tarball_without_metadata(write_tar: WriteTar, tmp_path: Path) -> None:
    templates_only = [member("README", b"x"), dir_member("templates"), member("templates/a.tpl", b"a")]
    with pytest.raises(InvalidArgument, match="Invalid image tarball: metadata.yaml is missing"):
        unpack_metadata(write_tar("meta.tar", templates_only), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_split_image_with_a_bad_rootfs_leaves_nothing(write_tar: WriteTar, tmp_path: Path) -> None:
    meta = write_tar("meta.tar", [member("metadata.yaml", METADATA)])
    rootfs = write_tar("rootfs.tar", [member("./ok", b"x"), member("./../evil", b"x")])
    with pytest.raises(InvalidArgument, match=r'"\.\."'):
        unpack_image(tmp_path / "vol", meta, rootfs)
    assert not (tmp_path / "vol").exists() and not (tmp_path / "evil").exists()


def test_squashfs_cannot_be_a_unified_image(tmp_path: Path) -> None:
    path = tmp_path / "image.squashfs"
    path.write_bytes(b"hsqs" + bytes(600))
    with pytest.raises(InvalidArgument, match="squashfs"):
        unpack_rootfs(path, tmp_path / "t", unified=True)


def test_sparse_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    src = tmp_path / "src/rootfs"
    src.mkdir(parents=True)
    with open(src / "sparse", "wb") as f:
        f.truncate(8 << 20)
        f.write(b"data")
    image = tmp_path / "image.tar"
    subprocess.run(["tar", "-C", str(tmp_path / "src"), "--format=pax", "-S", "-cf", str(image), "rootfs"],
                   check=True)
    _refused(image, tmp_path, "sparse")


def test_target_must_be_empty(write_tar: WriteTar, tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.mkdir()
    (target / "existing").write_text("keep me")
    with pytest.raises(InvalidArgument, match="is not empty"):
        unpack_rootfs(write_tar("image.tar", basic_rootfs("")), target, unified=False)
    assert (target / "existing").read_text() == "keep me"


def test_existing_empty_target_is_kept_on_failure(write_tar: WriteTar, tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(InvalidArgument):
        unpack_rootfs(write_tar("image.tar", [*basic_rootfs(""), member("../evil", b"x")]), target, unified=False)
    assert target.is_dir() and not list(target.iterdir())
