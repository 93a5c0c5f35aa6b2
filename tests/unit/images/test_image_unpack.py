from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pincus.images.unpack import unpack_image, unpack_metadata, unpack_rootfs
from tests.unit.images._imgtar import (
    METADATA,
    basic_rootfs,
    dir_member,
    member,
    requires_root,
    tar_bytes,
    unified_entries,
)

WriteTar = Callable[..., Path]
# user::rwx group::r-x group:4:r-x mask::r-x other::r-x (Debian's /var/log/journal default ACL)
ACL = base64.b64decode("AgAAAAEABwD/////BAAFAP////8IAAUABAAAABAABQD/////IAAFAP////8=")


@pytest.mark.parametrize("comp", ["none", "gzip", "xz", "bzip2", "zstd"])
def test_unified_extracts_only_rootfs_stripped(comp: str, write_tar: WriteTar, tmp_path: Path) -> None:
    if comp == "zstd" and shutil.which("zstd") is None:
        pytest.skip("zstd not installed")
    target = tmp_path / "rootfs"
    unpack_rootfs(write_tar("image", unified_entries(), comp), target, unified=True)
    assert sorted(p.name for p in target.iterdir()) == ["bin", "dev", "etc"]
    assert (target / "bin/busybox").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert os.readlink(target / "bin/sh") == "/bin/busybox"
    assert (target / "bin/ash").stat().st_ino == (target / "bin/busybox").stat().st_ino
    assert not (target / "metadata.yaml").exists() and not (target / "templates").exists()


def test_unified_with_dot_slash_names(write_tar: WriteTar, tmp_path: Path) -> None:
    entries = [member("./metadata.yaml", METADATA), *basic_rootfs("./rootfs/")]
    target = tmp_path / "rootfs"
    assert unpack_rootfs(write_tar("image.tar", entries), target, unified=True) == 8
    assert (target / "etc/hostname").read_text() == "busybox\n"
    assert (target / "bin/ash").stat().st_nlink == 2


def test_split_rootfs_extracts_everything(write_tar: WriteTar, tmp_path: Path) -> None:
    target = tmp_path / "rootfs"
    target.mkdir(mode=0o700)
    unpack_rootfs(write_tar("rootfs.tar.xz", basic_rootfs("./"), "xz"), target, unified=False)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # the "./" member's mode applies to the root
    assert (target / "bin/busybox").exists() and (target / "bin/ash").exists()


def test_dev_is_skipped_like_incus_unless_asked(write_tar: WriteTar, tmp_path: Path) -> None:
    image = write_tar("image.tar", unified_entries())
    unpack_rootfs(image, tmp_path / "a", unified=True)
    assert (tmp_path / "a/dev").is_dir() and not list((tmp_path / "a/dev").iterdir())
    if os.geteuid() == 0:
        unpack_rootfs(image, tmp_path / "b", unified=True, exclude_dev=False)
        st = os.lstat(tmp_path / "b/dev/null")
        assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)


@requires_root
def test_ownership_modes_times_and_special_files(write_tar: WriteTar, tmp_path: Path) -> None:
    entries = [
        dir_member("rootfs"),
        dir_member("rootfs/tmp", mode=0o1777),
        dir_member("rootfs/secret", mode=0o700, uid=1000, gid=1000),
        member("rootfs/secret/key", b"k", mode=0o600, uid=1000, gid=1001),
        member("rootfs/su", b"elf", mode=0o4755, uid=0, gid=0),
        member("rootfs/owned", b"x", uid=1234567, gid=7654321),
        member("rootfs/fifo", type=tarfile.FIFOTYPE, mode=0o640),
        member("rootfs/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
        member("rootfs/loop0", type=tarfile.BLKTYPE, devmajor=7, devminor=0, mode=0o660, gid=6),
        member("rootfs/link", type=tarfile.SYMTYPE, linkname="secret/key", uid=33, gid=33, mode=0o777),
    ]
    target = tmp_path / "r"
    unpack_rootfs(write_tar("image.tar", entries), target, unified=True)

    def st(name: str) -> os.stat_result:
        return os.lstat(target / name)

    assert stat.S_IMODE(st("tmp").st_mode) == 0o1777
    assert (stat.S_IMODE(st("secret").st_mode), st("secret").st_uid) == (0o700, 1000)
    assert (st("secret/key").st_uid, st("secret/key").st_gid) == (1000, 1001)
    assert stat.S_IMODE(st("su").st_mode) == 0o4755
    assert (st("owned").st_uid, st("owned").st_gid) == (1234567, 7654321)
    assert st("owned").st_mtime == 1700000000
    assert stat.S_ISFIFO(st("fifo").st_mode)
    assert stat.S_ISCHR(st("null").st_mode) and stat.S_ISBLK(st("loop0").st_mode)
    assert (os.major(st("loop0").st_rdev), st("loop0").st_gid) == (7, 6)
    assert (st("link").st_uid, os.readlink(target / "link")) == (33, "secret/key")


@requires_root
def test_xattrs_and_file_capabilities_survive(tmp_path: Path) -> None:
    if shutil.which("setcap") is None:
        pytest.skip("setcap not installed")
    src = tmp_path / "src/rootfs"
    src.mkdir(parents=True)
    (src / "ping").write_bytes(b"elf")
    subprocess.run(["setcap", "cap_net_raw+ep", str(src / "ping")], check=True)
    os.setxattr(src / "ping", "user.pincus", b"\x00\xffbinary")
    (src / "journal").mkdir()
    os.setxattr(src / "journal", "system.posix_acl_default", ACL)
    image = tmp_path / "image.tar.gz"
    subprocess.run(["tar", "-C", str(tmp_path / "src"), "--xattrs", "--xattrs-include=*", "-czf", str(image),
                    "rootfs"], check=True)
    target = tmp_path / "out"
    unpack_rootfs(image, target, unified=True)
    assert os.getxattr(target / "ping", "security.capability") == os.getxattr(src / "ping", "security.capability")
    assert os.getxattr(target / "ping", "user.pincus") == b"\x00\xffbinary"
    assert os.getxattr(target / "journal", "system.posix_acl_default") == ACL


def test_long_and_non_utf8_names(write_tar: WriteTar, tmp_path: Path) -> None:
    deep = "rootfs/" + "/".join(["d" * 60] * 6) + "/" + "f" * 200
    raw_name = os.fsdecode(b"rootfs/caf\xe9")
    split = "rootfs/" + "p" * 140 + "/" + "n" * 90  # fits ustar's prefix + name fields
    entries = [member(deep, b"deep"), member(raw_name, b"latin1"), member(split, b"split"),
               member("rootfs/" + "l" * 150, type=tarfile.SYMTYPE, linkname="t" * 300)]
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        target = tmp_path / f"out{fmt}"
        path = tmp_path / f"image{fmt}.tar"
        path.write_bytes(tar_bytes(entries, fmt))
        unpack_rootfs(path, target, unified=True)
        assert (target / deep.removeprefix("rootfs/")).read_bytes() == b"deep"
        assert (target / split.removeprefix("rootfs/")).read_bytes() == b"split"
        with open(os.path.join(os.fsencode(target), b"caf\xe9"), "rb") as f:
            assert f.read() == b"latin1"
        assert os.readlink(target / ("l" * 150)) == "t" * 300


def test_unpack_image_unified_layout(write_tar: WriteTar, tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    unpack_image(volume, write_tar("image.tar.xz", unified_entries(), "xz"))
    assert sorted(p.name for p in volume.iterdir()) == ["metadata.yaml", "rootfs", "templates"]
    assert (volume / "metadata.yaml").read_bytes() == METADATA
    assert (volume / "templates/hostname.tpl").read_text() == "{{ container.name }}\n"
    assert (volume / "rootfs/bin/busybox").exists()


def test_unpack_image_split_layout(write_tar: WriteTar, tmp_path: Path) -> None:
    meta = write_tar("meta.tar.xz", [member("metadata.yaml", METADATA), dir_member("templates"),
                                     member("templates/hostname.tpl", b"x")], "xz")
    rootfs = write_tar("rootfs.tar.xz", basic_rootfs("./"), "xz")
    volume = tmp_path / "vol"
    unpack_image(volume, meta, rootfs)
    assert sorted(p.name for p in volume.iterdir()) == ["metadata.yaml", "rootfs", "templates"]
    assert (volume / "rootfs/etc/hostname").exists()


def test_unpack_metadata_only(write_tar: WriteTar, tmp_path: Path) -> None:
    dest = tmp_path / "meta"
    assert unpack_metadata(write_tar("image.tar", unified_entries()), dest) == 3
    assert sorted(p.name for p in dest.iterdir()) == ["metadata.yaml", "templates"]


@pytest.mark.skipif(shutil.which("mksquashfs") is None or shutil.which("unsquashfs") is None,
                    reason="squashfs-tools not installed")
def test_squashfs_rootfs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "etc").mkdir(parents=True)
    (src / "etc/os-release").write_text("ID=test\n")
    image = tmp_path / "rootfs.squashfs"
    subprocess.run(["mksquashfs", str(src), str(image), "-quiet", "-noappend"], check=True, capture_output=True)
    unpack_rootfs(image, tmp_path / "out", unified=False)
    assert (tmp_path / "out/etc/os-release").read_text() == "ID=test\n"
