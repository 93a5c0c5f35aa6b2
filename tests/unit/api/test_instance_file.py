"""/1.0/instances/{name}/files on the in-process daemon: headers validated before anything runs,
fifos and devices refused with a 400 naming them, pushes streamed and renamed, no fd left behind."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

FILES = "/1.0/instances/c1/files"


async def _push(api, path: str, data: bytes, **headers: str):
    return await api.client.post(f"{FILES}?path={path}", data=data, headers=headers)


def _rootfs(api):
    return api.services.instances.rootfs(api.services.instances.get("c1"))


@pytest.mark.parametrize(("header", "value", "named"), [
    ("X-Incus-uid", "-5", "X-Incus-uid"),
    ("X-Incus-uid", "4294967295", "X-Incus-uid"),
    ("X-Incus-gid", "1.5", "X-Incus-gid"),
    ("X-Incus-gid", "abc", "X-Incus-gid"),
    ("X-Incus-mode", "abc", "X-Incus-mode"),
    ("X-Incus-mode", "0888", "X-Incus-mode"),
    ("X-Incus-mode", "17777", "X-Incus-mode"),
    ("X-Incus-type", "fifo", "Bad file type: fifo"),
    ("X-Incus-write", "truncate", "Bad file write mode: truncate"),
])
async def test_bad_headers_are_400_naming_them(api, header, value, named):
    await api.create()
    resp = await _push(api, "/etc/new", b"x", **{header: value})
    data = await resp.json()
    assert resp.status == 400 and named in data["error"], data
    assert not (_rootfs(api) / "etc" / "new").exists()


async def test_bad_headers_checked_before_the_instance(api):
    resp = await api.client.post("/1.0/instances/nope/files?path=/x", data=b"", headers={"X-Incus-uid": "-5"})
    assert resp.status == 400


@pytest.mark.parametrize("path", ["etc/version", "/etc/%00version"])
async def test_bad_paths_are_400(api, path):
    await api.create()
    for method in ("GET", "DELETE", "POST"):
        resp = await api.client.request(method, f"{FILES}?path={path}")
        assert resp.status == 400, (method, await resp.text())


async def test_push_pull_roundtrip_with_headers(api):
    await api.create()
    big = os.urandom(3 << 20)
    resp = await _push(api, "/etc/big", big, **{"X-Incus-mode": "0640", "X-Incus-uid": "-1"})
    assert resp.status == 200, await resp.text()
    resp = await api.client.get(f"{FILES}?path=/etc/big")
    assert resp.status == 200 and await resp.read() == big
    assert resp.headers["X-Incus-mode"] == "0640" and resp.headers["X-Incus-type"] == "file"
    assert resp.headers["X-Incus-uid"] == str(os.geteuid())
    resp = await _push(api, "/etc/big", b"tail", **{"X-Incus-write": "append"})
    assert resp.status == 200
    assert (_rootfs(api) / "etc" / "big").read_bytes() == big + b"tail"
    resp = await _push(api, "/etc/d", b"", **{"X-Incus-type": "directory", "X-Incus-mode": "0700"})
    assert resp.status == 200 and stat.S_IMODE(os.lstat(_rootfs(api) / "etc" / "d").st_mode) == 0o700
    resp = await _push(api, "/etc/l", b"version", **{"X-Incus-type": "symlink"})
    assert resp.status == 200 and os.readlink(_rootfs(api) / "etc" / "l") == "version"
    listing = await api.ok("GET", f"{FILES}?path=/etc")
    assert listing == ["big", "d", "l", "version"]
    await api.ok("DELETE", f"{FILES}?path=/etc/l")
    assert not os.path.lexists(_rootfs(api) / "etc" / "l")


async def test_fifo_pull_is_a_prompt_400(api):
    await api.create()
    os.mkfifo(_rootfs(api) / "fifo")
    resp = await asyncio.wait_for(api.client.get(f"{FILES}?path=/fifo"), 60)
    data = await resp.json()
    assert resp.status == 400 and data["error"].startswith('Path "/fifo" is a fifo'), data


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod)")
async def test_device_nodes_are_400_and_untouched(api):
    await api.create()
    root = _rootfs(api)
    os.mknod(root / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    os.mknod(root / "disk", stat.S_IFBLK | 0o600, os.makedev(7, 255))
    resp = await asyncio.wait_for(api.client.get(f"{FILES}?path=/zero"), 60)
    assert resp.status == 400 and "is a character device" in (await resp.json())["error"]
    for method in ("GET", "POST"):
        resp = await api.client.request(method, f"{FILES}?path=/disk", data=b"x")
        assert resp.status == 400 and '"/disk" is a block device' in (await resp.json())["error"]
    assert stat.S_ISBLK(os.lstat(root / "disk").st_mode)


async def test_many_concurrent_pushes_and_pulls(api):
    await api.create()

    async def one(i: int) -> None:
        data = f"{i}\n".encode() * 10000
        resp = await _push(api, f"/etc/f{i}", data)
        assert resp.status == 200, await resp.text()
        resp = await api.client.get(f"{FILES}?path=/etc/f{i}")
        assert await resp.read() == data

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(32))), 120)


async def test_client_gone_mid_pull_leaves_no_fd(api):
    await api.create()
    (_rootfs(api) / "etc" / "big").write_bytes(b"\0" * (64 << 20))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        resp = await api.client.get(f"{FILES}?path=/etc/big")
        await resp.content.read(1 << 16)
        resp.close()  # drop the connection mid-body
    for _ in range(200):  # the server notices the reset on its next write
        if len(os.listdir("/proc/self/fd")) <= before:
            break
        await asyncio.sleep(0.05)
    assert len(os.listdir("/proc/self/fd")) <= before


async def test_head_gives_the_headers_only(api):
    await api.create()
    resp = await api.client.head(f"{FILES}?path=/etc/version")
    assert resp.status == 200 and resp.headers["Content-Length"] == "2" and resp.headers["X-Incus-type"] == "file"


async def test_client_gone_mid_push_keeps_the_old_file(api):
    await api.create()
    before = len(os.listdir("/proc/self/fd"))
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(f"POST {FILES}?path=/etc/version HTTP/1.1\r\nHost: x\r\nContent-Length: {1 << 24}\r\n\r\n".encode())
    writer.write(b"partial" * 50000)
    await writer.drain()
    writer.close()
    etc = _rootfs(api) / "etc"
    for _ in range(200):  # the server notices the reset, then drops its temporary file
        if os.listdir(etc) == ["version"] and len(os.listdir("/proc/self/fd")) <= before:
            break
        await asyncio.sleep(0.05)
    assert os.listdir(etc) == ["version"] and (etc / "version").read_text() == "1\n"
    assert len(os.listdir("/proc/self/fd")) <= before
