"""Dispatch of the ``pincus`` command.

Dispatch happens on the command word first and only that command's module is imported, so
``pincus list`` loads the list code and the client, nothing else.
"""

from __future__ import annotations

import gc
import os
import sys

from pincus.cli.common import PROG, VERSION, CLIError, Ctx, ExitCode, first_positional, run_command
from pincus.cli.flags import FlagError
from pincus.client.connection import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

# command word -> module under pincus.cli defining COMMANDS
MODULES = {
    "list": "listing", "ls": "listing", "info": "info",
    "init": "instance", "create": "instance", "launch": "instance", "start": "instance", "stop": "instance",
    "restart": "instance", "pause": "instance", "resume": "instance", "delete": "instance", "rm": "instance",
    "rename": "instance", "move": "instance", "mv": "instance",
    "copy": "copy", "cp": "copy", "publish": "copy",
    "snapshot": "snapshot", "restore": "snapshot",
    "exec": "exec", "shell": "exec",
    "config": "config", "file": "file", "image": "image", "storage": "storage", "profile": "storage",
    "admin": "admin", "version": "admin", "remote": "remote", "replication": "replication",
}  # fmt: skip

SUMMARY = [
    ("admin", "Manage incus daemon"),
    ("config", "Manage instance and server configuration options"),
    ("copy", "Copy instances within or in between servers"),
    ("delete", "Delete instances (and, book syntax, instance/snapshot)"),
    ("exec", "Execute commands in instances"),
    ("file", "Manage files in instances"),
    ("image", "Manage images"),
    ("info", "Show instance or server information"),
    ("init", "Create instances from images"),
    ("launch", "Create and start instances from images"),
    ("list", "List instances"),
    ("move", "Move instances within or in between servers"),
    ("profile", "Manage profiles"),
    ("publish", "Publish instances as images"),
    ("remote", "Manage the list of remote servers"),
    ("replication", "Replicate instances to a snapshot server from inside the daemon"),
    ("rename", "Rename instances"),
    ("restart", "Restart instances"),
    ("restore", "Restore instance snapshots (book syntax)"),
    ("shell", "Open a shell in an instance (exec INSTANCE -- su -l)"),
    ("snapshot", "Manage instance snapshots"),
    ("start", "Start instances"),
    ("stop", "Stop instances"),
    ("storage", "Manage storage pools"),
    ("version", "Show local and remote versions"),
]


def top_help() -> str:
    """The top-level usage text."""
    width = max(len(name) for name, _ in SUMMARY)
    lines = "\n".join(f"  {name.ljust(width)}  {text}" for name, text in SUMMARY)
    return (
        f"Description:\n  Command line client for pincus (and Incus)\n\nUsage:\n  {PROG} [command]\n\n"
        f"Available Commands:\n{lines}\n\n"
        f'Use "{PROG} [command] --help" for more information about a command.\n'
    )


def dispatch(argv: list[str]) -> int:
    """Run one invocation and return its exit status."""
    ctx = Ctx()
    idx = first_positional(argv)
    if idx < 0:
        if "--version" in argv:
            sys.stdout.write(f"{VERSION}\n")
            return 0
        for arg in argv:
            if arg not in ("-h", "--help") and arg.startswith("-") and arg not in ("--all", "--sub-commands"):
                from pincus.cli.flags import parse

                parse([], [arg])
        sys.stdout.write(top_help())
        return 0
    word = argv[idx]
    module_name = MODULES.get(word)
    if module_name is None:
        raise CLIError(f'unknown command "{word}" for "{PROG}"')
    module = __import__(f"pincus.cli.{module_name}", fromlist=["COMMANDS"])
    gc.enable()  # main.launch() disables it for the imports
    cmd = module.COMMANDS[word]
    return run_command(ctx, cmd, argv[:idx] + argv[idx + 1 :])


def run(argv: list[str] | None = None) -> int:
    """Run ``pincus`` with ``argv`` (default: sys.argv[1:]); return the exit status."""
    args = sys.argv[1:] if argv is None else argv
    code = 1
    try:
        code = dispatch(args)
    except ExitCode as exc:
        code = exc.code
    except (CLIError, FlagError, ClientError) as exc:  # FlagError covers format.FormatError
        sys.stdout.flush()
        sys.stderr.write(f"Error: {exc}\n")
        code = 1
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 141  # like a process killed by SIGPIPE, as the Go client would be
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return code


def exit_now(code: int) -> NoReturn:
    """Exit with ``code``, skipping the interpreter's tear-down when nothing needs it.

    Finalizing every module and object costs ~2 ms, a noticeable part of ``pincus exec -- true``.
    The CLI starts no threads and registers no atexit hooks; if some import did, exit normally.
    """
    import atexit

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the normal exit would not print either
            pass
    if "threading" in sys.modules or getattr(atexit, "_ncallbacks", lambda: 1)():
        sys.exit(code)
    os._exit(code & 0xFF)
