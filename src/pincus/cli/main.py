"""Entry point of the ``pincus`` command (kept tiny: the entry module is never byte-code cached)."""

from __future__ import annotations

import sys

# Start-up time is part of the contract (``pincus list`` is benchmarked against the Go client):
# cache the CLI's compiled modules even when PYTHONDONTWRITEBYTECODE is set, since compiling
# them on every run costs more than everything else the command does.
sys.dont_write_bytecode = False


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    from pincus.cli.app import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
