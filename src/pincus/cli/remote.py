"""``pincus remote``: add (URL or trust token), list, remove, rename, switch, get-default,
set-url, generate-certificate; config.yml, client.crt and servercerts/ as the incus client keeps them."""

from __future__ import annotations

import os
import sys

from pincus.cli.common import CLIError, Command, Ctx
from pincus.cli.flags import Flag, Options
from pincus.cli.format import render, sort_rows, validate_format
from pincus.client.connection import ClientError
from pincus.client.remotes import Remote, RemoteConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.client import Client

STATIC = ("local",)
GENERATING = "Generating a client certificate. This may take a minute...\n"


def save_config(conf: RemoteConfig) -> None:
    """Write config.yml like the incus client's SaveConfig (yaml.v2 of cliconfig.Config)."""
    from pincus.cli import goyaml
    from pincus.cli.gotypes import GoMap

    remotes = GoMap()
    for name, rem in conf.remotes.items():
        entry: dict[str, Any] = {"addr": rem.addr}
        if rem.auth_type:
            entry["auth_type"] = rem.auth_type
        if rem.project:
            entry["project"] = rem.project
        if rem.protocol:
            entry["protocol"] = rem.protocol
        entry["public"] = rem.public
        remotes[name] = entry
    doc = {"default-remote": conf.default_remote, "remotes": remotes, "aliases": GoMap(conf.aliases)}
    os.makedirs(conf.conf_dir, mode=0o750, exist_ok=True)
    with open(os.path.join(conf.conf_dir, "config.yml"), "w", encoding="utf-8") as fobj:
        fobj.write(goyaml.dump(doc))


def _ensure_client_certificate(conf: RemoteConfig) -> None:
    from pincus.client.tls import generate_client_certificate, has_client_certificate

    if not has_client_certificate(conf.conf_dir):
        sys.stderr.write(GENERATING)
        generate_client_certificate(conf.conf_dir)


def _pin(conf: RemoteConfig, name: str, der: bytes) -> None:
    from pincus.base.tls import der_to_pem
    from pincus.client.tls import server_cert_path

    path = server_cert_path(conf.conf_dir, name)
    os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
    with open(path, "w", encoding="ascii") as fobj:
        fobj.write(der_to_pem(der))


def _client(conf: RemoteConfig, name: str) -> Client:
    from pincus.client.client import Client

    return Client(conf.connection(name))


def _find_project(client: Client, wanted: str) -> str:
    """The project to record for the remote: the only one, or none when "default" exists."""
    if wanted:
        client.conn.request("GET", f"/1.0/projects/{wanted}")
        return wanted
    if not client.has_extension("projects"):
        return ""
    names = [str(u).rsplit("/", 1)[-1] for u in client.conn.request("GET", "/1.0/projects").metadata or []]
    if len(names) == 1:
        return names[0]
    if not names or "default" in names:
        return ""
    raise CLIError(f"Several projects exist ({', '.join(names)}): pass --project")


def _trust(client: Client, token: str, kind: str = "") -> None:
    body = {"name": "", "type": kind, "restricted": False, "projects": None, "certificate": "",
            "description": "", "trust_token": token, "token": False}
    client.conn.request("POST", "/1.0/certificates", body)


def _add_from_token(conf: RemoteConfig, name: str, raw: str, opts: Options) -> int:
    from pincus.base.tls import decode_token, fingerprint
    from pincus.client.tls import fetch_certificate

    token = decode_token(raw)
    _ensure_client_certificate(conf)
    errors = []
    for address in token.addresses:
        addr = f"https://{address}"
        conf.remotes[name] = Remote(name, addr, opts.protocol or "incus", auth_type=opts.auth_type)
        try:
            der = fetch_certificate(addr)
        except ClientError as exc:
            errors.append(f"{addr}: {exc}")
            continue
        if fingerprint(der) != token.fingerprint:
            raise CLIError(f'Certificate fingerprint mismatch between certificate token and server "{addr}"')
        _pin(conf, name, der)
        client = _client(conf, name)
        try:
            _trust(client, raw)
        except ClientError as exc:
            raise CLIError(f"Failed to create certificate: {exc}") from None
        conf.remotes[name].project = _find_project(client, opts.project)
        save_config(conf)
        return 0
    raise CLIError("All server addresses are unavailable: " + "; ".join(errors))


def normalize_addr(addr: str) -> str:
    """``host``, ``host:port``, ``https://host`` or a socket path to the URL form incus stores."""
    if addr.startswith("unix:") or addr.startswith("/"):
        return "unix://" + addr.removeprefix("unix:").removeprefix("//") if addr.startswith("unix:") else f"unix://{addr}"
    if "://" in addr and not addr.startswith("https://"):
        raise CLIError(f'Invalid URL scheme "{addr.split("://", 1)[0]}" in "{addr}"')
    from pincus.client.tls import join_host_port, split_url

    host, port = split_url(addr)
    return f"https://{join_host_port(host, port)}"


def _accept(conf: RemoteConfig, name: str, addr: str, opts: Options) -> None:
    """Pin the server certificate, asking first unless --accept-certificate (unless it is CA-signed)."""
    from pincus.base.tls import fingerprint
    from pincus.client.tls import fetch_certificate

    try:
        _client(conf, name).get_server()
        return  # trusted through the system CAs: nothing to pin
    except ClientError:
        pass
    der = fetch_certificate(addr)
    if not opts.accept_certificate:
        digest = fingerprint(der)
        sys.stdout.write(f"Certificate fingerprint: {digest}\nok (y/n/[fingerprint])? ")
        sys.stdout.flush()
        line = sys.stdin.readline().strip()
        if line != digest:
            if not line or line[0].lower() == "n":
                raise CLIError("Server certificate NACKed by user")
            if line[0].lower() != "y":
                raise CLIError("Please type 'y', 'n' or the fingerprint:")
    _pin(conf, name, der)


def _add_url(conf: RemoteConfig, name: str, addr: str, opts: Options) -> int:
    protocol = opts.protocol or "incus"
    if protocol == "simplestreams":
        if not addr.startswith("https://"):
            raise CLIError("Only https URLs are supported for simplestreams")
        conf.remotes[name] = Remote(name, addr, protocol, public=True)
        save_config(conf)
        return 0
    if protocol != "incus":
        raise CLIError(f"Invalid protocol: {protocol}")
    addr = normalize_addr(addr)
    if addr.startswith("unix:"):
        conf.remotes[name] = Remote(name, addr, protocol, auth_type="tls")
        conf.remotes[name].project = _find_project(_client(conf, name), opts.project)
        save_config(conf)
        return 0
    if not opts.public:
        _ensure_client_certificate(conf)
    conf.remotes[name] = Remote(name, addr, protocol, auth_type=opts.auth_type)
    _accept(conf, name, addr, opts)
    client = _client(conf, name)
    server, _ = client.get_server()
    if opts.public or server.get("public"):
        conf.remotes[name] = Remote(name, addr, protocol, public=True)
        save_config(conf)
        return 0
    conf.remotes[name].auth_type = opts.auth_type or "tls"
    if server.get("auth") != "trusted":
        token = opts.token
        if not token:
            sys.stdout.write(f"Trust token for {name}: ")
            sys.stdout.flush()
            token = sys.stdin.readline().strip()
            if not token:
                raise CLIError("EOF")
        _trust(client, token, "client")
        client = _client(conf, name)
        if client.get_server()[0].get("auth") != "trusted":
            raise CLIError("Server doesn't trust us after authentication")
        sys.stdout.write(f"Client certificate now trusted by server: {name}\n")
    conf.remotes[name].project = _find_project(client, opts.project)
    save_config(conf)
    return 0


def run_add(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Add a remote from a URL (with certificate pinning and optional token) or from a trust token."""
    conf = ctx.config
    name, addr = args[0], args[-1]
    if ":" in name:
        raise CLIError("Remote names may not contain colons")
    if name in conf.remotes:
        raise CLIError(f"Remote {name} exists as <{conf.remotes[name].addr}>")
    from pincus.base.tls import TokenError, decode_token

    try:
        decode_token(addr)
    except TokenError:
        return _add_url(conf, name, addr, opts)
    return _add_from_token(conf, name, addr, opts)


def _auth_type(rem: Remote) -> str:
    if rem.auth_type:
        return rem.auth_type
    if rem.addr.startswith("unix:"):
        return "file access"
    return "tls" if rem.protocol == "incus" else "none"


REMOTE_COLUMNS = {
    "n": ("NAME", lambda c, n, r: f"{n} (current)" if n == c.default_remote else n),
    "u": ("URL", lambda c, n, r: r.addr),
    "p": ("PROTOCOL", lambda c, n, r: r.protocol),
    "a": ("AUTH TYPE", lambda c, n, r: _auth_type(r)),
    "P": ("PUBLIC", lambda c, n, r: "YES" if r.public else "NO"),
    "s": ("STATIC", lambda c, n, r: "YES" if n in STATIC else "NO"),
    "g": ("GLOBAL", lambda c, n, r: "NO"),
}


def _raw_remotes(conf: RemoteConfig, fmt: str) -> Any:
    from pincus.cli.gotypes import GoMap

    out = GoMap()
    for name, rem in conf.remotes.items():
        if fmt.startswith("json"):
            out[name] = {"Addr": rem.addr, "AuthType": rem.auth_type, "KeepAlive": 0, "Project": rem.project,
                         "Protocol": rem.protocol, "Public": rem.public, "Global": False, "Static": name in STATIC}
        else:
            entry: dict[str, Any] = {"addr": rem.addr}
            entry.update({k: v for k, v in (("auth_type", rem.auth_type), ("project", rem.project),
                                            ("protocol", rem.protocol)) if v})
            out[name] = {**entry, "public": rem.public}
    return out


def run_list(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """List the remotes."""
    validate_format(opts.format)
    conf = ctx.config
    columns = []
    for entry in opts.columns.split(","):
        if entry == "":
            raise CLIError(f"Empty column entry (redundant, leading or trailing command) in '{opts.columns}'")
        for char in entry:
            if char not in REMOTE_COLUMNS:
                raise CLIError(f"Unknown column shorthand char '{char}' in '{entry}'")
            columns.append(REMOTE_COLUMNS[char])
    rows = sort_rows([[col[1](conf, n, r) for col in columns] for n, r in conf.remotes.items()])
    sys.stdout.write(render(opts.format, [c[0] for c in columns], rows, lambda: _raw_remotes(conf, opts.format)))
    return 0


def _existing(conf: RemoteConfig, name: str, modify: bool = True) -> Remote:
    if name not in conf.remotes:
        raise CLIError(f"Remote {name} doesn't exist")
    if modify and name in STATIC:
        raise CLIError(f"Remote {name} is static and cannot be modified")
    return conf.remotes[name]


def run_remove(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Remove a remote and its pinned certificate."""
    from pincus.client.tls import server_cert_path

    conf = ctx.config
    _existing(conf, args[0])
    if conf.default_remote == args[0]:
        raise CLIError("Can't remove the default remote")
    del conf.remotes[args[0]]
    try:
        os.unlink(server_cert_path(conf.conf_dir, args[0]))
    except FileNotFoundError:
        pass
    save_config(conf)
    return 0


def run_rename(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Rename a remote (and its pinned certificate)."""
    from pincus.client.tls import server_cert_path

    conf = ctx.config
    rem = _existing(conf, args[0])
    if args[1] in conf.remotes:
        raise CLIError(f"Remote {args[1]} already exists")
    old, new = server_cert_path(conf.conf_dir, args[0]), server_cert_path(conf.conf_dir, args[1])
    if os.path.exists(old):
        os.rename(old, new)
    rem.name = args[1]
    conf.remotes = {args[1] if n == args[0] else n: r for n, r in conf.remotes.items()}
    if conf.default_remote == args[0]:
        conf.default_remote = args[1]
    save_config(conf)
    return 0


def run_switch(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Make a remote the default."""
    conf = ctx.config
    _existing(conf, args[0], modify=False)
    conf.default_remote = args[0]
    save_config(conf)
    return 0


def run_get_default(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Print the default remote."""
    sys.stdout.write(f"{ctx.config.default_remote}\n")
    return 0


def run_set_url(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Change a remote's address."""
    conf = ctx.config
    _existing(conf, args[0]).addr = args[1]
    save_config(conf)
    return 0


def run_generate_certificate(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Create the client certificate now instead of on first use."""
    from pincus.client.tls import generate_client_certificate, has_client_certificate

    conf = ctx.config
    if has_client_certificate(conf.conf_dir):
        raise CLIError("A client certificate is already present")
    if not ctx.quiet:
        sys.stderr.write(GENERATING)
    generate_client_certificate(conf.conf_dir)
    return 0


ADD_FLAGS = [
    Flag("accept-certificate", help="Accept certificate"),
    Flag("token", kind="str", help="Remote trust token"),
    Flag("protocol", kind="str", help="Server protocol (incus or simplestreams)"),
    Flag("auth-type", kind="str", help="Server authentication type (tls or oidc)"),
    Flag("public", help="Public image server"),
    Flag("project", kind="str", help="Project to use for the remote"),
]
LIST_FLAGS = [
    Flag("format", "f", kind="str", default="table", help="Format (csv|json|table|yaml|compact)"),
    Flag("columns", "c", kind="str", default="nupaPsg", help="Columns"),
]
REMOTE = Command("remote", "", "Manage the list of remote servers", subcommands=[
    Command("add", "[<remote>] <IP|FQDN|URL|token>", "Add new remote servers", run_add, ADD_FLAGS, nargs=(1, 2)),
    Command("generate-certificate", "", "Generate the client certificate", run_generate_certificate,
            nargs=(0, 0)),
    Command("get-default", "", "Show the default remote", run_get_default, nargs=(0, 0)),
    Command("list", "", "List the available remotes", run_list, LIST_FLAGS, nargs=(0, 0), aliases=("ls",)),
    Command("remove", "<remote>", "Remove remotes", run_remove, nargs=(1, 1), aliases=("rm",)),
    Command("rename", "<remote> <new-name>", "Rename remotes", run_rename, nargs=(2, 2), aliases=("mv",)),
    Command("set-url", "<remote> <URL>", "Set the URL for the remote", run_set_url, nargs=(2, 2)),
    Command("switch", "<remote>", "Switch the default remote", run_switch, nargs=(1, 1),
            aliases=("set-default",)),
])  # fmt: skip

COMMANDS = {"remote": REMOTE}
