"""Snapshots, side by side: pincus CLI on pincusd vs incus CLI on a real incusd, dir and btrfs pools.

    .venv/bin/python bench/bench_snapshots.py [--size small|large|both] [--driver dir|btrfs|both]
                                              [--runs N] [--json FILE]

Per driver and size, on one instance per daemon:
  1. `snapshot create` on the RUNNING instance, after a small change (runs x); a ticker inside the
     container prints /proc/uptime every 20 ms and the largest gap during each snapshot is its stall;
  2. `snapshot restore` of the newest snapshot on the stopped instance, after a new file (runs x);
  3. `copy INST/SNAP NEW` then `delete NEW` (runs x);
  4. `snapshot delete` (runs x).
Sizes: small = the bare busybox image; large = busybox + 2.4 GiB in 100,200 files (snapdata.py),
generated once into a template dir under /var/tmp and copied into each rootfs on the host.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BenchError,
    Daemons,
    Results,
    Samples,
    Target,
    alternate,
    btrfs_mounts,
    cell,
    comparison_table,
    dump_json,
    fmt_s,
    loadavg,
    markdown_table,
    measure,
    progress,
    report_header,
    settle,
    side_by_side,
)
from snapdata import LARGE, copy_into, generate, remove_template, write_change  # noqa: E402
from ticker import Ticker, boottime  # noqa: E402

GIB = 1 << 30
BTRFS_POOL_SIZE = "12GiB"
DEFAULT_RUNS = {"small": 5, "large": 3}
# A change before every snapshot, so consecutive snapshots differ as they do in real use.
CHANGE = {"small": (1 << 20, 0), "large": (10 << 20, 100)}  # (new file bytes, 4 KiB files rewritten)
OPS = ("snapshot create (running)", "snapshot restore (stopped)", "copy INST/SNAP NEW", "delete the copy",
       "snapshot delete")
IDLE = "idle (1 s, no snapshot)"


@dataclass
class Scenario:
    """One driver and size, on one pool of each daemon."""

    driver: str
    size: str
    pool: str
    runs: int

    def key(self, op: str) -> str:
        """Row key of an operation in this scenario."""
        return f"{self.driver}|{self.size}|{op}"


LETTER = {"pincus": "p", "incus": "i", "incus→pincusd": "x"}


def _names(targets: list[Target], sc: Scenario, tag: str) -> dict[str, str]:
    # Distinct names per target: Incus's container cgroups (lxc.payload.<name>) are host-global.
    return {t.label: f"{LETTER[t.label]}{sc.size[0]}{sc.driver[0]}-{tag}" for t in targets}


def _check(cond: bool, t: Target, what: str) -> None:
    if not cond:
        raise BenchError(f"{t.label}: {what}")


def run_scenario(targets: list[Target], sc: Scenario, template: Path | None, res: Results,
                 stalls: Results) -> None:
    """Measure every operation of one scenario on every target; always deletes its instances."""
    tag = secrets.token_hex(2)
    names = _names(targets, sc, tag)
    syncs = btrfs_mounts([t.pool_dir / sc.pool for t in targets])
    tickers: dict[str, Ticker] = {}
    new_bytes, rewrite = CHANGE[sc.size]
    label = f"{sc.driver}/{sc.size}"
    try:
        for t in targets:
            name = names[t.label]
            t.run("init", "busybox", name, "-s", sc.pool)
            if template is not None:
                progress(f"{label}: copying the template into {t.label}'s {name} (cp -a)")
                copy_into(template, t.rootfs(sc.pool, name))
            t.run("start", name)
            tickers[t.label] = Ticker(t, name)
        for t in targets:
            tickers[t.label].wait_ready()
        h0 = boottime()
        time.sleep(1.0)
        for t in targets:
            stalls.get(f"{sc.driver}|{sc.size}|{IDLE}", t.label).add(tickers[t.label].max_gap(h0, boottime()))

        for i in range(sc.runs):
            for t in alternate(targets, i):
                name, rootfs = names[t.label], t.rootfs(sc.pool, names[t.label])
                write_change(rootfs, f"c{i}", new_bytes, rewrite, i)
                settle(syncs)
                h0 = boottime()
                secs = t.timed("snapshot", "create", name, f"s{i}")
                h1 = boottime()
                t0 = time.perf_counter()
                os.sync()
                res.get(sc.key(OPS[0]), t.label).add(secs, time.perf_counter() - t0)
                gap = tickers[t.label].max_gap(h0, h1)
                stalls.get(f"{sc.driver}|{sc.size}|snapshot create (running)", t.label).add(gap)
                _check((t.pool_dir / sc.pool / "containers-snapshots" / name / f"s{i}").is_dir(), t,
                       f"snapshot s{i} of {name} is not on disk")
                progress(f"{label}: {t.label} snapshot create s{i}: {fmt_s(secs)} s, stall {fmt_s(gap)} s")
        for t in targets:
            tickers.pop(t.label).stop()
            t.run("stop", "--force", names[t.label])

        newest = f"s{sc.runs - 1}"
        for i in range(sc.runs):
            for t in alternate(targets, i):
                name, rootfs = names[t.label], t.rootfs(sc.pool, names[t.label])
                write_change(rootfs, f"r{i}", new_bytes)
                secs = measure(res, sc.key(OPS[1]), t, ["snapshot", "restore", name, newest], syncs)
                _check(not (t.rootfs(sc.pool, name) / "chg" / f"r{i}").exists(), t,
                       f"restore of {name}/{newest} left chg/r{i} behind")
                progress(f"{label}: {t.label} snapshot restore: {fmt_s(secs)} s")

        for i in range(sc.runs):
            for t in alternate(targets, i):
                name = names[t.label]
                copy = f"{name}-c{i}"
                secs = measure(res, sc.key(OPS[2]), t, ["copy", f"{name}/s{i}", copy], syncs)
                _check(t.rootfs(sc.pool, copy).is_dir(), t, f"copy {copy} is not on pool {sc.pool}")
                if template is not None:
                    _check((t.rootfs(sc.pool, copy) / "data" / "big" / "b000").is_file(), t,
                           f"copy {copy} lacks the data")
                secs2 = measure(res, sc.key(OPS[3]), t, ["delete", copy], syncs)
                progress(f"{label}: {t.label} copy {fmt_s(secs)} s, delete copy {fmt_s(secs2)} s")

        for i in range(sc.runs):
            for t in alternate(targets, i):
                secs = measure(res, sc.key(OPS[4]), t, ["snapshot", "delete", names[t.label], f"s{i}"], syncs)
                progress(f"{label}: {t.label} snapshot delete s{i}: {fmt_s(secs)} s")
    finally:
        for ticker in tickers.values():
            ticker.stop()
        for t in targets:
            name = names[t.label]
            progress(f"{label}: deleting {t.label}'s {name}")
            for i in range(sc.runs):
                if t.rootfs(sc.pool, f"{name}-c{i}").exists():
                    t.run("delete", "--force", f"{name}-c{i}", check=False)
            t.run("delete", "--force", name, check=False)


def create_btrfs_pools(d: Daemons) -> str:
    """A btrfs pool (loop file, 12 GiB, sparse) of the same name on both daemons."""
    name = f"bsnap-{secrets.token_hex(2)}"
    d.incusd.create_btrfs_pool(name, size=BTRFS_POOL_SIZE)
    d.pincusd.pools.append(name)
    d.pincus.run("storage", "create", name, "btrfs", f"size={BTRFS_POOL_SIZE}")
    return name


def needed_bytes(sizes: list[str], drivers: list[str], runs: dict[str, int], targets: int) -> int:
    """Rough peak disk use under /var/tmp: template + every target's instance, snapshots and one copy."""
    if "large" not in sizes:
        return GIB
    per_copy = LARGE.total_bytes * 1.05
    peak = per_copy  # template
    if "dir" in drivers:
        peak += targets * (runs["large"] + 2) * per_copy
    if "btrfs" in drivers:
        peak += targets * 2 * per_copy
    return int(peak)


def _prefix(row: str) -> list[str]:
    return row.split("|")


def stall_table(stalls: Results, labels: list[str]) -> str:
    """Largest tick gap per scenario: median [min–max] (n) of the per-snapshot maxima, per target."""
    rows = []
    for row in stalls.rows:
        cells = row.split("|")
        for label in labels:
            s = stalls.data.get((row, label))
            cells += [cell(s), _mx(s)]
        rows.append(cells)
    header = ["driver", "size", "during"]
    for label in labels:
        header += [f"{label} gap (s)", f"{label} max"]
    return markdown_table(header, rows)


def _mx(s: Samples | None) -> str:
    return fmt_s(max(s.times)) if s and s.times else "—"


def _median(res: Results, row: str, label: str) -> float | None:
    s = res.data.get((row, label))
    return s.median if s and s.times else None


def target_table(res: Results, sizes: list[str], drivers: list[str]) -> str:
    """The project's targets next to what was measured (informational, never an assertion)."""
    rows = []
    for driver in drivers:
        for size in sizes:
            if driver == "dir" and size != "large":
                continue
            goal = 1.0 if driver == "btrfs" else 0.5
            for op in OPS:
                row = f"{driver}|{size}|{op}"
                p, i = _median(res, row, "pincus"), _median(res, row, "incus")
                if p is None or i is None:
                    continue
                r = p / i
                rows.append([f"{driver} {size}: pincus/incus <= {goal}", op, f"{r:.2f}", "yes" if r <= goal else "NO"])
    if "btrfs" in drivers and len(sizes) == 2:
        for op in OPS:
            small = _median(res, f"btrfs|small|{op}", "pincus")
            large = _median(res, f"btrfs|large|{op}", "pincus")
            if small and large:
                r = large / small
                rows.append(["btrfs pincus flat in size: large/small ~ 1", op, f"{r:.2f}",
                             "yes" if r <= 1.5 else "NO"])
    return markdown_table(["target", "op", "measured", "met"], rows)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=["small", "large", "both"], default="small")
    ap.add_argument("--driver", choices=["dir", "btrfs", "both"], default="both")
    ap.add_argument("--runs", type=int, help="samples per operation (default 5 small, 3 large)")
    ap.add_argument("--incus-client", action="store_true",
                    help="add a third column: the stock incus client against pincusd (server-side cost)")
    ap.add_argument("--json", help="also write raw samples to this file")
    opts = ap.parse_args(argv)
    sizes = ["small", "large"] if opts.size == "both" else [opts.size]
    drivers = ["btrfs", "dir"] if opts.driver == "both" else [opts.driver]
    runs = {s: opts.runs or DEFAULT_RUNS[s] for s in sizes}
    labels = ["pincus", "incus"] + (["incus→pincusd"] if opts.incus_client else [])

    free = shutil.disk_usage("/var/tmp").free
    need = needed_bytes(sizes, drivers, runs, len(labels))
    progress(f"/var/tmp: {free / GIB:.1f} GiB free, this run needs about {need / GIB:.1f} GiB")
    if free < need:
        print(f"not enough space in /var/tmp ({free / GIB:.1f} GiB free, {need / GIB:.1f} GiB needed)",
              file=sys.stderr)
        return 2

    res, stalls = Results(), Results()
    template: Path | None = None
    failed = False
    started = time.monotonic()
    try:
        if "large" in sizes:
            progress(f"generating the large template ({LARGE.total_files} files, {LARGE.total_bytes / GIB:.2f} GiB)")
            t0 = time.monotonic()
            template = generate(LARGE)
            progress(f"template {template} ready in {time.monotonic() - t0:.0f} s")
        with side_by_side() as d:
            header = report_header("Snapshots", d)
            pools = {"dir": "default"}
            if "btrfs" in drivers:
                pools["btrfs"] = create_btrfs_pools(d)
            for driver in drivers:
                for size in sizes:
                    sc = Scenario(driver, size, pools[driver], runs[size])
                    progress(f"=== {driver}/{size}: {sc.runs} runs")
                    try:
                        targets = [d.pincus, d.incus] + ([d.incus_on_pincusd] if opts.incus_client else [])
                        run_scenario(targets, sc, template if size == "large" else None, res, stalls)
                    except BenchError as exc:
                        failed = True
                        print(f"\nFAILED in {driver}/{size}:\n{exc}\n", file=sys.stderr)
    finally:
        if template is not None:
            progress("removing the template")
            remove_template(template)

    print(header)
    print(f"* load average at end: {loadavg()}; total run time {time.monotonic() - started:.0f} s")
    print(f"* runs: {', '.join(f'{s} {n}' for s, n in runs.items())}; change before each snapshot: "
          "small 1 MiB new file, large 10 MiB new file + 100 rewritten 4 KiB files")
    print()
    print(comparison_table(res, labels, "pincus", "incus", with_sync=True, prefix=_prefix,
                           prefix_header=("driver", "size", "op")))
    print()
    print("Stall seen inside the running container (largest gap between 20 ms ticks):")
    print()
    print(stall_table(stalls, labels))
    print()
    print("Targets (btrfs: ratio <= 1.0 at both sizes and pincus flat in size; dir large: ratio <= 0.5):")
    print()
    print(target_table(res, sizes, drivers))
    dump_json(opts.json, {"times": res.to_json(), "stalls": stalls.to_json()})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
