"""``pincus copy`` (instances and ``inst/snap`` -> new instance) and ``pincus publish`` (as images)."""

from __future__ import annotations

import sys

from pincus.cli.common import CLIError, Command, Ctx, is_snapshot, key_values, split_snapshot
from pincus.cli.create import _device_overrides
from pincus.cli.flags import Flag, Options
from pincus.client.connection import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.client import Client

RUNNING = 103


def _copyable_config(config: dict[str, str] | None) -> dict[str, str]:
    """InstanceIncludeWhenCopying(remote=True): drop volatile keys except the base image."""
    out = {}
    for key, value in (config or {}).items():
        if key == "volatile.base_image" or not key.startswith("volatile."):
            out[key] = value
    return out


def _apply_overrides(entry: dict[str, Any], opts: Options) -> None:
    if opts.profile is not None:
        entry["profiles"] = list(opts.profile)
    elif opts.no_profiles:
        entry["profiles"] = []
    entry["config"] = {**_copyable_config(entry.get("config")), **key_values(opts.config)}
    devices = {k: dict(v) for k, v in (entry.get("devices") or {}).items()}
    for dev, values in _device_overrides(opts.device).items():
        if dev not in devices or values.get("type") == "none":
            devices[dev] = values if values.get("type") != "none" else {"type": "none"}
        else:
            devices[dev].update(values)
    if opts.storage:
        root = next((k for k, d in devices.items() if d.get("type") == "disk" and d.get("path") == "/"), "")
        if root:
            devices[root]["pool"] = opts.storage
        else:
            devices["root"] = {"path": "/", "pool": opts.storage, "type": "disk"}
    entry["devices"] = devices
    if opts.ephemeral:
        entry["ephemeral"] = True


def copy_request(client: Client, source: str, dest: str, opts: Options) -> dict[str, Any]:
    """The InstancesPost body of a local copy (source type ``copy``)."""
    if is_snapshot(source):
        if opts.instance_only:
            raise CLIError("--instance-only can't be passed when the source is a snapshot")
        if opts.refresh:
            raise CLIError("--refresh can only be used with instances")
        inst, snap = split_snapshot(source)
        entry, _ = client.get_instance_snapshot(inst, snap)
        kind, live = "", False
    else:
        entry, _ = client.get_instance(source)
        kind = str(entry.get("type", ""))
        live = not opts.stateless and not opts.refresh and entry.get("status_code") == RUNNING
    base_image = (entry.get("config") or {}).get("volatile.base_image", "")
    entry = dict(entry)
    _apply_overrides(entry, opts)
    src: dict[str, Any] = {"type": "copy", "certificate": "", "base-image": base_image, "source": source}
    if live:
        src["live"] = True
    if opts.instance_only:
        src["instance_only"] = True
    if opts.refresh:
        src["refresh"] = True
    if opts.refresh_exclude_older:
        src["refresh_exclude_older"] = True
    src["allow_inconsistent"] = bool(opts.allow_inconsistent)
    return {
        "architecture": entry.get("architecture", ""),
        "config": entry["config"],
        "devices": entry["devices"],
        "ephemeral": bool(entry.get("ephemeral")),
        "profiles": entry.get("profiles"),
        "stateful": False,
        "description": entry.get("description", ""),
        "name": dest,
        "source": src,
        "instance_type": "",
        "type": kind,
        "start": False,
    }


def run_copy(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Copy an instance, or a snapshot into a new instance (``copy INST/SNAP NEW``)."""
    src_remote, source = ctx.parse_remote(args[0])
    dst_remote, dest = ctx.parse_remote(args[1]) if len(args) > 1 else (src_remote, "")
    if not source:
        raise CLIError("You must specify a source instance name")
    if opts.refresh and opts.no_profiles:
        raise CLIError("--no-profiles cannot be used with --refresh")
    if not dest and len(args) > 1 and not opts.target:
        dest = source.split("/", 1)[0]
    if not dest:
        raise CLIError("You must specify a destination instance name")
    if opts.target or opts.target_project:
        raise CLIError("Copies between projects or cluster members are not supported by pincus yet")
    client = ctx.client(src_remote)
    if src_remote != dst_remote:
        from pincus.cli import migrate

        migrate.transfer(ctx, opts, copy_request(client, source, dest, opts), source, src_remote, dst_remote)
        return 0
    if opts.keep_target_snapshots:
        raise CLIError("--keep-target-snapshots only applies to copies between servers")
    client.create_instance(copy_request(client, source, dest, opts)).wait()
    return 0


COPY = Command(
    "copy",
    "[<remote>:]<source>[/<snapshot>] [[<remote>:]<destination>]",
    "Copy instances within or in between servers",
    run_copy,
    [
        Flag("config", "c", "list", help="Config key/value to apply to the new instance"),
        Flag("device", "d", "list", help="New key/value to apply to a specific device"),
        Flag("profile", "p", "list", help="Profile to apply to the new instance"),
        Flag("ephemeral", "e", help="Ephemeral instance"),
        Flag("mode", kind="str", default="pull", help="Transfer mode. One of pull, push or relay"),
        Flag("instance-only", help="Copy the instance without its snapshots"),
        Flag("stateless", help="Copy a stateful instance stateless"),
        Flag("target", kind="str", help="Cluster member name"),
        Flag("target-project", kind="str", help="Copy to a project different from the source"),
        Flag("no-profiles", help="Create the instance with no profiles applied"),
        Flag("refresh", help="Perform an incremental copy"),
        Flag(
            "refresh-exclude-older",
            help="During incremental copy, exclude source snapshots earlier than latest",
        ),
        Flag("storage", "s", "str", help="Storage pool name"),
        Flag("allow-inconsistent", help="Ignore copy errors for volatile files"),
        Flag("keep-target-snapshots", help="During incremental copy, keep target snapshots the source no longer has"),
    ],
    nargs=(1, 2),
    aliases=("cp",),
)


# --- publish ---------------------------------------------------------------------------------


def _stop_for_publish(client: Client, name: str, force: bool) -> bool:
    inst, _ = client.get_instance(name)
    if inst.get("status_code") in (0, 102, None):
        return False
    if not force:
        raise CLIError("The instance is currently running. Use --force to have it stopped and restarted")
    try:
        client.update_instance_state(name, "stop", -1, True).wait()
    except ClientError:
        raise CLIError("Stopping instance failed!") from None
    return True


def _ensure_aliases(client: Client, aliases: list[str], fingerprint: str) -> None:
    existing = {a.get("name") for a in client.get_image_aliases()}
    for alias in sorted(set(aliases) & existing):
        try:
            client.delete_image_alias(alias)
        except ClientError as exc:
            raise CLIError(f"Failed to remove alias {alias}: {exc}") from None
    for alias in aliases:
        try:
            client.create_image_alias(alias, fingerprint)
        except ClientError as exc:
            raise CLIError(f"Failed to create alias {alias}: {exc}") from None


def run_publish(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Publish an instance or snapshot as an image (``publish INST/SNAP --alias A``)."""
    from pincus.base.gotime import ZERO_TIME

    _, name = ctx.parse_remote(args[0])
    first_prop = 1
    if len(args) >= 2 and "=" not in args[1]:
        first_prop = 2
        _, image_name = ctx.parse_remote(args[1])
        if image_name:
            raise CLIError('There is no "image name".  Did you want an alias?')
    if not name:
        raise CLIError("Instance name is mandatory")
    client = ctx.client(ctx.parse_remote(args[0])[0])
    properties = key_values(args[first_prop:], "Bad key=value pair") or None
    aliases = list(opts.alias or [])
    existing = {str(a.get("name", "")) for a in client.get_image_aliases()} if aliases else set()
    clashing = sorted(existing & set(aliases))
    if clashing and not opts.reuse:
        raise CLIError(f"Aliases already exists: {', '.join(clashing)}")
    restart = False if is_snapshot(name) else _stop_for_publish(client, name, opts.force)
    try:
        source = {"alias": "", "certificate": "", "protocol": "", "server": "", "image_type": "", "mode": ""}
        source.update({"type": "snapshot" if is_snapshot(name) else "instance", "url": "", "name": name})
        source.update({"fingerprint": "", "secret": "", "project": ""})
        req = {
            "auto_update": False,
            "properties": properties,
            "public": bool(opts.public),
            "expires_at": opts.expire or ZERO_TIME,
            "profiles": None,
            "filename": "",
            "source": source,
            "compression_algorithm": opts.compression,
            "aliases": None,
        }
        data = client.create_image(req).wait()
    finally:
        if restart:
            client.update_instance_state(name, "start", -1, True).wait()
    fingerprint = str((data.get("metadata") or {}).get("fingerprint", ""))
    _ensure_aliases(client, aliases, fingerprint)
    sys.stdout.write(f"Instance published with fingerprint: {fingerprint}\n")
    return 0


PUBLISH = Command(
    "publish",
    "[<remote>:]<instance>[/<snapshot>] [<remote>:] [flags] [key=value...]",
    "Publish instances as images",
    run_publish,
    [
        Flag("alias", kind="list", help="New alias to define at target"),
        Flag("public", help="Make the image public"),
        Flag("force", "f", help="Stop the instance if currently running"),
        Flag("reuse", help="If the image alias already exists, delete and create a new one"),
        Flag("expire", kind="str", help="Image expiration date (format: rfc3339)"),
        Flag("compression", kind="str", help="Compression algorithm to use (`none` for uncompressed)"),
    ],
    nargs=(1, -1),
)

COMMANDS = {"copy": COPY, "cp": COPY, "publish": PUBLISH}
