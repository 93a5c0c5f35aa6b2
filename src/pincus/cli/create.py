"""``pincus init`` / ``pincus launch``: create (and start) an instance from an image."""

from __future__ import annotations

import sys

from pincus.cli.common import CLIError, Command, Ctx, key_values, load_yaml, stdin_is_tty
from pincus.cli.flags import Flag, Options
from pincus.client.connection import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.client import Client


def _stdin_put() -> dict[str, Any]:
    if stdin_is_tty():
        return {}
    text = sys.stdin.read()
    doc = load_yaml(text) if text.strip() else None
    return doc if isinstance(doc, dict) else {}


def _device_overrides(entries: list[str] | None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for entry in entries or []:
        if "=" not in entry or "," not in entry:
            raise CLIError(f"Bad device override syntax, expecting <device>,<key>=<value>: {entry}")
        dev, _, pair = entry.partition(",")
        key, _, value = pair.partition("=")
        out.setdefault(dev, {})[key] = value
    return out


def _apply_overrides(client: Client, req: dict[str, Any], overrides: dict[str, dict[str, str]]) -> None:
    devices = req["devices"]
    missing = [d for d in overrides if d not in devices]
    profile_devices: dict[str, dict[str, str]] = {}
    if missing:
        for profile in req["profiles"] or ["default"]:
            try:
                doc, _ = client.get_profile(profile)
            except ClientError as exc:
                raise CLIError(f'Failed loading profile "{profile}" for device override: {exc}') from None
            profile_devices.update(doc.get("devices") or {})
    for dev, values in overrides.items():
        if dev in devices:
            devices[dev].update(values)
            continue
        if dev not in profile_devices:
            raise CLIError(f'Cannot override config for device "{dev}": Device not found in profile devices')
        devices[dev] = {**profile_devices[dev], **values}


def build_request(client: Client, opts: Options, name: str, launch: bool) -> dict[str, Any]:
    """The InstancesPost body for ``init``/``launch`` (without its source)."""
    stdin = _stdin_put()
    devices = dict(stdin.get("devices") or {})
    config = {str(k): str(v) for k, v in (stdin.get("config") or {}).items()}
    if opts.environment_file:
        try:
            with open(opts.environment_file, encoding="utf-8") as fobj:
                for line in fobj.read().split("\n"):
                    if line:
                        key, _, value = line.partition("=")
                        config[f"environment.{key}"] = value
        except OSError as exc:
            raise CLIError(f"Can't read from environment file: {exc}") from None
    config.update(key_values(opts.config))
    if opts.network:
        devices["eth0"] = _network_device(client, opts.network)
    if opts.storage:
        try:
            client.get_storage_pool(opts.storage)
        except ClientError as exc:
            raise CLIError(f'Failed loading storage pool "{opts.storage}": {exc}') from None
        devices["root"] = {"path": "/", "pool": opts.storage, "type": "disk"}
    profiles: list[str] | None = None
    if opts.profile is not None:
        profiles = list(opts.profile)
    elif opts.no_profiles:
        profiles = []
    elif stdin.get("profiles"):
        profiles = list(stdin["profiles"])
    req: dict[str, Any] = {
        "architecture": "",
        "config": config,
        "devices": devices,
        "ephemeral": bool(opts.ephemeral),
        "profiles": profiles,
        "stateful": False,
        "description": opts.description or str(stdin.get("description") or ""),
        "name": name,
        "source": {},
        "instance_type": opts.type,
        "type": "virtual-machine" if opts.vm else "container",
        "start": launch,
    }
    _apply_overrides(client, req, _device_overrides(opts.device))
    return req


def _network_device(client: Client, network: str) -> dict[str, str]:
    from pincus.client.connection import quote_path

    try:
        net = client.conn.request("GET", f"/1.0/networks/{quote_path(network)}").metadata
    except ClientError as exc:
        raise CLIError(f'Failed loading network "{network}": {exc}') from None
    if net.get("managed"):
        return {"name": "eth0", "network": net.get("name", network), "type": "nic"}
    nictype = "bridged" if net.get("type") == "bridge" else "macvlan"
    return {"name": "eth0", "nictype": nictype, "parent": network, "type": "nic"}


def resolve_image(client: Client, ref: str) -> dict[str, Any]:
    """Find an image by alias, then by fingerprint (as the incus client does)."""
    try:
        alias = client.get_image_alias(ref)
        ref = str(alias.get("target", ref))
    except ClientError:
        pass
    image, _ = client.get_image(ref)
    return dict(image)


def create_instance(ctx: Ctx, opts: Options, args: list[str], launch: bool) -> tuple[Client, str]:
    """Shared body of init and launch; returns the client and the instance name."""
    image_ref, name, remote = "", "", ""
    if args:
        _, image_ref = ctx.parse_remote(args[0])
        if len(args) == 2:
            remote, name = ctx.parse_remote(args[1])
    if opts.empty:
        if len(args) > 1:
            raise CLIError("--empty cannot be combined with an image name")
        if args:
            name, image_ref = image_ref, ""
    client = ctx.client(remote)
    if not ctx.quiet:
        verb = "Launching" if launch else "Creating"
        sys.stdout.write(f"{verb} {name}\n" if name else f"{verb} the instance\n")
        sys.stdout.flush()
    req = build_request(client, opts, name, launch)
    if opts.empty:
        req["source"] = {"type": "none", "certificate": "", "allow_inconsistent": False}
    else:
        image = resolve_image(client, image_ref or "default")
        if image.get("type") != "virtual-machine" and opts.vm:
            raise CLIError("Asked for a VM but image is of type container")
        req["type"] = image.get("type") or req["type"]
        req["source"] = {
            "type": "image",
            "certificate": "",
            "fingerprint": image.get("fingerprint", ""),
            "allow_inconsistent": False,
        }
    op = client.create_instance(req)
    op.wait()
    created = op.resources.get("instances") or []
    if not created:
        raise CLIError("Didn't get name of new instance from the server")
    if len(created) == 1 and not name:
        name = created[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        sys.stdout.write(f"Instance name is: {name}\n")
    _check_network(client, name)
    return client, name


def _check_network(client: Client, name: str) -> None:
    try:
        inst, _ = client.get_instance(name)
    except ClientError:
        return
    if any(dev.get("type") == "nic" for dev in (inst.get("expanded_devices") or {}).values()):
        return
    sys.stderr.write(
        "\nThe instance you are starting doesn't have any network attached to it.\n"
        "  To create a new network, use: incus network create\n"
        "  To attach a network to an instance, use: incus network attach\n\n"
    )


def run_init(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Create an instance."""
    if not args and not opts.empty:
        from pincus.cli.common import command_help

        sys.stdout.write(command_help(INIT, "init"))
        return 0
    create_instance(ctx, opts, args, launch=False)
    return 0


def run_launch(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Create and start an instance."""
    create_instance(ctx, opts, args, launch=True)
    return 0


CREATE_FLAGS = [
    Flag("config", "c", "list", help="Config key/value to apply to the new instance"),
    Flag("profile", "p", "list", help="Profile to apply to the new instance"),
    Flag("device", "d", "list", help="New key/value to apply to a specific device"),
    Flag("ephemeral", "e", help="Ephemeral instance"),
    Flag("environment-file", kind="str", help="Include environment variables from file"),
    Flag("network", "n", "str", help="Network name"),
    Flag("storage", "s", "str", help="Storage pool name"),
    Flag("type", "t", "str", help="Instance type"),
    Flag("target", kind="str", help="Cluster member name"),
    Flag("no-profiles", help="Create the instance with no profiles applied"),
    Flag("empty", help="Create an empty instance"),
    Flag("vm", help="Create a virtual machine"),
    Flag("description", kind="str", help="Instance description"),
]

INIT = Command(
    "init",
    "[[<remote>:]<image>] [<remote>:][<name>]",
    "Create instances from images",
    run_init,
    CREATE_FLAGS,
    nargs=(0, 2),
    aliases=("create",),
)
LAUNCH = Command(
    "launch",
    "[<remote>:]<image> [<remote>:][<name>]",
    "Create and start instances from images",
    run_launch,
    [*CREATE_FLAGS, Flag("console", kind="str", noopt="console", help="Immediately attach to the console")],
    nargs=(1, 2),
)
