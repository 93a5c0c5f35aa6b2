from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from pincus.base.gotime import ZERO_TIME, go_time
from pincus.images.metadata import parse_metadata
from pincus.images.record import Image, ImageAlias, ImageSource
from tests.unit.images._imgtar import METADATA

API_KEYS = ["auto_update", "properties", "public", "expires_at", "profiles", "aliases", "architecture", "cached",
            "filename", "fingerprint", "size", "type", "created_at", "last_used_at", "uploaded_at", "project"]


def test_go_time_formats() -> None:
    assert go_time(None) == ZERO_TIME == "0001-01-01T00:00:00Z"
    assert go_time(datetime(2026, 11, 26, 7, 14, 16, tzinfo=UTC)) == "2026-11-26T07:14:16Z"
    assert go_time(datetime(2026, 11, 26, 7, 16, 36, 400840, tzinfo=UTC)) == "2026-11-26T07:16:36.40084Z"
    assert go_time(datetime(2021, 3, 23, 20, 0, tzinfo=timezone(timedelta(hours=-4)))) == "2021-03-23T20:00:00-04:00"
    assert go_time(datetime(2026, 1, 1)) == "2026-01-01T00:00:00Z"  # naive means UTC


def test_from_metadata_and_to_api() -> None:
    meta = parse_metadata(METADATA.replace(b"x86_64", b"amd64") + b"expiry_date: 1800000000\n")
    uploaded = datetime(2026, 11, 26, 7, 16, 36, 400849, tzinfo=UTC)
    image = Image.from_metadata(meta, fingerprint="ab" * 32, filename="busybox.tar.xz", size=881416,
                                uploaded_at=uploaded, aliases=[ImageAlias("busybox")])
    api = image.to_api()
    assert list(api) == API_KEYS
    assert api["architecture"] == "x86_64"
    assert api["created_at"] == "2023-11-14T22:13:20Z"
    assert api["expires_at"] == "2027-01-15T08:00:00Z"
    assert api["uploaded_at"] == "2026-11-26T07:16:36.400849Z"
    assert api["last_used_at"] == ZERO_TIME
    assert api["aliases"] == [{"name": "busybox", "description": ""}]
    assert api["properties"]["os"] == "Busybox"
    assert (api["type"], api["public"], api["cached"], api["profiles"], api["project"]) == (
        "container", False, False, ["default"], "default")


def test_update_source_only_when_set() -> None:
    image = Image(fingerprint="f", filename="", size=1, architecture="x86_64",
                  update_source=ImageSource(server="https://images.example", alias="debian/12"))
    api = image.to_api()
    assert list(api).index("update_source") == list(api).index("size") + 1
    assert api["update_source"]["protocol"] == "incus"
