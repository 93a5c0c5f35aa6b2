"""Project authorisation (api/auth.decide) over every route and method of the app: an unrestricted
certificate, one restricted to ``default`` and one restricted to ``foo`` (a project pincus does not
have), each with no project, ?project=default, ?project=foo, ?project=nope and ?all-projects=true.

Expected answers follow Incus 6.0.4's TLS authorizer (observed against a real incusd): restricted
certificates view server-wide objects but never change them; a project outside the certificate's
list is 403 before anything else; listings with all-projects=true are filtered to the certificate's
projects; objects of the default project that projects inherit (images, profiles) stay viewable.
Where real Incus answers 500 (its permission checker's error on listings) pincus answers 403, and
an unknown project is 404 "Project not found" on every project-scoped route."""

from __future__ import annotations

from typing import Any

from pincus.api.auth import LOCAL, TLS, Identity, Verdict, decide, event_visible

ADMIN = Identity(True, TLS, "admin")
RDEF = Identity(True, TLS, "rdef", restricted=True, projects=("default",))
RFOO = Identity(True, TLS, "rfoo", restricted=True, projects=("foo",))
QUERIES: list[dict[str, str]] = [{}, {"project": "default"}, {"project": "foo"}, {"project": "nope"},
                                 {"all-projects": "true"}]

# Per category, per certificate: the answers to the five QUERIES ("ok": the handler runs).
ALL_OK = {"admin": "ok ok ok ok ok", "rdef": "ok ok ok ok ok", "rfoo": "ok ok ok ok ok"}
EXPECTED: dict[str, dict[str, str]] = {
    "server-view": {"admin": "ok ok ok ok ok", "rdef": "ok ok ok ok 403", "rfoo": "ok ok ok ok 403"},
    "server-edit": {"admin": "ok ok ok ok ok", "rdef": "403 403 403 403 403", "rfoo": "403 403 403 403 403"},
    "global-list": ALL_OK,
    "global-view": {"admin": "ok ok ok ok ok", "rdef": "ok ok ok ok 403", "rfoo": "ok ok ok ok 403"},
    "global-edit": {"admin": "ok ok ok ok ok", "rdef": "403 403 403 403 403", "rfoo": "403 403 403 403 403"},
    "handler-decides": ALL_OK,
    "projects-list": {"admin": "ok ok ok ok ok", "rdef": "ok ok ok ok ok", "rfoo": "empty empty empty empty empty"},
    "project-default": {"admin": "ok ok ok ok ok", "rdef": "ok ok ok ok 403", "rfoo": "403 403 403 403 403"},
    "listing": {"admin": "ok ok 404 404 ok", "rdef": "ok ok 403 403 ok", "rfoo": "403 403 404 403 empty"},
    "events": {"admin": "ok ok 404 404 ok", "rdef": "ok ok 403 403 ok", "rfoo": "403 403 404 403 ok"},
    "scoped": {"admin": "ok ok 404 404 ok", "rdef": "ok ok 403 403 403", "rfoo": "403 403 404 403 403"},
    "inherited-view": {"admin": "ok ok 404 404 ok", "rdef": "ok ok 403 403 403", "rfoo": "ok ok 404 403 403"},
    "operation": {"admin": "ok ok ok ok ok", "rdef": "ok ok ok ok ok", "rfoo": "403 403 403 403 403"},
}

# Every route of the app and its category; a new route fails test_every_route_has_a_category.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/"): "server-view", ("GET", "/1.0"): "server-view",
    ("PUT", "/1.0"): "server-edit", ("PATCH", "/1.0"): "server-edit",
    ("GET", "/1.0/certificates"): "global-list", ("POST", "/1.0/certificates"): "handler-decides",
    ("GET", "/1.0/certificates/{fingerprint}"): "global-view",
    ("PUT", "/1.0/certificates/{fingerprint}"): "global-edit",
    ("PATCH", "/1.0/certificates/{fingerprint}"): "global-edit",
    ("DELETE", "/1.0/certificates/{fingerprint}"): "global-edit",
    ("GET", "/1.0/storage-pools"): "global-list", ("POST", "/1.0/storage-pools"): "global-edit",
    ("GET", "/1.0/storage-pools/{name}"): "global-view", ("GET", "/1.0/storage-pools/{name}/resources"): "global-view",
    ("PUT", "/1.0/storage-pools/{name}"): "global-edit", ("PATCH", "/1.0/storage-pools/{name}"): "global-edit",
    ("DELETE", "/1.0/storage-pools/{name}"): "global-edit",
    ("GET", "/1.0/replication-targets"): "global-view", ("POST", "/1.0/replication-targets"): "global-edit",
    ("DELETE", "/1.0/replication-targets/{name}"): "global-edit",
    ("GET", "/1.0/projects"): "projects-list", ("GET", "/1.0/projects/{name}"): "project-default",
    ("GET", "/1.0/networks"): "listing", ("GET", "/1.0/instances"): "listing", ("GET", "/1.0/images"): "listing",
    ("GET", "/1.0/images/aliases"): "listing", ("GET", "/1.0/profiles"): "listing",
    ("GET", "/1.0/storage-pools/{name}/volumes"): "listing", ("GET", "/1.0/operations"): "listing",
    ("GET", "/1.0/events"): "events",
    ("GET", "/1.0/operations/{id}"): "operation", ("DELETE", "/1.0/operations/{id}"): "operation",
    ("GET", "/1.0/operations/{id}/wait"): "operation", ("GET", "/1.0/operations/{id}/websocket"): "handler-decides",
    ("POST", "/1.0/instances"): "scoped",
    **{(m, "/1.0/instances/{name}"): "scoped" for m in ("GET", "PUT", "PATCH", "POST", "DELETE")},
    ("GET", "/1.0/instances/{name}/state"): "scoped", ("PUT", "/1.0/instances/{name}/state"): "scoped",
    ("GET", "/1.0/instances/{name}/backups"): "scoped",
    ("GET", "/1.0/instances/{name}/snapshots"): "scoped", ("POST", "/1.0/instances/{name}/snapshots"): "scoped",
    **{(m, "/1.0/instances/{name}/snapshots/{snapshot}"): "scoped" for m in ("GET", "PUT", "PATCH", "POST", "DELETE")},
    ("POST", "/1.0/instances/{name}/exec"): "scoped", ("POST", "/1.0/instances/{name}/replicate"): "scoped",
    **{(m, "/1.0/instances/{name}/files"): "scoped" for m in ("GET", "POST", "DELETE")},
    ("POST", "/1.0/images"): "scoped", ("POST", "/1.0/images/aliases"): "scoped",
    ("GET", "/1.0/images/aliases/{name}"): "inherited-view",
    **{(m, "/1.0/images/aliases/{name}"): "scoped" for m in ("PUT", "PATCH", "POST", "DELETE")},
    ("GET", "/1.0/images/{fingerprint}"): "inherited-view", ("GET", "/1.0/images/{fingerprint}/export"): "inherited-view",
    **{(m, "/1.0/images/{fingerprint}"): "scoped" for m in ("PUT", "PATCH", "DELETE")},
    ("POST", "/1.0/profiles"): "scoped", ("GET", "/1.0/profiles/{name}"): "inherited-view",
    **{(m, "/1.0/profiles/{name}"): "scoped" for m in ("PUT", "PATCH", "DELETE")},
}  # fmt: skip


def outcome(v: Verdict) -> str:
    if v.status:
        return str(v.status)
    return "empty" if v.empty is not None else "ok"


def app_routes(api: Any) -> set[tuple[str, str]]:
    routes = set()
    for route in api.client.app.router.routes():
        resource = route.resource
        if route.method != "HEAD" and resource is not None:
            routes.add((route.method, resource.canonical))
    return routes


async def test_every_route_has_a_category(api: Any) -> None:
    assert app_routes(api) == set(ROUTES)


async def test_the_whole_matrix(api: Any) -> None:
    """Every route x certificate x project query; operations name a task of the default project."""
    failures = []
    for (method, pattern), category in sorted(ROUTES.items()):
        subject = "default" if pattern == "/1.0/projects/{name}" or category == "operation" else None
        for who, ident in (("admin", ADMIN), ("rdef", RDEF), ("rfoo", RFOO)):
            got = " ".join(outcome(decide(ident, method, pattern, q, subject)) for q in QUERIES)
            if got != EXPECTED[category][who]:
                failures.append(f"{who} {method} {pattern}: {got} != {EXPECTED[category][who]}")
            if ident is ADMIN:
                local = " ".join(outcome(decide(LOCAL, method, pattern, q, subject)) for q in QUERIES)
                assert local == got, (method, pattern)  # the unix socket answers as an unrestricted certificate
    assert not failures, "\n".join(failures)


def test_messages_are_incus_texts() -> None:
    assert decide(RDEF, "GET", "/1.0/instances/{name}", {"project": "foo"}) == Verdict(
        403, 'User does not have permission for project "foo"')
    assert decide(RFOO, "GET", "/1.0/instances", {}) == Verdict(403, 'User does not have permissions for project "default"')
    assert decide(RDEF, "POST", "/1.0/storage-pools", {}) == Verdict(403, "Certificate is restricted")
    assert decide(RDEF, "GET", "/1.0/instances/{name}", {"all-projects": "true"}) == Verdict(403, "Certificate is restricted")
    assert decide(ADMIN, "GET", "/1.0/instances/{name}", {"project": "nope"}) == Verdict(404, "Project not found")
    assert decide(RFOO, "GET", "/1.0/instances", {"all-projects": "true"}) == Verdict(empty=[])
    assert decide(RFOO, "GET", "/1.0/operations", {"all-projects": "true"}) == Verdict(empty={})


def test_certificate_add_tokens_belong_to_no_project() -> None:
    """A token's operation holds its secret: only unrestricted callers may see or cancel it."""
    for method, pattern in (("GET", "/1.0/operations/{id}"), ("GET", "/1.0/operations/{id}/wait"),
                            ("DELETE", "/1.0/operations/{id}")):
        assert outcome(decide(ADMIN, method, pattern, {}, "")) == "ok"
        assert decide(RDEF, method, pattern, {}, "") == Verdict(403, "Certificate is restricted")
        assert outcome(decide(RDEF, method, pattern, {}, None)) == "ok"  # no such operation: the handler's 404
    assert decide(RDEF, "GET", "/1.0/operations", {}).hide_tokens
    assert not decide(ADMIN, "GET", "/1.0/operations", {}).hide_tokens
    token_event = {"type": "operation", "project": "default", "metadata": {"class": "token", "metadata": {}}}
    task_event = {"type": "operation", "project": "default", "metadata": {"class": "task"}}
    assert event_visible(ADMIN, token_event) and not event_visible(RDEF, token_event)
    assert event_visible(RDEF, task_event) and not event_visible(RFOO, task_event)
