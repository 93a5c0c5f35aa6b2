"""Long crash chaos run: the same loop as tests/integration/daemon/test_chaos.py, for many cycles.

    .venv/bin/python bench/chaos.py --driver dir --cycles 1000 [--seed N] [--json FILE]

Each cycle: write a fresh marker into one instance, send one random operation, SIGKILL pincusd
0-300 ms later, restart it, check the invariants (tests/support/chaos.py). Prints one line per
failure as it is found, then a summary per driver; exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.chaos import Result, chaos_daemon, finish, main_json, run_chaos  # noqa: E402


def one(driver: str, cycles: int, seed: int) -> Result:
    """A fresh daemon, the chaos loop, and the clean-up."""
    d = chaos_daemon(driver)
    try:
        return run_chaos(d, driver, cycles, seed, log=lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        finish(d)


def main() -> int:
    """Run the long chaos for the chosen drivers; 1 when any invariant broke."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--driver", choices=["dir", "btrfs", "both"], default="both")
    ap.add_argument("--cycles", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1111)
    ap.add_argument("--json", type=Path, help="also write the results (failures included) here")
    args = ap.parse_args()
    drivers = ["dir", "btrfs"] if args.driver == "both" else [args.driver]
    results = [one(drv, args.cycles, args.seed) for drv in drivers]
    print("| driver | ops | kills | failures | operations sent |")
    print("|---|---|---|---|---|")
    for r in results:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(r.kinds.items()))
        print(f"| {r.driver} | {r.ops} | {r.kills} | {len(r.failures)} | {kinds} |")
    if args.json:
        args.json.write_text(json.dumps([json.loads(main_json(r)) for r in results], indent=1))
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
