"""Expiry spans and dates, remotes and config.yml parsing, list filters."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pincus.cli.expiry import InvalidExpiry, add_span, expiry_from_flag, parse_span, rfc3339_ns, yaml_time
from pincus.cli.listfilter import should_show
from pincus.cli.listing import parse_byte_size, parse_columns, split_filters
from pincus.client.connection import ClientError
from pincus.client.remotes import RemoteConfig, load

NS = 1_000_000_000
BASE = 1_769_860_800 * NS  # 2026-01-31T12:00:00Z


def test_span_grammar() -> None:
    assert parse_span("1d 3H")["d"] == 1
    for bad in ("1x", "1d  3H", "1d 1d", "d", "-1d", ""):
        with pytest.raises(InvalidExpiry):
            parse_span(bad)


def test_add_span_follows_go_adddate() -> None:
    assert rfc3339_ns(add_span(BASE, parse_span("1m"))) == "2026-03-03T12:00:00Z"  # Jan 31 + 1 month
    assert rfc3339_ns(add_span(BASE, parse_span("1w 2H 30M"))) == "2026-02-07T14:30:00Z"
    assert rfc3339_ns(add_span(BASE, parse_span("1y"))) == "2027-01-31T12:00:00Z"
    assert rfc3339_ns(BASE + 500_000_000) == "2026-01-31T12:00:00.5Z"


def test_expiry_flag_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    assert expiry_from_flag("2026/12/01 10:00 UTC") == "2026-12-01T10:00:00Z"
    assert expiry_from_flag("1d", BASE) == "2026-02-01T12:00:00Z"
    with pytest.raises(ValueError, match='cannot parse "soon" as "2006"'):
        expiry_from_flag("soon")


def test_yaml_time_values() -> None:
    import datetime

    assert yaml_time("2030-01-01T00:00:00Z") == "2030-01-01T00:00:00Z"
    assert yaml_time(datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)) == "2030-01-01T00:00:00Z"
    assert yaml_time("0001-01-01T00:00:00Z") == ""
    assert yaml_time(None) == ""


def test_parse_remote() -> None:
    conf = RemoteConfig()
    assert conf.parse_remote("c1") == ("local", "c1")
    assert conf.parse_remote("local:c1/s1") == ("local", "c1/s1")
    assert conf.parse_remote("images:") == ("images", "")
    with pytest.raises(ClientError, match='The remote "nope" doesn\'t exist'):
        conf.parse_remote("nope:c1")


def test_config_yml(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(
        "default-remote: backup\nremotes:\n  backup:\n    addr: https://10.0.0.2:8443\n    protocol: incus\n"
        "  sock:\n    addr: unix:///run/other.socket\naliases:\n  ll: list -c ns\n"
    )
    conf = load(str(path))
    assert conf.default_remote == "backup" and conf.aliases == {"ll": "list -c ns"}
    assert conf.connection("sock").path == "/run/other.socket"
    assert conf.connection("backup").host == "10.0.0.2:8443"  # over TLS (client/tls.py)
    assert load(str(tmp_path / "missing.yml")).default_remote == "local"


def test_list_columns_and_filters() -> None:
    cols, needs = parse_columns("ns46tSL", clustered=False)
    assert [c[0] for c in cols] == ["NAME", "STATE", "IPV4", "IPV6", "TYPE", "SNAPSHOTS"] and needs
    cols, needs = parse_columns("n,user.comment:COMMENT:3", clustered=False)
    assert (
        cols[1][0] == "COMMENT" and cols[1][1]({"config": {"user.comment": "hello"}}) == "hel" and not needs
    )
    with pytest.raises(Exception, match="Can't specify column L when not clustered"):
        parse_columns("nL", clustered=False)
    assert split_filters(["status=running", "user.x=1", "web"]) == (["status=running"], ["user.x=1", "web"])
    inst = {"name": "web01", "status": "Running", "expanded_config": {"user.role": "db"}}
    assert should_show(["web"], inst) and should_show(["w.*1$"], inst) and not should_show(["db"], inst)
    assert should_show(["u.role=db"], inst) and not should_show(["u.role=web"], inst)
    assert should_show(["status=RUNNING,stopped"], inst)
    assert parse_byte_size("512MiB") == 512 * 1024**2 and parse_byte_size("1GB") == 10**9
