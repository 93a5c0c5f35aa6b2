"""pflag-compatible parsing and error texts."""

from __future__ import annotations

import pytest

from pincus.cli.flags import Flag, FlagError, HelpRequested, parse

FLAGS = [
    Flag("columns", "c", "str", "ns46tSL"),
    Flag("format", "f", "str", "table"),
    Flag("force", "F"),
    Flag("config", "C", "list"),
    Flag("timeout", kind="int", default=-1),
    Flag("console", kind="str", noopt="console"),
]


def test_defaults_and_interspersed_flags() -> None:
    opts, args = parse(FLAGS, ["c1", "-f", "csv", "c2", "--columns=ns"])
    assert args == ["c1", "c2"]
    assert opts.format == "csv" and opts.columns == "ns" and opts.timeout == -1 and opts.config is None


def test_grouped_shorthands_and_attached_values() -> None:
    opts, _ = parse(FLAGS, ["-Fcns", "-C", "a=1", "-Cb=2"])
    assert opts.force is True and opts.columns == "ns" and opts.config == ["a=1", "b=2"]


def test_double_dash_ends_flags() -> None:
    opts, args = parse(FLAGS, ["c1", "--", "sh", "-c", "echo --force"])
    assert args == ["c1", "sh", "-c", "echo --force"] and opts.force is False


def test_noopt_and_bool_values() -> None:
    opts, _ = parse(FLAGS, ["--console", "--force=false", "--timeout", "30"])
    assert opts.console == "console" and opts.force is False and opts.timeout == 30


def test_global_flags() -> None:
    opts, args = parse(FLAGS, ["--project", "p1", "-q", "x"])
    assert opts.project == "p1" and opts.quiet is True and args == ["x"]
    with pytest.raises(HelpRequested):
        parse(FLAGS, ["x", "-h"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--foo"], "unknown flag: --foo"),
        (["-z"], "unknown shorthand flag: 'z' in -z"),
        (["-Fz"], "unknown shorthand flag: 'z' in -Fz"),
        (["-f"], "flag needs an argument: 'f' in -f"),
        (["--format"], "flag needs an argument: --format"),
        (
            ["--timeout", "abc"],
            'invalid argument "abc" for "--timeout" flag: strconv.ParseInt: parsing "abc": invalid syntax',
        ),
    ],
)
def test_errors_match_cobra(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError) as exc:
        parse(FLAGS, argv)
    assert str(exc.value) == message


def test_non_interspersed_stops_at_first_positional() -> None:
    _, args = parse(FLAGS, ["-F", "c1", "--format", "x"], interspersed=False)
    assert args == ["c1", "--format", "x"]
