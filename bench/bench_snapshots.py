"""Snapshots, side by side: pincus CLI on pincusd vs incus CLI on a real incusd, dir and btrfs pools.

    .venv/bin/python bench/bench_snapshots.py [--size small|large|both] [--driver dir|btrfs|both]
                                              [--runs N] [--dir-fs root|ext4] [--json FILE]

Per driver and size, on one instance per daemon:
  1. `snapshot create` on the RUNNING instance, after a small change (runs x); a ticker inside the
     container prints /proc/uptime every 20 ms and the largest gap during each snapshot is its stall;
  2. `snapshot restore` of the newest snapshot on the stopped instance, after a new file (runs x);
  3. `copy INST/SNAP NEW` (runs x), then `delete NEW` of each copy (runs x);
  4. `snapshot delete` (runs x).
Sizes: small = the bare busybox image; large = busybox + 2.4 GiB in 100,200 files (snapdata.py),
generated once into a template dir under /var/tmp and copied into each rootfs on the host.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
    sigterm_as_interrupt,
)
from snapdata import LARGE, copy_into, generate, remove_template, write_change  # noqa: E402
from ticker import Ticker, boottime  # noqa: E402

GIB = 1 << 30
BTRFS_POOL_SIZE = "12GiB"
EXT4_SIZE = 24 * GIB  # per daemon, sparse: instance, snapshots and copies of the large shape
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
    interleave_deletes: bool = False

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


@dataclass
class ScenarioRun:
    """The state of one scenario on every target: instance names, tickers, btrfs mounts to settle."""

    targets: list[Target]
    sc: Scenario
    template: Path | None
    res: Results
    stalls: Results
    names: dict[str, str] = field(default_factory=dict)
    tickers: dict[str, Ticker] = field(default_factory=dict)
    syncs: list[Path] = field(default_factory=list)
    label: str = field(init=False)
    new_bytes: int = field(init=False)
    rewrite: int = field(init=False)

    def __post_init__(self) -> None:
        self.names = _names(self.targets, self.sc, secrets.token_hex(2))
        self.syncs = btrfs_mounts([t.pool_dir / self.sc.pool for t in self.targets])
        self.label = f"{self.sc.driver}/{self.sc.size}"
        self.new_bytes, self.rewrite = CHANGE[self.sc.size]

    def rootfs(self, t: Target, suffix: str = "") -> Path:
        """Host path of the target's instance (or of its copy `<name><suffix>`)."""
        return t.rootfs(self.sc.pool, self.names[t.label] + suffix)

    def setup(self) -> None:
        """Create, fill and start one instance per target, start its ticker, record the idle gap."""
        for t in self.targets:
            name = self.names[t.label]
            t.run("init", "busybox", name, "-s", self.sc.pool)
            if self.template is not None:
                progress(f"{self.label}: copying the template into {t.label}'s {name} (cp -a)")
                copy_into(self.template, self.rootfs(t))
            t.run("start", name)
            self.tickers[t.label] = Ticker(t, name)
        for t in self.targets:
            self.tickers[t.label].wait_ready()
        h0 = boottime()
        time.sleep(1.0)
        for t in self.targets:
            gap = self.tickers[t.label].max_gap(h0, boottime())
            self.stalls.get(f"{self.sc.driver}|{self.sc.size}|{IDLE}", t.label).add(gap)

    def create_phase(self) -> None:
        """`snapshot create` on the running instances, each after a change; records time and stall."""
        for i in range(self.sc.runs):
            for t in alternate(self.targets, i):
                name = self.names[t.label]
                write_change(self.rootfs(t), f"c{i}", self.new_bytes, self.rewrite, i)
                settle(self.syncs)
                h0 = boottime()
                secs = t.timed("snapshot", "create", name, f"s{i}")
                h1 = boottime()
                t0 = time.perf_counter()
                os.sync()
                self.res.get(self.sc.key(OPS[0]), t.label).add(secs, time.perf_counter() - t0)
                gap = self.tickers[t.label].max_gap(h0, h1)
                self.stalls.get(self.sc.key(OPS[0]), t.label).add(gap)
                _check((t.pool_dir / self.sc.pool / "containers-snapshots" / name / f"s{i}").is_dir(), t,
                       f"snapshot s{i} of {name} is not on disk")
                progress(f"{self.label}: {t.label} snapshot create s{i}: {fmt_s(secs)} s, stall {fmt_s(gap)} s")
        for t in self.targets:
            self.tickers.pop(t.label).stop()
            t.run("stop", "--force", self.names[t.label])

    def restore_phase(self) -> None:
        """`snapshot restore` of the newest snapshot on the stopped instances, each after a new file."""
        newest = f"s{self.sc.runs - 1}"
        for i in range(self.sc.runs):
            for t in alternate(self.targets, i):
                name = self.names[t.label]
                write_change(self.rootfs(t), f"r{i}", self.new_bytes)
                secs = measure(self.res, self.sc.key(OPS[1]), t, ["snapshot", "restore", name, newest], self.syncs)
                _check(not (self.rootfs(t) / "chg" / f"r{i}").exists(), t,
                       f"restore of {name}/{newest} left chg/r{i} behind")
                progress(f"{self.label}: {t.label} snapshot restore: {fmt_s(secs)} s")

    def copy_phase(self) -> None:
        """`copy INST/sN INST-cN` n times, each checked on disk, then `delete INST-cN` n times.

        Copies come before deletes (unless interleave_deletes): on an ext4 without a journal, a
        copy made right after a 100k-file delete pays for the allocator skipping the freed inodes
        (see README), which measures the previous step more than the copy."""
        for i in range(self.sc.runs):
            for t in alternate(self.targets, i):
                self._copy(t, i)
                if self.sc.interleave_deletes:
                    self._delete_copy(t, i)
        if not self.sc.interleave_deletes:
            for i in range(self.sc.runs):
                for t in alternate(self.targets, i):
                    self._delete_copy(t, i)

    def _copy(self, t: Target, i: int) -> None:
        name, copy = self.names[t.label], f"{self.names[t.label]}-c{i}"
        secs = measure(self.res, self.sc.key(OPS[2]), t, ["copy", f"{name}/s{i}", copy], self.syncs)
        _check(self.rootfs(t, f"-c{i}").is_dir(), t, f"copy {copy} is not on pool {self.sc.pool}")
        if self.template is not None:
            _check((self.rootfs(t, f"-c{i}") / "data" / "big" / "b000").is_file(), t,
                   f"copy {copy} lacks the data")
        progress(f"{self.label}: {t.label} copy {fmt_s(secs)} s")

    def _delete_copy(self, t: Target, i: int) -> None:
        copy = f"{self.names[t.label]}-c{i}"
        secs = measure(self.res, self.sc.key(OPS[3]), t, ["delete", copy], self.syncs)
        progress(f"{self.label}: {t.label} delete copy {fmt_s(secs)} s")

    def delete_phase(self) -> None:
        """`snapshot delete` of every snapshot, oldest first."""
        for i in range(self.sc.runs):
            for t in alternate(self.targets, i):
                args = ["snapshot", "delete", self.names[t.label], f"s{i}"]
                secs = measure(self.res, self.sc.key(OPS[4]), t, args, self.syncs)
                progress(f"{self.label}: {t.label} snapshot delete s{i}: {fmt_s(secs)} s")

    def cleanup(self) -> None:
        """Stop the tickers and delete every instance this scenario made (errors ignored)."""
        for ticker in self.tickers.values():
            ticker.stop()
        for t in self.targets:
            progress(f"{self.label}: deleting {t.label}'s {self.names[t.label]}")
            for i in range(self.sc.runs):
                if self.rootfs(t, f"-c{i}").exists():
                    t.run("delete", "--force", f"{self.names[t.label]}-c{i}", check=False)
            t.run("delete", "--force", self.names[t.label], check=False)


def run_scenario(targets: list[Target], sc: Scenario, template: Path | None, res: Results,
                 stalls: Results) -> None:
    """Measure every operation of one scenario on every target; always deletes its instances."""
    run = ScenarioRun(targets, sc, template, res, stalls)
    try:
        run.setup()
        run.create_phase()
        run.restore_phase()
        run.copy_phase()
        run.delete_phase()
    finally:
        run.cleanup()


def create_btrfs_pools(d: Daemons) -> str:
    """A btrfs pool (loop file, 12 GiB, sparse) of the same name on both daemons."""
    name = f"bsnap-{secrets.token_hex(2)}"
    d.incusd.create_btrfs_pool(name, size=BTRFS_POOL_SIZE)
    d.pincusd.pools.append(name)
    d.pincus.run("storage", "create", name, "btrfs", f"size={BTRFS_POOL_SIZE}")
    return name


@contextmanager
def ext4_mounts(daemons: list[str]) -> Iterator[dict[str, Path]]:
    """A fresh ext4 per daemon (mkfs.ext4's defaults, so with a journal) on a sparse loop file under
    /var/tmp, mounted by the benchmark and unmounted by it afterwards."""
    base = Path(tempfile.mkdtemp(prefix="pincus-bench-ext4-", dir="/var/tmp"))
    mounts: dict[str, Path] = {}
    try:
        for name in daemons:
            image, point = base / f"{name}.img", base / name
            with open(image, "wb") as fh:
                fh.truncate(EXT4_SIZE)
            subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
            point.mkdir()
            subprocess.run(["mount", "-o", "loop", str(image), str(point)], check=True)
            mounts[name] = point
            (point / "pool").mkdir()
        yield mounts
    finally:
        for point in mounts.values():
            subprocess.run(["umount", "-l", str(point)], check=False)  # -o loop: the device goes too
        shutil.rmtree(base, ignore_errors=True)


def create_ext4_dir_pools(d: Daemons, mounts: dict[str, Path]) -> str:
    """A dir pool of the same name on both daemons, each on its own fresh ext4."""
    name = f"dext4-{secrets.token_hex(2)}"
    d.incusd.run("storage", "create", name, "dir", f"source={mounts['incusd'] / 'pool'}")
    d.incusd.pools.append(name)
    d.pincusd.pools.append(name)
    d.pincus.run("storage", "create", name, "dir", f"source={mounts['pincusd'] / 'pool'}")
    return name


def needed_bytes(sizes: list[str], drivers: list[str], runs: dict[str, int], targets: int) -> int:
    """Rough peak disk use under /var/tmp: template + every target's instance, snapshots and copies."""
    if "large" not in sizes:
        return GIB
    per_copy = LARGE.total_bytes * 1.05
    peak = per_copy  # template
    if "dir" in drivers:
        peak += targets * (2 * runs["large"] + 1) * per_copy
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
            small = res.data.get((f"btrfs|small|{op}", "pincus"))
            large = res.data.get((f"btrfs|large|{op}", "pincus"))
            if small and large and small.times and large.times:
                r = large.median / small.median
                r_min = min(large.times) / min(small.times)
                rows.append(["btrfs pincus flat in size: large/small <= 1.5", op,
                             f"{r:.2f} (of minima: {r_min:.2f})", "yes" if r <= 1.5 else "NO"])
    return markdown_table(["target", "op", "measured", "met"], rows)


@dataclass
class Plan:
    """What one invocation measures."""

    sizes: list[str]
    drivers: list[str]
    runs: dict[str, int]
    labels: list[str]
    interleave_deletes: bool = False
    dir_fs: str = "root"


def run_all(plan: Plan, res: Results, stalls: Results) -> tuple[str, bool]:
    """Generate the data, start both daemons, run every scenario; returns (report header, failed)."""
    template: Path | None = None
    failed = False
    try:
        if "large" in plan.sizes:
            progress(f"generating the large template ({LARGE.total_files} files, {LARGE.total_bytes / GIB:.2f} GiB)")
            t0 = time.monotonic()
            template = generate(LARGE)
            progress(f"template {template} ready in {time.monotonic() - t0:.0f} s")
        ext4 = plan.dir_fs == "ext4" and "dir" in plan.drivers
        with ext4_mounts(["pincusd", "incusd"] if ext4 else []) as mounts, side_by_side() as d:
            header = report_header("Snapshots", d)
            pools = {"dir": create_ext4_dir_pools(d, mounts) if ext4 else "default"}
            where = "a fresh ext4 (with a journal) on a loop file per daemon" if ext4 else "the root ext4 (no journal)"
            header += f"\n* dir pools on {where}"
            if "btrfs" in plan.drivers:
                pools["btrfs"] = create_btrfs_pools(d)
            by_label = {t.label: t for t in (d.pincus, d.incus, d.incus_on_pincusd)}
            targets = [by_label[label] for label in plan.labels]
            for driver in plan.drivers:
                for size in plan.sizes:
                    sc = Scenario(driver, size, pools[driver], plan.runs[size], plan.interleave_deletes)
                    progress(f"=== {driver}/{size}: {sc.runs} runs")
                    try:
                        run_scenario(targets, sc, template if size == "large" else None, res, stalls)
                    except BenchError as exc:
                        failed = True
                        print(f"\nFAILED in {driver}/{size}:\n{exc}\n", file=sys.stderr)
    finally:
        if template is not None:
            progress("removing the template")
            remove_template(template)
    return header, failed


def print_report(header: str, plan: Plan, res: Results, stalls: Results, seconds: float) -> None:
    """The markdown report: header, times with ratios, stalls, targets."""
    print(header)
    print(f"* load average at end: {loadavg()}; total run time {seconds:.0f} s")
    print(f"* runs: {', '.join(f'{s} {n}' for s, n in plan.runs.items())}; change before each snapshot: "
          "small 1 MiB new file, large 10 MiB new file + 100 rewritten 4 KiB files")
    order = "each copy deleted before the next copy" if plan.interleave_deletes else "all copies, then their deletes"
    print(f"* copy phase: {order}")
    print()
    print(comparison_table(res, plan.labels, "pincus", "incus", with_sync=True, prefix=_prefix,
                           prefix_header=("driver", "size", "op")))
    print()
    print("Stall seen inside the running container (largest gap between 20 ms ticks):")
    print()
    print(stall_table(stalls, plan.labels))
    print()
    print("Targets (btrfs: ratio <= 1.0 at both sizes and pincus flat in size; dir large: ratio <= 0.5):")
    print()
    print(target_table(res, plan.sizes, plan.drivers))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=["small", "large", "both"], default="small")
    ap.add_argument("--driver", choices=["dir", "btrfs", "both"], default="both")
    ap.add_argument("--runs", type=int, help="samples per operation (default 5 small, 3 large)")
    ap.add_argument("--incus-client", action="store_true",
                    help="add a third column: the stock incus client against pincusd (server-side cost)")
    ap.add_argument("--json", help="also write raw samples to this file")
    ap.add_argument("--dir-fs", choices=["root", "ext4"], default="root",
                    help="where the dir pools live: the root filesystem, or a fresh ext4 loop file per daemon")
    ap.add_argument("--interleave-deletes", action="store_true",
                    help="delete each copy before the next copy (the order before 2026-11-26 14:30)")
    opts = ap.parse_args(argv)
    sigterm_as_interrupt()
    sizes = ["small", "large"] if opts.size == "both" else [opts.size]
    plan = Plan(sizes=sizes, drivers=["btrfs", "dir"] if opts.driver == "both" else [opts.driver],
                runs={s: opts.runs or DEFAULT_RUNS[s] for s in sizes},
                labels=["pincus", "incus"] + (["incus→pincusd"] if opts.incus_client else []),
                interleave_deletes=opts.interleave_deletes, dir_fs=opts.dir_fs)

    free = shutil.disk_usage("/var/tmp").free
    need = needed_bytes(plan.sizes, plan.drivers, plan.runs, len(plan.labels))
    progress(f"/var/tmp: {free / GIB:.1f} GiB free, this run needs about {need / GIB:.1f} GiB")
    if free < need:
        print(f"not enough space in /var/tmp ({free / GIB:.1f} GiB free, {need / GIB:.1f} GiB needed)",
              file=sys.stderr)
        return 2
    res, stalls = Results(), Results()
    started = time.monotonic()
    header, failed = run_all(plan, res, stalls)
    print_report(header, plan, res, stalls, time.monotonic() - started)
    dump_json(opts.json, {"times": res.to_json(), "stalls": stalls.to_json()})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
