"""/1.0/certificates: the trust store and certificate add tokens (like cmd/incusd/certificates.go)."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import secrets
from typing import Any

from aiohttp import web

from pincus.api.auth import UNIX, identity, trust_store
from pincus.api.body import merged, read_body
from pincus.api.context import svc
from pincus.api.https import HTTPS, HttpsEndpoint
from pincus.api.response import async_op, check_etag, recursion, sync
from pincus.api.schema import CertificatePut, CertificatesPost
from pincus.base import tls
from pincus.base.errors import Forbidden, InvalidArgument
from pincus.base.gotime import format_time
from pincus.core.expiry import parse_expiry
from pincus.core.operations import RUNNING, TOKEN, Operation
from pincus.core.services import Services
from pincus.db.store import db_time, from_db_time
from pincus.db.trust import CertificateRecord, TokenRecord, TrustStore, hash_secret

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_REQUEST = 1 << 20  # untrusted clients reach POST: never buffer more than this
CERT_TYPES = ("client", "metrics")
_SECRET = re.compile(r"[0-9a-f]{64}")


class TokenKeeper:
    """The running ``token`` operation of each pending add token (Incus keeps tokens as operations)."""

    def __init__(self) -> None:
        self.ops: dict[str, Operation] = {}
        self.closing = False

    def start(self, s: Services, https: HttpsEndpoint, rec: TokenRecord, secret: str = "") -> Operation:
        """Publish a pending token as a running, cancellable operation.

        Only the daemon that issued the token knows its secret (the store keeps a hash): a token
        published again after a restart has no ``secret`` in its metadata, but still works."""
        meta: dict[str, Any] = {
            "addresses": https.addresses(), "fingerprint": https.fingerprint,
            "request": {"name": rec.name, "type": rec.type, "restricted": rec.restricted,
                        "projects": list(rec.projects), "certificate": "", "description": rec.description,
                        "trust_token": "", "token": True},
        }  # fmt: skip
        if secret:
            meta["secret"] = secret
        if rec.expires:
            meta["expiresAt"] = format_time(from_db_time(rec.expires_at))
        op = s.st.ops.create(TOKEN, "Executing operation", {})
        op.metadata, op.may_cancel = meta, True
        self.ops[rec.secret_hash] = op

        async def pending(_: Operation) -> None:
            """Wait until the token is used, revoked, or the daemon stops."""
            try:
                await asyncio.Event().wait()
            finally:
                self.ops.pop(rec.secret_hash, None)
                if not self.closing:  # revoked (DELETE /1.0/operations/{id}) or used
                    TrustStore(s.st.store).take_token_hash(rec.secret_hash)

        op.start(pending)  # Running at once, as Incus's token operations are
        return op

    def finish(self, secret: str) -> None:
        """End the operation of a used token."""
        op = self.ops.get(hash_secret(secret))
        if op is not None and op.status == RUNNING:
            op.cancel()

    async def shutdown(self) -> None:
        """Stop every token operation without forgetting the tokens (they survive a restart)."""
        self.closing = True
        ops = list(self.ops.values())
        for op in ops:
            op.cancel()
        await asyncio.gather(*(op.done.wait() for op in ops))


TOKENS: web.AppKey[TokenKeeper] = web.AppKey("tokens", TokenKeeper)


def install(app: web.Application, s: Services) -> None:
    """Give the app its HTTPS endpoint and token keeper, and the routes of this module."""
    app[HTTPS] = HttpsEndpoint(s.st.paths.root)
    app[TOKENS] = TokenKeeper()
    app.add_routes(routes)


async def start_network(app: web.Application, s: Services, runner: web.BaseRunner) -> None:
    """Daemon start: listen on core.https_address and re-publish the pending tokens."""
    https = app[HTTPS]
    https.attach(runner)
    https.certificate  # noqa: B018 - server.crt/server.key are made at first start, as Incus does
    try:
        await https.apply(s.st.store.get_config().get("core.https_address", ""))
    except InvalidArgument as exc:
        log.error("%s", exc)
    for rec in TrustStore(s.st.store).tokens():
        app[TOKENS].start(s, https, rec)


async def stop_network(app: web.Application) -> None:
    """Daemon stop: end the token operations and the HTTPS listener."""
    await app[TOKENS].shutdown()
    await app[HTTPS].close()




@routes.get("/1.0/certificates")
async def certificates_get(request: web.Request) -> web.Response:
    """The trusted certificates (URLs, or objects with recursion)."""
    recs = trust_store(request).certificates()
    if recursion(request) >= 1:
        return sync([r.to_api() for r in recs])
    return sync([f"/1.0/certificates/{r.fingerprint}" for r in recs])


def _issue_token(request: web.Request, req: CertificatePut) -> web.Response:
    s, https = svc(request), request.app[HTTPS]
    if req.type != "client":
        raise InvalidArgument("Tokens can only be issued for client certificates")
    if not https.address:
        raise InvalidArgument("Can't issue token when server isn't listening on network")
    now = s.st.clock()
    expiry = parse_expiry(s.st.store.get_config().get("core.remote_token_expiry", ""), now)
    secret = secrets.token_hex(32)
    rec = TokenRecord(hash_secret(secret), req.name or "", db_time(now), db_time(expiry),
                      "client", bool(req.restricted), list(req.projects or []), req.description or "")
    TrustStore(s.st.store).add_token(rec)
    return async_op(request.app[TOKENS].start(s, https, rec, secret))


def _redeem(request: web.Request, text: str) -> CertificatePut:
    """Use up a token (full token or bare secret); the trust request comes from the token, not the client."""
    try:
        secret = tls.decode_token(text).secret
    except tls.TokenError:
        if not _SECRET.fullmatch(text):
            raise Forbidden("not authorized") from None
        secret = text
    rec = trust_store(request).take_token(secret)
    request.app[TOKENS].finish(secret)
    if rec is None:
        raise Forbidden("No matching certificate add operation found")
    if rec.expires and rec.expires_at < db_time(svc(request).st.clock()):
        raise Forbidden("Token has expired")
    return CertificatePut(name=rec.name, type=rec.type, restricted=rec.restricted, projects=list(rec.projects),
                          description=rec.description)


def _certificate_of(request: web.Request, encoded: str) -> bytes:
    if encoded:
        try:
            return base64.b64decode(encoded, validate=True)
        except ValueError as exc:  # binascii.Error, or non-ASCII text
            raise InvalidArgument(f"Invalid certificate: {exc}") from None
    ident = identity(request)
    if ident.method == UNIX:
        raise InvalidArgument("Can't use TLS data on non-TLS link")
    if not ident.certificate:
        raise InvalidArgument("No client certificate provided")
    return ident.certificate


@routes.post("/1.0/certificates")
async def certificates_post(request: web.Request) -> web.Response:
    """Trust a certificate, issue an add token, or (untrusted) redeem a token for our own certificate."""
    ident = identity(request)
    post = await read_body(request, CertificatesPost, MAX_REQUEST)
    req: CertificatePut = post
    wants_token = bool(post.token)
    if wants_token and post.certificate:
        raise InvalidArgument("Can't use certificate if token is requested")
    if ident.trusted and not post.certificate and not wants_token:
        raise InvalidArgument("Client is already trusted")
    if not ident.trusted or ident.restricted:
        trust_token = post.trust_token or post.password or ""
        if wants_token or not trust_token:
            raise Forbidden("not authorized")
        req = _redeem(request, trust_token)
    if wants_token:
        return _issue_token(request, req)
    kind = req.type or "client"
    if kind not in CERT_TYPES:
        raise InvalidArgument(f'Unknown certificate type "{kind}"')
    der = _certificate_of(request, req.certificate or "")
    try:
        pem, common_name = tls.parse_der(der)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    fingerprint = tls.fingerprint(der)
    name = req.name or common_name or (request.remote or "")
    rec = CertificateRecord(fingerprint, name, pem, kind, bool(req.restricted), list(req.projects or []),
                            req.description or "")
    trust_store(request).add(rec)
    url = f"/1.0/certificates/{fingerprint}"
    svc(request).st.hub.lifecycle("certificate-created", url)
    resp = sync(None, status=201)
    resp.headers["Location"] = url
    return resp


@routes.get("/1.0/certificates/{fingerprint}")
async def certificate_get(request: web.Request) -> web.Response:
    """One trusted certificate (fingerprint prefixes are accepted)."""
    api = trust_store(request).get(request.match_info["fingerprint"]).to_api()
    return sync(api, etag=api)


async def _update(request: web.Request, patch: bool) -> web.Response:
    store = trust_store(request)
    old = store.get(request.match_info["fingerprint"])
    check_etag(request, old.to_api())
    req = await read_body(request, CertificatePut, MAX_REQUEST)
    if patch:
        req = merged(old.to_api(), req)
    kind = req.type or ""
    if kind not in CERT_TYPES:
        raise InvalidArgument(f'Unknown certificate type "{kind}"')
    new = CertificateRecord(old.fingerprint, req.name or "", old.certificate, kind, bool(req.restricted),
                            list(req.projects or []), req.description or "")
    supplied = req.certificate or ""
    if supplied and supplied != old.certificate:
        try:
            der = tls.pem_to_der(supplied)
        except ValueError:
            raise InvalidArgument("Invalid PEM encoded certificate") from None
        try:
            new.certificate, _ = tls.parse_der(der)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        new.fingerprint = tls.fingerprint(new.certificate)
    store.update(old.fingerprint, new)
    svc(request).st.hub.lifecycle("certificate-updated", f"/1.0/certificates/{old.fingerprint}")
    return sync({})


@routes.put("/1.0/certificates/{fingerprint}")
async def certificate_put(request: web.Request) -> web.Response:
    """Replace a certificate's name, type, restrictions, description or certificate."""
    return await _update(request, patch=False)


@routes.patch("/1.0/certificates/{fingerprint}")
async def certificate_patch(request: web.Request) -> web.Response:
    """Merge changes into a certificate entry."""
    return await _update(request, patch=True)


@routes.delete("/1.0/certificates/{fingerprint}")
async def certificate_delete(request: web.Request) -> web.Response:
    """Stop trusting a certificate."""
    store = trust_store(request)
    rec = store.get(request.match_info["fingerprint"])
    store.remove(rec.fingerprint)
    svc(request).st.hub.lifecycle("certificate-deleted", f"/1.0/certificates/{rec.fingerprint}")
    return sync({})

