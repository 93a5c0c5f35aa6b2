"""The command framework shared by every ``pincus`` command: specs, dispatch, context, helpers."""

from __future__ import annotations

import os
import sys

from pincus.cli.flags import GLOBAL_FLAGS, Flag, HelpRequested, Options, format_flags, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pincus.client.client import Client
    from pincus.client.connection import Connection
    from pincus.client.operations import Operation
    from pincus.client.remotes import RemoteConfig

    Handler = Callable[["Ctx", Options, list[str]], Any]

PROG = "pincus"
VERSION = "0.1.0"


class CLIError(Exception):
    """A failure reported as ``Error: <message>`` with exit status 1."""


class ExitCode(Exception):
    """Leave with this status without printing anything (exec passes the command's status)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Command:
    """A command or command group: usage text, flags, argument count, handler or subcommands."""

    def __init__(
        self,
        name: str,
        usage: str = "",
        short: str = "",
        handler: Handler | None = None,
        flags: list[Flag] | None = None,
        nargs: tuple[int, int] = (0, -1),
        aliases: tuple[str, ...] = (),
        long: str = "",
        subcommands: list[Command] | None = None,
        fallback: Callable[[Ctx, list[str]], int] | None = None,
        interspersed: bool = True,
    ) -> None:
        self.name = name
        self.usage = usage
        self.short = short
        self.handler = handler
        self.flags = flags or []
        self.nargs = nargs
        self.aliases = aliases
        self.long = long or short
        self.subcommands = {c.name: c for c in subcommands or []}
        for sub in subcommands or []:
            for alias in sub.aliases:
                self.subcommands[alias] = sub
        self.fallback = fallback
        self.interspersed = interspersed
        self.path = name


def first_positional(argv: list[str]) -> int:
    """Index of the first non-flag argument (global --project takes a value), or -1."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return i + 1 if i + 1 < len(argv) else -1
        if arg == "--project":
            i += 2
            continue
        if not arg.startswith("-") or arg == "-":
            return i
        i += 1
    return -1


def run_command(ctx: Ctx, cmd: Command, argv: list[str], path: str = "") -> int:
    """Dispatch to a subcommand or parse flags, check the argument count and run the handler."""
    path = f"{path} {cmd.name}".strip()
    if cmd.subcommands:
        idx = first_positional(argv)
        word = argv[idx] if idx >= 0 else ""
        sub = cmd.subcommands.get(word)
        if sub is not None:
            return run_command(ctx, sub, argv[:idx] + argv[idx + 1 :], path)
        if idx >= 0 and cmd.fallback is not None:
            return cmd.fallback(ctx, argv)
        try:
            parse([], argv)
        except HelpRequested:
            pass
        if idx >= 0:
            raise CLIError(f'unknown command "{word}" for "{PROG} {path}"')
        sys.stdout.write(group_help(cmd, path))
        return 0
    try:
        opts, args = parse(cmd.flags, argv, cmd.interspersed)
    except HelpRequested:
        sys.stdout.write(command_help(cmd, path))
        return 0
    ctx.apply_globals(opts)
    low, high = cmd.nargs
    if len(args) < low or (high != -1 and len(args) > high):
        sys.stdout.write(command_help(cmd, path))
        if not args:
            return 0
        raise CLIError("Invalid number of arguments")
    assert cmd.handler is not None
    result = cmd.handler(ctx, opts, args)
    return int(result or 0)


def command_help(cmd: Command, path: str) -> str:
    """Cobra-style help for one command."""
    parent = path.rsplit(" ", 1)[0] if " " in path else ""
    usage = f"{PROG} {parent + ' ' if parent else ''}{cmd.name} {cmd.usage}".rstrip()
    desc = "\n".join(f"  {line}" if line else "" for line in cmd.long.split("\n"))
    text = f"Description:\n{desc}\n\nUsage:\n  {usage} [flags]\n\n"
    if cmd.aliases:
        text += "Aliases:\n  " + ", ".join((cmd.name, *cmd.aliases)) + "\n\n"
    if cmd.flags:
        text += f"Flags:\n{format_flags(cmd.flags)}\n\n"
    return text + f"Global Flags:\n{format_flags(GLOBAL_FLAGS)}\n"


def group_help(cmd: Command, path: str) -> str:
    """Cobra-style help for a command group."""
    subs = sorted({c.name: c for c in cmd.subcommands.values()}.values(), key=lambda c: c.name)
    width = max((len(c.name) for c in subs), default=0)
    lines = "\n".join(f"  {c.name.ljust(width)}   {c.short}" for c in subs)
    return (
        f"Usage:\n  {PROG} {path} [flags]\n  {PROG} {path} [command]\n\nAvailable Commands:\n{lines}\n\n"
        f"Global Flags:\n{format_flags(GLOBAL_FLAGS)}\n\n"
        f'Use "{PROG} {path} [command] --help" for more information about a command.\n'
    )


class Ctx:
    """Per-invocation state: global options, the client configuration and connections."""

    def __init__(self) -> None:
        self.project = os.environ.get("PINCUS_PROJECT") or os.environ.get("INCUS_PROJECT") or ""
        self.quiet = False
        self._config: RemoteConfig | None = None
        self._clients: dict[str, Client] = {}
        self._conns: dict[str, Connection] = {}

    def apply_globals(self, opts: Options) -> None:
        """Take --project and --quiet from the parsed options."""
        if opts.project:
            self.project = opts.project
        self.quiet = bool(opts.quiet)

    @property
    def config(self) -> RemoteConfig:
        """The client configuration (config.yml), loaded on first use."""
        if self._config is None:
            from pincus.client.remotes import load

            self._config = load()
        return self._config

    def parse_remote(self, raw: str) -> tuple[str, str]:
        """Split ``REMOTE:NAME`` into its parts."""
        if ":" not in raw and self._config is None and not _has_config():
            return "local", raw
        return self.config.parse_remote(raw)

    def _remote_name(self, remote: str) -> str:
        if remote:
            return remote
        return "local" if self._config is None and not _has_config() else self.config.default_remote

    def connection(self, remote: str = "") -> Connection:
        """The Connection to ``remote`` (the default remote when empty), shared with client()."""
        remote = self._remote_name(remote)
        if remote not in self._conns:
            if remote == "local" and self._config is None:
                from pincus.client.connection import Connection

                self._conns[remote] = Connection(None, self.project)
            else:
                self._conns[remote] = self.config.connection(remote, self.project)
        return self._conns[remote]

    def client(self, remote: str = "") -> Client:
        """A Client for ``remote`` (the default remote when empty)."""
        from pincus.client.client import Client

        remote = self._remote_name(remote)
        if remote not in self._clients:
            self._clients[remote] = Client(self.connection(remote))
        return self._clients[remote]

    def resolve(self, raw: str) -> tuple[Client, str, str]:
        """The client, remote name and object name for ``REMOTE:NAME``."""
        remote, name = self.parse_remote(raw)
        return self.client(remote), remote, name


def _has_config() -> bool:
    from pincus.client.remotes import config_dir

    return os.path.exists(os.path.join(config_dir(), "config.yml"))


def wait(op: Operation) -> dict[str, Any]:
    """Wait for an operation; its failure surfaces as ``Error: <err>``."""
    return op.wait()


def stdin_is_tty() -> bool:
    """True when standard input is a terminal."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def prompt_yes(question: str) -> None:
    """Ask ``question``; anything but ``yes`` aborts the operation."""
    sys.stdout.write(question)
    sys.stdout.flush()
    answer = sys.stdin.readline().rstrip("\n")
    if answer.lower() != "yes":
        raise CLIError("User aborted delete operation")


def is_snapshot(name: str) -> bool:
    """True for ``instance/snapshot`` names."""
    return "/" in name


def split_snapshot(name: str) -> tuple[str, str]:
    """``inst/snap`` -> (``inst``, ``snap``)."""
    inst, _, snap = name.partition("/")
    return inst, snap


def key_values(entries: list[str] | None, what: str = "Bad key=value pair") -> dict[str, str]:
    """Parse ``-c k=v`` style options."""
    out: dict[str, str] = {}
    for entry in entries or []:
        key, sep, value = entry.partition("=")
        if not sep:
            raise CLIError(f'{what}: "{entry}"')
        out[key] = value
    return out


def load_yaml(text: str) -> Any:
    """Parse YAML input (stdin, editor contents)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CLIError(str(exc)) from None


def dump_yaml(value: Any, kind: str) -> str:
    """Render an API object as yaml.v2 would."""
    from pincus.cli import goyaml
    from pincus.cli.schema import shape

    return goyaml.dump(shape(value, kind))


def shorthand_columns(spec: str, table: dict[str, Any]) -> list[Any]:
    """The columns a ``-c`` spec names, one shorthand character each, with Incus's error texts."""
    columns = []
    for entry in spec.split(","):
        if entry == "":
            raise CLIError(f"Empty column entry (redundant, leading or trailing command) in '{spec}'")
        for char in entry:
            if char not in table:
                raise CLIError(f"Unknown column shorthand char '{char}' in '{entry}'")
            columns.append(table[char])
    return columns
