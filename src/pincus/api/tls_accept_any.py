"""Make an ``ssl.SSLContext`` accept any client certificate, so that trust is decided afterwards.

Incus asks HTTPS clients for an optional certificate, accepts whatever they send, and decides trust
by the certificate's fingerprint after the handshake (api/auth.py); an untrusted client must
still complete the handshake, with the certificate it wants trusted, to present an add token.

Python's ssl module has no supported way to do this (checked on 3.11): ``CERT_OPTIONAL`` verifies
any certificate sent against the CA set and aborts the handshake on a self-signed one. Loading the
trust store's certificates as the CA set would let trusted clients in, but refuses the untrusted
self-signed certificate a client presents with its token, so the token flow would break.

So this module reaches under the ssl module: through ctypes it replaces OpenSSL's chain check on
the context's ``SSL_CTX`` by a callback that accepts everything. The ``SSL_CTX *`` is the first
field after the object header of CPython's ``PySSLContext`` (true since Python 3.0); before the
callback is installed the pointer is checked by setting two verify modes through the ssl module
and reading each back through OpenSSL. If anything does not match the function returns False and
the caller must fall back to not asking for certificates (every HTTPS client is then untrusted).
"""

from __future__ import annotations

import ctypes
import ssl

_VERIFY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_ACCEPT_ANY = _VERIFY_CB(lambda store, arg: 1)  # kept alive for the life of the process
# SSL_CTX_get_verify_mode values of the ssl module's modes.
_SSL_VERIFY_PEER, _SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 0x01, 0x02


def accept_any_client_certificate(ctx: ssl.SSLContext) -> bool:
    """Ask for an optional client certificate and accept any (``ctx`` ends in CERT_OPTIONAL).

    Returns False, leaving ``ctx`` unchanged apart from its verify mode, when the trick cannot be
    applied safely on this Python or OpenSSL."""
    import _ssl

    try:
        lib = ctypes.CDLL(_ssl.__file__)  # resolves symbols of the libssl the ssl module uses
        set_cb = lib.SSL_CTX_set_cert_verify_callback
        get_mode = lib.SSL_CTX_get_verify_mode
    except (OSError, AttributeError):
        return False
    set_cb.argtypes, set_cb.restype = [ctypes.c_void_p, _VERIFY_CB, ctypes.c_void_p], None
    get_mode.argtypes, get_mode.restype = [ctypes.c_void_p], ctypes.c_int
    ssl_ctx = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not ssl_ctx:
        return False
    ctx.verify_mode = ssl.CERT_REQUIRED
    if get_mode(ssl_ctx) != _SSL_VERIFY_PEER | _SSL_VERIFY_FAIL_IF_NO_PEER_CERT:
        return False
    ctx.verify_mode = ssl.CERT_OPTIONAL
    if get_mode(ssl_ctx) != _SSL_VERIFY_PEER:
        return False
    set_cb(ssl_ctx, _ACCEPT_ANY, None)
    return True
