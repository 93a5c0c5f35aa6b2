"""Instance lifecycle: start/stop/restart/pause/resume, delete (incl. the book's ``delete inst/snap``),
rename/move; init and launch live in create.py."""

from __future__ import annotations

import sys

from pincus.cli.common import CLIError, Command, Ctx, is_snapshot, prompt_yes, split_snapshot
from pincus.cli.create import INIT, LAUNCH
from pincus.cli.flags import Flag, Options
from pincus.client.connection import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pincus.client.client import Client

STOPPED, FROZEN = 102, 110
ACTIONS = {"pause": "freeze", "resume": "unfreeze"}


def _do_action(ctx: Ctx, opts: Options, action: str, raw: str) -> None:
    client, remote, name = ctx.resolve(raw)
    if not name:
        raise CLIError(f'Must supply instance name for: "{raw}"')
    action = ACTIONS.get(action, action)
    stateful = action == "stop" and bool(getattr(opts, "stateful", False))
    if action == "start":
        current, _ = client.get_instance(name)
        if current.get("status_code") == FROZEN:
            action = "unfreeze"
        if action == "start" and current.get("stateful") and not getattr(opts, "stateless", False):
            stateful = True
    timeout = getattr(opts, "timeout", 0)
    op = client.update_instance_state(name, action, timeout, bool(getattr(opts, "force", False)), stateful)
    try:
        op.wait()
    except ClientError as exc:
        # incus adds the hint only when the failure outlives its progress handler setup, which in
        # practice means real start failures, not the immediate "already running/stopped" refusals.
        if action not in ("start", "restart") or str(exc).startswith("The instance is already"):
            raise
        project = f" --project {ctx.project}" if ctx.project and ctx.project != "default" else ""
        raise CLIError(f"{exc}\nTry `pincus info --show-log {raw}{project}` for more info") from None


def _all_names(ctx: Ctx, action: str, args: list[str]) -> list[str]:
    names = []
    for raw in args or [""]:
        remote, name = ctx.parse_remote(raw)
        if name:
            raise CLIError("Both --all and instance name given")
        for inst in ctx.client(remote).get_instances():
            code = inst.get("status_code")
            if (action == "start" and code != STOPPED) or (action == "stop" and code == STOPPED):
                continue
            names.append(f"{remote}:{inst['name']}" if remote else str(inst["name"]))
    return names


def make_action(action: str) -> Command:
    """The command for one state action."""

    def handler(ctx: Ctx, opts: Options, args: list[str]) -> int:
        names = _all_names(ctx, action, args) if opts.all else args
        if not opts.all and not args:
            return 0
        if getattr(opts, "console", ""):
            raise CLIError("--console is not supported by pincus yet")
        errors = []
        for raw in names:
            try:
                _do_action(ctx, opts, action, raw)
            except (CLIError, ClientError) as exc:
                if len(names) == 1:
                    raise
                errors.append((raw, str(exc)))
        for raw, msg in errors:
            for line in f"error: {msg}".split("\n"):
                sys.stderr.write(f"{raw}: {line}\n")
        if errors:
            sys.stderr.write("\n")
            raise CLIError(f"Some instances failed to {action}")
        return 0

    flags = [Flag("all", help="Run against all instances")]
    if action == "stop":
        flags.append(Flag("stateful", help="Store the instance state"))
    if action == "start":
        flags.append(Flag("stateless", help="Ignore the instance state"))
    if action in ("start", "restart"):
        flags.append(Flag("console", kind="str", noopt="console", help="Immediately attach to the console"))
    if action in ("stop", "restart"):
        flags.append(Flag("force", "f", help="Force the instance to stop"))
        flags.append(
            Flag("timeout", kind="int", default=-1, help="Time to wait for the instance to shutdown cleanly")
        )
    verb = {"pause": "Pause", "resume": "Resume"}.get(action, action.capitalize())
    return Command(
        action, "[<remote>:]<instance> [[<remote>:]<instance>...]", f"{verb} instances", handler, flags
    )


# --- delete ----------------------------------------------------------------------------------


def _check_exists(ctx: Ctx, raws: list[str]) -> list[tuple[Client, str, str, str]]:
    out = []
    for raw in raws:
        client, remote, name = ctx.resolve(raw)
        if is_snapshot(name):
            inst, snap = split_snapshot(name)
            try:
                client.get_instance_snapshot(inst, snap)
            except ClientError as exc:
                raise CLIError(f'Failed checking instance snapshot exists "{remote}:{name}": {exc}') from None
        else:
            try:
                client.get_instance(name)
            except ClientError as exc:
                raise CLIError(f'Failed checking instance exists "{remote}:{name}": {exc}') from None
        out.append((client, remote, name, raw))
    return out


def _delete_instance(ctx: Ctx, opts: Options, client: Client, name: str) -> None:
    inst, _ = client.get_instance(name)
    code = inst.get("status_code") or 0
    if code not in (0, STOPPED):
        if not opts.force:
            raise CLIError("The instance is currently running, stop it first or pass --force")
        try:
            client.update_instance_state(name, "stop", -1, True).wait()
        except ClientError as exc:
            raise CLIError(f"Stopping the instance failed: {exc}") from None
        if inst.get("ephemeral"):
            return
    try:
        client.delete_instance(name).wait()
    except ClientError as exc:
        project = client.conn.project or "default"
        raise CLIError(f'Failed deleting instance "{name}" in project "{project}": {exc}') from None


def run_delete(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Delete instances; ``INST/SNAP`` deletes only that snapshot (LXD/book syntax)."""
    for client, _, name, _raw in _check_exists(ctx, args):
        if opts.interactive:
            if is_snapshot(name):
                inst, snap = split_snapshot(name)
                prompt_yes(f"Remove snapshot {snap} from {inst} (yes/no): ")
            else:
                prompt_yes(f"Remove {name} (yes/no): ")
        if is_snapshot(name):
            inst, snap = split_snapshot(name)
            client.delete_instance_snapshot(inst, snap).wait()
            continue
        _delete_instance(ctx, opts, client, name)
    return 0


# --- rename / move ---------------------------------------------------------------------------


def run_rename(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Rename an instance, or (LXD syntax) a snapshot: ``rename inst/old inst/new``."""
    src_remote, src = ctx.parse_remote(args[0])
    dst_remote, dst = ctx.parse_remote(args[1]) if ":" in args[1] else (src_remote, args[1])
    if src_remote != dst_remote:
        from pincus.cli import migrate

        migrate.move(ctx, opts, src, src_remote, dst or src.split("/", 1)[0], dst_remote)
        return 0
    if getattr(opts, "target", "") or getattr(opts, "storage", "") or getattr(opts, "target_project", ""):
        raise CLIError("--target, --storage and --target-project are not supported by pincus yet")
    client = ctx.client(src_remote)
    if is_snapshot(src):
        inst, old = split_snapshot(src)
        new_inst, new = split_snapshot(dst) if is_snapshot(dst) else (inst, dst)
        if new_inst != inst:
            raise CLIError("Renaming a snapshot into another instance is not supported")
        client.rename_instance_snapshot(inst, old, new).wait()
        return 0
    if is_snapshot(dst):
        raise CLIError("Invalid instance name")
    client.rename_instance(src, dst).wait()
    return 0


DELETE = Command(
    "delete",
    "[<remote>:]<instance>[/<snapshot>] [[<remote>:]<instance>[/<snapshot>]...]",
    "Delete instances (or, with INSTANCE/SNAPSHOT, only that snapshot)",
    run_delete,
    [
        Flag("force", "f", help="Force the removal of running instances"),
        Flag("interactive", "i", help="Require user confirmation"),
    ],
    nargs=(1, -1),
    aliases=("rm",),
)
RENAME = Command(
    "rename",
    "[<remote>:]<instance>[/<snapshot>] <instance>[/<snapshot>]",
    "Rename instances (and, LXD syntax, snapshots)",
    run_rename,
    nargs=(2, 2),
)
MOVE = Command(
    "move",
    "[<remote>:]<instance>[/<snapshot>] [<remote>:]<instance>[/<snapshot>]",
    "Move instances within or in between servers",
    run_rename,
    [
        Flag("target", kind="str", help="Cluster member name"),
        Flag("storage", "s", "str", help="Storage pool name"),
        Flag("target-project", kind="str", help="Copy to a project different from the source"),
        Flag("instance-only", help="Move the instance without its snapshots"),
        Flag("stateless", help="Copy a stateful instance stateless"),
        Flag("config", "c", "list", help="Config key/value to apply to the target instance"),
        Flag("device", "d", "list", help="New key/value to apply to a specific device"),
        Flag("profile", "p", "list", help="Profile to apply to the target instance"),
        Flag("no-profiles", help="Unset all profiles on the target instance"),
        Flag("mode", kind="str", default="pull", help="Transfer mode. One of pull, push or relay"),
        Flag("allow-inconsistent", help="Ignore copy errors for volatile files"),
    ],
    nargs=(2, 2),
    aliases=("mv",),
)

COMMANDS = {
    "init": INIT,
    "create": INIT,
    "launch": LAUNCH,
    "delete": DELETE,
    "rm": DELETE,
    "rename": RENAME,
    "move": MOVE,
    "mv": MOVE,
    **{action: make_action(action) for action in ("start", "stop", "restart", "pause", "resume")},
}
