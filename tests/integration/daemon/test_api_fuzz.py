"""Fuzz every route of the API against one real pincusd: no request may get a 5xx or kill the daemon.

The routes come from the aiohttp app's router, so a new route is fuzzed without touching this
file. Bodies are drawn from the msgspec wire types of api/schema.py (walked with
msgspec.inspect), from those with one field swapped for arbitrary JSON, from arbitrary JSON,
and from raw bytes. Hypothesis is derandomized, so CI sees the same ~2,500 requests every run.

Safety: bodies are sanitized before they are sent (no pool on a host path or with btrfs loop
files, no host mounts, raw.lxc or kernel modules, no network listener, no dialing out), file
paths stay in the container's /tmp, and /wait never blocks for long.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import string
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from pincus.api import schema
from pincus.api.app import build_app
from tests.support.pincusd import Pincusd, start_pincusd

pytestmark = pytest.mark.integration

EXAMPLES_PER_ROUTE = int(os.environ.get("PINCUS_FUZZ_EXAMPLES", "35"))
SEED = os.environ.get("PINCUS_FUZZ_SEED", "")  # explore other requests locally; CI stays derandomized
INST, RUNNING, SNAP, PROFILE = "fz-c1", "fz-run", "fz-s1", "fz-p1"
REFUSED_URL = "https://127.0.0.1:9/1.0/operations/fz"  # nothing listens on the discard port
FINGERPRINTS = ["ab", "0" * 64]  # the fixture adds busybox's


def _routes() -> list[tuple[str, str]]:
    stub = SimpleNamespace(st=SimpleNamespace(paths=SimpleNamespace(root=Path("/nonexistent"))))
    app = build_app(stub, stub)  # type: ignore[arg-type] - only the router is used
    return sorted({(r.method, r.resource.canonical) for r in app.router.routes()
                   if r.method != "HEAD" and r.resource is not None})


ROUTES = _routes()
BODY_TYPES: dict[tuple[str, str], type[schema.Wire]] = {
    ("POST", "/1.0/instances"): schema.InstancesPost,
    ("PUT", "/1.0/instances/{name}"): schema.InstancePut,
    ("PATCH", "/1.0/instances/{name}"): schema.InstancePut,
    ("POST", "/1.0/instances/{name}"): schema.InstancePost,
    ("PUT", "/1.0/instances/{name}/state"): schema.InstanceStatePut,
    ("POST", "/1.0/instances/{name}/exec"): schema.InstanceExecPost,
    ("POST", "/1.0/instances/{name}/snapshots"): schema.InstanceSnapshotsPost,
    ("PUT", "/1.0/instances/{name}/snapshots/{snapshot}"): schema.InstanceSnapshotPut,
    ("PATCH", "/1.0/instances/{name}/snapshots/{snapshot}"): schema.InstanceSnapshotPut,
    ("POST", "/1.0/instances/{name}/snapshots/{snapshot}"): schema.InstanceSnapshotPost,
    ("POST", "/1.0/storage-pools"): schema.StoragePoolsPost,
    ("PUT", "/1.0/storage-pools/{name}"): schema.StoragePoolPut,
    ("PATCH", "/1.0/storage-pools/{name}"): schema.StoragePoolPut,
    ("POST", "/1.0/profiles"): schema.ProfilesPost,
    ("PUT", "/1.0/profiles/{name}"): schema.ProfilePut,
    ("PATCH", "/1.0/profiles/{name}"): schema.ProfilePut,
    ("POST", "/1.0/images"): schema.ImagesPost,
    ("PUT", "/1.0/images/{fingerprint}"): schema.ImagePut,
    ("PATCH", "/1.0/images/{fingerprint}"): schema.ImagePut,
    ("POST", "/1.0/images/aliases"): schema.ImageAliasesPost,
    ("PUT", "/1.0/images/aliases/{name}"): schema.ImageAliasesEntryPut,
    ("PATCH", "/1.0/images/aliases/{name}"): schema.ImageAliasesEntryPut,
    ("POST", "/1.0/images/aliases/{name}"): schema.ImageAliasesEntryPost,
    ("POST", "/1.0/certificates"): schema.CertificatesPost,
    ("PUT", "/1.0/certificates/{fingerprint}"): schema.CertificatePut,
    ("PATCH", "/1.0/certificates/{fingerprint}"): schema.CertificatePut,
    ("PUT", "/1.0"): schema.ServerPut,
    ("PATCH", "/1.0"): schema.ServerPut,
    ("POST", "/1.0/replication-targets"): schema.ReplicationTargetsPost,
}  # fmt: skip

# --- strategies ------------------------------------------------------------------------------

WORDS = [INST, RUNNING, SNAP, PROFILE, "busybox", "default", "fz-new", "fz-new/snap", "", "-bad", "a/b", "..",
         "container", "image", "copy", "none", "migration", "pull", "push", "relay", "instance", "snapshot",
         "client", "metrics", "start", "stop", "restart", "freeze", "unfreeze", "dir", "btrfs", "zfs",
         "/", "/tmp", "disk", "nic", "root", "true", "false", "0", "-1", "1GiB", "x" * 300, "é\u202e\x00"]
CONFIG_KEYS = ["limits.cpu", "limits.memory", "snapshots.schedule", "snapshots.pattern", "snapshots.expiry",
               "security.protection.delete", "boot.autostart", "user.fz", "volatile.uuid", "image.os",
               "snapshots.replicate.target", "core.remote_token_expiry", "images.auto_update_interval",
               "size", "source", "no.such.key"]
TIMES = ["0001-01-01T00:00:00Z", "2030-01-01T00:00:00Z", "2030-02-30T00:00:00Z", "1999-12-31T23:59:60Z",
         "2030-01-01T00:00:00.123456789+05:30", "", "tomorrow", "9999-12-31T23:59:59Z"]

text = st.one_of(st.sampled_from(WORDS), st.text(max_size=12))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)
any_json = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)), max_leaves=8)


def _for_type(t: msgspec.inspect.Type, field: str = "") -> st.SearchStrategy[Any]:
    """Values of one msgspec type (as msgspec.inspect describes it), biased to meaningful ones."""
    if isinstance(t, msgspec.inspect.UnionType):
        return st.one_of(*(_for_type(x, field) for x in t.types))
    if isinstance(t, msgspec.inspect.NoneType):
        return st.none()
    if isinstance(t, msgspec.inspect.BoolType):
        return st.booleans()
    if isinstance(t, msgspec.inspect.IntType):
        low = -(2**64) if t.ge is None else t.ge
        high = 2**64 if t.le is None else t.le
        return st.one_of(st.integers(low, high), st.sampled_from([low, high, 0, 1, -1, 30]).filter(
            lambda v: low <= v <= high))
    if isinstance(t, msgspec.inspect.StrType):
        return text
    if isinstance(t, msgspec.inspect.CustomType):  # Timestamp
        return st.one_of(st.sampled_from(TIMES), st.text(max_size=30))
    if isinstance(t, msgspec.inspect.ListType):
        return st.lists(_for_type(t.item_type, field), max_size=3)
    if isinstance(t, msgspec.inspect.DictType):
        keys = st.one_of(st.sampled_from(CONFIG_KEYS), text)
        return st.dictionaries(keys, _for_type(t.value_type, field), max_size=3)
    if isinstance(t, msgspec.inspect.StructType):
        return st.fixed_dictionaries({}, optional={f.encode_name: _for_type(f.type, f.name) for f in t.fields})
    return any_json


def _typed(kind: type[schema.Wire]) -> st.SearchStrategy[dict[str, Any]]:
    return _for_type(msgspec.inspect.type_info(kind))


wrong_type = st.one_of(st.integers(), st.booleans(), st.floats(), text, st.lists(text, max_size=2),
                       st.dictionaries(text, st.integers(), max_size=2), any_json)


@st.composite
def _one_field_wrong(draw: st.DrawFn, kind: type[schema.Wire]) -> dict[str, Any]:
    body = draw(_typed(kind))
    field = draw(st.sampled_from([f.encode_name for f in msgspec.inspect.type_info(kind).fields]))
    body[field] = draw(wrong_type)
    return body


def _body(route: tuple[str, str]) -> st.SearchStrategy[bytes]:
    kind = BODY_TYPES.get(route)
    shapes: list[st.SearchStrategy[Any]] = [any_json]
    if kind is not None:
        shapes = [_typed(kind), _one_field_wrong(kind), _one_field_wrong(kind), any_json]
    elif route[0] == "GET":
        shapes = [st.none(), any_json]
    raw = st.sampled_from([b"", b"{", b"[]", b"\xff\xfe", b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
                           b'{"timeout": 1e999999}'])
    return st.one_of(*(s.map(lambda v: b"" if v is None else json.dumps(sanitize(route, v)).encode())
                       for s in shapes), raw)


def _segment(param: str) -> st.SearchStrategy[str]:
    known = {"name": [INST, RUNNING, PROFILE, "busybox", "default", "nope"], "snapshot": [SNAP, "nope"],
             "fingerprint": FINGERPRINTS, "id": ["nope", "00000000-0000-0000-0000-000000000000"]}
    return st.one_of(st.sampled_from(known.get(param, ["x"]) + ["..", "%2F", "a b", "x" * 300]),
                     st.text(string.ascii_letters + string.digits + "-_.~:", min_size=1, max_size=20))


QUERY = {"recursion": ["0", "1", "2", "abc", "-3", "9" * 30], "filter": ["name eq fz-c1", "status eq", "((", "a"],
         "project": ["default", "nope"], "secret": ["", "nope"]}
FILE_PATHS = ["/tmp/fz-file", "/tmp/fz-dir", "/tmp", "tmp/fz-rel", "/tmp/fz-../fz"]


@st.composite
def requests(draw: st.DrawFn, route: tuple[str, str]) -> tuple[str, str, bytes, dict[str, str]]:
    """(method, path with query, body, headers) for one route."""
    method, pattern = route
    path = pattern
    for param in [p.split("}")[0] for p in pattern.split("{")[1:]]:
        path = path.replace("{" + param + "}", urllib.parse.quote(draw(_segment(param)), safe=""))
    query: dict[str, str] = {}
    for key in draw(st.lists(st.sampled_from(sorted(QUERY)), max_size=2, unique=True)):
        query[key] = draw(st.one_of(st.sampled_from(QUERY[key]), st.text(max_size=8)))
    if pattern.endswith("/wait"):  # never wait long: bounded numbers or refused non-numbers
        query["timeout"] = draw(st.sampled_from(["0", "0.05", "abc", "nan", "inf", "1e999", ""]))
        if query["timeout"] == "":
            query["timeout"] = "0"
    if pattern.endswith("/files"):
        query["path"] = draw(st.sampled_from(FILE_PATHS if method != "GET" else [*FILE_PATHS, "/", "/etc/passwd"]))
    headers = {"Content-Type": draw(st.sampled_from(["application/json", "application/json",
                                                     "application/octet-stream", "text/plain"]))}
    if pattern.endswith("/files") and method == "POST":
        headers.update(draw(st.fixed_dictionaries({}, optional={
            "X-Incus-type": st.sampled_from(["file", "directory", "symlink", "fifo", ""]),
            "X-Incus-mode": st.sampled_from(["0644", "999", "abc", "-1", "77777777777"]),
            "X-Incus-uid": st.sampled_from(["0", "-1", "abc", "99999999999999999999"]),
            "X-Incus-write": st.sampled_from(["overwrite", "append"]),
        })))
    qs = urllib.parse.urlencode(query)
    return method, path + ("?" + qs if qs else ""), draw(_body(route)), headers


# --- safety ----------------------------------------------------------------------------------

POOL_SOURCES = Path(os.environ.get("PINCUS_FUZZ_TMP", "/var/tmp")) / f"pincus-fuzz-{secrets.token_hex(4)}"
DANGEROUS_CONFIG = ("raw.", "linux.", "security.privileged", "security.nesting", "core.https_address",
                    "core.proxy_http")


def sanitize(route: tuple[str, str], value: Any) -> Any:
    """Take out of a body what could reach beyond the test daemon: host paths, loop files, the network."""
    if isinstance(value, list):
        return [sanitize(route, v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(key, str) and key.startswith(DANGEROUS_CONFIG):
            continue
        if key in ("operation", "url", "server") and isinstance(item, str):
            item = REFUSED_URL
        elif key == "devices" and isinstance(item, dict):
            item = {k: {a: b for a, b in d.items() if a != "source"} if isinstance(d, dict) else d
                    for k, d in item.items()}
        out[key] = sanitize(route, item)
    if route == ("POST", "/1.0/storage-pools"):
        if out.get("driver") not in ("dir", None) and isinstance(out.get("driver"), str):
            out["driver"] = "dir" if out["driver"] == "btrfs" else out["driver"]
        config = out.get("config")
        if isinstance(config, dict) and "source" in config:
            config["source"] = str(POOL_SOURCES / secrets.token_hex(3))
    return out


# --- the daemon ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pincusd() -> Iterator[Pincusd]:
    """One pincusd with a dir pool, busybox, a stopped instance with a snapshot and a running one."""
    if os.geteuid() != 0 or not shutil.which("lxc-start"):
        pytest.skip("needs root and liblxc")
    POOL_SOURCES.mkdir(parents=True)
    d = start_pincusd()
    try:
        d.init_pool("dir")
        fingerprint = d.import_busybox()
        for name in (INST, RUNNING):
            _, op = d.api("POST", "/1.0/instances", {"name": name, "source": {"type": "image", "alias": "busybox"}})
            assert op["metadata"]["status"] == "Success", op
        _, op = d.api("POST", f"/1.0/instances/{INST}/snapshots", {"name": SNAP})
        assert op["metadata"]["status"] == "Success", op
        _, op = d.api("PUT", f"/1.0/instances/{RUNNING}/state", {"action": "start"})
        assert op["metadata"]["status"] == "Success", op
        status, _ = d.api("POST", "/1.0/profiles", {"name": PROFILE})
        assert status == 200
        FINGERPRINTS.append(fingerprint)
        WORDS.append(fingerprint)
        yield d
    finally:
        try:
            _clean(d)
        finally:
            d.stop()
            shutil.rmtree(POOL_SOURCES, ignore_errors=True)


def _clean(d: Pincusd) -> None:
    """Remove what the fuzzer made (Pincusd.stop() then removes the rest with the daemon's directory)."""
    if d.proc.poll() is not None:
        return
    _, data = d.api("GET", "/1.0/instances?recursion=1")
    for inst in data.get("metadata") or []:
        url = f"/1.0/instances/{urllib.parse.quote(inst['name'], safe='')}"
        d.api("PUT", f"{url}/state", {"action": "stop", "force": True, "timeout": -1})
        d.api("PATCH", url, {"config": {"security.protection.delete": "false"}})
        d.api("DELETE", url)
    for collection in ("/1.0/images", "/1.0/images/aliases", "/1.0/profiles", "/1.0/certificates",
                       "/1.0/replication-targets"):
        _, data = d.api("GET", collection)
        for url in data.get("metadata") or []:
            base, _, last = url.rpartition("/")
            if url != "/1.0/profiles/default":
                d.api("DELETE", f"{base}/{urllib.parse.quote(last, safe='')}")
    _, data = d.api("GET", "/1.0/instances")
    assert data["metadata"] == [], data


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_no_request_gets_a_5xx(pincusd: Pincusd, route: tuple[str, str]) -> None:
    """Every drawn request to this route answers below 500 and the daemon lives on."""

    @settings(max_examples=EXAMPLES_PER_ROUTE, derandomize=not SEED, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @seed(int(SEED or 0))
    @given(requests(route))
    def check(req: tuple[str, str, bytes, dict[str, str]]) -> None:
        method, path, body, headers = req
        status, data = pincusd.raw(method, path, body, headers, timeout=120.0)
        STATS[(method, route[1], status)] = STATS.get((method, route[1], status), 0) + 1
        assert pincusd.proc.poll() is None, f"pincusd died on {method} {path} {body[:300]!r}"
        assert status < 500, f"{method} {path} {body[:300]!r} -> {status} {data}"

    check()


STATS: dict[tuple[str, str, int], int] = {}


def test_the_daemon_still_answers(pincusd: Pincusd) -> None:
    """After the whole run (this test comes last in the module) the daemon is up and answers GET /1.0."""
    assert pincusd.proc.poll() is None
    status, data = pincusd.api("GET", "/1.0")
    assert status == 200 and data["metadata"]["api_version"] == "1.0"
    if os.environ.get("PINCUS_FUZZ_STATS"):
        for key in sorted(STATS):
            print(*key, STATS[key])
