"""Fixtures for CLI unit tests: a fake Incus daemon and a runner for ``pincus`` in-process."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The fake daemon module sits next to the tests; make it importable in any --import-mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakeincus import FakeIncus, start  # noqa: E402

from pincus.cli.app import run  # noqa: E402


@dataclass
class Result:
    """Exit status and captured output of one ``pincus`` invocation."""

    code: int
    out: str
    err: str


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeIncus]:
    """A fake daemon the CLI is pointed at (PINCUS_SOCKET), with no client config file."""
    daemon, stop = start()
    monkeypatch.setenv("PINCUS_SOCKET", daemon.socket_path)
    monkeypatch.setenv("PINCUS_CONF", str(tmp_path_factory.mktemp("conf")))
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("PINCUS_PROJECT", raising=False)
    monkeypatch.delenv("INCUS_PROJECT", raising=False)
    try:
        yield daemon
    finally:
        stop()


@pytest.fixture
def pincus(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Call ``pincus(*args, stdin=...)`` and get a Result."""

    def call(*args: str, stdin: str = "") -> Result:
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = run(list(args))
        return Result(code, out.getvalue(), err.getvalue())

    yield call
