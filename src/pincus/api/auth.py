"""Who is calling, and may they: the unix socket is trusted (its mode is the access control), an
HTTPS client is trusted when its certificate's fingerprint is in the trust store. Untrusted clients
may only reach what Incus lets them (GET /, GET /1.0, POST /1.0/certificates, websockets by secret).

Every request's project is authorised here, in one place, by ``decide``: Incus's rules for a
project-restricted certificate (its TLS authorizer), and a 404 for a project that does not exist."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pincus.api.context import svc
from pincus.api.response import Handler, error, sync
from pincus.base.errors import Forbidden, NotFound
from pincus.core.operations import TOKEN
from pincus.db.trust import CertificateRecord, TrustStore

UNIX, TLS = "unix", "tls"

# (method, route pattern) an untrusted client may call, as the AllowUntrusted flags of Incus.
UNTRUSTED_OK = frozenset({
    ("GET", "/"),
    ("GET", "/1.0"),
    ("POST", "/1.0/certificates"),
    ("GET", "/1.0/operations/{id}/websocket"),
})  # fmt: skip

@dataclass(frozen=True)
class Identity:
    """The authenticated caller of one request."""

    trusted: bool
    method: str  # "unix" or "tls"
    name: str = ""  # user name (unix) or certificate fingerprint (tls)
    certificate: bytes = b""  # the client's DER certificate, if it sent one
    restricted: bool = False
    projects: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fingerprint(self) -> str:
        """sha256 of the client certificate, or an empty string."""
        return hashlib.sha256(self.certificate).hexdigest() if self.certificate else ""


LOCAL = Identity(trusted=True, method=UNIX, name="root")
IDENTITY: web.RequestKey[Identity] = web.RequestKey("identity", Identity)


def peer_certificate(request: web.Request) -> bytes | None:
    """The DER client certificate of a TLS request; None when the request did not come over TLS."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    return ssl_object.getpeercert(binary_form=True) or b""


def trust_store(request: web.Request) -> TrustStore:
    """The trust store of this daemon."""
    return TrustStore(svc(request).st.store)


def authenticate(request: web.Request) -> Identity:
    """Decide who is calling. Only the unix socket serves plain HTTP, so non-TLS means local."""
    der = peer_certificate(request)
    if der is None:
        return LOCAL
    if not der:
        return Identity(trusted=False, method=TLS)
    fingerprint = hashlib.sha256(der).hexdigest()
    rec: CertificateRecord | None = trust_store(request).lookup(fingerprint)
    if rec is None or rec.type != "client":
        return Identity(trusted=False, method=TLS, certificate=der)
    return Identity(True, TLS, fingerprint, der, rec.restricted, tuple(rec.projects))


def identity(request: web.Request) -> Identity:
    """The identity the middleware attached to this request (local when there is none)."""
    return request.get(IDENTITY, LOCAL)


# --- projects: Incus's rules for restricted certificates -------------------------------------------

PROJECTS = frozenset({"default"})  # the only project pincus has
RESTRICTED = "Certificate is restricted"
NO_PROJECT = "Project not found"

# Route kinds. SERVER: "/" and "/1.0". GLOBAL: objects outside projects (certificates, storage pools,
# replication targets): restricted certificates may view them, never change them. PROJECT_LIST and
# PROJECT: /1.0/projects[/{name}]. OPERATION: one operation (its own project decides). SCOPED:
# everything else lives in the request's project.
SERVER, GLOBAL, PROJECT_LIST, PROJECT, OPERATION, SCOPED = "server", "global", "projects", "project", "op", "scoped"

# GET listings: a restricted certificate sees them filtered to its projects (Incus's permission
# checker), so all-projects=true is allowed; the value is the listing's empty form.
LISTINGS: dict[str, Any] = {
    "/1.0/instances": [], "/1.0/images": [], "/1.0/images/aliases": [], "/1.0/profiles": [],
    "/1.0/networks": [], "/1.0/storage-pools/{name}/volumes": [], "/1.0/operations": {}, "/1.0/events": None,
}  # fmt: skip
# Objects of the default project a restricted certificate may view even without it (inherited).
INHERITED = ("/1.0/images/", "/1.0/profiles/")
# Reached by secret, not by certificate (an exec or migration websocket).
BY_SECRET = "/1.0/operations/{id}/websocket"


def route_kind(pattern: str) -> str:
    """Which of the kinds above a route pattern is."""
    if pattern in ("/", "/1.0"):
        return SERVER
    if pattern == "/1.0/projects":
        return PROJECT_LIST
    if pattern == "/1.0/projects/{name}":
        return PROJECT
    if pattern.startswith(("/1.0/certificates", "/1.0/replication-targets")):
        return GLOBAL
    if pattern.startswith("/1.0/storage-pools") and not pattern.endswith("/volumes"):
        return GLOBAL
    if pattern.startswith("/1.0/operations/") and pattern != BY_SECRET:
        return OPERATION
    return SCOPED


@dataclass(frozen=True)
class Verdict:
    """What the middleware does with a request: run it, refuse it, or answer an empty listing."""

    status: int = 0  # 0: run the handler; else the error status
    message: str = ""
    empty: Any = None  # with status 0: answer this empty listing instead of running the handler
    hide_tokens: bool = False  # drop certificate add token operations from the answer


ALLOW = Verdict()


def _denied(project: str, listing: bool) -> Verdict:
    # Incus's two wordings: its permission checker (listings) and CheckPermission (one object).
    word = "permissions" if listing else "permission"
    return Verdict(403, f'User does not have {word} for project "{project}"')


def decide(ident: Identity, method: str, pattern: str, query: Mapping[str, str], subject: str | None = None) -> Verdict:
    """May this trusted caller make this request? (Incus 6.0's TLS authorizer, plus unknown projects.)

    ``subject`` is the project the URL itself names: the {name} of /1.0/projects/{name}, or the
    project of the operation a /1.0/operations/{id} route names ("" for a certificate add token,
    which belongs to no project; None when there is no such operation: the handler answers 404)."""
    kind = route_kind(pattern)
    if pattern == BY_SECRET:
        return ALLOW  # the operation's secret is the credential, whoever connects
    all_projects = query.get("all-projects", "").lower() in ("1", "true", "yes", "on")
    project = query.get("project") or "default"
    restricted = ident.restricted
    mine = frozenset(ident.projects)
    listing = method == "GET" and pattern in LISTINGS
    if kind == SERVER:
        if restricted and (method not in ("GET", "HEAD") or all_projects):
            return Verdict(403, RESTRICTED)
        return ALLOW
    if kind == GLOBAL:
        if not restricted or (method == "POST" and pattern == "/1.0/certificates"):
            return ALLOW  # a restricted certificate may still redeem a token there (the handler decides)
        if method != "GET" or (all_projects and pattern not in ("/1.0/certificates", "/1.0/storage-pools")):
            return Verdict(403, RESTRICTED)
        return ALLOW
    if kind == PROJECT_LIST:
        if restricted and not mine & PROJECTS:
            return Verdict(empty=[])
        return ALLOW
    if kind == PROJECT:
        if restricted and all_projects:
            return Verdict(403, RESTRICTED)
        if restricted and subject not in mine:
            return _denied(subject or "", listing=False)
        return ALLOW
    if kind == OPERATION:
        if not restricted or subject is None:
            return ALLOW
        if subject == "":
            return Verdict(403, RESTRICTED)
        return ALLOW if subject in mine else _denied(subject, listing=False)
    # SCOPED
    if not restricted:
        if all_projects or project in PROJECTS:
            return ALLOW
        return Verdict(404, NO_PROJECT)
    hide = pattern == "/1.0/operations"
    if all_projects:
        if not listing:
            return Verdict(403, RESTRICTED)
        if mine & PROJECTS or pattern == "/1.0/events":
            return Verdict(hide_tokens=hide)  # events are filtered per event (event_visible)
        return Verdict(empty=LISTINGS[pattern])
    if project not in mine:
        inherited = method == "GET" and project == "default" and pattern.startswith(INHERITED) and not listing
        return Verdict(hide_tokens=hide) if inherited else _denied(project, listing)
    if project not in PROJECTS:
        return Verdict(404, NO_PROJECT)
    return Verdict(hide_tokens=hide)


def event_visible(ident: Identity, event: Mapping[str, Any]) -> bool:
    """Whether an event may go to this listener: a restricted certificate sees its projects' events,
    and never a certificate add token's operation (its metadata holds the secret)."""
    if not ident.restricted:
        return True
    meta = event.get("metadata")
    if event.get("type") == "operation" and isinstance(meta, dict) and meta.get("class") == TOKEN:
        return False
    return str(event.get("project") or "default") in ident.projects


def _operation_project(request: web.Request) -> str | None:
    op_id = request.match_info.get("id", "")
    try:
        op = svc(request).st.ops.get(op_id)
    except NotFound:
        return None
    return "" if op.op_class == TOKEN else "default"


def _without_tokens(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """The operations listing minus certificate add tokens (they belong to no project)."""
    if not isinstance(resp, web.Response) or resp.status != 200 or not isinstance(resp.body, bytes):
        return resp
    tokens = {op.id for op in svc(request).st.ops.all() if op.op_class == TOKEN}
    if not tokens:
        return resp
    envelope = json.loads(resp.body)
    listing = envelope.get("metadata") or {}
    for status, ops in list(listing.items()):
        kept = [op for op in ops if (op["id"] if isinstance(op, dict) else op.rsplit("/", 1)[-1]) not in tokens]
        if kept:
            listing[status] = kept
        else:
            del listing[status]
    return sync(listing)


def _pattern(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else ""


def _allowed_untrusted(request: web.Request) -> bool:
    return (request.method, _pattern(request)) in UNTRUSTED_OK


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the caller's identity; refuse what it may not do (403), or unknown projects (404)."""
    if request.match_info.http_exception is not None:
        return await handler(request)  # unknown path or method: 404/405, as Incus's router
    ident = authenticate(request)
    request[IDENTITY] = ident
    if not ident.trusted:
        if not _allowed_untrusted(request):
            raise Forbidden("not authorized")
        return await handler(request)
    pattern = _pattern(request)
    kind = route_kind(pattern)
    subject = request.match_info["name"] if kind == PROJECT else _operation_project(request) if kind == OPERATION else None
    verdict = decide(ident, request.method, pattern, request.query, subject)
    if verdict.status:
        return error(verdict.status, verdict.message)
    if verdict.empty is not None:
        return sync(verdict.empty)
    resp = await handler(request)
    return _without_tokens(request, resp) if verdict.hide_tokens else resp
