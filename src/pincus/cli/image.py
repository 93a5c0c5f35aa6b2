"""``pincus image``: import (split or unified tarballs), list, show, delete and aliases."""

from __future__ import annotations

import os
import sys

from pincus.cli.common import CLIError, Command, Ctx, dump_yaml, shorthand_columns
from pincus.cli.flags import Flag, Options
from pincus.cli.format import fmt_date, render, sort_rows, validate_format
from pincus.cli.listing import FORMAT_HELP
from pincus.client.connection import ClientError, quote_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.client import Client


def dereference(client: Client, name: str) -> str:
    """An alias' target fingerprint, or ``name`` itself."""
    try:
        return str(client.get_image_alias(name or "default").get("target") or name)
    except ClientError:
        return name or "default"


def _import_args(ctx: Ctx, args: list[str]) -> tuple[str, str, str, list[str]]:
    image_file, rootfs_file, remote, properties = "", "", "", []
    for arg in args:
        if "=" not in arg or os.path.exists(arg):
            if arg.endswith(":"):
                remote, _ = ctx.parse_remote(arg)
            elif not image_file:
                image_file = args[0]
            else:
                rootfs_file = arg
        else:
            properties.append(arg)
    return (
        os.path.normpath(image_file or args[0]),
        os.path.normpath(rootfs_file) if rootfs_file else "",
        remote,
        properties,
    )


def run_import(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Import a unified tarball (raw body) or metadata + rootfs (multipart/form-data)."""
    meta, rootfs, remote, props = _import_args(ctx, args)
    if meta.startswith(("http://", "https://")):
        raise CLIError("Importing images from URLs is not supported by pincus yet")
    client = ctx.client(remote)
    properties = {}
    for entry in props:
        key, sep, value = entry.partition("=")
        if not sep:
            raise CLIError(f"Bad property: {entry}")
        properties[key.strip()] = value.strip()
    for path in (meta, rootfs):
        if path and not os.path.exists(path):
            raise CLIError(f"open {path}: no such file or directory")
    if rootfs:
        op = client.import_image_split(meta, rootfs, bool(opts.public))
    else:
        op = client.import_image_unified(meta, bool(opts.public))
    data = op.wait()
    fingerprint = str((data.get("metadata") or {}).get("fingerprint", ""))
    if properties:
        image, etag = client.get_image(fingerprint)
        put = {k: image.get(k) for k in ("auto_update", "properties", "public", "expires_at", "profiles")}
        put["properties"] = {**(put["properties"] or {}), **properties}
        client.conn.request(
            "PUT", f"/1.0/images/{quote_path(fingerprint)}", put, {"If-Match": etag} if etag else None
        )
    sys.stdout.write(f"Image imported with fingerprint: {fingerprint}\n")
    if opts.reuse:
        for alias in opts.alias or []:
            try:
                client.delete_image(dereference(client, alias)).wait()
            except ClientError:
                pass
    for alias in opts.alias or []:
        existing = {a.get("name") for a in client.get_image_aliases()}
        if alias in existing:
            client.delete_image_alias(alias)
        client.create_image_alias(alias, fingerprint)
    return 0


def _shortest_alias(image: dict[str, Any]) -> str:
    names = [str(a.get("name", "")) for a in image.get("aliases") or []]
    shortest = ""
    for name in names:
        if not shortest or (name and len(name) < len(shortest)):
            shortest = name
    return f"{shortest} ({len(names) - 1} more)" if len(names) > 1 else shortest


IMAGE_COLUMNS = {
    "a": ("ARCHITECTURE", lambda i: str(i.get("architecture", ""))),
    "d": ("DESCRIPTION", lambda i: str((i.get("properties") or {}).get("description", ""))),
    "e": ("PROJECT", lambda i: str(i.get("project", ""))),
    "f": ("FINGERPRINT", lambda i: str(i.get("fingerprint", ""))[:12]),
    "F": ("FINGERPRINT", lambda i: str(i.get("fingerprint", ""))),
    "l": ("ALIAS", _shortest_alias),
    "L": ("ALIASES", lambda i: "\n".join(sorted(str(a.get("name", "")) for a in i.get("aliases") or []))),
    "p": ("PUBLIC", lambda i: "yes" if i.get("public") else "no"),
    "s": ("SIZE", lambda i: f"{(i.get('size') or 0) / 1024 / 1024:.2f}MiB"),
    "t": ("TYPE", lambda i: str(i.get("type") or "container").upper()),
    "u": ("UPLOAD DATE", lambda i: fmt_date(i.get("uploaded_at"))),
}


def _image_matches(image: dict[str, Any], filters: list[str]) -> bool:
    for item in filters:
        if "=" in item:
            key, _, value = item.partition("=")
            if (image.get("properties") or {}).get(key) != value:
                return False
            continue
        names = [str(a.get("name", "")) for a in image.get("aliases") or []]
        if not str(image.get("fingerprint", "")).startswith(item) and not any(
            n.startswith(item) for n in names
        ):
            return False
    return True


def run_list(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """List images."""
    validate_format(opts.format)
    remote, name = ctx.parse_remote(args[0]) if args else ("", "")
    filters = ([name] if name else []) + args[1:]
    client = ctx.client(remote)
    columns = shorthand_columns(opts.columns, IMAGE_COLUMNS)
    images = [i for i in client.get_images() if _image_matches(i, filters)]
    rows = sort_rows([[col[1](i) for col in columns] for i in images])

    def raw() -> Any:
        from pincus.cli.schema import shape_list

        return shape_list(images, "Image")

    sys.stdout.write(render(opts.format, [c[0] for c in columns], rows, raw))
    return 0


def run_show(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Show an image as YAML."""
    client, _, name = ctx.resolve(args[0])
    image, _ = client.get_image(dereference(client, name))
    sys.stdout.write(dump_yaml(image, "ImagePut"))
    return 0


def run_delete(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Delete images (by fingerprint or alias)."""
    for raw in args:
        client, _, name = ctx.resolve(raw)
        if not name:
            raise CLIError("Image identifier missing")
        client.delete_image(dereference(client, name)).wait()
    return 0


ALIAS_COLUMNS = {
    "a": ("ALIAS", lambda a: str(a.get("name", ""))),
    "f": ("FINGERPRINT", lambda a: str(a.get("target", ""))[:12]),
    "t": ("TYPE", lambda a: str(a.get("type") or "container").upper()),
    "d": ("DESCRIPTION", lambda a: str(a.get("description", ""))),
}


def run_alias_list(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """List image aliases."""
    validate_format(opts.format)
    remote, name = ctx.parse_remote(args[0]) if args else ("", "")
    filters = ([name] if name else []) + args[1:]
    aliases = ctx.client(remote).get_image_aliases()
    aliases = [a for a in aliases if all(str(a.get("name", "")).startswith(f) for f in filters)]
    columns = shorthand_columns(opts.columns, ALIAS_COLUMNS)
    rows = sort_rows([[col[1](a) for col in columns] for a in aliases])

    def raw() -> Any:
        from pincus.cli.schema import shape_list

        return shape_list(aliases, "ImageAliasesEntry")

    sys.stdout.write(render(opts.format, [c[0] for c in columns], rows, raw))
    return 0


def run_alias_create(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Create an alias for an image."""
    client, _, name = ctx.resolve(args[0])
    client.create_image_alias(name, args[1], opts.description)
    return 0


def run_alias_delete(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Delete an alias."""
    client, _, name = ctx.resolve(args[0])
    client.delete_image_alias(name)
    return 0


ALIAS = Command(
    "alias",
    "",
    "Manage image aliases",
    subcommands=[
        Command("create", "[<remote>:]<alias> <fingerprint>", "Create aliases for existing images",
                run_alias_create, [Flag("description", kind="str", help="Alias description")], nargs=(2, 2),
                aliases=("add",)),
        Command("delete", "[<remote>:]<alias>", "Delete image aliases", run_alias_delete, nargs=(1, 1),
                aliases=("rm", "remove")),
        Command("list", "[<remote>:] [<filters>...]", "List image aliases", run_alias_list,
                [Flag("format", "f", "str", "table", FORMAT_HELP), Flag("columns", "c", "str", "aftd", "Columns")],
                aliases=("ls",)),
    ],
)  # fmt: skip

IMAGE = Command(
    "image",
    "",
    "Manage images",
    subcommands=[
        ALIAS,
        Command("import", "<tarball>|<directory>|<URL> [<rootfs tarball>] [<remote>:] [key=value...]",
                "Import images into the image store", run_import,
                [Flag("alias", kind="list", help="New aliases to add to the image"),
                 Flag("public", help="Make image public"),
                 Flag("reuse", help="If the image alias already exists, delete and create a new one")],
                nargs=(1, -1)),
        Command("list", "[<remote>:] [<filter>...]", "List images", run_list,
                [Flag("format", "f", "str", "table", FORMAT_HELP), Flag("columns", "c", "str", "lfpdatsu", "Columns"),
                 Flag("all-projects", help="Display images from all projects")],
                aliases=("ls",)),
        Command("show", "[<remote>:]<image>", "Show image properties", run_show, nargs=(1, 1)),
        Command("delete", "[<remote>:]<image> [[<remote>:]<image>...]", "Delete images", run_delete,
                nargs=(1, -1), aliases=("rm",)),
    ],
)  # fmt: skip

COMMANDS = {"image": IMAGE}
