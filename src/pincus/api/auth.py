"""Who is calling: the unix socket is trusted (its mode is the access control), an HTTPS client
is trusted when its certificate's fingerprint is in the trust store. Untrusted clients may only
reach what Incus lets them (GET /, GET /1.0, POST /1.0/certificates, websockets by secret)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from aiohttp import web

from pincus.api.context import svc
from pincus.api.response import Handler
from pincus.core.errors import Forbidden
from pincus.db.trust import CertificateRecord, TrustStore

UNIX, TLS = "unix", "tls"

# (method, route pattern) an untrusted client may call, as the AllowUntrusted flags of Incus.
UNTRUSTED_OK = frozenset({
    ("GET", "/"),
    ("GET", "/1.0"),
    ("POST", "/1.0/certificates"),
    ("GET", "/1.0/operations/{id}/websocket"),
})  # fmt: skip

# Server-wide changes a project-restricted certificate may not make.
_ADMIN_PREFIXES = ("/1.0/certificates", "/1.0/storage-pools")


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


def _allowed_untrusted(request: web.Request) -> bool:
    route = request.match_info.route
    resource = route.resource
    pattern = resource.canonical if resource is not None else ""
    return (request.method, pattern) in UNTRUSTED_OK


def _restricted_refusal(ident: Identity, request: web.Request) -> bool:
    """Whether a project-restricted certificate is refused this request."""
    project = request.query.get("project") or "default"
    if request.path == "/1.0":
        return request.method not in ("GET", "HEAD")
    if request.path.startswith(_ADMIN_PREFIXES) and request.method != "GET":
        return True
    return project not in ident.projects


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the caller's identity; answer 403 "not authorized" where it may not go."""
    if request.match_info.http_exception is not None:
        return await handler(request)  # unknown path or method: 404/405, as Incus's router
    ident = authenticate(request)
    request[IDENTITY] = ident
    if not ident.trusted and not _allowed_untrusted(request):
        raise Forbidden("not authorized")
    if ident.trusted and ident.restricted and _restricted_refusal(ident, request):
        raise Forbidden("not authorized")
    return await handler(request)
