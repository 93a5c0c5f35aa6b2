"""A peer's header is checked field by field; refresh keeps the target's own keys."""

from __future__ import annotations

from typing import Any

import pytest

from pincus.migration.header import VERSION, BadHeader, check
from pincus.migration.target import preserved, refreshed_config


def header(**changes: Any) -> dict[str, Any]:
    snap = {"name": "s1", "created_at": "2026-01-01T00:00:00.000000Z", "expires_at": "0001-01-01T00:00:00.000000Z",
            "last_used_at": "0001-01-01T00:00:00.000000Z", "uuid": "ab" * 16, "config": {"a": "b"}, "devices": {},
            "profiles": ["default"], "architecture": "x86_64", "ephemeral": False, "description": ""}
    doc = {"version": VERSION, "driver": "btrfs", "nested": False,
           "instance": {"name": "c1", "config": {}, "devices": {"root": {"type": "disk", "path": "/", "pool": "p"}},
                        "profiles": ["default"], "architecture": "x86_64"},
           "snapshots": [snap]}
    for key, value in changes.items():
        if key.startswith("snap_"):
            snap[key[5:]] = value
        else:
            doc[key] = value
    return doc


def test_a_good_header_passes() -> None:
    out = check(header())
    assert out["snapshots"][0]["name"] == "s1"
    assert out["instance"]["devices"]["root"]["pool"] == "p"


@pytest.mark.parametrize(("change", "message"), [
    ({"version": 99}, "Unsupported migration protocol version 99"),
    ({"driver": "zfs"}, "Unknown storage driver 'zfs'"),
    ({"snap_name": "../../etc"}, 'Invalid snapshot name "../../etc"'),
    ({"snap_name": ".."}, 'Invalid snapshot name ".."'),
    ({"snap_name": "a/b"}, 'Invalid snapshot name "a/b"'),
    ({"snap_created_at": "yesterday"}, 'Invalid creation date "yesterday"'),
    ({"snap_created_at": "0001-01-01T00:00:00.000000Z"}, "has no creation date"),
    ({"snap_config": {"k": 1}}, "Invalid config from the migration peer"),
    ({"snap_uuid": "not-hex!"}, "Invalid snapshot UUID"),
    ({"snapshots": "all"}, "Invalid snapshot list"),
    ({"instance": []}, "Invalid object"),
])
def test_hostile_headers_are_refused_with_what_is_wrong(change: dict[str, Any], message: str) -> None:
    with pytest.raises(BadHeader, match=None) as err:
        check(header(**change))
    assert message in str(err.value)


def test_duplicate_snapshot_names_are_refused() -> None:
    doc = header()
    doc["snapshots"].append(dict(doc["snapshots"][0]))
    with pytest.raises(BadHeader, match="Duplicate snapshot"):
        check(doc)


def test_refresh_keeps_volatile_refresh_and_listed_keys_of_the_target() -> None:
    target = {"volatile.uuid": "t", "boot.autostart": "false", "refresh.keep_config": "boot.autostart,user.site*",
              "user.site.name": "backup", "limits.cpu": "1"}
    incoming = {"volatile.uuid": "s", "boot.autostart": "true", "user.site.name": "primary", "limits.cpu": "4",
                "snapshots.expiry": "1d", "refresh.keep_snapshots": "false"}
    assert refreshed_config(target, incoming) == {
        "volatile.uuid": "t", "boot.autostart": "false", "refresh.keep_config": "boot.autostart,user.site*",
        "user.site.name": "backup", "limits.cpu": "4", "snapshots.expiry": "1d"}
    assert set(preserved(target)) == {"boot.autostart", "refresh.keep_config", "user.site.name"}


def test_a_kept_key_the_target_does_not_have_stays_absent() -> None:
    target = {"refresh.keep_config": "boot.autostart"}
    assert "boot.autostart" not in refreshed_config(target, {"boot.autostart": "true"})
