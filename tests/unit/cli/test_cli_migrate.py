"""Transfer progress in the CLI: shown on a terminal like Incus's, nothing when piped."""

from __future__ import annotations

from typing import Any

import pytest

from pincus.cli import migrate


class FakeOp:
    """An operation that reports progress twice, then succeeds."""

    def __init__(self) -> None:
        self.states = [
            {"status_code": 103, "metadata": {"fs_progress": "s1: 10.00MB (5.00MB/s)"}},
            {"status_code": 103, "metadata": {"fs_progress": "instance: 1.00kB (1.00kB/s)"}},
            {"status_code": 200, "metadata": {}},
        ]
        self.waits: list[int] = []

    def wait(self, timeout: int = -1) -> dict[str, Any]:
        self.waits.append(timeout)
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def test_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(migrate.os, "isatty", lambda fd: True)
    op = FakeOp()
    migrate._wait(op)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "\r\033[KTransferring instance: s1: 10.00MB (5.00MB/s)" in out
    assert "Transferring instance: instance: 1.00kB (1.00kB/s)" in out
    assert out.endswith("\r\033[K")
    assert op.waits == [1, 1, 1]


def test_no_progress_when_piped(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(migrate.os, "isatty", lambda fd: False)
    op = FakeOp()
    migrate._wait(op)  # type: ignore[arg-type]
    assert capsys.readouterr().out == ""
    assert op.waits == [-1]
