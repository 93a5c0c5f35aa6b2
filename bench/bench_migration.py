"""Copy and incremental refresh between two private pincusd, against an rsync floor (issue 6).

    .venv/bin/python bench/bench_migration.py [--driver btrfs|dir|both] [--runs N] [--full-runs N]
                                              [--mode pull|push|relay] [--stopped] [--quick] [--json FILE]

Per driver pair (btrfs->btrfs, dir->dir), between a source and a target pincusd on this machine joined
over HTTPS on 127.0.0.1 (the source's client is trusted through a token: `remote add snap TOKEN`):
  1. on the source, one instance whose rootfs holds the 2.38 GiB / 100,200-file tree of snapdata.py
     (copied in on the host, as bench_snapshots.py does), running, with one snapshot s0;
  2. `pincus copy INST snap:INST` (full copy), timed, and the bytes the target logged per volume;
  3. runs x: a 10 MiB change (one new 8 MiB file + 512 rewritten 4 KiB files), `snapshot create INST sN`
     (the daily snapshot), then `pincus copy --refresh INST snap:INST`, timed, with its bytes;
  4. the floors: `rsync -a --delete -H -A -X --numeric-ids --stats` of the same tree (the source's newest
     snapshot, s0 then sN) to a fresh directory on the same kind of filesystem (full), then onto that copy
     after every change; on btrfs also `btrfs send [-p sN-1] sN | btrfs receive` into that filesystem.
After every refresh the new and rewritten files' SHA-256 on the target's live volume and newest snapshot
must equal the source's; after the last one `rsync -n -i` must find no difference between the trees.
`--quick` uses a 40 MiB tree, to check the harness itself.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    LOG_TAIL_LINES,
    PINCUS,
    REPO,
    BenchError,
    Results,
    Samples,
    Target,
    btrfs_mounts,
    cell,
    damon_state,
    dump_json,
    loadavg,
    log_tail,
    markdown_table,
    progress,
    ratio,
    settle,
    sigterm_as_interrupt,
)
from snapdata import LARGE, Shape, copy_into, generate, remove_template, write_change  # noqa: E402

from tests.support.pincusd import Pincusd, start_pincusd  # noqa: E402

GIB, MIB, KIB = 1 << 30, 1 << 20, 1 << 10
BTRFS_POOL_SIZE = "12GiB"
BTRFS_MOUNT_OPTIONS = "discard=async,user_subvol_rm_allowed"  # what pincusd mounts its btrfs pools with
QUICK = Shape(dirs=4, files_per_dir=600, big_files=2, big_bytes=10 * MIB)
REMOTE = "snap"
NEW_FILE = 8 * MIB
REWRITTEN = 512  # 4 KiB files rewritten in place per change: 8 MiB + 2 MiB = 10 MiB
REFRESH_GOAL = {"btrfs": 0.10}  # refresh/full copy, pincus
FULL, REFRESH = "full copy", "refresh after a 10 MiB change"
SNAP = "snapshot create on the source (before each refresh)"
PINCUS_COL, RSYNC_COL, SEND_COL = "pincus", "rsync", "btrfs send+receive"
FLOOR = ["rsync", "-a", "--delete", "-H", "-A", "-X", "--numeric-ids"]
RECEIVED = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?received (?P<what>.+?) of (?P<inst>\S+) "
                      r"over (?P<via>\w+): (?P<bytes>\d+) bytes in (?P<secs>[\d.]+)s", re.M)
PHASES = ("before the first stream", "in the streams", "between the streams", "after the last stream")
CPU = ("source pincusd CPU", "target pincusd CPU", "their child processes' CPU")
TICK = os.sysconf("SC_CLK_TCK")
TRANSPORT = {"btrfs": "btrfs", "dir": "rsync"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_cmd(argv: Sequence[str], logs: Sequence[tuple[str, Path]], timeout: float = 3600) -> str:
    """Run a host command; on failure raise BenchError with its output and the daemon log tails."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` exited {proc.returncode}\n--- stdout\n{proc.stdout.strip()}\n"
                         f"--- stderr\n{proc.stderr.strip()}" + tails(logs))
    return proc.stdout


def tails(logs: Sequence[tuple[str, Path]]) -> str:
    """The last lines of each daemon log, for a failure report."""
    return "".join(f"\n--- {name} log ({log}), last {LOG_TAIL_LINES} lines\n{log_tail(log)}" for name, log in logs)


@dataclass
class Pair:
    """A source and a target pincusd; `cli` is the pincus CLI on the source, with the target as `snap:`."""

    source: Pincusd
    target: Pincusd
    cli: Target

    @property
    def logs(self) -> list[tuple[str, Path]]:
        """Both daemon logs, named."""
        return [("source pincusd", self.source.log), ("target pincusd", self.target.log)]


def _daemon_cli(d: Pincusd, logs: list[tuple[str, Path]], *args: str) -> str:
    proc = d.run(*args, check=False)
    if proc.returncode != 0:
        raise BenchError(f"`pincus {' '.join(args)}` on {d.root} exited {proc.returncode}\n"
                         f"--- stdout\n{proc.stdout.strip()}\n--- stderr\n{proc.stderr.strip()}" + tails(logs))
    return proc.stdout


@contextmanager
def two_daemons(keep_logs: Path | None = None) -> Iterator[Pair]:
    """Start a source and a target pincusd (dir pool "default" on both), listening on 127.0.0.1 and
    joined by a trust token; stop both (by PID) and delete what they hold on the way out."""
    daemons: list[Pincusd] = []
    try:
        for role in ("source", "target"):
            progress(f"starting the {role} pincusd")
            daemons.append(start_pincusd())
            progress(f"{role} pincusd pid {daemons[-1].proc.pid} in {daemons[-1].root}")
        source, target = daemons
        logs = [("source pincusd", source.log), ("target pincusd", target.log)]
        for d in daemons:
            d.init_pool("dir")
            _daemon_cli(d, logs, "config", "set", "core.https_address", f"127.0.0.1:{free_port()}")
        source.import_busybox()
        token = _daemon_cli(target, logs, "config", "trust", "add", f"pincus-test-{secrets.token_hex(3)}")
        conf = source.root / "bench-client-conf"
        conf.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INCUS_", "PINCUS_"))}
        env.update(PINCUS_DIR=str(source.root), PINCUS_CONF=str(conf))
        cli = Target("pincus", [PINCUS], env, source.root / "storage-pools", source.log, "source pincusd",
                     more_logs=[("target pincusd", target.log)])
        cli.run("remote", "add", REMOTE, token.strip().splitlines()[-1])
        yield Pair(source, target, cli)
    finally:
        for role, d in reversed(list(zip(("source", "target"), daemons, strict=False))):
            if keep_logs is not None and d.log.exists():
                keep_logs.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(d.log, keep_logs / f"{role}-pincusd.log")
            progress(f"stopping pincusd pid {d.proc.pid} and deleting what it holds")
            try:
                d.stop()
            except Exception as exc:  # keep going: the other daemon must be stopped too
                progress(f"cleanup of {d.root} failed: {exc!r}")


@contextmanager
def floor_dir(driver: str) -> Iterator[Path]:
    """A fresh directory for the rsync floor: on a private btrfs loop file (12 GiB, sparse) for btrfs,
    under /var/tmp (the ext4 the dir pools are on) for dir; removed (and unmounted) on the way out."""
    top = Path(tempfile.mkdtemp(prefix="pincus-test-floor-", dir="/var/tmp"))
    mnt = top / "mnt"
    mnt.mkdir()
    mounted = False
    try:
        if driver == "btrfs":
            img = top / "floor.img"
            with open(img, "wb") as f:
                f.truncate(12 * GIB)
            subprocess.run(["mkfs.btrfs", "-q", str(img)], check=True, capture_output=True)
            # mount -o loop: the loop device is autocleared by the umount, never detached by hand.
            subprocess.run(["mount", "-t", "btrfs", "-o", f"loop,{BTRFS_MOUNT_OPTIONS}", str(img), str(mnt)],
                           check=True, capture_output=True)
            mounted = True
        yield mnt
    finally:
        if mounted and subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


@dataclass
class Plan:
    """What one invocation measures."""

    drivers: list[str]
    runs: int
    full_runs: int
    mode: str
    running: bool
    shape: Shape
    keep_logs: Path | None = None


@dataclass
class Volume:
    """One volume the target logged as received."""

    what: str  # "s3" or "the instance volume"
    via: str
    nbytes: int
    seconds: float
    end: float  # epoch seconds, from the log line's time stamp (ms)


@dataclass
class Measured:
    """Everything measured, across pairs."""

    times: Results = field(default_factory=Results)
    nbytes: Results = field(default_factory=Results)
    phases: Results = field(default_factory=Results)  # where the wall clock of a pincus copy went (PHASES)
    volumes: dict[str, list[list[Volume]]] = field(default_factory=dict)  # per row key, per transfer
    disk: dict[str, str] = field(default_factory=dict)
    checks: dict[str, list[str]] = field(default_factory=dict)
    odd: list[str] = field(default_factory=list)


def sha256(path: Path) -> str:
    """SHA-256 of one file ("missing" when it is not there)."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        return "missing"


def rsync_bytes(stats: str) -> int:
    """Total bytes sent + received from rsync's --stats output."""
    total = 0
    for key in ("sent", "received"):
        m = re.search(rf"Total bytes {key}: ([\d,]+)", stats)
        total += int(m.group(1).replace(",", "")) if m else 0
    return total


def allocated(paths: Sequence[Path]) -> int:
    """Bytes allocated on disk under paths (hard links counted once, as `du`)."""
    existing = [str(p) for p in paths if p.exists()]
    if not existing:
        return 0
    out = subprocess.run(["du", "-scxB1", *existing], capture_output=True, text=True).stdout.splitlines()
    return int(out[-1].split()[0]) if out else 0


class PairRun:
    """One driver pair: instance on the source, its copy on the target, the rsync floor."""

    def __init__(self, pair: Pair, driver: str, pool: str, plan: Plan, floor: Path, m: Measured) -> None:
        self.pair, self.driver, self.pool, self.plan, self.floor, self.m = pair, driver, pool, plan, floor, m
        self.name = f"mig-{driver[0]}-{secrets.token_hex(2)}"
        self.label = f"{driver}→{driver}"
        self.syncs = btrfs_mounts([self.pool_dir(pair.source), self.pool_dir(pair.target), floor])
        self.mode = [] if plan.mode == "pull" else ["--mode", plan.mode]
        self.copy = floor / "copy"
        self.recv = floor / "recv"
        m.checks[self.label] = []

    def pool_dir(self, d: Pincusd) -> Path:
        """Host path of the pool on a daemon."""
        return d.root / "storage-pools" / self.pool

    def rootfs(self, d: Pincusd, snap: str = "") -> Path:
        """Host path of the instance's rootfs (or of one of its snapshots) on a daemon."""
        if snap:
            return self.pool_dir(d) / "containers-snapshots" / self.name / snap / "rootfs"
        return self.pool_dir(d) / "containers" / self.name / "rootfs"

    def key(self, op: str) -> str:
        """Row key of an operation of this pair."""
        return f"{self.label}|{op}"

    def setup(self, template: Path) -> None:
        """The source instance: busybox + the tree, (running,) with snapshot s0."""
        cli = self.pair.cli
        cli.run("init", "busybox", self.name, "-s", self.pool)
        progress(f"{self.label}: copying the tree into the source's {self.name} (cp -a)")
        copy_into(template, self.rootfs(self.pair.source))
        if self.plan.running:
            cli.run("start", self.name)
        cli.run("snapshot", "create", self.name, "s0")

    def pincus_copy(self, refresh: bool) -> float:
        """Time one `pincus copy [--refresh] INST snap:INST`; record time, following sync and bytes."""
        log = self.pair.target.log
        mark = log.stat().st_size
        settle(self.syncs)
        args = ["copy", *(["--refresh"] if refresh else []), *self.mode, self.name, f"{REMOTE}:{self.name}"]
        started, cpu0 = time.time(), self.cpu()
        secs = self.pair.cli.timed(*args, timeout=7200)
        ended, cpu1 = time.time(), self.cpu()
        t0 = time.perf_counter()
        os.sync()
        sync = time.perf_counter() - t0
        vols = self.received(log, mark)
        if not vols:
            raise BenchError(f"{self.label}: `pincus {' '.join(args)}` succeeded but the target logged no "
                             "received volume" + tails(self.pair.logs))
        for v in vols:
            if v.via != TRANSPORT[self.driver]:
                self.m.odd.append(f"{self.label}: {v.what} went over {v.via}, expected {TRANSPORT[self.driver]}")
        op = REFRESH if refresh else FULL
        self.m.times.get(self.key(op), PINCUS_COL).add(secs, sync)
        self.m.nbytes.get(self.key(op), PINCUS_COL).add(sum(v.nbytes for v in vols))
        for phase, seconds in phases(vols, started, ended).items():
            self.m.phases.get(self.key(op), phase).add(seconds)
        for what, a, b in zip(CPU, cpu0, cpu1, strict=True):
            self.m.phases.get(self.key(op), what).add(b - a)
        self.m.volumes.setdefault(self.key(op), []).append(vols)
        shown = ", ".join(f"{v.what} {human(v.nbytes)} in {v.seconds:.2f} s" for v in vols)
        progress(f"{self.label}: pincus {op}: {secs:.2f} s (+{sync:.2f} s sync); {shown}")
        return secs

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds so far: the source daemon, the target daemon (all threads), their reaped children."""
        own, children = [], 0.0
        for d in (self.pair.source, self.pair.target):
            fields = Path(f"/proc/{d.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            own.append((int(fields[11]) + int(fields[12])) / TICK)  # utime, stime
            children += (int(fields[13]) + int(fields[14])) / TICK  # cutime, cstime
        return own[0], own[1], children

    def received(self, log: Path, mark: int) -> list[Volume]:
        """The volumes of this instance the target logged after byte offset mark."""
        with open(log, "rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        return [Volume(m["what"], m["via"], int(m["bytes"]), float(m["secs"]),
                       _dt.datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S,%f").timestamp())
                for m in RECEIVED.finditer(text) if m["inst"] == self.name]

    def rsync_floor(self, op: str, snap: str) -> float:
        """Time `rsync -a --delete -HAX --numeric-ids --stats` of a source snapshot's rootfs onto the floor copy.

        The floor reads the snapshot, not the live rootfs: reading the live tree would update atimes
        (relatime) there, and btrfs send would then carry ~84 B per read inode in the next refresh."""
        settle(self.syncs)
        argv = [*FLOOR, "--stats", f"{self.rootfs(self.pair.source, snap)}/", f"{self.copy}/"]
        t0 = time.perf_counter()
        out = run_cmd(argv, self.pair.logs)
        secs = time.perf_counter() - t0
        t0 = time.perf_counter()
        os.sync()
        sync = time.perf_counter() - t0
        self.m.times.get(self.key(op), RSYNC_COL).add(secs, sync)
        self.m.nbytes.get(self.key(op), RSYNC_COL).add(rsync_bytes(out))
        progress(f"{self.label}: rsync {op}: {secs:.2f} s (+{sync:.2f} s sync), {human(rsync_bytes(out))}")
        return secs

    def send_receive(self, op: str, snap: str, parent: str) -> None:
        """btrfs only: time `btrfs send [-p parent] snap | btrfs receive` into the floor filesystem."""
        src = self.pool_dir(self.pair.source) / "containers-snapshots" / self.name
        argv = ["btrfs", "send", "-q", *(["-p", str(src / parent)] if parent else []), str(src / snap)]
        self.recv.mkdir(exist_ok=True)
        settle(self.syncs)
        t0 = time.perf_counter()
        send = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        recv = subprocess.run(["btrfs", "receive", "-q", str(self.recv)], stdin=send.stdout, capture_output=True,
                              text=True, timeout=3600)
        assert send.stdout is not None and send.stderr is not None
        send.stdout.close()
        err = send.stderr.read().decode(errors="replace")
        send.wait()
        secs = time.perf_counter() - t0
        if send.returncode or recv.returncode:
            raise BenchError(f"`{' '.join(argv)} | btrfs receive {self.recv}` exited {send.returncode}/"
                             f"{recv.returncode}\n--- stderr\n{err}{recv.stderr}" + tails(self.pair.logs))
        t0 = time.perf_counter()
        os.sync()
        self.m.times.get(self.key(op), SEND_COL).add(secs, time.perf_counter() - t0)
        progress(f"{self.label}: btrfs send|receive {op}: {secs:.2f} s")

    def full_phase(self) -> None:
        """Full copies (pincus and the rsync floor, alternating who goes first), then check the copy."""
        for i in range(self.plan.full_runs):
            for who in (PINCUS_COL, RSYNC_COL) if i % 2 == 0 else (RSYNC_COL, PINCUS_COL):
                if who == PINCUS_COL:
                    if i:
                        self.pair.cli.run("delete", f"{REMOTE}:{self.name}", timeout=3600)
                    self.pincus_copy(refresh=False)
                else:
                    shutil.rmtree(self.copy, ignore_errors=True)
                    self.rsync_floor(FULL, "s0")
                    if self.driver == "btrfs":
                        self.recv = self.floor / f"recv{i}"  # a fresh place: received subvolumes are read-only
                        self.send_receive(FULL, "s0", "")
        big = Path("data") / "big" / "b000"
        self.same_files([big], ["s0"])

    def refresh_phase(self) -> None:
        """runs x: change, daily snapshot, then the refresh and the rsync floor (alternating order)."""
        cli, src = self.pair.cli, self.pair.source
        for i in range(1, self.plan.runs + 1):
            write_change(self.rootfs(src), f"c{i}", NEW_FILE, REWRITTEN, i)
            settle(self.syncs)
            self.m.times.get(self.key(SNAP), PINCUS_COL).add(cli.timed("snapshot", "create", self.name, f"s{i}"))
            for who in (PINCUS_COL, RSYNC_COL) if i % 2 else (RSYNC_COL, PINCUS_COL):
                if who == PINCUS_COL:
                    self.pincus_copy(refresh=True)
                else:
                    self.rsync_floor(REFRESH, f"s{i}")
                    if self.driver == "btrfs":
                        self.send_receive(REFRESH, f"s{i}", f"s{i - 1}")
            self.m.nbytes.get(self.key(REFRESH), "changed").add(changed_bytes(self.plan.shape, i))
            self.same_files([Path("chg") / f"c{i}", Path("data") / f"d{i % 100:03d}" / "f0000"], [f"s{i}"])

    def same_files(self, rels: list[Path], snaps: list[str]) -> None:
        """The files' SHA-256 on the target's live volume and snapshots (and the floor) equal the source's."""
        src, dst = self.pair.source, self.pair.target
        for rel in rels:
            want = sha256(self.rootfs(src) / rel)
            places = [self.rootfs(dst), *(self.rootfs(dst, s) for s in snaps), self.copy]
            for place in places:
                got = sha256(place / rel)
                if got != want:
                    raise BenchError(f"{self.label}: {place / rel} has SHA-256 {got}, the source's {rel} has "
                                     f"{want}" + tails(self.pair.logs))
        mine = self.listing(src, "containers-snapshots")
        theirs = self.listing(dst, "containers-snapshots")
        if [s for s in mine if not s.startswith(".")] != [s for s in theirs if not s.startswith(".")]:
            raise BenchError(f"{self.label}: snapshots on the source {mine}, on the target {theirs}"
                             + tails(self.pair.logs))
        for kind in ("containers", "containers-snapshots"):
            left = [n for n in self.listing(dst, kind, inst_dir=kind == "containers") if n.startswith(".")]
            if left:
                self.m.odd.append(f"{self.label}: after a transfer the target's {kind} holds {left}")
        self.m.checks[self.label].append(f"{', '.join(map(str, rels))} ({snaps[-1]})")

    def listing(self, d: Pincusd, kind: str, inst_dir: bool = False) -> list[str]:
        """Names in the instance's snapshot directory (or in the pool's containers directory)."""
        path = self.pool_dir(d) / kind if inst_dir else self.pool_dir(d) / kind / self.name
        return sorted(os.listdir(path)) if path.is_dir() else []

    def trees_equal(self) -> None:
        """`rsync -n -i` finds no difference: live, newest and first snapshot on the target, and the floor."""
        src, dst = self.pair.source, self.pair.target
        newest = f"s{self.plan.runs}"
        pairs = [(self.rootfs(src), self.rootfs(dst)), (self.rootfs(src, newest), self.rootfs(dst, newest)),
                 (self.rootfs(src, "s0"), self.rootfs(dst, "s0")), (self.rootfs(src, newest), self.copy)]
        for a, b in pairs:
            out = run_cmd([*FLOOR, "-n", "-i", "--exclude=/.pincus-*", f"{a}/", f"{b}/"], self.pair.logs)
            if out.strip():
                lines = out.strip().splitlines()
                raise BenchError(f"{self.label}: {b} differs from {a} ({len(lines)} entries):\n"
                                 + "\n".join(lines[:20]) + tails(self.pair.logs))
        self.m.checks[self.label].append(f"`rsync -n -i` of live, {newest} and s0 on the target and of the floor copy")

    def record_disk(self) -> None:
        """Disk use of both sides and of the floor, after the last refresh."""
        def side(d: Pincusd) -> int:
            if self.driver == "btrfs":
                img = d.root / "disks" / f"{self.pool}.img"
                return img.stat().st_blocks * 512
            pool = self.pool_dir(d)
            return allocated([pool / "containers" / self.name, pool / "containers-snapshots" / self.name])

        floor = self.floor.parent / "floor.img" if self.driver == "btrfs" else self.copy
        floor_bytes = floor.stat().st_blocks * 512 if self.driver == "btrfs" else allocated([floor])
        what = "loop file allocated" if self.driver == "btrfs" else "du of the instance and its snapshots"
        self.m.disk[self.label] = (f"source {human(side(self.pair.source))}, target {human(side(self.pair.target))},"
                                   f" floor {human(floor_bytes)} ({what}; {self.plan.runs + 1} snapshots)")

    def cleanup(self) -> None:
        """Delete the instance on both sides (errors ignored: the daemons' stop() retries)."""
        progress(f"{self.label}: deleting {self.name} on both daemons")
        self.pair.cli.run("delete", "--force", self.name, check=False, timeout=3600)
        self.pair.cli.run("delete", "--force", f"{REMOTE}:{self.name}", check=False, timeout=3600)


def phases(vols: list[Volume], started: float, ended: float) -> dict[str, float]:
    """Split a copy's wall clock by the target's log: before, inside, between and after the volume streams."""
    spans = [(v.end - v.seconds, v.end) for v in vols]
    return dict(zip(PHASES, (spans[0][0] - started, sum(v.seconds for v in vols),
                             sum(b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False)),
                             ended - spans[-1][1]), strict=True))


def changed_bytes(shape: Shape, i: int) -> int:
    """Bytes write_change() wrote in round i: the new file plus the rewritten 4 KiB files that exist."""
    rewritten = min(REWRITTEN, shape.files_per_dir) if i % 100 < shape.dirs else 0
    return NEW_FILE + rewritten * shape.small_bytes


def human(n: float) -> str:
    """Bytes in binary units, 3 significant digits."""
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            v = n / size
            return f"{v:.2f} {unit}" if v < 10 else f"{v:.1f} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{n:.0f} B"


def create_btrfs_pools(pair: Pair) -> str:
    """A btrfs pool (loop file, 12 GiB, sparse) of the same name on both daemons."""
    name = f"bmig-{secrets.token_hex(2)}"
    pair.cli.run("storage", "create", name, "btrfs", f"size={BTRFS_POOL_SIZE}")
    pair.source.pools.append(name)
    pair.cli.run("storage", "create", f"{REMOTE}:{name}", "btrfs", f"size={BTRFS_POOL_SIZE}")
    pair.target.pools.append(name)
    return name


class DiskWatch:
    """Peak use of the filesystem under /var/tmp above what it held at start."""

    def __init__(self) -> None:
        self.start = shutil.disk_usage("/var/tmp").used
        self.peak = 0

    def sample(self) -> None:
        """Take one sample."""
        self.peak = max(self.peak, shutil.disk_usage("/var/tmp").used - self.start)


def run_pair(pair: Pair, driver: str, plan: Plan, template: Path, m: Measured, disk: DiskWatch) -> None:
    """Measure one driver pair; always deletes its instances and its floor."""
    pool = create_btrfs_pools(pair) if driver == "btrfs" else "default"
    with floor_dir(driver) as floor:
        run = PairRun(pair, driver, pool, plan, floor, m)
        try:
            run.setup(template)
            disk.sample()
            run.full_phase()
            disk.sample()
            run.refresh_phase()
            disk.sample()
            run.trees_equal()
            run.record_disk()
        finally:
            run.cleanup()


def run_all(plan: Plan, m: Measured, disk: DiskWatch) -> bool:
    """Generate the data, start both daemons, measure every pair; returns True when something failed."""
    failed = False
    progress(f"generating the tree ({plan.shape.total_files} files, {human(plan.shape.total_bytes)})")
    t0 = time.monotonic()
    template = generate(plan.shape)
    progress(f"tree {template} ready in {time.monotonic() - t0:.0f} s")
    try:
        disk.sample()
        with two_daemons(plan.keep_logs) as pair:
            for driver in plan.drivers:
                progress(f"=== {driver}→{driver}: {plan.full_runs} full, {plan.runs} refreshes")
                try:
                    run_pair(pair, driver, plan, template, m, disk)
                except BenchError as exc:
                    failed = True
                    print(f"\nFAILED in {driver}→{driver}:\n{exc}\n", file=sys.stderr)
                except Exception:  # noqa: BLE001 - report with both logs while the daemons still run
                    failed = True
                    print(f"\nFAILED in {driver}→{driver}:\n{traceback.format_exc()}{tails(pair.logs)}\n",
                          file=sys.stderr)
    finally:
        progress("removing the tree")
        remove_template(template)
    return failed


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()


def header(plan: Plan, argv: Sequence[str]) -> list[str]:
    """Markdown header lines: command, date, machine, version, load, what was chosen."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "?")
    mem_gib = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024 + 1
    dirty = " + local changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
    shape = plan.shape
    return [
        f"* command: `.venv/bin/python bench/bench_migration.py {' '.join(argv)}`",
        f"* date: {_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"* machine: {platform.node()}, {os.cpu_count()} vCPU {cpu}, {mem_gib} GiB RAM, kernel {platform.release()}",
        f"* pincus: git {_git('rev-parse', '--short', 'HEAD')}{dirty}; rsync {rsync_version()}",
        f"* load average at start: {loadavg()}; DAMON kdamond: {damon_state()}",
        f"* data: {shape.total_files} files, {human(shape.total_bytes)} (snapdata.py); source instance "
        f"{'running' if plan.running else 'stopped'}; mode {plan.mode}; full copies {plan.full_runs}, "
        f"refreshes {plan.runs}",
        f"* change before each refresh: one new {human(NEW_FILE)} file + {REWRITTEN} rewritten 4 KiB files "
        f"(= {human(changed_bytes(shape, 1))}), then `snapshot create INST sN` on the source",
    ]


def rsync_version() -> str:
    """The version of the rsync on PATH."""
    out = subprocess.run(["rsync", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else "?"


def _median(s: Samples | None) -> float | None:
    return s.median if s and s.times else None


def times_table(m: Measured) -> str:
    """Medians per op: pincus, the rsync and btrfs floors, ratios."""
    rows = []
    for row in m.times.rows:
        p, r, b = (m.times.data.get((row, col)) for col in (PINCUS_COL, RSYNC_COL, SEND_COL))
        rows.append([*row.split("|"), cell(p), cell(r), cell(b),
                     ratio(_median(p), _median(r)), ratio(p.median_with_sync if p else None,
                                                          r.median_with_sync if r else None),
                     ratio(_median(p), _median(b))])
    return markdown_table(["pair", "op", "pincus (s)", "rsync (s)",
                           f"{SEND_COL} (s)", "pincus/rsync", "pincus/rsync incl. sync", f"pincus/{SEND_COL}"], rows)


def phase_table(m: Measured) -> str:
    """Where a pincus copy's wall clock went, by the target's log time stamps (medians)."""
    rows = [[*row.split("|"), cell(m.times.data.get((row, PINCUS_COL))),
             *(cell(m.phases.data.get((row, ph))) for ph in (*PHASES, *CPU))] for row in m.phases.rows]
    return markdown_table(["pair", "op", "pincus (s)", *(f"{ph} (s)" for ph in (*PHASES, *CPU))], rows)


def goal_table(m: Measured, plan: Plan) -> str:
    """refresh/full per pair, for pincus and the floor, next to the target."""
    rows = []
    for driver in plan.drivers:
        label = f"{driver}→{driver}"
        cells = [label]
        for col in (PINCUS_COL, RSYNC_COL, SEND_COL):
            full = _median(m.times.data.get((f"{label}|{FULL}", col)))
            ref = _median(m.times.data.get((f"{label}|{REFRESH}", col)))
            cells.append(f"{ref / full:.3f}" if full and ref is not None else "—")
        goal = REFRESH_GOAL.get(driver)
        met = "—"
        if goal is not None and cells[1] != "—":
            met = "yes" if float(cells[1]) < goal else "NO"
        rows.append([cells[0], cells[1], f"< {goal:.2f}" if goal else "—", met, cells[2], cells[3]])
    return markdown_table(["pair", "refresh/full, pincus", "target", "met", "refresh/full, rsync",
                           f"refresh/full, {SEND_COL}"], rows)


def bytes_table(m: Measured, plan: Plan) -> str:
    """Bytes over the websocket (pincus, per volume) and rsync's own --stats bytes, against the change."""
    rows = []
    for driver in plan.drivers:
        label = f"{driver}→{driver}"
        for op in (FULL, REFRESH):
            p = m.nbytes.data.get((f"{label}|{op}", PINCUS_COL))
            r = m.nbytes.data.get((f"{label}|{op}", RSYNC_COL))
            changed = m.nbytes.data.get((f"{label}|{op}", "changed"))
            per = per_volume(m.volumes.get(f"{label}|{op}", []))
            pm, rm, cm = _median(p), _median(r), _median(changed)
            rows.append([label, op, bytes_cell(p), per, bytes_cell(r), human(cm) if cm else "—",
                         f"{pm / cm:.2f}" if pm and cm else "—", f"{rm / cm:.2f}" if rm and cm else "—"])
    return markdown_table(["pair", "op", "pincus bytes", "per volume (median)", "rsync --stats bytes",
                           "changed", "pincus/changed", "rsync/changed"], rows)


def per_volume(transfers: list[list[Volume]]) -> str:
    """Median bytes of the snapshot(s) and of the instance volume across transfers."""
    snaps = [sum(v.nbytes for v in t if v.what != "the instance volume") for t in transfers]
    inst = [sum(v.nbytes for v in t if v.what == "the instance volume") for t in transfers]
    if not transfers:
        return "—"
    return f"snapshot {human(statistics.median(snaps))}, instance {human(statistics.median(inst))}"


def bytes_cell(s: Samples | None) -> str:
    """`median [min–max] (n)` in binary units."""
    if s is None or not s.times:
        return "—"
    if len(s.times) == 1:
        return f"{human(s.times[0])} (1)"
    return f"{human(s.median)} [{human(min(s.times))}–{human(max(s.times))}] ({len(s.times)})"


def print_report(plan: Plan, m: Measured, head: list[str], seconds: float, disk: DiskWatch) -> None:
    """The markdown report."""
    print("\n".join(head))
    print(f"* load average at end: {loadavg()}; total run time {seconds:.0f} s; peak extra disk use under "
          f"/var/tmp {human(disk.peak)}")
    for label, text in m.disk.items():
        print(f"* disk after the last refresh, {label}: {text}")
    print()
    print(times_table(m))
    print()
    print("Where the pincus time went, from the target's log (stream start = log time stamp - logged duration):")
    print()
    print(phase_table(m))
    print()
    print("Refresh against a full copy (medians; target for btrfs: pincus refresh under 10 % of a full copy):")
    print()
    print(goal_table(m, plan))
    print()
    print("Bytes moved (pincus: what the target logged as crossing the websocket, both directions; rsync: "
          "`Total bytes sent` + `received` of `--stats`):")
    print()
    print(bytes_table(m, plan))
    print()
    for label, notes in m.checks.items():
        shas = [n for n in notes if not n.startswith("`")]
        trees = [n for n in notes if n.startswith("`")]
        print(f"* checked, {label}: SHA-256 equal to the source's on the target's live volume, the named snapshot "
              f"and the floor copy: {'; '.join(shas) or 'none'}; {trees[0] if trees else 'no tree compare'}"
              f"{': no difference' if trees else ''}")
    for note in m.odd:
        print(f"* odd: {note}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--driver", choices=["btrfs", "dir", "both"], default="both")
    ap.add_argument("--runs", type=int, default=3, help="change + snapshot + refresh cycles (default 3)")
    ap.add_argument("--full-runs", type=int, default=1, help="full copies (default 1)")
    ap.add_argument("--mode", choices=["pull", "push", "relay"], default="pull")
    ap.add_argument("--stopped", action="store_true", help="keep the source instance stopped (default: running)")
    ap.add_argument("--quick", action="store_true", help="a 40 MiB tree instead of 2.38 GiB: checks the harness")
    ap.add_argument("--json", help="also write raw samples to this file")
    ap.add_argument("--keep-logs", type=Path, help="copy both daemon logs into this directory before stopping them")
    raw = sys.argv[1:] if argv is None else argv
    opts = ap.parse_args(raw)
    sigterm_as_interrupt()
    plan = Plan(drivers=["btrfs", "dir"] if opts.driver == "both" else [opts.driver], runs=opts.runs,
                full_runs=opts.full_runs, mode=opts.mode, running=not opts.stopped,
                shape=QUICK if opts.quick else LARGE, keep_logs=opts.keep_logs)
    # template + per pair: source live and s0 (dir: full copies), target likewise plus a staged copy, floor.
    need = int(plan.shape.total_bytes * 1.1 * (1 + (7 if "dir" in plan.drivers else 4)))
    free = shutil.disk_usage("/var/tmp").free
    progress(f"/var/tmp: {free / GIB:.1f} GiB free, this run needs about {need / GIB:.1f} GiB")
    if free < need:
        print(f"not enough space in /var/tmp ({free / GIB:.1f} GiB free, {need / GIB:.1f} GiB needed)",
              file=sys.stderr)
        return 2
    head = header(plan, raw)
    m, disk = Measured(), DiskWatch()
    started = time.monotonic()
    try:
        failed = run_all(plan, m, disk)
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    print_report(plan, m, head, time.monotonic() - started, disk)
    dump_json(opts.json, {"times": m.times.to_json(), "bytes": m.nbytes.to_json(),
                          "volumes": {k: [[v.__dict__ for v in t] for t in ts] for k, ts in m.volumes.items()}})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
