"""core.files and core.inroot on a temporary directory standing for a rootfs: paths resolve inside it as
after chroot, only regular files, directories and symlinks are served, pushes replace atomically."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from pincus.base.errors import InvalidArgument, NotFound, NotSupported
from pincus.core import files, inroot

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (device nodes, chown)")


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    """(rootfs, outside): a rootfs with /etc/secret, and a host directory with the same names."""
    root, outside = tmp_path / "rootfs", tmp_path / "host"
    for base, text in ((root, "inside\n"), (outside, "OUTSIDE\n")):
        (base / "etc").mkdir(parents=True)
        (base / "etc" / "secret").write_text(text)
    return root, outside


def _read(rootfs: Path, path: str) -> bytes:
    info, reader = files.pull(str(rootfs), path)
    assert info.kind == "file" and reader is not None
    return b"".join(reader)


def _push(rootfs: Path, path: str, data: bytes, uid: int = -1, gid: int = -1, mode: int = -1,
          append: bool = False) -> None:
    files.push(str(rootfs), path, "file", uid, gid, mode, append, [data])


def test_pull_file_directory_symlink(world):
    root, _ = world
    os.symlink("secret", root / "etc" / "link")
    assert _read(root, "/etc/secret") == b"inside\n"
    info, reader = files.pull(str(root), "/etc")
    assert info.kind == "directory" and info.entries == ["link", "secret"] and reader is None
    info, reader = files.pull(str(root), "/etc/link")
    assert info.kind == "symlink" and info.target == "secret" and reader is None
    info, _ = files.pull(str(root), "/")
    assert info.entries == ["etc"]
    with pytest.raises(NotFound, match='Path "/nope" not found'):
        files.pull(str(root), "/nope")
    with pytest.raises(NotFound):
        files.pull(str(root), "/etc/secret/below")


@pytest.mark.parametrize("target", ["/host/etc", "../../../host/etc", "../../host/etc/../etc"])
def test_symlinked_parent_stays_inside(world, target):
    root, outside = world
    os.symlink(target.replace("/host", str(outside)) if target.startswith("/") else target, root / "escape")
    # the absolute host path, taken inside the rootfs, does not exist there; ".." stops at the rootfs
    with pytest.raises(NotFound):
        _read(root, "/escape/secret")
    assert not (outside / "etc" / "new").exists()
    with pytest.raises(NotFound):
        _push(root, "/escape/new", b"x")
    with pytest.raises(NotFound):
        files.delete(str(root), "/escape/secret")
    assert (outside / "etc" / "secret").read_text() == "OUTSIDE\n"


@pytest.mark.parametrize("target", ["/etc", "../../../../etc", "/../../etc"])
def test_escaping_symlinks_resolve_to_the_rootfs(world, target):
    root, outside = world
    (root / "a").mkdir()
    os.symlink(target, root / "a" / "up")
    assert _read(root, "/a/up/secret") == b"inside\n"
    _push(root, "/a/up/new", b"made\n")
    assert (root / "etc" / "new").read_bytes() == b"made\n" and not (outside / "etc" / "new").exists()
    files.make_directory(str(root), "/a/up/d", -1, -1, -1)
    assert (root / "etc" / "d").is_dir()
    files.delete(str(root), "/a/up/new")
    assert not (root / "etc" / "new").exists()


def test_push_through_a_final_symlink_writes_its_target_inside(world):
    root, outside = world
    os.symlink(str(outside / "etc" / "secret"), root / "abs")  # host path: dangling inside the rootfs
    os.symlink("/etc/secret", root / "inner")
    os.symlink("../../etc/secret", root / "etc" / "rel")
    _push(root, "/inner", b"one\n")
    assert (root / "etc" / "secret").read_bytes() == b"one\n" and (root / "inner").is_symlink()
    _push(root, "/etc/rel", b"two\n")
    assert (root / "etc" / "secret").read_bytes() == b"two\n"
    with pytest.raises(NotFound):  # the host path, taken inside the rootfs, has no parent there
        _push(root, "/abs", b"three\n")
    assert (outside / "etc" / "secret").read_text() == "OUTSIDE\n"
    os.symlink("/etc/fresh", root / "dangling")
    _push(root, "/dangling", b"four\n")  # created at the link's target, as open(O_CREAT) would
    assert (root / "etc" / "fresh").read_bytes() == b"four\n"


def test_symlink_loop_is_refused(world):
    root, _ = world
    os.symlink("/b", root / "a")
    os.symlink("/a", root / "b")
    with pytest.raises(InvalidArgument, match="symbolic links"):
        _push(root, "/a", b"x")
    with pytest.raises(InvalidArgument):
        _read(root, "/a/x")


def test_symlink_swapped_concurrently_never_escapes(world):
    """A container flipping a link between inside and an outside path: every read sees the inside."""
    root, outside = world
    (root / "d").mkdir()
    stop = threading.Event()

    def flip() -> None:
        link, tmp = root / "d" / "l", root / "d" / "l.tmp"
        while not stop.is_set():
            for target in (str(outside / "etc"), "../etc", "/etc"):
                tmp.unlink(missing_ok=True)
                os.symlink(target, tmp)
                os.replace(tmp, link)
                time.sleep(0)  # let the reader run with each target in turn

    flipper = threading.Thread(target=flip)
    flipper.start()
    seen: list[bytes] = []
    try:
        # Read until the inside was seen often (the flipper's timing is the scheduler's), at most 20k times.
        while seen.count(b"inside\n") < 20 and len(seen) < 20_000:
            try:
                seen.append(_read(root, "/d/l/secret"))
            except NotFound:
                seen.append(b"missing")
    finally:
        stop.set()
        flipper.join()
    assert b"OUTSIDE\n" not in seen and b"inside\n" in seen


def test_fifo_and_socket_refused_promptly(world):
    root, _ = world
    os.mkfifo(root / "fifo")
    with pytest.raises(InvalidArgument, match='Path "/fifo" is a fifo'):
        files.pull(str(root), "/fifo")
    with pytest.raises(InvalidArgument, match='Path "/fifo" is a fifo'):
        _push(root, "/fifo", b"x")
    assert stat.S_ISFIFO(os.lstat(root / "fifo").st_mode)
    files.delete(str(root), "/fifo")  # removing a node opens nothing: allowed, as in Incus
    assert not (root / "fifo").exists()


@needs_root
@pytest.mark.parametrize(("kind", "word"), [(stat.S_IFCHR, "character device"), (stat.S_IFBLK, "block device")])
def test_device_nodes_refused(world, kind, word):
    root, _ = world
    os.mknod(root / "dev0", kind | 0o666, os.makedev(1, 5) if kind == stat.S_IFCHR else os.makedev(7, 255))
    os.symlink("/dev0", root / "to-dev")
    for path in ("/dev0", "/to-dev"):
        with pytest.raises(InvalidArgument, match=f'is a {word}'):
            _push(root, path, b"x")
    with pytest.raises(InvalidArgument, match=f'Path "/dev0" is a {word}'):
        files.pull(str(root), "/dev0")
    with pytest.raises(InvalidArgument, match="cannot be replaced by a symlink"):
        files.make_symlink(str(root), "/dev0", b"/x", -1, -1)
    with pytest.raises(InvalidArgument, match=f"is a {word}, not a directory"):
        files.make_directory(str(root), "/dev0", -1, -1, -1)
    assert os.lstat(root / "dev0").st_mode & kind == kind
    assert sorted(os.listdir(root)) == ["dev0", "etc", "to-dev"]  # no temporary file left


@needs_root
def test_owner_and_mode_new_and_existing(world):
    root, _ = world
    _push(root, "/etc/new", b"n", uid=1000, gid=1001, mode=0o4750)
    st = os.lstat(root / "etc" / "new")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o4750)
    _push(root, "/etc/default", b"d")
    st = os.lstat(root / "etc" / "default")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o644)
    _push(root, "/etc/new", b"again", uid=5, gid=5, mode=0o600)  # existing: keeps its owner and mode
    st = os.lstat(root / "etc" / "new")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o4750)
    assert (root / "etc" / "new").read_bytes() == b"again"


def test_append_copies_then_appends(world):
    root, _ = world
    old = os.lstat(root / "etc" / "secret").st_ino
    _push(root, "/etc/secret", b"more\n", append=True)
    assert (root / "etc" / "secret").read_bytes() == b"inside\nmore\n"
    assert os.lstat(root / "etc" / "secret").st_ino != old  # a new inode renamed over the old one
    with pytest.raises(NotFound):
        _push(root, "/etc/absent", b"x", append=True)


def test_interrupted_push_keeps_the_old_file(world):
    root, _ = world

    def body():
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        files.push(str(root), "/etc/secret", "file", -1, -1, -1, False, body())
    assert (root / "etc" / "secret").read_text() == "inside\n"
    assert sorted(os.listdir(root / "etc")) == ["secret"]


def test_stale_temporary_files_of_an_earlier_run_are_removed(world):
    root, _ = world
    stale = root / "etc" / f"{files.TEMP_PREFIX}0badc0de-0123456789abcdef"
    stale.write_bytes(b"half")
    upload = files.Upload.begin(str(root), "/etc/secret", -1, -1, -1, False)
    try:
        assert not stale.exists()
        mine = [n for n in os.listdir(root / "etc") if n.startswith(files.TEMP_PREFIX)]
        assert len(mine) == 1  # this run's own, in use: kept
        upload.write(b"new\n")
        upload.commit()
    finally:
        upload.abort()
    assert sorted(os.listdir(root / "etc")) == ["secret"]
    assert (root / "etc" / "secret").read_text() == "new\n"


def test_directories_and_symlinks(world):
    root, _ = world
    files.make_directory(str(root), "/d", -1, -1, 0o750)
    assert stat.S_IMODE(os.lstat(root / "d").st_mode) == 0o750
    files.make_directory(str(root), "/d", -1, -1, 0o700)  # exists: left as it is
    assert stat.S_IMODE(os.lstat(root / "d").st_mode) == 0o750
    with pytest.raises(InvalidArgument, match="is a file, not a directory"):
        files.make_directory(str(root), "/etc/secret", -1, -1, -1)
    files.make_symlink(str(root), "/d/l", b"/etc/secret", -1, -1)
    files.make_symlink(str(root), "/d/l", b"/etc", -1, -1)  # replaced atomically
    assert os.readlink(root / "d" / "l") == "/etc"
    with pytest.raises(InvalidArgument, match="cannot be replaced"):
        files.make_symlink(str(root), "/d", b"/etc", -1, -1)
    with pytest.raises(InvalidArgument, match="is a directory"):
        _push(root, "/d", b"x")
    files.delete(str(root), "/d/l")
    files.delete(str(root), "/d")
    assert not (root / "d").exists()
    with pytest.raises(NotFound):
        files.delete(str(root), "/d")
    with pytest.raises(InvalidArgument, match="does not name an entry"):
        files.delete(str(root), "/etc/..")


@pytest.mark.parametrize("path", ["etc/secret", "", "/etc/\0secret"])
def test_bad_paths(world, path):
    root, _ = world
    with pytest.raises(InvalidArgument):
        files.pull(str(root), path)


def test_file_reader_stops_at_the_size_seen_at_open(world):
    root, _ = world
    _, reader = files.pull(str(root), "/etc/secret")
    assert reader is not None
    with open(root / "etc" / "secret", "ab") as f:
        f.write(b"appended later\n")
    assert b"".join(reader) == b"inside\n"


def test_no_fd_left_behind(world):
    root, _ = world
    os.mkfifo(root / "fifo")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        _read(root, "/etc/secret")
        _, reader = files.pull(str(root), "/etc/secret")
        assert reader is not None
        reader.close()  # a client that went away after the headers
        with pytest.raises(InvalidArgument):
            files.pull(str(root), "/fifo")
        _push(root, "/etc/x", b"x")
        files.delete(str(root), "/etc/x")
    assert len(os.listdir("/proc/self/fd")) == before


def test_without_openat2_fails_clearly(world, monkeypatch):
    root, _ = world

    class NoOpenat2:
        @staticmethod
        def syscall(*_args: object) -> int:
            ctypes.set_errno(errno.ENOSYS)
            return -1

    monkeypatch.setattr(inroot, "_libc", NoOpenat2)
    with pytest.raises(NotSupported, match="openat2"):
        files.pull(str(root), "/etc/secret")


def test_directory_push_over_links(world):
    root, _ = world
    os.symlink("/etc", root / "to-dir")
    os.symlink("/nowhere", root / "dangling")
    files.make_directory(str(root), "/to-dir", -1, -1, -1)  # a directory once followed: nothing to do
    assert (root / "to-dir").is_symlink()
    with pytest.raises(InvalidArgument, match='"/dangling" exists and is a symlink'):
        files.make_directory(str(root), "/dangling", -1, -1, -1)
    assert not (root / "nowhere").exists()
