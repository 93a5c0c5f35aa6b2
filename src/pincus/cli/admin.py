"""``pincus admin init --auto``, ``pincus admin waitready`` and ``pincus version``."""

from __future__ import annotations

import sys
import time

from pincus.cli.common import VERSION, CLIError, Command, Ctx
from pincus.cli.flags import Flag, Options
from pincus.client.connection import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.client import Client

BACKENDS = ("dir", "btrfs", "lvm", "zfs")
HTTPS_PORT = 8443


def _check_auto_flags(opts: Options, supported: list[str]) -> None:
    backend = opts.storage_backend
    if backend and backend not in BACKENDS:
        raise CLIError(f"The requested backend '{backend}' isn't supported by init")
    if backend and backend not in supported:
        raise CLIError(f"The requested backend '{backend}' isn't available on your system (missing tools)")
    if backend in ("", "dir"):
        if opts.storage_create_loop != -1 or opts.storage_create_device or opts.storage_pool:
            raise CLIError(
                "None of --storage-pool, --storage-create-device or --storage-create-loop may be used with the 'dir' backend"
            )
    elif opts.storage_create_loop != -1 and opts.storage_create_device:
        raise CLIError("Only one of --storage-create-device or --storage-create-loop can be specified")
    if not opts.network_address and opts.network_port != -1:
        raise CLIError("--network-port can't be used without --network-address")


def auto_preseed(opts: Options, server: dict[str, Any], pools: list[str]) -> dict[str, Any]:
    """What ``incus admin init --auto`` would apply: server config, the default pool and profile."""
    env = server.get("environment") or {}
    drivers = env.get("storage_supported_drivers") or []
    supported = [str(d.get("Name") or d.get("name")) for d in drivers if isinstance(d, dict)]
    _check_auto_flags(opts, supported)
    if pools and (
        opts.storage_backend
        or opts.storage_create_device
        or opts.storage_create_loop != -1
        or opts.storage_pool
    ):
        raise CLIError("Storage has already been configured")
    # pincusd puts the default pool on btrfs when the host can (it advertises btrfs only then);
    # against a real Incus the default stays dir, as `incus admin init --auto` does.
    prefer_btrfs = env.get("server") == "pincus" and "btrfs" in supported
    backend = opts.storage_backend or ("btrfs" if prefer_btrfs else "dir")
    preseed: dict[str, Any] = {"config": {}, "storage_pools": [], "profiles": []}
    if opts.network_address:
        port = opts.network_port if opts.network_port != -1 else HTTPS_PORT
        address = opts.network_address
        preseed["config"]["core.https_address"] = (
            f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        )
    if not pools:
        config: dict[str, str] = {}
        if opts.storage_create_device:
            config["source"] = opts.storage_create_device
        elif opts.storage_create_loop > 0:
            config["size"] = f"{opts.storage_create_loop}GiB"
        else:
            config["source"] = opts.storage_pool
        name = "default"
        if opts.storage_pool and (opts.storage_create_device or opts.storage_create_loop != -1):
            name = opts.storage_pool
        preseed["storage_pools"].append(
            {"config": config, "description": "", "name": name, "driver": backend}
        )
        root = {"type": "disk", "path": "/", "pool": name}
        preseed["profiles"].append({"name": "default", "devices": {"root": root}})
    return preseed


def apply_preseed(client: Client, preseed: dict[str, Any]) -> None:
    """ApplyServerPreseed for config, storage pools and profiles (client side, as incus does)."""
    if preseed["config"]:
        server, etag = client.get_server()
        config = {**(server.get("config") or {}), **preseed["config"]}
        client.update_server({"config": config}, etag)
    existing = client.get_storage_pool_names() if preseed["storage_pools"] else []
    for pool in preseed["storage_pools"]:
        if pool["name"] in existing:
            continue
        try:
            client.create_storage_pool(pool["name"], pool["driver"], pool["config"], pool["description"])
        except ClientError as exc:
            raise CLIError(f'Failed to create storage pool "{pool["name"]}": {exc}') from None
    for profile in preseed["profiles"]:
        _apply_profile(client, profile)


def _apply_profile(client: Client, profile: dict[str, Any]) -> None:
    name = profile["name"]
    try:
        current, etag = client.get_profile(name)
    except ClientError:
        try:
            client.create_profile(name, {"config": {}, "description": "", "devices": profile["devices"]})
        except ClientError as exc:
            raise CLIError(f'Failed to create profile "{name}" in project "default": {exc}') from None
        return
    devices = {k: dict(v) for k, v in (current.get("devices") or {}).items()}
    for dev, values in profile["devices"].items():
        devices.setdefault(dev, {}).update(values)
    put = {
        "config": current.get("config") or {},
        "description": current.get("description", ""),
        "devices": devices,
    }
    try:
        client.update_profile(name, put, etag)
    except ClientError as exc:
        raise CLIError(f'Failed to update profile "{name}" in project "default": {exc}') from None


def run_init(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """``admin init --auto``: create the default storage pool and root disk in the default profile."""
    if not (opts.auto or opts.minimal):
        raise CLIError("Interactive and preseed admin init are not supported by pincus yet; use --auto")
    client = ctx.client("local")
    try:
        server, _ = client.get_server()
    except ClientError as exc:
        raise CLIError(f"Failed to connect to local daemon: {exc}") from None
    try:
        pools = client.get_storage_pool_names()
    except ClientError as exc:
        raise CLIError(f"Failed to retrieve list of storage pools: {exc}") from None
    apply_preseed(client, auto_preseed(opts, server, pools))
    return 0


def run_waitready(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Poll GET /1.0 until the daemon answers (every 0.5 s), never past --timeout."""
    client = ctx.client("local")
    deadline = time.monotonic() + opts.timeout if opts.timeout > 0 else None
    last: Exception | None = None
    while True:
        if deadline is not None:
            # A socket that accepts and never answers must not outlive the deadline either.
            client.conn.timeout = max(deadline - time.monotonic(), 0.01)
        try:
            client.get_server()
            return 0
        except ClientError as exc:
            last = exc
        if deadline is not None and time.monotonic() >= deadline:
            raise CLIError(f"Daemon still not running after {opts.timeout}s timeout ({last})")
        time.sleep(0.5 if deadline is None else max(min(0.5, deadline - time.monotonic()), 0))


def run_version(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Print the client version and the server's."""
    sys.stdout.write(f"Client version: {VERSION}\n")
    remote = args[0] if args else ""
    if remote and not remote.endswith(":"):
        remote += ":"
    version = "unreachable"
    try:
        client, _, _ = ctx.resolve(remote)
        server, _ = client.get_server()
        version = str((server.get("environment") or {}).get("server_version") or version)
    except ClientError:
        pass
    sys.stdout.write(f"Server version: {version}\n")
    return 0


ADMIN = Command(
    "admin",
    "",
    "Manage incus daemon",
    subcommands=[
        Command(
            "init",
            "",
            "Configure the daemon",
            run_init,
            [
                Flag("auto", help="Automatic (non-interactive) mode"),
                Flag("minimal", help="Minimal configuration (non-interactive)"),
                Flag("network-address", kind="str", help="Address to bind to (default: none)"),
                Flag("network-port", kind="int", default=-1, help="Port to bind to (default: 8443)"),
                Flag(
                    "storage-backend",
                    kind="str",
                    help="Storage backend to use (btrfs, dir, lvm or zfs, default: dir)",
                ),
                Flag("storage-create-device", kind="str", help="Setup device based storage using DEVICE"),
                Flag(
                    "storage-create-loop",
                    kind="int",
                    default=-1,
                    help="Setup loop based storage with SIZE in GiB",
                ),
                Flag("storage-pool", kind="str", help="Storage pool to use or create"),
            ],
            nargs=(0, 0),
        ),
        Command(
            "waitready",
            "",
            "Wait for the daemon to be ready to process requests",
            run_waitready,
            [Flag("timeout", "t", "int", 0, "Number of seconds to wait before giving up")],
            nargs=(0, 0),
        ),
    ],
)
VERSION_CMD = Command("version", "[<remote>:]", "Show local and remote versions", run_version, nargs=(0, 1))

COMMANDS = {"admin": ADMIN, "version": VERSION_CMD}
