"""``pincus exec`` / ``pincus shell``: run a command in an instance over the exec websockets.

Non-interactive: websockets for fd 0, 1, 2 and control; interactive (a pty): one websocket for
the terminal plus control. Data is binary frames; an empty text frame is the end-of-stream
barrier. Terminal resizes become ``window-resize`` control messages, other signals ``signal``.
"""

from __future__ import annotations

import _signal  # not ``signal``: its IntEnum wrappers import enum, ~5 ms of start-up
import os
import select
import sys

from pincus.cli.common import CLIError, Command, Ctx, ExitCode
from pincus.cli.flags import Flag, Options
from pincus.client import codec
from pincus.client.connection import ClientError, Sent
from pincus.client.instances import start_exec
from pincus.client.websocket import BINARY, CLOSE, TEXT, WebSocket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.connection import Connection
    from pincus.client.operations import Operation

FORWARDED = (
    "SIGTERM",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGABRT",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGUSR1",
    "SIGUSR2",
)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BrokenPipeError:
            # The reader went away (``exec c -- yes | head -1``): die of SIGPIPE (status 141) as the Go
            # client does; the dropped websockets make the server end the command.
            _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
            os.kill(os.getpid(), _signal.SIGPIPE)
            raise
        view = view[written:]


def _terminal_size() -> tuple[int, int]:
    try:
        size = os.get_terminal_size(1)
    except OSError:
        return 0, 0
    return size.columns, size.lines


class ExecSession:
    """Pumps bytes between the local terminal/pipes and the exec websockets."""

    def __init__(self, conn: Connection, op: Operation, interactive: bool, stdin_enabled: bool) -> None:
        self.op = op
        self.interactive = interactive
        fds = op.metadata.get("fds") or {}
        keys = ["control", "0"] if interactive else ["control", "0", "1", "2"]
        paths = [f"{op.url}/websocket?secret={fds[key]}" for key in keys]
        socks = WebSocket.connect_all(conn, paths)
        self.control = socks[0]
        self.stdin_ws: WebSocket | None = socks[1]
        self.outputs: dict[WebSocket, int] = {socks[1]: 1} if interactive else {socks[2]: 1, socks[3]: 2}
        self.stdin_open = stdin_enabled
        if not stdin_enabled and self.stdin_ws is not None and not interactive:
            self.stdin_ws.send_text("")
        self.wake_r, self.wake_w = os.pipe()
        self.pending: list[int] = []

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.pending.append(signum)
        try:
            os.write(self.wake_w, b"x")
        except OSError:
            pass

    def _send_control(self, message: dict[str, Any]) -> None:
        try:
            self.control.send_text(codec.dumps(message) + "\n")
        except OSError:
            pass

    def _handle_signals(self) -> None:
        while self.pending:
            signum = self.pending.pop(0)
            if signum == _signal.SIGWINCH:
                if self.interactive:
                    width, height = _terminal_size()
                    args = {"height": str(height), "width": str(width)}
                    self._send_control({"command": "window-resize", "args": args, "signal": 0})
            else:
                self._send_control({"command": "signal", "signal": int(signum)})

    def _read_stdin(self) -> None:
        try:
            data = os.read(0, 65536)
        except OSError:
            data = b""
        if data:
            self.stdin_ws.send(data, BINARY)  # type: ignore[union-attr]
            return
        self.stdin_open = False
        self.stdin_ws.send_text("")  # type: ignore[union-attr]

    def _read_ws(self, ws: WebSocket) -> None:
        messages = ws.poll()
        if messages is None:
            self.outputs.pop(ws, None)
            return
        for opcode, payload in messages:
            if opcode == BINARY and payload:
                _write_all(self.outputs.get(ws, 1), payload)
            elif opcode in (TEXT, CLOSE):
                self.outputs.pop(ws, None)
                return

    def pump(self) -> None:
        """Run until every output stream reached its end."""
        while self.outputs:
            watch: list[Any] = [self.wake_r, *self.outputs]
            if self.stdin_open and self.stdin_ws is not None:
                watch.append(0)
            try:
                readable, _, _ = select.select(watch, [], [])
            except InterruptedError:
                readable = []
            if self.wake_r in readable:
                os.read(self.wake_r, 1024)
            self._handle_signals()
            for item in readable:
                if item == 0:
                    self._read_stdin()
                elif isinstance(item, WebSocket) and item in self.outputs:
                    self._read_ws(item)

    def close(self) -> None:
        """Close every websocket."""
        for ws in {self.control, self.stdin_ws, *self.outputs}:
            if ws is not None:
                ws.close()
        os.close(self.wake_r)
        os.close(self.wake_w)


def _interactive(opts: Options) -> bool:
    if opts.force_interactive and opts.force_noninteractive:
        raise CLIError("You can't pass -t and -T at the same time")
    if opts.mode != "auto" and (opts.force_interactive or opts.force_noninteractive):
        raise CLIError("You can't pass -t or -T at the same time as --mode")
    if opts.disable_stdin:
        return False
    if opts.mode == "interactive" or opts.force_interactive:
        return True
    if opts.mode == "non-interactive" or opts.force_noninteractive:
        return False
    return os.isatty(0) and os.isatty(1)


def run_exec(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """Execute a command in an instance; the exit status is the command's."""
    interactive = _interactive(opts)
    remote, name = ctx.parse_remote(args[0])
    conn = ctx.connection(remote)  # not ctx.client(): see start_exec
    env: dict[str, str] = {}
    if "TERM" in os.environ:
        env["TERM"] = os.environ["TERM"]
    for item in opts.env or []:
        key, _, value = item.partition("=")
        env[key] = value
    width, height = _terminal_size() if os.isatty(1) else (0, 0)
    req = {
        "command": args[1:],
        "wait-for-websocket": True,
        "interactive": interactive,
        "environment": env,
        "width": width,
        "height": height,
        "record-output": False,
        "user": opts.user,
        "group": opts.group,
        "cwd": opts.cwd,
    }
    op = start_exec(conn, name, req)
    return _run_session(conn, op, interactive, not opts.disable_stdin)


def _run_session(conn: Connection, op: Operation, interactive: bool, stdin_enabled: bool) -> int:
    session = ExecSession(conn, op, interactive, stdin_enabled)
    # Ask for the outcome now: the daemon answers the moment the command ends, no request after it.
    waiting = op.start_wait()
    try:
        _pump(session, interactive)
    except BaseException:
        if isinstance(waiting, Sent):
            waiting.close()
        raise
    try:
        op.finish_wait(waiting)
    except ClientError as exc:
        code = (op.data.get("metadata") or {}).get("return")
        if not isinstance(code, (int, float)):
            raise
        sys.stderr.write(f"Error: {exc}\n")
        raise ExitCode(int(code)) from None
    code = (op.data.get("metadata") or {}).get("return")
    if isinstance(code, (int, float)) and int(code) != 0:
        raise ExitCode(int(code))
    return 0


def _pump(session: ExecSession, interactive: bool) -> None:
    """Pump with the terminal in raw mode (a pty) and signals forwarded; always close the session."""
    old_tty = None
    if interactive and os.isatty(0):
        import termios
        import tty

        old_tty = termios.tcgetattr(0)
        tty.setraw(0)
    handlers = {}
    for sig_name in ("SIGWINCH", *FORWARDED):
        signum = getattr(_signal, sig_name)
        handlers[signum] = _signal.signal(signum, session._on_signal)
    try:
        session.pump()
    finally:
        for signum, handler in handlers.items():
            _signal.signal(signum, handler)
        if old_tty is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, old_tty)
        session.close()


EXEC = Command(
    "exec",
    "[<remote>:]<instance> [flags] [--] <command line>",
    "Execute commands in instances",
    run_exec,
    [
        Flag("env", kind="list", help="Environment variable to set (e.g. HOME=/home/foo)"),
        Flag(
            "mode",
            kind="str",
            default="auto",
            help="Override the terminal mode (auto, interactive or non-interactive)",
        ),
        Flag("force-interactive", "t", help="Force pseudo-terminal allocation"),
        Flag("force-noninteractive", "T", help="Disable pseudo-terminal allocation"),
        Flag("disable-stdin", "n", help="Disable stdin (reads from /dev/null)"),
        Flag("user", kind="int", help="User ID to run the command as (default 0)"),
        Flag("group", kind="int", help="Group ID to run the command as (default 0)"),
        Flag("cwd", kind="str", help="Directory to run the command in (default /root)"),
    ],
    nargs=(2, -1),
)


def run_shell(ctx: Ctx, opts: Options, args: list[str]) -> int:
    """The built-in ``shell`` alias: ``exec INSTANCE -- su -l``."""
    return run_exec(ctx, opts, [args[0], "su", "-l"])


SHELL = Command(
    "shell",
    "[<remote>:]<instance>",
    "Open a login shell in an instance (alias of: exec <instance> -- su -l)",
    run_shell,
    EXEC.flags,
    nargs=(1, 1),
)

COMMANDS = {"exec": EXEC, "shell": SHELL}
