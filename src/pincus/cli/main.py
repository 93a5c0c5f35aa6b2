"""Entry point of the ``pincus`` command (kept tiny: the entry module is never byte-code cached)."""

from __future__ import annotations

import sys

# Start-up time is part of the contract (``pincus list`` is benchmarked against the Go client):
# cache the CLI's compiled modules even when PYTHONDONTWRITEBYTECODE is set, since compiling
# them on every run costs more than everything else the command does.
sys.dont_write_bytecode = False


def main(argv: list[str] | None = None) -> int:
    """Run ``pincus`` and return its exit status."""
    from pincus.cli.app import run

    return run(argv)


def launch() -> None:
    """Console-script entry point: run ``pincus`` and exit with its status (app.exit_now)."""
    import gc

    gc.disable()  # imports only make objects that live until exit: collecting is wasted (~1 ms)
    from pincus.cli.app import exit_now, run

    exit_now(run())


if __name__ == "__main__":
    launch()
