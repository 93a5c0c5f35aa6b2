"""``pincus config trust``: trusted client certificates and certificate add tokens."""

from __future__ import annotations

import sys

from pincus.cli.common import CLIError, Command, Ctx, shorthand_columns
from pincus.cli.flags import Flag, Options
from pincus.cli.format import fmt_date, render, sort_rows, validate_format
from pincus.client.connection import quote_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.base.tls import AddToken
    from pincus.client.client import Client

RUNNING = 103


def _projects(opts: Options) -> list[str] | None:
    return opts.projects.split(",") if opts.projects else None


def run_add(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Issue a certificate add token for a new client and print it."""
    from pincus.base.tls import AddToken

    client, _, name = ctx.resolve(args[0])
    if not name:
        raise CLIError("A client name must be provided")
    body = {"name": name, "type": "client", "restricted": bool(opts.restricted), "projects": _projects(opts),
            "certificate": "", "description": "", "trust_token": "", "token": True}
    from pincus.client.operations import Operation

    op = Operation.from_response(client.conn, client.conn.request("POST", "/1.0/certificates", body))
    meta = op.metadata
    request = meta.get("request") or {}
    token = AddToken(str(request.get("name", "")), str(meta.get("fingerprint", "")),
                     [str(a) for a in meta.get("addresses") or []], str(meta.get("secret", "")))
    if meta.get("expiresAt"):
        token.expires_at = str(meta["expiresAt"])
    if not ctx.quiet:
        sys.stdout.write(f"Client {name} certificate add token:\n")
    sys.stdout.write(token.encode() + "\n")
    return 0


def run_add_certificate(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Trust a client certificate file (``-`` reads standard input)."""
    import base64
    import os

    from pincus.base.tls import pem_to_der

    remote, path = (args[0], args[1]) if len(args) > 1 else ("", args[0])
    if opts.type not in ("client", "metrics"):
        raise CLIError(f'Unknown certificate type "{opts.type}"')
    client, _, _ = ctx.resolve(remote)
    if path == "-":
        path = "/dev/stdin"
    if not os.path.exists(path):
        raise CLIError(f"Provided certificate path doesn't exist: {path}")
    with open(path, encoding="ascii", errors="replace") as fobj:
        try:
            der = pem_to_der(fobj.read())
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    body = {"name": opts.name or os.path.basename(path), "type": opts.type, "restricted": bool(opts.restricted),
            "projects": _projects(opts), "certificate": base64.b64encode(der).decode("ascii"),
            "description": opts.description, "trust_token": "", "token": False}
    client.conn.request("POST", "/1.0/certificates", body)
    return 0


TRUST_COLUMNS = {
    "n": ("NAME", lambda c, info: str(c.get("name", ""))),
    "t": ("TYPE", lambda c, info: str(c.get("type", ""))),
    "c": ("COMMON NAME", lambda c, info: info[0]),
    "f": ("FINGERPRINT", lambda c, info: str(c.get("fingerprint", ""))[:12]),
    "d": ("DESCRIPTION", lambda c, info: str(c.get("description", ""))),
    "i": ("ISSUE DATE", lambda c, info: fmt_date(info[1])),
    "e": ("EXPIRY DATE", lambda c, info: fmt_date(info[2])),
    "r": ("RESTRICTED", lambda c, info: "yes" if c.get("restricted") else "no"),
    "p": ("PROJECTS", lambda c, info: "\n".join(sorted(c.get("projects") or []))),
}


def run_list(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """List the trusted certificates."""
    from pincus.base.tls import describe

    validate_format(opts.format)
    columns = shorthand_columns(opts.columns, TRUST_COLUMNS)
    client, _, _ = ctx.resolve(args[0] if args else "")
    certs = list(client.conn.request("GET", "/1.0/certificates?recursion=1").metadata or [])
    rows = []
    for cert in certs:
        info = describe(str(cert.get("certificate", "")))
        rows.append([col[1](cert, info) for col in columns])
    rows.sort()
    sys.stdout.write(render(opts.format, [c[0] for c in columns], rows, lambda: certs))
    return 0


def _tokens(client: Client) -> list[tuple[str, AddToken]]:
    """(operation id, token) of every usable add token."""
    from pincus.base.tls import AddToken

    ops = client.conn.request("GET", "/1.0/operations?project=default&recursion=1").metadata or {}
    out = []
    for op in [o for group in ops.values() for o in group or []]:
        meta = op.get("metadata") or {}
        request = meta.get("request")
        if op.get("class") != "token" or op.get("status_code") != RUNNING or not isinstance(request, dict):
            continue
        token = AddToken(str(request.get("name", "")), str(meta.get("fingerprint", "")),
                         [str(a) for a in meta.get("addresses") or []], str(meta.get("secret", "")))
        if meta.get("expiresAt"):
            token.expires_at = str(meta["expiresAt"])
        out.append((str(op.get("id", "")), token))
    return out


def run_list_tokens(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """List the pending certificate add tokens."""
    validate_format(opts.format)
    columns = shorthand_columns(opts.columns, {
        "n": ("NAME", lambda t: t.client_name),
        "t": ("TOKEN", lambda t: t.encode()),
        "E": ("EXPIRES AT", lambda t: fmt_date(t.expires_at) or " "),
    })  # fmt: skip
    client, _, _ = ctx.resolve(args[0] if args else "")
    tokens = [t for _, t in _tokens(client)]
    rows = sort_rows([[col[1](t) for col in columns] for t in tokens])

    def raw() -> Any:
        """The tokens as api.CertificateAddToken objects."""
        return [{"client_name": t.client_name, "fingerprint": t.fingerprint, "addresses": t.addresses,
                 "secret": t.secret, "expires_at": t.expires_at} for t in tokens]

    sys.stdout.write(render(opts.format, [c[0] for c in columns], rows, raw))
    return 0


def run_remove(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Stop trusting a certificate (by fingerprint or prefix)."""
    client, _, name = ctx.resolve(args[0])
    fingerprint = args[1] if len(args) == 2 else name
    client.conn.request("DELETE", f"/1.0/certificates/{quote_path(fingerprint)}")
    return 0


def run_revoke_token(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Cancel a pending add token by client name."""
    client, remote, name = ctx.resolve(args[0])
    for op_id, token in _tokens(client):
        if token.client_name == name:
            client.conn.request("DELETE", f"/1.0/operations/{quote_path(op_id)}")
            if not ctx.quiet:
                sys.stdout.write(f"Certificate add token for {name} deleted\n")
            return 0
    raise CLIError(f"No certificate add token for member {name} on remote: {remote}")


def run_show(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Show one trusted certificate as YAML."""
    from pincus.cli import goyaml

    client, _, name = ctx.resolve(args[0])
    if not name:
        raise CLIError("Missing certificate fingerprint")
    cert = client.conn.request("GET", f"/1.0/certificates/{quote_path(name)}").metadata or {}
    keys = ("name", "type", "restricted", "projects", "certificate", "description", "fingerprint")
    sys.stdout.write(goyaml.dump({k: cert.get(k) if k != "projects" else cert.get(k) or [] for k in keys}))
    return 0


RESTRICT = [
    Flag("restricted", help="Restrict the certificate to one or more projects"),
    Flag("projects", kind="str", help="List of projects to restrict the certificate to"),
]
LIST_FLAGS = [
    Flag("format", "f", kind="str", default="table", help="Format (csv|json|table|yaml|compact)"),
]
TRUST = Command("trust", "", "Manage trusted clients", subcommands=[
    Command("add", "[<remote>:]<name>", "Add new trusted client", run_add, RESTRICT, nargs=(1, 1)),
    Command("add-certificate", "[<remote>:] <cert>", "Add new trusted client certificate", run_add_certificate,
            [*RESTRICT, Flag("name", kind="str", help="Alternative certificate name"),
             Flag("type", kind="str", default="client", help="Type of certificate"),
             Flag("description", kind="str", help="Certificate description")], nargs=(1, 2)),
    Command("list", "[<remote>:]", "List trusted clients", run_list,
            [*LIST_FLAGS, Flag("columns", "c", kind="str", default="ntdfe", help="Columns")],
            nargs=(0, 1), aliases=("ls",)),
    Command("list-tokens", "[<remote>:]", "List all active certificate add tokens", run_list_tokens,
            [*LIST_FLAGS, Flag("columns", "c", kind="str", default="ntE", help="Columns")], nargs=(0, 1)),
    Command("remove", "[<remote>:]<fingerprint>", "Remove trusted client", run_remove, nargs=(1, 2),
            aliases=("rm",)),
    Command("revoke-token", "[<remote>:] <name>", "Revoke certificate add token", run_revoke_token,
            nargs=(1, 1)),
    Command("show", "[<remote>:]<fingerprint>", "Show trust configurations", run_show, nargs=(1, 1)),
])  # fmt: skip
