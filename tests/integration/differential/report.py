"""Print a human-readable diff report of pincusd against a real Incus 6.0.4.

    .venv/bin/python -m tests.integration.differential.report [-v] [-a] [--out FILE] [SCENARIO ...]
    .venv/bin/python -m tests.integration.differential.report --tables
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tests.integration.differential.daemons import side_by_side, targets, unavailable
from tests.integration.differential.harness import allowed_table, bugs_table, report, run_all
from tests.integration.differential.scenarios import SCENARIOS


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios on both daemons and print the report; 1 when unexplained diffs remain."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print allowed differences")
    parser.add_argument("-a", "--all", action="store_true", help="also print what every identical step printed")
    parser.add_argument("--out", help="also write the report to this file")
    parser.add_argument("--tables", action="store_true",
                        help="print the allowed-differences and known-bugs tables and exit")
    args = parser.parse_args(argv)
    if args.tables:
        print(allowed_table() + "\n\n" + bugs_table())
        return 0
    reason = unavailable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    chosen = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios]
    with targets() as (incus, pincus):
        run = run_all(chosen, incus, pincus, parallel=side_by_side)
    text = report(run, verbose=args.verbose, show_all=args.all)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0 if all(r.state != "DIFF" for r in run.results) else 1


if __name__ == "__main__":
    sys.exit(main())
