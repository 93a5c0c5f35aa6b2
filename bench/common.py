"""Shared machinery of the side-by-side benchmarks: pincus against a real Incus 6.0.4, one run, one machine.

Every number is the wall clock of one whole CLI command (client start-up included), as a user sees it.
Before each timed command the benchmarks call `settle()`: `sync` (plus `btrfs filesystem sync` and
`btrfs subvolume sync` on btrfs pools, so deferred subvolume cleanup of the previous step is finished),
then a short pause. Nothing else is dropped or flushed: page cache is left alone on purpose.

Known noise on this VM kind (shared/reference/incus-perf.md, section 2):
  * DAMON proactive reclaim (kdamond, `paddr` `pageout`, min age ~60 s) evicts page cache that was idle
    for about a minute, so the first dir operation after a pause may re-read the tree from disk.
  * ext4 metadata is slow and online `discard` is on: `rm -rf` of many files leaves a discard backlog
    that slows the next operations. dir numbers vary by +-50 %; compare ratios, not absolute values.
  * Other work on the same host (load average is printed in every report header).
Targets run in alternating order in every iteration (A B, then B A, ...) so that slow drift hits both.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.incusd import IncusDaemon, start_incusd  # noqa: E402
from tests.support.pincusd import Pincusd, busybox_image, start_pincusd  # noqa: E402

PINCUS = str(REPO / ".venv" / "bin" / "pincus")
INCUS = "/usr/bin/incus"
SETTLE_PAUSE = 0.3
LOG_TAIL_LINES = 40


class BenchError(RuntimeError):
    """A benchmarked command failed; carries the command, its output and the daemon log tail."""


def progress(msg: str) -> None:
    """One progress line on stderr, with a timestamp."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a daemon log (empty when it is missing)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Target:
    """One CLI aimed at one daemon: what a column of a result table measures."""

    label: str
    argv0: list[str]
    env: dict[str, str]
    pool_dir: Path
    log: Path
    daemon: str
    # Further (name, log) pairs whose tails a failure report also shows: the other daemon of a copy.
    more_logs: list[tuple[str, Path]] = field(default_factory=list)

    def run(self, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        """Run the CLI once; on failure raise BenchError with output and the daemon log tail."""
        proc = subprocess.run([*self.argv0, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise BenchError(
                f"{self.label}: `{' '.join([os.path.basename(self.argv0[0]), *args])}` exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout.strip()}\n--- stderr\n{proc.stderr.strip()}\n"
                f"--- {self.daemon} log ({self.log}), last {LOG_TAIL_LINES} lines\n{log_tail(self.log)}"
                + "".join(f"\n--- {name} log ({log}), last {LOG_TAIL_LINES} lines\n{log_tail(log)}"
                          for name, log in self.more_logs)
            )
        return proc

    def timed(self, *args: str, timeout: float = 1800) -> float:
        """Seconds one CLI invocation takes, start-up included (raises BenchError if it fails)."""
        t0 = time.perf_counter()
        self.run(*args, timeout=timeout)
        return time.perf_counter() - t0

    def rootfs(self, pool: str, inst: str) -> Path:
        """Host path of an instance's rootfs on a pool (same layout for both daemons)."""
        return self.pool_dir / pool / "containers" / inst / "rootfs"


@dataclass
class Daemons:
    """A private incusd and a private pincusd, plus the three CLI/daemon pairs that reach them."""

    incusd: IncusDaemon
    pincusd: Pincusd
    pincus: Target = field(init=False)
    incus: Target = field(init=False)
    incus_on_pincusd: Target = field(init=False)

    def __post_init__(self) -> None:
        # The pincus CLI gets a config dir of its own: the stock incus client writes a config.yml into
        # INCUS_CONF on first use, and a pincus user who never ran `pincus remote add` has none.
        pincus_env = self.pincusd.env()
        pincus_env["PINCUS_CONF"] = str(self.pincusd.root / "pincus-conf")
        Path(pincus_env["PINCUS_CONF"]).mkdir(exist_ok=True)
        self.pincus = Target("pincus", [PINCUS], pincus_env, self.pincusd.root / "storage-pools",
                             self.pincusd.log, "pincusd")
        self.incus = Target("incus", [INCUS], self.incusd.env(), self.incusd.incus_dir / "storage-pools",
                            self.incusd.log_path, "incusd")
        self.incus_on_pincusd = Target("incus→pincusd", [INCUS], self.pincusd.env(),
                                       self.pincusd.root / "storage-pools", self.pincusd.log, "pincusd")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def sigterm_as_interrupt() -> None:
    """Make SIGTERM raise KeyboardInterrupt, so `finally` blocks clean up on `kill PID` too."""
    signal.signal(signal.SIGTERM, _raise_interrupt)


@contextmanager
def side_by_side(pincus_pool: str = "dir") -> Iterator[Daemons]:
    """Start a private incusd (dir pool "default") and a private pincusd (pool "default" of the
    given driver), each with the busybox image as "busybox"; stop both (by PID) on the way out."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    incusd: IncusDaemon | None = None
    pincusd: Pincusd | None = None
    try:
        progress("starting a private incusd")
        incusd = start_incusd()
        incusd.import_image(*busybox_image(), alias="busybox")
        progress(f"incusd pid {incusd.proc.pid} in {incusd.base_dir}")
        progress("starting a private pincusd")
        pincusd = start_pincusd()
        progress(f"pincusd pid {pincusd.proc.pid} in {pincusd.root}")
        pincusd.init_pool(pincus_pool)
        pincusd.import_busybox()
        yield Daemons(incusd, pincusd)
    finally:
        for name, stop in (("pincusd", pincusd.stop if pincusd else None),
                           ("incusd", incusd.stop if incusd else None)):
            if stop is None:
                continue
            progress(f"stopping the private {name} and deleting what it holds")
            try:
                stop()
            except Exception as exc:  # keep going: the other daemon must be stopped too
                progress(f"cleanup of {name} failed: {exc!r}")
        if pincusd is not None:
            pincusd.log.unlink(missing_ok=True)
        signal.signal(signal.SIGTERM, previous)


def btrfs_mounts(pool_dirs: Sequence[Path]) -> list[Path]:
    """The pool directories that are btrfs mounts."""
    out = []
    for path in pool_dirs:
        fs = subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True).stdout
        if fs.strip() == "btrfs":
            out.append(path)
    return out


def settle(btrfs_paths: Sequence[Path] = ()) -> float:
    """`sync`, plus btrfs cleaner sync on the given btrfs mounts, then a short pause; returns the sync time."""
    t0 = time.perf_counter()
    os.sync()
    for path in btrfs_paths:
        subprocess.run(["btrfs", "filesystem", "sync", str(path)], capture_output=True)
        subprocess.run(["btrfs", "subvolume", "sync", str(path)], capture_output=True)
    spent = time.perf_counter() - t0
    time.sleep(SETTLE_PAUSE)
    return spent


def alternate(targets: Sequence[Target], i: int) -> list[Target]:
    """Targets in rotated order for iteration i, so no target is always first."""
    k = i % len(targets)
    return [*targets[k:], *targets[:k]]


@dataclass
class Samples:
    """Timings of one operation on one target (seconds), plus the `sync` that followed each one."""

    times: list[float] = field(default_factory=list)
    syncs: list[float] = field(default_factory=list)

    def add(self, seconds: float, sync_after: float | None = None) -> None:
        """Record one timing (and optionally the sync that followed it)."""
        self.times.append(seconds)
        if sync_after is not None:
            self.syncs.append(sync_after)

    @property
    def median(self) -> float:
        """Median time."""
        return statistics.median(self.times)

    @property
    def median_with_sync(self) -> float | None:
        """Median of time + following sync (None when syncs were not recorded)."""
        if len(self.syncs) != len(self.times) or not self.times:
            return None
        return statistics.median(t + s for t, s in zip(self.times, self.syncs, strict=True))


class Results:
    """Samples keyed by (row, target label), in insertion order of rows."""

    def __init__(self) -> None:
        self.rows: list[str] = []
        self.data: dict[tuple[str, str], Samples] = {}

    def get(self, row: str, label: str) -> Samples:
        """The samples of one row and target, created on first use."""
        if row not in self.rows:
            self.rows.append(row)
        return self.data.setdefault((row, label), Samples())

    def has(self, row: str, label: str) -> bool:
        """True when the row has samples for the target."""
        s = self.data.get((row, label))
        return bool(s and s.times)

    def to_json(self) -> dict[str, dict[str, dict[str, list[float]]]]:
        """Raw samples as plain data."""
        out: dict[str, dict[str, dict[str, list[float]]]] = {}
        for (row, label), s in self.data.items():
            out.setdefault(row, {})[label] = {"times": s.times, "syncs": s.syncs}
        return out


def measure(results: Results, row: str, target: Target, args: Sequence[str],
            btrfs_paths: Sequence[Path] = (), timeout: float = 1800) -> float:
    """settle(), time one CLI command, time the `sync` after it; record both under (row, target)."""
    settle(btrfs_paths)
    seconds = target.timed(*args, timeout=timeout)
    t0 = time.perf_counter()
    os.sync()
    results.get(row, target.label).add(seconds, time.perf_counter() - t0)
    return seconds


def fmt_s(x: float) -> str:
    """Seconds with 3 significant digits."""
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def cell(s: Samples | None) -> str:
    """`median [min–max] (n)` for a table cell."""
    if s is None or not s.times:
        return "—"
    if len(s.times) == 1:
        return f"{fmt_s(s.times[0])} (1)"
    return f"{fmt_s(s.median)} [{fmt_s(min(s.times))}–{fmt_s(max(s.times))}] ({len(s.times)})"


def ratio(a: float | None, b: float | None) -> str:
    """a/b with two decimals, or a dash."""
    if a is None or b is None or b <= 0:
        return "—"
    r = a / b
    return f"{r:.2f}" if r < 10 else f"{r:.0f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def comparison_table(results: Results, labels: Sequence[str], num: str, den: str,
                     with_sync: bool = False, prefix: Callable[[str], list[str]] | None = None,
                     prefix_header: Sequence[str] = ("op",)) -> str:
    """Rows of medians per target, then the ratio num/den (and the ratio including the following sync)."""
    header = [*prefix_header, *(f"{lab} (s)" for lab in labels), f"ratio {num}/{den}"]
    if with_sync:
        header.append("ratio incl. sync")
    rows = []
    for row in results.rows:
        cells = prefix(row) if prefix else [row]
        cells += [cell(results.data.get((row, lab))) for lab in labels]
        a, b = results.data.get((row, num)), results.data.get((row, den))
        cells.append(ratio(a.median if a and a.times else None, b.median if b and b.times else None))
        if with_sync:
            cells.append(ratio(a.median_with_sync if a else None, b.median_with_sync if b else None))
        rows.append(cells)
    return markdown_table(header, rows)


def _cmd_out(argv: Sequence[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def loadavg() -> str:
    """The 1/5/15-minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def damon_state() -> str:
    """Whether a kdamond (DAMON proactive reclaim) is running."""
    states = [p.read_text().strip() for p in Path("/sys/kernel/mm/damon/admin/kdamonds").glob("*/state")]
    return ",".join(states) or "absent"


def report_header(title: str, daemons: Daemons | None = None) -> str:
    """A markdown header naming date, machine, versions and load, for pasting into bench/README.md."""
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    rev = _cmd_out(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = _cmd_out(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])
    incus_ver = daemons.incus.run("version", check=False).stdout.split() if daemons else []
    lines = [
        f"## {title}",
        "",
        f"* date: {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"* machine: {platform.node()}, {os.cpu_count()} vCPU {cpu}, {mem_kb // 1024 // 1024 + 1} GiB RAM, "
        f"kernel {platform.release()}",
        f"* incus: {' '.join(incus_ver[-1:]) or '?'} (client and server); "
        f"pincus: git {rev}{' + local changes' if dirty else ''}",
        f"* load average at start: {loadavg()}; DAMON kdamond: {damon_state()}",
    ]
    return "\n".join(lines)


def dump_json(path: str | None, payload: object) -> None:
    """Write raw samples as JSON when a path was given."""
    if path:
        Path(path).write_text(json.dumps(payload, indent=1))
        progress(f"raw samples written to {path}")
