"""A real pincusd refuses hostile request bodies, pool sources and image tarballs with a 400, leaving nothing."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator

import pytest

from tests.support.pincusd import Pincusd, private_daemon
from tests.unit.images._imgtar import METADATA, basic_rootfs, hardlink, member, symlink, tar_bytes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pincusd() -> Iterator[Pincusd]:
    """A private pincusd with a dir pool and the busybox image."""
    with private_daemon("dir") as d:
        yield d


@pytest.fixture(scope="module")
def inst(pincusd: Pincusd) -> str:
    """A stopped container made from busybox."""
    name = f"hard-{secrets.token_hex(3)}"
    status, op = pincusd.api("POST", "/1.0/instances", {"name": name, "source": {"type": "image", "alias": "busybox"}})
    assert op["metadata"]["status"] == "Success", op
    return name


def _refused(d: Pincusd, method: str, path: str, body: bytes, field: str) -> None:
    status, data = d.raw(method, path, body)
    assert status == 400, data
    assert data["error"].startswith("Invalid request body") and field in data["error"], data


@pytest.mark.parametrize(("body", "field"), [
    (b'{"name": 5, "source": {"type": "none"}}', "`$.name`"),
    (b'{"name": "x1", "config": "str"}', "`$.config`"),
    (b'{"name": "x1", "profiles": "default"}', "`$.profiles`"),
    (b'{"name": "x1", "ephemeral": "false"}', "`$.ephemeral`"),
    (b'{"name": "x1", "source": {"type": "image", "alias": 5}}', "`$.source.alias`"),
])  # fmt: skip
def test_instance_creation_with_wrong_types(pincusd: Pincusd, body: bytes, field: str) -> None:
    _refused(pincusd, "POST", "/1.0/instances", body, field)
    status, data = pincusd.api("GET", "/1.0/instances/x1")
    assert status == 404


def test_patch_ephemeral_false_string_does_not_make_it_ephemeral(pincusd: Pincusd, inst: str) -> None:
    _refused(pincusd, "PATCH", f"/1.0/instances/{inst}", b'{"ephemeral": "false"}', "`$.ephemeral`")
    _refused(pincusd, "PUT", f"/1.0/instances/{inst}", b'{"profiles": "default"}', "`$.profiles`")
    _, data = pincusd.api("GET", f"/1.0/instances/{inst}")
    assert data["metadata"]["ephemeral"] is False and data["metadata"]["profiles"] == ["default"]


@pytest.mark.parametrize("body", [b'{"action": "stop", "timeout": "abc"}', b'{"action": "stop", "timeout": 1e999999}'])
def test_state_timeout_must_be_an_integer(pincusd: Pincusd, inst: str, body: bytes) -> None:
    _refused(pincusd, "PUT", f"/1.0/instances/{inst}/state", body, "`$.timeout`")


def test_deep_nesting_and_huge_bodies_are_refused(pincusd: Pincusd) -> None:
    status, data = pincusd.raw("POST", "/1.0/profiles", b'{"x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")
    assert status == 400 and "nested too deeply" in data["error"]
    status, data = pincusd.raw("POST", "/1.0/profiles", b'{"description": "' + b"x" * (9 << 20) + b'"}')
    assert status == 413 and "too large" in data["error"]
    status, data = pincusd.api("GET", "/1.0")
    assert status == 200


def test_bad_snapshot_expiry_is_refused_before_the_operation(pincusd: Pincusd, inst: str) -> None:
    body = json.dumps({"name": "s1", "expires_at": "next tuesday"}).encode()
    _refused(pincusd, "POST", f"/1.0/instances/{inst}/snapshots", body, "`$.expires_at`")
    _, data = pincusd.api("GET", f"/1.0/instances/{inst}/snapshots")
    assert data["metadata"] == []
    _, data = pincusd.api("GET", "/1.0/operations?recursion=1")
    assert not any("Snapshotting" in op["description"] for ops in data["metadata"].values() for op in ops)


def _leftovers(d: Pincusd, pool: str) -> list[str]:
    found = [str(p) for p in (d.root / "storage-pools" / pool, d.root / "disks" / f"{pool}.img") if os.path.lexists(p)]
    status, _ = d.api("GET", f"/1.0/storage-pools/{pool}")
    return found + (["database row"] if status != 404 else [])


@pytest.mark.parametrize(("driver", "source"), [
    ("dir", "missing"), ("dir", "file"), ("btrfs", "missing"), ("btrfs", "file"), ("btrfs", "dir"),
])  # fmt: skip
def test_pool_with_a_bad_source_leaves_nothing(pincusd: Pincusd, tmp_path, driver: str, source: str) -> None:
    pool = f"bad-{secrets.token_hex(3)}"
    path = tmp_path / "src"
    if source == "file":
        path.write_bytes(bytes(1 << 20))  # no filesystem on it
    elif source == "dir":
        path.mkdir()  # on the host's filesystem, not btrfs
    status, data = pincusd.api("POST", "/1.0/storage-pools", {"name": pool, "driver": driver,
                                                              "config": {"source": str(path)}})
    assert status in (400, 404), data
    assert _leftovers(pincusd, pool) == []


HOSTILE_IMAGES = {
    "dotdot": [member("metadata.yaml", METADATA), *basic_rootfs(), member("rootfs/../../evil", b"x")],
    "hard link out": [member("metadata.yaml", METADATA), *basic_rootfs(), hardlink("rootfs/p", "/etc/passwd")],
    "template symlink": [member("metadata.yaml", METADATA), symlink("templates/a.tpl", "/etc/shadow"),
                         *basic_rootfs()],
    "no metadata": basic_rootfs(),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_IMAGES))
def test_hostile_image_is_refused_at_import(pincusd: Pincusd, case: str) -> None:
    _, before = pincusd.api("GET", "/1.0/images")
    files = sorted(os.listdir(pincusd.root / "images"))
    status, data = pincusd.raw("POST", "/1.0/images", tar_bytes(HOSTILE_IMAGES[case]),
                               {"Content-Type": "application/octet-stream"})
    assert status == 400 and "Invalid image tarball" in data["error"], data
    _, after = pincusd.api("GET", "/1.0/images")
    assert after["metadata"] == before["metadata"]
    assert sorted(os.listdir(pincusd.root / "images")) == files


@pytest.mark.parametrize(("header", "value"), [("X-Incus-uid", "99999999999999999999"), ("X-Incus-gid", "-7"),
                                               ("X-Incus-mode", "77777777777")])
def test_file_push_headers_out_of_range_are_400(pincusd: Pincusd, inst: str, header: str, value: str) -> None:
    status, data = pincusd.raw("POST", f"/1.0/instances/{inst}/files?path=/tmp/fz", b"x",
                               {"Content-Type": "application/octet-stream", header: value})
    assert status == 400 and header in data["error"], data
