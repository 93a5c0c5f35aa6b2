"""The parallel tree copy, delta sync and removal (plain temp dirs, no root needed)."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from pincus.storage.drivers import _copy
from pincus.storage.drivers._copy import copy_tree
from pincus.storage.drivers._fstime import fs_now_ns
from pincus.storage.drivers._parallel import remove_tree
from pincus.storage.drivers._reuse import Reuse
from pincus.storage.drivers._sync import sync_tree
from tests.unit.storage._storage_helpers import needs_root, needs_rsync, rsync_differences


def _copy_to(src: Path, name: str = "dst", **kw: object) -> tuple[Path, _copy.CopyStats]:
    dst = src.parent / name
    dst.mkdir()
    stats = copy_tree(src, dst, **kw)  # type: ignore[arg-type]
    return dst, stats


@needs_rsync
def test_copy_is_identical_to_source_by_rsync(tree: Path) -> None:
    dst, stats = _copy_to(tree)
    assert rsync_differences(tree, dst) == []
    assert stats.files >= 8 and stats.dirs == 4


def test_copy_keeps_metadata(tree: Path) -> None:
    dst, _ = _copy_to(tree)
    for rel in ("etc/hosts", "bin/busybox", "etc/sub", "bin/ls", "etc/fifo"):
        a, b = os.lstat(tree / rel), os.lstat(dst / rel)
        assert (a.st_mode, a.st_uid, a.st_gid, a.st_mtime_ns) == (
            b.st_mode,
            b.st_uid,
            b.st_gid,
            b.st_mtime_ns,
        ), rel
    assert os.lstat(dst / "etc/sub").st_mtime_ns == 978_307_200_123_456_789
    assert os.readlink(dst / "etc/dangling") == "/nonexistent/target"
    assert os.getxattr(dst / "etc/hosts", "user.pincus") == b"value"


def test_hard_links_stay_hard_links(tree: Path) -> None:
    dst, _ = _copy_to(tree)
    assert os.path.samefile(dst / "bin/busybox", dst / "bin/sh")
    assert not os.path.samefile(tree / "bin/busybox", dst / "bin/busybox")


def test_sparse_file_keeps_its_hole(tree: Path) -> None:
    dst, _ = _copy_to(tree)
    st = os.stat(dst / "etc/sparse")
    assert st.st_size == 8 << 20
    assert st.st_blocks * 512 < 1 << 20
    assert (dst / "etc/sparse").read_bytes() == (tree / "etc/sparse").read_bytes()


@needs_root
def test_device_nodes_and_owners_as_root(tree: Path) -> None:
    dst, _ = _copy_to(tree)
    st = os.lstat(dst / "etc/null")
    assert os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert (os.lstat(dst / "etc/hosts").st_uid, os.lstat(dst / "etc/hosts").st_gid) == (1234, 5678)
    assert os.lstat(dst / "bin/ls").st_uid == 4321


def test_setuid_bit_survives_chown(tree: Path) -> None:
    dst, _ = _copy_to(tree)
    assert os.stat(dst / "bin/busybox").st_mode & 0o7777 == 0o4755


def test_exclude_skips_top_level_prefixes_only(tree: Path) -> None:
    (tree / ".pincus-marker").write_text("x")
    (tree / "etc/.pincus-marker").write_text("y")
    dst, _ = _copy_to(tree, exclude=(".pincus-",))
    assert not (dst / ".pincus-marker").exists()
    assert (dst / "etc/.pincus-marker").exists()


def test_many_files_in_many_dirs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for d in range(4):
        (src / f"d{d}/deeper").mkdir(parents=True)
        for f in range(40):
            (src / f"d{d}/f{f}").write_bytes(b"%d-%d" % (d, f))
        (src / f"d{d}/deeper/x").write_text("x")
    dst, stats = _copy_to(src, workers=5)
    assert stats.files == 4 * 41
    assert (dst / "d3/f39").read_bytes() == b"3-39"


def test_falls_back_when_copy_file_range_is_unsupported(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def nope(*a: object, **k: object) -> int:
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(_copy.os, "copy_file_range", nope)
    monkeypatch.setattr(
        _copy.fcntl, "ioctl", lambda *a: (_ for _ in ()).throw(OSError(errno.EOPNOTSUPP, "x"))
    )
    dst, _ = _copy_to(tree)
    assert (dst / "bin/busybox").read_bytes() == (tree / "bin/busybox").read_bytes()


def test_error_in_a_worker_reaches_the_caller(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*a: object, **k: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_copy.os, "copy_file_range", full)
    monkeypatch.setattr(
        _copy.fcntl, "ioctl", lambda *a: (_ for _ in ()).throw(OSError(errno.EOPNOTSUPP, "x"))
    )
    with pytest.raises(OSError) as info:
        _copy_to(tree)
    assert info.value.errno == errno.ENOSPC


# --- reuse (sharing between immutable trees) -------------------------------------------------


def _snapshot(live: Path, name: str, base: Path | None, trusted: int = 0) -> tuple[Path, int]:
    started = fs_now_ns(live.parent)
    reuse = Reuse(base, trusted) if base is not None else None
    dst, _ = _copy_to(live, name, reuse=reuse)
    return dst, started


def test_unchanged_files_are_linked_from_the_base(tree: Path) -> None:
    s0, t0 = _snapshot(tree, "s0", None)
    s1, _ = _snapshot(tree, "s1", s0, t0)
    assert os.path.samefile(s0 / "etc/hosts", s1 / "etc/hosts")
    assert os.path.samefile(s1 / "bin/busybox", s1 / "bin/sh")  # the hard-link group survives
    assert not os.path.samefile(tree / "etc/hosts", s1 / "etc/hosts")  # never the live file


def test_file_rewritten_in_place_with_same_size_and_mtime_is_copied(tree: Path) -> None:
    s0, t0 = _snapshot(tree, "s0", None)
    hosts = tree / "etc/hosts"
    st = os.stat(hosts)
    time.sleep(0.01)
    with open(hosts, "r+b") as fh:
        fh.write(b"X")
    os.utime(hosts, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(hosts).st_size, os.stat(hosts).st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    s1, _ = _snapshot(tree, "s1", s0, t0)
    assert (s1 / "etc/hosts").read_bytes().startswith(b"X")
    assert (s0 / "etc/hosts").read_bytes().startswith(b"1")


def test_files_changed_after_the_base_started_are_copied(tree: Path) -> None:
    t0 = fs_now_ns(tree.parent)
    s0, _ = _copy_to(tree, "s0")  # a file written before the stamp would be fine; this one after
    (tree / "etc/hosts").write_text("new\n")
    s1, _ = _snapshot(tree, "s1", s0, t0)
    assert (s1 / "etc/hosts").read_text() == "new\n"


def test_restore_mode_links_matching_live_files_only(tree: Path) -> None:
    s0, t0 = _snapshot(tree, "s0", None)
    (tree / "etc/hosts").write_text("changed\n")
    aside = tree.parent / "aside"
    aside.mkdir()
    copy_tree(s0, aside, reuse=Reuse(s0, t0, live=tree))
    assert os.path.samefile(aside / "bin/busybox", tree / "bin/busybox")  # live inode reused
    assert not os.path.samefile(aside / "etc/hosts", s0 / "etc/hosts")  # copied out of the snapshot
    assert (aside / "etc/hosts").read_text() == "127.0.0.1 localhost\n"
    assert not set(_all_inodes(aside)) & set(_all_inodes(s0))


def test_restore_mode_through_another_base_requires_the_same_inode(tree: Path) -> None:
    s0, t0 = _snapshot(tree, "s0", None)
    s1, t1 = _snapshot(tree, "s1", s0, t0)
    (tree / "bin/busybox").write_bytes(b"other")
    aside = tree.parent / "aside"
    aside.mkdir()
    copy_tree(s0, aside, reuse=Reuse(s1, t1, live=tree))  # restore s0 with a claim on s1
    assert os.path.samefile(aside / "etc/hosts", tree / "etc/hosts")
    assert (aside / "bin/busybox").read_bytes() == (s0 / "bin/busybox").read_bytes()


def _all_inodes(root: Path) -> list[tuple[int, int]]:
    out = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_size:
                out.append((st.st_dev, st.st_ino))
    return out


# --- delta sync ---------------------------------------------------------------------------


@needs_rsync
def test_sync_tree_catches_up_with_every_kind_of_change(tree: Path) -> None:
    since = fs_now_ns(tree.parent)
    dst, _ = _copy_to(tree)
    (tree / "etc/hosts").write_text("rewritten\n")
    (tree / "etc/new").write_text("new")
    (tree / "etc/empty").unlink()
    (tree / "newdir/inner").mkdir(parents=True)
    (tree / "newdir/inner/f").write_text("f")
    os.rename(tree / "etc/sub", tree / "etc/sub2")
    (tree / "bin/ls").unlink()
    (tree / "bin/ls").mkdir()  # a symlink became a directory
    os.chmod(tree / "etc", 0o700)
    sync_tree(tree, dst, changed_since_ns=since)
    assert rsync_differences(tree, dst) == []


def test_sync_tree_replaces_files_instead_of_writing_into_them(tree: Path) -> None:
    since = fs_now_ns(tree.parent)
    dst, _ = _copy_to(tree)
    shared = tree.parent / "elsewhere"
    os.link(dst / "etc/hosts", shared)  # as if linked from an older snapshot
    (tree / "etc/hosts").write_text("changed\n")
    sync_tree(tree, dst, changed_since_ns=since)
    assert (dst / "etc/hosts").read_text() == "changed\n"
    assert shared.read_text() == "127.0.0.1 localhost\n"


def test_sync_tree_leaves_unchanged_files_alone(tree: Path) -> None:
    dst, _ = _copy_to(tree)
    since = fs_now_ns(tree.parent)
    before = os.stat(dst / "etc/hosts").st_ino
    stats = sync_tree(tree, dst, changed_since_ns=since)
    assert os.stat(dst / "etc/hosts").st_ino == before
    assert stats.files == 0


# --- removal ------------------------------------------------------------------------------


def test_remove_tree_removes_everything(tree: Path) -> None:
    (tree / "deep/a/b/c").mkdir(parents=True)
    os.chmod(tree / "deep/a", 0o500)
    remove_tree(tree)
    assert not tree.exists()
    remove_tree(tree)  # missing is fine


def test_remove_tree_of_a_file_or_symlink(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    os.symlink(tmp_path, tmp_path / "link")
    remove_tree(tmp_path / "link")
    remove_tree(tmp_path / "f")
    assert os.listdir(tmp_path) == []
