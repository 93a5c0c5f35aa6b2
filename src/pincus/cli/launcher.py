"""Write the ``pincus`` launcher of a virtualenv (``make venv`` runs this after ``pip install``).

pip's console-script wrapper starts Python normally, so ``site`` runs on every command: it reads
pyvenv.cfg, lists site-packages, executes the .pth files there (setuptools' distutils hack among
them) and looks for sitecustomize, ~2 ms of a ``pincus exec`` that the Go client does not spend.
This launcher starts ``python -S`` and appends to sys.path exactly the entries ``site`` would
have added (site-packages, the editable install's source directory ...), asked from the
interpreter once, here. PYTHON* variables keep working. It also switches byte-code caching on
before importing cli/main.py, which main.py itself can only do for the modules after it: with
PYTHONDONTWRITEBYTECODE set (as on this VM) main.py was compiled on every run.

    .venv/bin/python -m pincus.cli.launcher .venv/bin/pincus
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

_PROBE = "import json, sys; print(json.dumps(sys.path))"
_MAX_SHEBANG = 127  # what older kernels read of a #! line; longer paths keep pip's wrapper

TEMPLATE = """\
#!{python} -S
# Written by `python -m pincus.cli.launcher` (make venv) in place of pip's wrapper: no `site` at
# start-up, so the directories it would add to sys.path are listed here.
import sys

sys.dont_write_bytecode = False  # as pincus/cli/main.py does, but before main.py itself is imported
sys.path += {paths!r}
from pincus.cli.main import launch

launch()
"""


def site_paths(python: str) -> list[str]:
    """The sys.path entries ``site`` adds for ``python``, in order."""

    def probe(*flags: str) -> list[str]:
        out = subprocess.run([python, "-E", *flags, "-c", _PROBE], check=True, capture_output=True, text=True)
        return list(json.loads(out.stdout))

    bare = set(probe("-S"))
    return [path for path in probe() if path not in bare]


def render(python: str, paths: list[str]) -> str:
    """The launcher script for ``python`` with ``paths`` appended to sys.path."""
    return TEMPLATE.format(python=python, paths=paths)


def write(target: str, python: str = "") -> str:
    """Replace ``target`` with a launcher that works; otherwise leave it alone and say why."""
    python = python or sys.executable
    if len(python) + 4 > _MAX_SHEBANG or any(ch.isspace() for ch in python):
        return f"{python} cannot go on a #! line"
    tmp = f"{target}.tmp"
    with open(tmp, "w", encoding="utf-8") as fobj:
        fobj.write(render(python, site_paths(python)))
    os.chmod(tmp, 0o755)
    # e.g. an editable install that works through an import hook instead of a sys.path entry
    check = subprocess.run([tmp, "--version"], capture_output=True, text=True)
    if check.returncode != 0 or not check.stdout.strip():
        os.unlink(tmp)
        return f"the launcher does not start pincus: {check.stderr.strip()[-300:]}"
    os.replace(tmp, target)
    return ""


def main(argv: list[str] | None = None) -> int:
    """``python -m pincus.cli.launcher TARGET``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m pincus.cli.launcher TARGET\n")
        return 2
    problem = write(args[0])
    if problem:
        sys.stderr.write(f"warning: {problem}; keeping {args[0]} as it is\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
