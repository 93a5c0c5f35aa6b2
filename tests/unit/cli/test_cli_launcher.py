"""The ``pincus`` launcher written by ``make venv``, and the exit without interpreter tear-down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pincus.cli import launcher


def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINCUS_", "INCUS_"))}
    env["PINCUS_SOCKET"] = "/nonexistent/unix.socket"
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, **kw)  # type: ignore[call-overload]


def test_site_paths_are_what_site_adds() -> None:
    paths = launcher.site_paths(sys.executable)
    assert any(p.endswith("site-packages") for p in paths)
    assert os.path.dirname(os.__file__) not in paths  # the stdlib is there without site


def test_launcher_behaves_like_the_module(tmp_path: Path) -> None:
    target = tmp_path / "pincus"
    target.write_text("placeholder")
    assert launcher.write(str(target)) == ""
    text = target.read_text()
    assert text.startswith(f"#!{sys.executable} -S\n") and os.access(target, os.X_OK)
    for args in (["--version"], ["nope"], ["list"], ["exec", "--help"], []):
        mine = _run([str(target), *args])
        module = _run([sys.executable, "-m", "pincus.cli.main", *args])
        assert (mine.returncode, mine.stdout, mine.stderr) == (
            module.returncode,
            module.stdout,
            module.stderr,
        )
    assert _run([str(target), "--version"]).stdout == "0.1.0\n"


def test_unusable_interpreter_path_keeps_the_old_launcher(tmp_path: Path) -> None:
    target = tmp_path / "pincus"
    target.write_text("pip's wrapper")
    assert "#! line" in launcher.write(str(target), python="/opt/my python/bin/python3")
    assert launcher.write(str(target), python="/" + "x" * 200) != ""
    assert target.read_text() == "pip's wrapper"


def test_broken_launcher_is_not_installed(tmp_path: Path) -> None:
    target = tmp_path / "pincus"
    target.write_text("pip's wrapper")
    fake_python = tmp_path / "python"
    fake_python.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')  # never any site-packages
    fake_python.chmod(0o755)
    assert "does not start pincus" in launcher.write(str(target), python=str(fake_python))
    assert target.read_text() == "pip's wrapper" and not (tmp_path / "pincus.tmp").exists()


def test_exit_now_flushes_and_keeps_the_status() -> None:
    code = (
        "import sys; from pincus.cli.app import exit_now; print('out'); sys.stderr.write('err'); exit_now(3)"
    )
    res = _run([sys.executable, "-c", code])
    assert (res.returncode, res.stdout, res.stderr) == (3, "out\n", "err")


def test_exit_now_runs_atexit_hooks_when_there_are_some() -> None:
    code = (
        "import atexit, sys; from pincus.cli.app import exit_now;"
        "atexit.register(lambda: print('hook ran')); exit_now(4)"
    )
    res = _run([sys.executable, "-c", code])
    assert (res.returncode, res.stdout) == (4, "hook ran\n")
