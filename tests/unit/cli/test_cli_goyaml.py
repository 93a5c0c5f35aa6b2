"""yaml.v2-identical output and Go struct shaping."""

from __future__ import annotations

import pytest
import yaml

from pincus.cli import goyaml
from pincus.cli.gotypes import NIL_LIST, NIL_MAP, GoMap, GoTime
from pincus.cli.schema import go_time, json_tree, shape
from pincus.client import codec


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "v: plain\n"),
        ("", 'v: ""\n'),
        ("0", 'v: "0"\n'),
        ("true", 'v: "true"\n'),
        ("yes", 'v: "yes"\n'),
        ("1.5", 'v: "1.5"\n'),
        ("0x1F", 'v: "0x1F"\n'),
        ("08", 'v: "08"\n'),
        ("2026-01-02", 'v: "2026-01-02"\n'),
        ("2026-01-02T03:04:05Z", 'v: "2026-01-02T03:04:05Z"\n'),
        ("1:20", 'v: "1:20"\n'),
        ("[]", "v: '[]'\n"),
        ('[{"Isuid":true}]', "v: '[{\"Isuid\":true}]'\n"),
        ("it's", "v: it's\n"),
        ("- x", "v: '- x'\n"),
        ("a: b", "v: 'a: b'\n"),
        ("tab\there", 'v: "tab\\there"\n'),
        ("line1\nline2", "v: |-\n  line1\n  line2\n"),
        ("line1\n", "v: |\n  line1\n"),
        (" lead", "v: ' lead'\n"),
        ("/", "v: /\n"),
        ("~", 'v: "~"\n'),
    ],
)
def test_string_scalar_styles(value: str, expected: str) -> None:
    assert goyaml.dump({"v": value}) == expected


def test_long_plain_strings_fold_at_80_columns() -> None:
    text = " ".join(["word"] * 30)
    out = goyaml.dump({"description": text})
    first, second = out.rstrip("\n").split("\n")
    assert len(first) > 80 and second.startswith("  ")
    assert yaml.safe_load(out) == {"description": text}


def test_structure_and_collections() -> None:
    value = {
        "name": "c1",
        "config": GoMap({"volatile.uuid.generation": "x", "volatile.uuid": "yy", "image.os": "Busybox"}),
        "devices": GoMap({"root": GoMap({"type": "disk", "path": "/", "pool": "default"})}),
        "profiles": ["default"],
        "empty_map": NIL_MAP,
        "empty_list": NIL_LIST,
        "state": None,
        "created_at": GoTime("2026-11-26T07:15:42.857533869Z"),
        "size": -1,
        "flag": False,
    }
    expected = (
        "name: c1\nconfig:\n  image.os: Busybox\n  volatile.uuid: yy\n  volatile.uuid.generation: x\n"
        "devices:\n  root:\n    path: /\n    pool: default\n    type: disk\nprofiles:\n- default\n"
        "empty_map: {}\nempty_list: []\nstate: null\ncreated_at: 2026-11-26T07:15:42.857533869Z\n"
        "size: -1\nflag: false\n"
    )
    assert goyaml.dump(value) == expected


def test_sequence_of_mappings() -> None:
    assert goyaml.dump([{"a": 1, "b": [GoMap({"x": "1"})]}]) == '- a: 1\n  b:\n  - x: "1"\n'
    assert goyaml.dump([]) == "[]\n"


def test_key_order_is_yaml_v2_not_bytewise() -> None:
    assert goyaml.sorted_keys(["b", "a10", "a9", "B", "_x"]) == ["_x", "B", "a9", "a10", "b"]


def test_go_time_normalisation() -> None:
    assert go_time("2026-01-01T00:00:00.500000000Z") == "2026-01-01T00:00:00.5Z"
    assert go_time("2026-01-01T00:00:00.000Z") == "2026-01-01T00:00:00Z"
    assert go_time("2026-01-01T00:00:00+00:00") == "2026-01-01T00:00:00Z"
    assert go_time("2026-01-01T01:00:00+01:00") == "2026-01-01T01:00:00+01:00"
    assert go_time(None) == "0001-01-01T00:00:00Z"


def test_shape_fills_zero_values_and_orders_fields() -> None:
    snap = shape(
        {"name": "s1", "stateful": True, "bogus": 1, "created_at": "2026-01-01T00:00:00Z"}, "InstanceSnapshot"
    )
    assert list(snap)[:3] == ["expires_at", "architecture", "config"]
    assert snap["config"] is NIL_MAP and snap["profiles"] is NIL_LIST and "bogus" not in snap
    assert "expanded_config" not in snap  # omitempty
    doc = json_tree(snap)
    assert doc["config"] is None and doc["expires_at"] == "0001-01-01T00:00:00Z"


def test_instance_full_json_matches_go_encoding() -> None:
    inst = {"name": "c1", "config": {"b": "1", "a": "2"}, "status_code": 102, "state": None}
    text = codec.dumps(json_tree(shape(inst, "InstanceFull")))
    assert '"config":{"a":"2","b":"1"}' in text
    assert text.endswith('"backups":null,"state":null,"snapshots":null}')
