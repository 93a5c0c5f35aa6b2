"""base/gotime.py and base/sizes.py are imported by CLI commands at start-up: they must stay cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"


def test_cli_helpers_import_no_heavy_module() -> None:
    # -S as bin/pincus runs (src/pincus/cli/launcher.py): nothing but what the interpreter needs is loaded.
    code = (
        "import sys; import pincus.base.gotime, pincus.base.sizes;"
        "print(','.join(m for m in ('datetime', 're', 'zoneinfo', 'calendar') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], env={"PYTHONPATH": str(SRC)},
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_zero_datetime_is_built_on_first_use() -> None:
    from datetime import datetime, timezone

    from pincus.base import gotime

    assert gotime.ZERO_DATETIME == datetime(1, 1, 1, tzinfo=timezone.utc)
    assert gotime.is_zero_time(gotime.ZERO_DATETIME)
