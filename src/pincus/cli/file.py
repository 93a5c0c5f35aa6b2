"""``pincus file push|pull``: files in instances through the files API (X-Incus-uid/gid/mode/type)."""

from __future__ import annotations

import os
import posixpath
import stat
import sys

from pincus.cli.common import CLIError, Command, Ctx
from pincus.cli.flags import Flag, Options
from pincus.client.connection import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pincus.client.client import Client


def _parse_mode(text: str) -> int:
    if len(text) == 3:
        text = "0" + text
    try:
        return int(text, 8)
    except ValueError:
        raise CLIError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None


def _split_target(target: str) -> tuple[str, str]:
    if "/" not in target:
        raise CLIError(f"Invalid target {target}")
    inst, _, path = target.partition("/")
    return inst, path


def _mkdir_p(client: Client, name: str, path: str, uid: int, gid: int) -> None:
    parts = [p for p in path.split("/") if p]
    current = ""
    for part in parts:
        current += "/" + part
        try:
            client.create_instance_file(name, current, b"", uid, gid, 0o755, "directory")
        except ClientError:
            pass


def _push_tree(client: Client, name: str, source: str, target_dir: str) -> None:
    base = posixpath.join(target_dir, os.path.basename(source.rstrip("/")))
    for root, dirs, files in os.walk(source):
        rel = os.path.relpath(root, source)
        remote_root = base if rel == "." else posixpath.join(base, rel)
        st = os.lstat(root)
        client.create_instance_file(
            name, remote_root, b"", st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), "directory"
        )
        for entry in sorted(dirs):
            full = os.path.join(root, entry)
            if os.path.islink(full):
                client.create_instance_file(
                    name,
                    posixpath.join(remote_root, entry),
                    os.readlink(full).encode(),
                    0,
                    0,
                    0o777,
                    "symlink",
                )
        for entry in sorted(files):
            _push_one(
                client, name, os.path.join(root, entry), posixpath.join(remote_root, entry), -1, -1, None
            )


def _push_one(
    client: Client, name: str, source: str, path: str, uid: int, gid: int, mode: int | None
) -> None:
    if source != "-" and os.path.islink(source):
        client.create_instance_file(name, path, os.readlink(source).encode(), 0, 0, 0o777, "symlink")
        return
    if source == "-":
        fmode, fuid, fgid = 0o644, 0, 0
        fobj = sys.stdin.buffer
    else:
        st = os.stat(source)
        fmode, fuid, fgid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        fobj = open(source, "rb")  # noqa: SIM115 - closed below
    try:
        client.create_instance_file(
            name,
            path,
            fobj,
            fuid if uid < 0 else uid,
            fgid if gid < 0 else gid,
            fmode if mode is None else mode,
        )
    finally:
        if fobj is not sys.stdin.buffer:
            fobj.close()


def run_push(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Push local files (``-`` is stdin) to ``INSTANCE/PATH``."""
    target = args[-1]
    inst, path = _split_target(target)
    target_is_dir = target.endswith("/")
    target_path = posixpath.normpath("/" + path)
    client, _, name = ctx.resolve(inst)
    sources = [os.path.normpath(s) if s != "-" else s for s in args[:-1]]
    mode = _parse_mode(opts.mode) if opts.mode else None
    if opts.recursive:
        if opts.uid != -1 or opts.gid != -1 or opts.mode:
            raise CLIError("Can't supply uid/gid/mode in recursive mode")
        if opts.create_dirs:
            _mkdir_p(client, name, target_path, 0, 0)
        for source in sources:
            _push_tree(client, name, source, target_path)
        return 0
    if len(sources) > 1 and not target_is_dir:
        raise CLIError("Missing target directory")
    for source in sources:
        fpath = posixpath.join(target_path, os.path.basename(source)) if target_is_dir else target_path
        if opts.create_dirs:
            _mkdir_p(client, name, posixpath.dirname(fpath), max(opts.uid, 0), max(opts.gid, 0))
        if source != "-" and not os.path.exists(source) and not os.path.islink(source):
            raise CLIError(f"open {source}: no such file or directory")
        _push_one(client, name, source, fpath, opts.uid, opts.gid, mode)
    return 0


def _pull_one(client: Client, name: str, path: str, dest: str, recursive: bool) -> None:
    try:
        raw = client.get_instance_file(name, path)
    except ClientError as exc:
        if exc.status == 404:
            raise CLIError("file does not exist") from None
        raise
    ftype = raw.headers.get("x-incus-type", "file")
    mode = int(raw.headers.get("x-incus-mode", "0644"), 8)
    if ftype == "directory":
        listing = raw.read().metadata or []
        if not recursive:
            raise CLIError(f"{path} is a directory (use -r)")
        os.makedirs(dest, exist_ok=True)
        os.chmod(dest, mode)
        for entry in listing:
            _pull_one(client, name, posixpath.join(path, entry), os.path.join(dest, entry), recursive)
        return
    if ftype == "symlink":
        target = b"".join(raw.iter_body()).decode()
        if os.path.lexists(dest):
            os.unlink(dest)
        os.symlink(target, dest)
        return
    if dest == "-":
        for chunk in raw.iter_body():
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    with open(dest, "wb") as fobj:
        for chunk in raw.iter_body():
            fobj.write(chunk)
    os.chmod(dest, mode)


def run_pull(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Pull ``INSTANCE/PATH``... to a local file or directory (``-`` is stdout)."""
    target = args[-1]
    target_is_dir = os.path.isdir(target)
    if len(args) > 2 and not target_is_dir:
        if not opts.create_dirs:
            raise CLIError("More than one file to download, but target is not a directory")
        os.makedirs(target, exist_ok=True)
        target_is_dir = True
    for source in args[:-1]:
        inst, path = _split_target(source)
        client, _, name = ctx.resolve(inst)
        remote_path = posixpath.normpath("/" + path)
        dest = target
        if target_is_dir:
            dest = os.path.join(target, posixpath.basename(remote_path))
        elif opts.create_dirs:
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        _pull_one(client, name, remote_path, dest, bool(opts.recursive))
    return 0


FILE_FLAGS = [
    Flag("recursive", "r", help="Recursively transfer files"),
    Flag("create-dirs", "p", help="Create any directories necessary"),
]
FILE = Command(
    "file",
    "",
    "Manage files in instances",
    subcommands=[
        Command(
            "push",
            "<source path>... [<remote>:]<instance>/<path>",
            "Push files into instances",
            run_push,
            [
                *FILE_FLAGS,
                Flag("uid", kind="int", default=-1, help="Set the file's uid on push"),
                Flag("gid", kind="int", default=-1, help="Set the file's gid on push"),
                Flag("mode", kind="str", help="Set the file's perms on push"),
            ],
            nargs=(2, -1),
        ),
        Command(
            "pull",
            "[<remote>:]<instance>/<path> [[<remote>:]<instance>/<path>...] <target path>",
            "Pull files from instances",
            run_pull,
            FILE_FLAGS,
            nargs=(2, -1),
        ),
    ],
)

COMMANDS = {"file": FILE}
