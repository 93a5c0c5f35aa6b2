"""Instance lifecycle, side by side: pincus CLI on pincusd vs incus CLI on a real incusd (and incus CLI on pincusd).

    .venv/bin/python bench/bench_instances.py [--runs N] [--driver dir|btrfs] [--json FILE]

Measures the wall clock of whole CLI commands: `list` (5 running instances), `launch`, `start`,
`stop`, `exec -- true`, and `delete --force` of a running instance. The third column (the stock incus
client against pincusd) separates server-side cost from client start-up cost.
Prints a markdown table of medians [min–max] (n) and the ratio pincus/incus. Target: ratio <= 1.0.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BenchError,
    Daemons,
    Results,
    Target,
    alternate,
    btrfs_mounts,
    comparison_table,
    dump_json,
    loadavg,
    measure,
    progress,
    report_header,
    side_by_side,
)

LIST_INSTANCES = 5


def prepare_pool(d: Daemons, driver: str) -> str:
    """Name of the pool both daemons create instances on (a btrfs pool is created on demand)."""
    if driver == "dir":
        return "default"
    name = f"bib-{secrets.token_hex(2)}"
    d.incusd.create_btrfs_pool(name, size="4GiB")
    d.pincus.run("storage", "create", name, "btrfs", "size=4GiB")
    d.pincusd.pools.append(name)
    return name


def bench(d: Daemons, runs: int, driver: str) -> Results:
    """Run every operation `runs` times on the three targets, interleaved."""
    pool = prepare_pool(d, driver)
    targets = [d.pincus, d.incus, d.incus_on_pincusd]
    syncs = btrfs_mounts([t.pool_dir / pool for t in (d.pincus, d.incus)])
    tag = secrets.token_hex(2)
    res = Results()

    progress(f"list: launching {LIST_INSTANCES} instances on each daemon")
    for t in (d.pincus, d.incus):
        for k in range(LIST_INSTANCES):
            t.run("launch", "busybox", f"bl{k}-{tag}", "-s", pool)
    for i in range(runs):
        for t in alternate(targets, i):
            measure(res, f"list ({LIST_INSTANCES} running)", t, ["list"], syncs)
    progress("list: done")

    # one long-lived instance per daemon for start/stop/exec
    inst: dict[str, str] = {}
    for t in (d.pincus, d.incus):
        inst[t.daemon] = f"bs-{tag}"
        t.run("init", "busybox", inst[t.daemon], "-s", pool)
    for i in range(runs):
        for t in alternate(targets, i):
            name = inst[t.daemon]
            measure(res, "start", t, ["start", name], syncs)
            measure(res, "exec -- true", t, ["exec", name, "--", "true"], syncs)
            measure(res, "stop", t, ["stop", name], syncs)
        progress(f"start/exec/stop: run {i + 1}/{runs}")

    for i in range(runs):
        for t in alternate(targets, i):
            name = f"bn{i}-{_short(t)}-{tag}"
            measure(res, "launch", t, ["launch", "busybox", name, "-s", pool], syncs)
            measure(res, "delete --force (running)", t, ["delete", "--force", name], syncs)
        progress(f"launch/delete: run {i + 1}/{runs}")
    return res


def _short(t: Target) -> str:
    return {"pincus": "p", "incus": "i"}.get(t.label, "x")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="samples per operation and target (default 10)")
    ap.add_argument("--driver", choices=["dir", "btrfs"], default="dir", help="storage pool driver (default dir)")
    ap.add_argument("--json", help="also write raw samples to this file")
    opts = ap.parse_args(argv)

    with side_by_side() as d:
        header = report_header(f"Instances ({opts.driver} pool)", d)
        try:
            res = bench(d, opts.runs, opts.driver)
        except BenchError as exc:
            print(f"\nFAILED:\n{exc}", file=sys.stderr)
            return 1
    print(header)
    print(f"* load average at end: {loadavg()}")
    print()
    print(comparison_table(res, ["pincus", "incus", "incus→pincusd"], "pincus", "incus"))
    print()
    print("Target: ratio pincus/incus <= 1.0 on every row. Wall clock of whole CLI commands, seconds.")
    dump_json(opts.json, res.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
