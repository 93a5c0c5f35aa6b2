"""The files API of a real pincusd against what a hostile container can do: many transfers at once,
fifos and device nodes, symlinks aimed outside, a crash mid-push, a SIGKILL mid-pull."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.pincusd import _UnixConnection

pytestmark = pytest.mark.integration
PATIENCE = 300.0  # generous: only a deadlock takes this long


def _request(d, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
             timeout: float = PATIENCE) -> tuple[int, dict[str, str], bytes]:
    conn = _UnixConnection(str(d.socket), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _files(name: str, path: str) -> str:
    return f"/1.0/instances/{name}/files?path={quote(path)}"


def _error(body: bytes) -> str:
    return str(json.loads(body)["error"])


def _rootfs(d, name: str) -> Path:
    return d.root / "storage-pools" / "default" / "containers" / name / "rootfs"


@pytest.fixture
def running(daemon, name):
    """A running busybox container, deleted afterwards."""
    daemon.run("launch", "busybox", name)
    yield name
    daemon.run("delete", "--force", name, check=False)


def test_sixteen_concurrent_pushes_and_pulls(daemon, running):
    d, name = daemon, running
    failures: list[str] = []

    def one(i: int) -> None:
        try:
            data = os.urandom(256 << 10) + f"{i}".encode()
            status, _, body = _request(d, "POST", _files(name, f"/root/f{i}"), data,
                                       {"X-Incus-type": "file", "X-Incus-mode": "0600"})
            assert status == 200, body
            status, headers, body = _request(d, "GET", _files(name, f"/root/f{i}"))
            assert status == 200 and body == data and headers["X-Incus-mode"] == "0600"
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(f"{i}: {exc!r}")

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(16)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + PATIENCE
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not [t for t in threads if t.is_alive()], "transfers hung"
    assert failures == []
    assert d.run("exec", name, "--", "ls", "/root").stdout.split() == sorted(f"f{i}" for i in range(16))


def test_fifo_and_devices_made_in_the_container_are_refused(daemon, running):
    d, name = daemon, running
    d.run("exec", name, "--", "mkfifo", "/root/fifo")
    status, _, body = _request(d, "GET", _files(name, "/root/fifo"), timeout=60)
    assert status == 400 and _error(body).startswith('Path "/root/fifo" is a fifo')
    root = _rootfs(d, name)
    os.mknod(root / "root" / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    status, _, body = _request(d, "GET", _files(name, "/root/zero"), timeout=60)
    assert status == 400 and "is a character device" in _error(body)
    # a block node: mknod inside the container where the device cgroup allows it, else in its rootfs
    made = d.run("exec", name, "--", "mknod", "/root/disk", "b", "7", "255", check=False)
    if made.returncode != 0:
        os.mknod(root / "root" / "disk", stat.S_IFBLK | 0o600, os.makedev(7, 255))
    for method in ("GET", "POST"):
        status, _, body = _request(d, method, _files(name, "/root/disk"), b"overwrite me", timeout=60)
        assert status == 400 and '"/root/disk" is a block device' in _error(body), (method, body)
    assert stat.S_ISBLK(os.lstat(root / "root" / "disk").st_mode)
    assert sorted(os.listdir(root / "root")) == ["disk", "fifo", "zero"]  # nothing written beside them


@pytest.mark.parametrize(("header", "value", "named"), [
    ("X-Incus-uid", "-5", "X-Incus-uid"), ("X-Incus-gid", "-5", "X-Incus-gid"),
    ("X-Incus-mode", "abc", "X-Incus-mode"), ("X-Incus-type", "fifo", "Bad file type: fifo")])
def test_bad_headers_are_400(daemon, running, header, value, named):
    d, name = daemon, running
    status, _, body = _request(d, "POST", _files(name, "/root/x"), b"x", {header: value}, timeout=60)
    assert status == 400 and named in _error(body), body
    assert not (_rootfs(d, name) / "root" / "x").exists()


def test_symlinks_aimed_outside_stay_inside(daemon, running, tmp_path):
    d, name = daemon, running
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "marker").write_text("OUTSIDE\n")
    d.run("exec", name, "--", "sh", "-c", "mkdir -p /srv && echo inside > /etc/marker")
    deep = "../" * 12
    links = {"/root/abs": str(host / "etc"), "/root/rel": deep + str(host / "etc").lstrip("/"),
             "/root/up": "/etc", "/root/uprel": deep + "etc", "/root/parent": deep}
    for link, target in links.items():
        d.run("exec", name, "--", "ln", "-s", target, link)
    for link in ("/root/abs", "/root/rel"):  # the host path, taken inside the container, is not there
        status, _, _ = _request(d, "GET", _files(name, f"{link}/marker"))
        assert status == 404
        status, _, _ = _request(d, "POST", _files(name, f"{link}/planted"), b"x")
        assert status == 404
    for link in ("/root/up", "/root/uprel"):
        status, _, body = _request(d, "GET", _files(name, f"{link}/marker"))
        assert status == 200 and body == b"inside\n"
    rel_host = str(host / "etc" / "planted").lstrip("/")
    status, _, body = _request(d, "POST", _files(name, f"/root/parent/{rel_host}"), b"x")
    assert status == 404, body  # ".." stops at the container's /, where no such directory exists
    status, _, body = _request(d, "POST", _files(name, "/root/parent/srv/through-parent"), b"made\n")
    assert status == 200, body
    assert (_rootfs(d, name) / "srv" / "through-parent").read_bytes() == b"made\n"
    status, _, body = _request(d, "DELETE", _files(name, "/root/up/marker"))
    assert status == 200 and not (_rootfs(d, name) / "etc" / "marker").exists()
    assert sorted(os.listdir(host / "etc")) == ["marker"] and (host / "etc" / "marker").read_text() == "OUTSIDE\n"


def test_interrupted_push_keeps_the_old_content(daemon, name):
    d = daemon
    d.run("init", "busybox", name)
    try:
        d.run("file", "push", "-", f"{name}/root/version", input="old\n")
        d.restart(failpoints="file-push-written")
        d.run("file", "push", "-", f"{name}/root/version", input="new and longer\n", check=False)
        assert d.crashed()
        d.restart()
        assert d.run("file", "pull", f"{name}/root/version", "-").stdout == "old\n"
        leftovers = [p for p in os.listdir(_rootfs(d, name) / "root") if p.startswith(".pincus-push-")]
        assert len(leftovers) == 1  # the crashed push's temporary file ...
        d.run("file", "push", "-", f"{name}/root/version", input="new\n")
        assert d.run("file", "pull", f"{name}/root/version", "-").stdout == "new\n"
        assert os.listdir(_rootfs(d, name) / "root") == ["version"]  # ... is gone with the next push there
    finally:
        d.run("delete", name, check=False)


def _listener_holders(d) -> list[int]:
    """PIDs, other than the daemon's, holding a socket bound to the daemon's unix.socket."""
    inodes = set()
    with open("/proc/net/unix", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == str(d.socket):
                inodes.add(f"socket:[{fields[6]}]")
    holders = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            targets = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if targets & inodes and int(pid) != d.proc.pid:
            holders.append(int(pid))
    return holders


def test_sigkill_during_pulls_then_restart_answers(daemon, running):
    d, name = daemon, running
    root = _rootfs(d, name)
    with open(root / "root" / "big", "wb") as f:
        f.truncate(4 << 30)  # sparse: a long pull
    os.mkfifo(root / "root" / "fifo")
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fifo_pull = threading.Thread(target=_request, args=(d, "GET", _files(name, "/root/fifo")),
                                 kwargs={"timeout": 30}, daemon=True)
    try:
        slow.connect(str(d.socket))
        slow.sendall(f"GET {_files(name, '/root/big')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert slow.recv(1 << 16).startswith(b"HTTP/1.1 200")  # streaming; we read no further
        fifo_pull.start()
        fifo_pull.join(5)  # refused at once now; used to block in the helper, holding the listener
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(60)
        assert _listener_holders(d) == []
        d.restart()
        status, _ = d.api("GET", "/1.0")
        assert status == 200
    finally:
        slow.close()
        _release_fifo(root / "root" / "fifo")


def _release_fifo(path: Path) -> None:
    """Open the fifo's write end, so a reader blocked in open() moves on (and a helper can exit)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass
