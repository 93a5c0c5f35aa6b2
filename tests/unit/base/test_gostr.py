"""Go's %q quoting, used in error texts that must match Incus."""

from __future__ import annotations

import pytest

from pincus.base.gostr import go_quote


@pytest.mark.parametrize(
    ("value", "quoted"),
    [("/", '"/"'), ('a"b', '"a\\"b"'), ("a\\b", '"a\\\\b"'), ("\x00", '"\\x00"'), ("\n", '"\\n"'), ("é", '"é"')],
)
def test_go_quote(value: str, quoted: str) -> None:
    assert go_quote(value) == quoted
