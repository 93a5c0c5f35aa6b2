"""The client library against the fake daemon: envelopes, errors, operations, socket discovery, codec."""

from __future__ import annotations

import pytest
from fakeincus import FakeIncus, error, sync

from pincus.client import codec
from pincus.client.client import Client
from pincus.client.connection import ClientError, Connection, encode_query, quote_path, socket_path
from pincus.client.operations import Operation, OperationError
from pincus.client.websocket import decode_frames, encode_frame, mask


def test_socket_discovery_order() -> None:
    assert socket_path({}) == "/var/lib/pincus/unix.socket"
    assert socket_path({"INCUS_DIR": "/i"}) == "/i/unix.socket"
    assert socket_path({"INCUS_DIR": "/i", "INCUS_SOCKET": "/s"}) == "/s"
    assert socket_path({"INCUS_SOCKET": "/s", "PINCUS_DIR": "/p"}) == "/p/unix.socket"
    assert socket_path({"PINCUS_DIR": "/p", "PINCUS_SOCKET": "/ps", "INCUS_SOCKET": "/s"}) == "/ps"


def test_quoting() -> None:
    assert quote_path("a b/c") == "a%20b%2Fc"
    assert (
        encode_query({"recursion": "2", "filter": "status eq running"})
        == "filter=status+eq+running&recursion=2"
    )


def test_sync_request_and_error(fake: FakeIncus) -> None:
    fake.route("GET", "/1.0/instances/c1", sync({"name": "c1"}, etag='"abc"'))
    fake.route(
        "GET", "/1.0/instances/nope", error(404, 'Failed to fetch instance "nope" in project "default"')
    )
    client = Client(Connection(fake.socket_path))
    inst, etag = client.get_instance("c1")
    assert inst == {"name": "c1"} and etag == '"abc"'
    with pytest.raises(ClientError) as exc:
        client.get_instance("nope")
    assert exc.value.status == 404 and str(exc.value).startswith("Failed to fetch instance")


def test_async_operation_waits_with_one_request(fake: FakeIncus) -> None:
    fake.route("POST", "/1.0/instances/c1/snapshots", lambda req: fake.operation())
    client = Client(Connection(fake.socket_path))
    client.create_instance_snapshot("c1", "s1").wait()
    post = fake.requests[0]
    assert post.json() == {"name": "s1", "stateful": False, "expires_at": None}
    assert fake.calls[1][1].endswith("/wait?timeout=-1") and len(fake.calls) == 2


def test_failed_operation_raises_its_err(fake: FakeIncus) -> None:
    fake.route("DELETE", "/1.0/instances/c1/snapshots/s1", lambda req: fake.operation(err="boom"))
    op = Client(Connection(fake.socket_path)).delete_instance_snapshot("c1", "s1")
    with pytest.raises(OperationError, match="^boom$"):
        op.wait()


def test_wait_request_sent_early_is_read_later(fake: FakeIncus) -> None:
    fake.route("POST", "/1.0/instances/c1/exec", lambda req: fake.operation())
    op = Client(Connection(fake.socket_path)).exec_instance("c1", {"command": ["true"]})
    sent = op.start_wait()
    assert op.finish_wait(sent)["status_code"] == 200
    assert fake.calls[1][1].endswith("/wait?timeout=-1") and len(fake.calls) == 2


def test_wait_that_cannot_be_sent_fails_like_before() -> None:
    op = Operation(Connection("/nonexistent/unix.socket"), {"id": "x", "status_code": 103})
    sent = op.start_wait()  # no exception yet: finish_wait reports it, as wait() always did
    with pytest.raises(OperationError, match="doesn't appear to be started"):
        op.finish_wait(sent)


def test_daemon_without_wait_endpoint_is_polled(fake: FakeIncus) -> None:
    fake.wait_supported = False
    fake.route("DELETE", "/1.0/instances/c1", lambda req: fake.operation())
    fake.route("POST", "/1.0/instances/c1/snapshots", lambda req: fake.operation(err="nope"))
    client = Client(Connection(fake.socket_path))
    client.delete_instance("c1").wait()
    with pytest.raises(OperationError, match="^nope$"):
        client.create_instance_snapshot("c1", "s").wait()


def test_project_is_appended(fake: FakeIncus) -> None:
    fake.route("GET", "/1.0/instances", sync([]))
    Client(Connection(fake.socket_path, project="p1")).get_instances()
    assert fake.calls[0][1] == "/1.0/instances?filter=&recursion=1&project=p1"


def test_missing_socket_message(tmp_path: object) -> None:
    with pytest.raises(ClientError, match="doesn't appear to be started"):
        Connection("/nonexistent/unix.socket").request("GET", "/1.0")


def test_codec_roundtrip_and_go_escaping() -> None:
    doc = {"a": [1, 2.5, True, None], "s": "<&>\u2028é\n"}
    text = codec.dumps(doc)
    assert text == '{"a":[1,2.5,true,null],"s":"\\u003c\\u0026\\u003e\\u2028é\\n"}'
    assert codec.loads(text) == doc
    with pytest.raises(codec.DecodeError):
        codec.loads("{x")


def test_websocket_frames() -> None:
    key = b"\x01\x02\x03\x04"
    assert mask(mask(b"hello", key), key) == b"hello"
    frame = encode_frame(2, b"x" * 70000, masked=True)
    buf = bytearray(frame + encode_frame(1, b"", masked=False))
    frames = decode_frames(buf)
    assert [(f[1], len(f[2])) for f in frames] == [(2, 70000), (1, 0)] and not buf
    assert frames[0][2] == b"x" * 70000
