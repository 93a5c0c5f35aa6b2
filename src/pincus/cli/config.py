"""``pincus config``: get/set/unset/show/edit instance, snapshot (expiry only) and server config;
``config device add|remove|list|show``."""

from __future__ import annotations

import os
import sys

from pincus.cli.common import CLIError, Command, Ctx, dump_yaml, load_yaml, split_snapshot, stdin_is_tty
from pincus.cli.flags import Flag, Options
from pincus.cli.trust import TRUST

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.client import Client

PUT_KEYS = ("architecture", "config", "devices", "ephemeral", "profiles", "stateful", "description")
EDIT_HELP = """### This is a YAML representation of the configuration.
### Any line starting with a '# will be ignored.
###
### A sample configuration looks like:
### name: instance1
### profiles:
### - default
### config:
###   volatile.eth0.hwaddr: 10:66:6a:e9:f8:7f
### devices:
###   homedir:
###     path: /extra
###     source: /home/user
###     type: disk
### ephemeral: false
###
### Note that the name is shown but cannot be changed"""


def writable(inst: dict[str, Any]) -> dict[str, Any]:
    """The InstancePut part of an instance."""
    put = {key: inst.get(key) for key in PUT_KEYS}
    put["config"] = dict(put["config"] or {})
    put["devices"] = {k: dict(v) for k, v in (put["devices"] or {}).items()}
    return put


def _config_values(args: list[str]) -> dict[str, str]:
    """getConfig: ``k v`` or ``k=v ...`` (``-`` reads the value from stdin)."""
    if len(args) == 2 and "=" not in args[0]:
        value = args[1]
        if value == "-" and not stdin_is_tty():
            value = sys.stdin.read()
        return {args[0]: value}
    out = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise CLIError(f"Invalid key=value configuration: {arg}")
        if value == "-" and not stdin_is_tty():
            value = sys.stdin.read()
        out[key] = value
    return out


def _target_of_set(args: list[str]) -> str:
    def is_config(value: str) -> bool:
        return "." in value.split(":", 1)[-1]

    if all("=" in a for a in args) or is_config(args[0]):
        return ""
    if len(args) == 2 and not any("=" in a for a in args):
        return ""
    return args[0]


def _set(ctx: Ctx, args: list[str], unset: bool) -> int:
    target = _target_of_set(args)
    client, _, name = ctx.resolve(target)
    values = _config_values(args[1:] if target else args)
    if name and "/" in name:
        raise CLIError("The is no config key to set on an instance snapshot.")
    if name:
        inst, etag = client.get_instance(name)
        put = writable(inst)
        for key, value in values.items():
            if unset:
                if key not in put["config"]:
                    raise CLIError(f"Can't unset key '{key}', it's not currently set")
                del put["config"][key]
            else:
                put["config"][key] = value
        client.update_instance(name, put, etag).wait()
        return 0
    server, etag = client.get_server()
    config = dict(server.get("config") or {})
    for key, value in values.items():
        if unset:
            config.pop(key, None)
        else:
            config[key] = value
    client.update_server({"config": config}, etag)
    return 0


def run_set(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Set instance or server config keys (``NAME k=v ...`` or ``NAME k v``)."""
    return _set(ctx, args, unset=False)


def run_unset(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Unset an instance or server config key."""
    return _set(ctx, [*args, ""], unset=True)


def run_get(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Print one config value."""
    client, _, name = ctx.resolve(args[0] if len(args) > 1 else "")
    key = args[-1]
    if not name:
        if opts.expanded:
            raise CLIError("--expanded cannot be used with a server")
        server, _ = client.get_server()
        sys.stdout.write(f"{(server.get('config') or {}).get(key, '')}\n")
        return 0
    if "/" in name:
        inst, snap = split_snapshot(name)
        doc, _ = client.get_instance_snapshot(inst, snap)
    else:
        doc, _ = client.get_instance(name)
    config = doc.get("expanded_config" if opts.expanded else "config") or {}
    sys.stdout.write(f"{config.get(key, '')}\n")
    return 0


def run_show(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Show instance, snapshot or server configuration as YAML."""
    client, _, name = ctx.resolve(args[0] if args else "")
    if not name:
        if opts.expanded:
            raise CLIError("--expanded cannot be used with a server")
        server, _ = client.get_server()
        from pincus.cli import goyaml
        from pincus.cli.gotypes import GoMap

        sys.stdout.write(goyaml.dump({"config": GoMap(server.get("config") or {})}))
        return 0
    if "/" in name:
        inst, snap = split_snapshot(name)
        doc, _ = client.get_instance_snapshot(inst, snap)
        if opts.expanded:
            doc = {**doc, "config": doc.get("expanded_config"), "devices": doc.get("expanded_devices")}
        sys.stdout.write(dump_yaml(doc, "InstanceSnapshot"))
        return 0
    doc, _ = client.get_instance(name)
    put = writable(doc)
    if opts.expanded:
        put["config"], put["devices"] = doc.get("expanded_config"), doc.get("expanded_devices")
    sys.stdout.write(dump_yaml(put, "InstancePut"))
    return 0


def text_editor(content: str) -> str:
    """Edit ``content`` in $VISUAL/$EDITOR (or editor/vi/emacs/nano) and return the result."""
    import shutil
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or ""
    if not editor:
        editor = next((p for p in ("editor", "vi", "emacs", "nano") if shutil.which(p)), "")
    if not editor:
        raise CLIError("No text editor found, please set the EDITOR environment variable")
    fd, path = tempfile.mkstemp(prefix="incus_editor_", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fobj:
            fobj.write(content)
        subprocess.run([*editor.split(), path], check=True)
        with open(path, encoding="utf-8") as fobj:
            return fobj.read()
    finally:
        os.unlink(path)


def _apply_edit(client: Client, name: str, text: str, etag: str) -> None:
    doc = load_yaml(text) or {}
    if not isinstance(doc, dict):
        raise CLIError("yaml: unmarshal errors: expected a mapping")
    if "/" in name:
        from pincus.base.gotime import ZERO_TIME
        from pincus.cli.expiry import yaml_time

        inst, snap = split_snapshot(name)
        expires = yaml_time(doc.get("expires_at")) or ZERO_TIME
        client.update_instance_snapshot(inst, snap, expires, etag).wait()
        return
    put = {key: doc.get(key) for key in PUT_KEYS}
    put["ephemeral"], put["stateful"] = bool(put["ephemeral"]), bool(put["stateful"])
    put["architecture"], put["description"] = put["architecture"] or "", put["description"] or ""
    client.update_instance(name, put, etag).wait()


def run_edit(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Edit instance config (or a snapshot's expiry) from stdin or in an editor."""
    client, _, name = ctx.resolve(args[0] if args else "")
    if not name:
        raise CLIError("Editing the server configuration is not supported by pincus yet")
    if not stdin_is_tty():
        _apply_edit(client, name, sys.stdin.read(), "")
        return 0
    if "/" in name:
        inst, snap = split_snapshot(name)
        doc, etag = client.get_instance_snapshot(inst, snap)
        kind = "InstanceSnapshot"
    else:
        doc, etag = client.get_instance(name)
        kind = "Instance"
    doc = {k: v for k, v in doc.items() if k not in ("expanded_config", "expanded_devices")}
    content = text_editor(f"{EDIT_HELP}\n\n{dump_yaml(doc, kind)}")
    while True:
        try:
            _apply_edit(client, name, content, etag)
            return 0
        except Exception as exc:  # any parse or API error: show it and let the user fix the text
            sys.stderr.write(f"Config parsing error: {exc}\n")
            sys.stdout.write("Press enter to open the editor again or ctrl+c to abort change\n")
            sys.stdout.flush()
            sys.stdin.readline()
            content = text_editor(content)


# --- devices ----------------------------------------------------------------------------------


def _load_devices(client: Client, name: str, profile: bool) -> tuple[dict[str, Any], str]:
    return client.get_profile(name) if profile else client.get_instance(name)


def _save_devices(client: Client, name: str, doc: dict[str, Any], etag: str, profile: bool) -> None:
    if profile:
        put = {
            "config": doc.get("config") or {},
            "description": doc.get("description", ""),
            "devices": doc["devices"],
        }
        client.update_profile(name, put, etag)
    else:
        client.update_instance(name, writable(doc), etag).wait()


def device_add(ctx: Ctx, args: list[str], profile: bool = False) -> int:
    """Add a device: NAME DEVICE TYPE [key=value...]."""
    client, _, name = ctx.resolve(args[0])
    device = {"type": args[2]}
    for prop in args[3:]:
        key, sep, value = prop.partition("=")
        if not sep:
            raise CLIError(f'No value found in "{prop}"')
        device[key] = value
    doc, etag = _load_devices(client, name, profile)
    devices = dict(doc.get("devices") or {})
    if args[1] in devices:
        raise CLIError("The device already exists")
    devices[args[1]] = device
    _save_devices(client, name, {**doc, "devices": devices}, etag, profile)
    if not ctx.quiet:
        sys.stdout.write(f"Device {args[1]} added to {name}\n")
    return 0


def device_remove(ctx: Ctx, args: list[str], profile: bool = False) -> int:
    """Remove devices: NAME DEVICE...."""
    client, _, name = ctx.resolve(args[0])
    doc, etag = _load_devices(client, name, profile)
    devices = dict(doc.get("devices") or {})
    for dev in args[1:]:
        if dev not in devices:
            if not profile and dev in (doc.get("expanded_devices") or {}):
                raise CLIError(
                    "Device from profile(s) cannot be removed from individual instance. "
                    "Override device or modify profile instead"
                )
            raise CLIError("Device doesn't exist")
        del devices[dev]
    _save_devices(client, name, {**doc, "devices": devices}, etag, profile)
    if not ctx.quiet:
        sys.stdout.write(f"Device {', '.join(args[1:])} removed from {name}\n")
    return 0


def device_list(ctx: Ctx, args: list[str], profile: bool = False) -> int:
    """List device names."""
    client, _, name = ctx.resolve(args[0])
    doc, _ = _load_devices(client, name, profile)
    sys.stdout.write("\n".join(sorted(doc.get("devices") or {})) + "\n")
    return 0


def device_show(ctx: Ctx, args: list[str], profile: bool = False) -> int:
    """Show devices as YAML."""
    from pincus.cli import goyaml
    from pincus.cli.schema import shape

    client, _, name = ctx.resolve(args[0])
    doc, _ = _load_devices(client, name, profile)
    sys.stdout.write(goyaml.dump(shape(doc.get("devices"), "d")))
    return 0


def device_commands(profile: bool) -> list[Command]:
    """``device`` subcommands for instances (config device) or profiles (profile device)."""
    what = "profile" if profile else "instance"
    return [
        Command(
            "add",
            f"[<remote>:]<{what}> <device> <type> [key=value...]",
            "Add devices",
            lambda c, o, a: device_add(c, a, profile),
            nargs=(3, -1),
        ),
        Command(
            "remove",
            f"[<remote>:]<{what}> <name>...",
            "Remove devices",
            lambda c, o, a: device_remove(c, a, profile),
            nargs=(2, -1),
            aliases=("rm",),
        ),
        Command(
            "list",
            f"[<remote>:]<{what}>",
            "List devices",
            lambda c, o, a: device_list(c, a, profile),
            nargs=(1, 1),
        ),
        Command(
            "show",
            f"[<remote>:]<{what}>",
            "Show full device configuration",
            lambda c, o, a: device_show(c, a, profile),
            nargs=(1, 1),
        ),
    ]


CONFIG = Command(
    "config",
    "",
    "Manage instance and server configuration options",
    subcommands=[
        Command("device", "", "Manage devices", subcommands=device_commands(False)),
        Command("edit", "[<remote>:][<instance>[/<snapshot>]]", "Edit instance or server configurations as YAML",
                run_edit, nargs=(0, 1)),
        Command("get", "[<remote>:][<instance>] <key>", "Get values for instance or server configuration keys",
                run_get, [Flag("expanded", "e", help="Access the expanded configuration")], nargs=(1, 2)),
        Command("set", "[<remote>:][<instance>] <key>=<value>...", "Set instance or server configuration keys",
                run_set, nargs=(1, -1)),
        Command("show", "[<remote>:][<instance>[/<snapshot>]]", "Show instance or server configurations",
                run_show, [Flag("expanded", "e", help="Show the expanded configuration")], nargs=(0, 1)),
        TRUST,
        Command("unset", "[<remote>:][<instance>] <key>", "Unset instance or server configuration keys",
                run_unset, nargs=(1, 2)),
    ],
)  # fmt: skip

COMMANDS = {"config": CONFIG}
