"""Command-line flags with cobra/pflag semantics and error texts.

argparse is not used: its error texts and exit status differ from the incus client's, and it
costs ~15 ms of start-up (it imports ``re`` and ``gettext``). This parser does what pflag
does for the incus commands: flags anywhere among the arguments, ``--`` ends flags,
``--name=value``, grouped shorthands (``-fq``, ``-cns``), repeatable string-array flags.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class FlagError(Exception):
    """A command-line usage error, printed as ``Error: <message>``."""


class HelpRequested(Exception):
    """-h/--help was given."""


class Flag:
    """One flag: kind is bool, str, int or list (a repeatable string array)."""

    __slots__ = ("name", "short", "kind", "default", "help", "noopt")

    def __init__(
        self,
        name: str,
        short: str = "",
        kind: str = "bool",
        default: Any = None,
        help: str = "",
        noopt: Any = None,
    ) -> None:
        self.name = name
        self.short = short
        self.kind = kind
        if default is None:
            default = {"bool": False, "str": "", "int": 0, "list": None}[kind]
        self.default = default
        self.help = help
        self.noopt = noopt

    @property
    def dest(self) -> str:
        """Attribute name in the parsed options."""
        return self.name.replace("-", "_")


GLOBAL_FLAGS = [
    Flag("debug", help="Show all debug messages"),
    Flag("force-local", help="Force using the local unix socket"),
    Flag("help", "h", help="Print help"),
    Flag("project", kind="str", help="Override the source project"),
    Flag("quiet", "q", help="Don't show progress information"),
    Flag("verbose", "v", help="Show all information messages"),
]


class Options:
    """Parsed flag values as attributes."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _label(flag: Flag) -> str:
    return f"-{flag.short}, --{flag.name}" if flag.short else f"--{flag.name}"


def _convert(flag: Flag, raw: str) -> Any:
    if flag.kind == "int":
        try:
            return int(raw, 10)
        except ValueError:
            raise FlagError(
                f'invalid argument "{raw}" for "{_label(flag)}" flag: strconv.ParseInt: parsing "{raw}": invalid syntax'
            ) from None
    if flag.kind == "bool":
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise FlagError(
            f'invalid argument "{raw}" for "{_label(flag)}" flag: strconv.ParseBool: parsing "{raw}": invalid syntax'
        )
    return raw


def _store(values: dict[str, Any], flag: Flag, value: Any) -> None:
    if flag.kind == "list":
        current = values.get(flag.dest)
        values[flag.dest] = [*(current or []), value]
    else:
        values[flag.dest] = value


def parse(flags: list[Flag], argv: list[str], interspersed: bool = True) -> tuple[Options, list[str]]:
    """Parse ``argv`` against ``flags`` (plus the global flags); return options and positionals."""
    all_flags = [*flags, *GLOBAL_FLAGS]
    by_long = {f.name: f for f in all_flags}
    by_short = {f.short: f for f in all_flags if f.short}
    values: dict[str, Any] = {f.dest: f.default for f in all_flags}
    args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args.extend(argv[i:])
            break
        if arg.startswith("--"):
            i = _parse_long(arg, argv, i, by_long, values)
        elif arg.startswith("-") and len(arg) > 1:
            i = _parse_short(arg, argv, i, by_short, values)
        else:
            args.append(arg)
            if not interspersed:
                args.extend(argv[i:])
                break
    if values.get("help"):
        raise HelpRequested()
    return Options(values), args


def _parse_long(arg: str, argv: list[str], i: int, by_long: dict[str, Flag], values: dict[str, Any]) -> int:
    name, has_value, raw = arg[2:].partition("=")
    flag = by_long.get(name)
    if flag is None:
        raise FlagError(f"unknown flag: --{name}")
    if has_value:
        _store(values, flag, _convert(flag, raw))
    elif flag.kind == "bool":
        _store(values, flag, True)
    elif flag.noopt is not None:
        _store(values, flag, flag.noopt)
    elif i < len(argv):
        _store(values, flag, _convert(flag, argv[i]))
        i += 1
    else:
        raise FlagError(f"flag needs an argument: --{name}")
    return i


def _parse_short(arg: str, argv: list[str], i: int, by_short: dict[str, Flag], values: dict[str, Any]) -> int:
    shorts = arg[1:]
    pos = 0
    while pos < len(shorts):
        char = shorts[pos]
        flag = by_short.get(char)
        if flag is None:
            raise FlagError(f"unknown shorthand flag: '{char}' in {arg}")
        rest = shorts[pos + 1 :]
        if flag.kind == "bool":
            if rest.startswith("="):
                _store(values, flag, _convert(flag, rest[1:]))
                return i
            _store(values, flag, True)
            pos += 1
            continue
        if rest:
            _store(values, flag, _convert(flag, rest[1:] if rest.startswith("=") else rest))
        elif flag.noopt is not None:
            _store(values, flag, flag.noopt)
        elif i < len(argv):
            _store(values, flag, _convert(flag, argv[i]))
            i += 1
        else:
            raise FlagError(f"flag needs an argument: '{char}' in {arg}")
        return i
    return i


def format_flags(flags: list[Flag]) -> str:
    """Help lines for ``flags`` aligned like cobra's usage output."""
    rows = []
    for flag in sorted(flags, key=lambda f: f.name):
        left = f"-{flag.short}, --{flag.name}" if flag.short else f"    --{flag.name}"
        rows.append((left, flag.help))
    width = max((len(left) for left, _ in rows), default=0)
    return "\n".join(f"  {left.ljust(width)}   {text}".rstrip() for left, text in rows)
