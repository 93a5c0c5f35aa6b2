"""POST /1.0/images checks the uploaded tarballs before anything is stored."""

from __future__ import annotations

import aiohttp
import pytest

from tests.unit.images._imgtar import (
    METADATA,
    basic_rootfs,
    hardlink,
    member,
    symlink,
    tar_bytes,
    unified_entries,
)

HOSTILE = {
    "dotdot": ([member("metadata.yaml", METADATA), *basic_rootfs(), member("rootfs/../../evil", b"x")], '".."'),
    "absolute": ([member("metadata.yaml", METADATA), *basic_rootfs(), member("/etc/evil", b"x")], "absolute path"),
    "link escape": ([member("metadata.yaml", METADATA), *basic_rootfs(), hardlink("rootfs/p", "/etc/passwd")],
                    "hard link"),
    "template symlink": ([member("metadata.yaml", METADATA), symlink("templates/t.tpl", "/etc/shadow"),
                          *basic_rootfs()], "may only hold files and directories"),
    "no metadata": (basic_rootfs(), "metadata.yaml is missing"),
}


def _stored(api) -> list[str]:
    images = api.services.st.paths.images
    return sorted(p.name for p in images.iterdir()) if images.exists() else []


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_unified_tarball_is_400_and_nothing_is_stored(api, case):
    entries, match = HOSTILE[case]
    resp = await api.client.post("/1.0/images", data=tar_bytes(entries),
                                 headers={"Content-Type": "application/octet-stream"})
    data = await resp.json()
    assert resp.status == 400 and match in data["error"], data
    assert await api.ok("GET", "/1.0/images") == []
    assert _stored(api) == []


async def test_hostile_split_rootfs_is_400(api):
    form = aiohttp.FormData()
    form.add_field("metadata", tar_bytes([member("metadata.yaml", METADATA)]), filename="meta.tar")
    form.add_field("rootfs", tar_bytes([member("./ok", b"x"), member("./../evil", b"x")]), filename="rootfs.tar")
    resp = await api.client.post("/1.0/images", data=form)
    data = await resp.json()
    assert resp.status == 400 and '".."' in data["error"], data
    assert await api.ok("GET", "/1.0/images") == [] and _stored(api) == []


async def test_corrupt_compression_is_400(api):
    resp = await api.client.post("/1.0/images", data=b"\xfd7zXZ\x00" + b"\x01" * 5000)
    assert resp.status == 400 and "Invalid image tarball" in (await resp.json())["error"]
    assert _stored(api) == []


async def test_a_good_tarball_still_imports(api):
    resp = await api.client.post("/1.0/images", data=tar_bytes(unified_entries()))
    assert resp.status == 202
    op = await (await api.client.get((await resp.json())["operation"] + "/wait?timeout=-1")).json()
    assert op["metadata"]["status"] == "Success", op
    assert len(await api.ok("GET", "/1.0/images")) == 1


async def test_a_split_image_exports_as_the_two_parts_it_was_imported_from(api):
    meta = tar_bytes([member("metadata.yaml", METADATA)])
    rootfs = tar_bytes(basic_rootfs(prefix=""))
    form = aiohttp.FormData()
    form.add_field("metadata", meta, filename="meta.tar")
    form.add_field("rootfs", rootfs, filename="rootfs.tar")
    resp = await api.client.post("/1.0/images", data=form)
    assert resp.status == 202, await resp.text()
    op = await (await api.client.get((await resp.json())["operation"] + "/wait?timeout=-1")).json()
    assert op["metadata"]["status"] == "Success", op
    [url] = await api.ok("GET", "/1.0/images")
    resp = await api.client.get(f"{url}/export")
    assert resp.status == 200, await resp.text()
    parts = {}
    async for part in aiohttp.MultipartReader.from_response(resp):
        assert isinstance(part, aiohttp.BodyPartReader)
        parts[part.name] = (part.filename, await part.read())
    assert parts == {"metadata": ("metadata.tar.xz", meta), "rootfs": ("rootfs.tar.xz", rootfs)}


async def test_a_nested_multipart_part_is_400(api):
    with aiohttp.MultipartWriter("form-data") as outer, aiohttp.MultipartWriter("mixed") as inner:
        inner.append(b"x")
        outer.append(inner)
    resp = await api.client.post("/1.0/images", data=outer)
    data = await resp.json()
    assert resp.status == 400 and "nested multipart" in data["error"], data
    assert _stored(api) == []
