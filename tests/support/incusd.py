"""Run a private, throw-away real Incus daemon for tests and benchmarks.

Everything the daemon owns lives under its own INCUS_DIR (database, sockets, pools, loop files,
logs), and the stock `incus` client is pointed at it with INCUS_DIR plus a scratch INCUS_CONF, so
root's ~/.config/incus and any other Incus daemon on the host are never touched. Instance cgroups
(`lxc.payload.<name>`) are host-global, so callers should name instances with `unique()`.

    daemon = start_incusd()
    try:
        daemon.import_image(META, ROOTFS, alias="busybox")
        daemon.run("launch", "busybox", daemon.unique("c"))
    finally:
        daemon.stop()
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

INCUSD = "/usr/libexec/incus/incusd"
INCUS = "/usr/bin/incus"


def incus_available() -> bool:
    """True when the real Incus daemon and client are installed and we are root."""
    return os.geteuid() == 0 and os.access(INCUSD, os.X_OK) and os.access(INCUS, os.X_OK)


@dataclass
class IncusDaemon:
    """A private incusd process and the `incus` client environment that reaches it."""

    base_dir: Path
    proc: subprocess.Popen[bytes]
    suffix: str
    owns_base_dir: bool
    pools: list[str] = field(default_factory=list)

    @property
    def incus_dir(self) -> Path:
        """The daemon's INCUS_DIR (holds unix.socket)."""
        return self.base_dir / "incus"

    @property
    def conf_dir(self) -> Path:
        """The client's scratch INCUS_CONF."""
        return self.base_dir / "conf"

    @property
    def log_path(self) -> Path:
        """The daemon's stdout/stderr log."""
        return self.base_dir / "incusd.log"

    def env(self) -> dict[str, str]:
        """Environment for any process that should talk to this daemon."""
        env = dict(os.environ)
        env.update(INCUS_DIR=str(self.incus_dir), INCUS_CONF=str(self.conf_dir))
        env.pop("INCUS_SOCKET", None)
        env.pop("INCUS_REMOTE", None)
        return env

    def unique(self, base: str) -> str:
        """An instance or pool name unique to this daemon (cgroup names are host-global)."""
        return f"{base}-{self.suffix}"

    def run(
        self, *args: str, check: bool = True, timeout: float = 120, input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the stock `incus` client against this daemon."""
        proc = subprocess.run(
            [INCUS, *args], env=self.env(), capture_output=True, text=True, timeout=timeout,
            input=input.decode() if input is not None else None,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"incus {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def query(self, path: str) -> object:
        """GET an API path with `incus query` and return the decoded JSON."""
        return json.loads(self.run("query", path).stdout)

    def create_dir_pool(self, name: str = "default") -> None:
        """Create a dir storage pool."""
        self.run("storage", "create", name, "dir")
        self.pools.append(name)

    def create_btrfs_pool(self, name: str | None = None, size: str = "2GiB") -> str:
        """Create a btrfs pool on a loop file inside INCUS_DIR; returns its name."""
        name = name or self.unique("btrfs")
        self.run("storage", "create", name, "btrfs", f"size={size}")
        self.pools.append(name)
        return name

    def set_root_pool(self, pool: str) -> None:
        """Point the default profile's root disk at `pool`."""
        profile = self.query("/1.0/profiles/default")
        assert isinstance(profile, dict)
        verb = "set" if "root" in (profile.get("devices") or {}) else "add"
        if verb == "add":
            self.run("profile", "device", "add", "default", "root", "disk", "path=/", f"pool={pool}")
        else:
            self.run("profile", "device", "set", "default", "root", f"pool={pool}")

    def import_image(self, *files: str | Path, alias: str | None = None) -> str:
        """Import a unified (one file) or split (meta, rootfs) image; returns its fingerprint."""
        before = set(self._fingerprints())
        args = ["image", "import", *map(str, files)]
        if alias:
            args += ["--alias", alias]
        self.run(*args, timeout=300)
        new = set(self._fingerprints()) - before
        if len(new) != 1:
            raise RuntimeError(f"incus image import {' '.join(args[2:])} did not add exactly one image")
        return new.pop()

    def _fingerprints(self) -> list[str]:
        images = self.query("/1.0/images")
        assert isinstance(images, list)
        return [str(url).rsplit("/", 1)[-1] for url in images]

    def stop(self) -> None:
        """Delete what this daemon holds, stop it by PID and remove its directory."""
        try:
            if self.proc.poll() is None:
                self._delete_everything()
        finally:
            self._stop_process()
            _unmount_under(self.incus_dir)
            _detach_loops_under(self.incus_dir)
            self._remove_files()

    def _remove_files(self) -> None:
        if _mounts_under(self.incus_dir):
            # Never delete through a mount that would not go away: leave it for a human.
            print(f"incusd helper: mounts remain under {self.incus_dir}; not deleting it", file=sys.stderr)
            return
        if self.owns_base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            return
        shutil.rmtree(self.incus_dir, ignore_errors=True)
        shutil.rmtree(self.conf_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)

    def _delete_everything(self) -> None:
        for inst in self.run("list", "-f", "csv", "-c", "n", check=False).stdout.split():
            self.run("delete", "--force", inst, check=False)
        for fp in self._fingerprints():
            self.run("image", "delete", fp, check=False)
        self.run("profile", "device", "remove", "default", "root", check=False)
        pools = self.query("/1.0/storage-pools")
        assert isinstance(pools, list)
        for url in pools:
            self.run("storage", "delete", str(url).rsplit("/", 1)[-1], check=False)

    def _stop_process(self) -> None:
        if self.proc.poll() is not None:
            return
        self.run("admin", "shutdown", check=False, timeout=60)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def start_incusd(
    base_dir: str | Path | None = None, *, pool: str = "default", timeout: float = 60
) -> IncusDaemon:
    """Start a private incusd under base_dir (default /var/tmp/pincus-incus-<random>), with a dir pool."""
    suffix = secrets.token_hex(3)
    owns = base_dir is None
    if base_dir is None:
        base = Path(tempfile.mkdtemp(prefix="pincus-incus-", dir="/var/tmp"))
        os.chmod(base, 0o711)  # container root (uid 1000000) must traverse to its rootfs
    else:
        base = Path(base_dir)
    (base / "incus").mkdir(parents=True, exist_ok=True)
    (base / "conf").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, INCUS_DIR=str(base / "incus"))
    with open(base / "incusd.log", "ab") as log:
        proc = subprocess.Popen(
            [INCUSD, "--group", "root"], env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    daemon = IncusDaemon(base_dir=base, proc=proc, suffix=suffix, owns_base_dir=owns)
    try:
        daemon.run("admin", "waitready", "--timeout", str(int(timeout)), timeout=timeout + 5)
        daemon.create_dir_pool(pool)
        daemon.set_root_pool(pool)
    except BaseException:
        daemon.stop()
        raise
    return daemon


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve())
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return points


def _unmount_under(root: Path) -> None:
    """Unmount everything mounted below root, deepest first."""
    for _ in range(3):
        points = _mounts_under(root)
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)


def _detach_loops_under(root: Path) -> None:
    """Detach loop devices whose backing file lives below root."""
    out = subprocess.run(["losetup", "-J", "-l"], capture_output=True, text=True).stdout
    if not out.strip():
        return
    prefix = str(root.resolve()) + "/"
    for dev in json.loads(out).get("loopdevices", []):
        if str(dev.get("back-file", "")).startswith(prefix):
            subprocess.run(["losetup", "-d", dev["name"]], capture_output=True)


def timed(daemon: IncusDaemon, args: Sequence[str]) -> float:
    """Seconds one `incus ARGS...` invocation takes (fails if the command fails)."""
    t0 = time.perf_counter()
    daemon.run(*args)
    return time.perf_counter() - t0


def _median_table(results: dict[str, list[float]]) -> str:
    rows = ["| incus command | median | min | max | n |", "|---|---|---|---|---|"]
    for op, xs in results.items():
        rows.append(f"| {op} | {statistics.median(xs) * 1000:.0f} ms | {min(xs) * 1000:.0f} ms "
                    f"| {max(xs) * 1000:.0f} ms | {len(xs)} |")
    return "\n".join(rows)


def measure_lifecycle(
    daemon: IncusDaemon, image: str = "busybox", runs: int = 5, pool: str | None = None
) -> dict[str, list[float]]:
    """Time launch, list, stop, start and `exec -- true` of `image` on this daemon (seconds per run)."""
    res: dict[str, list[float]] = {"launch": [], f"list ({runs} running)": [], "exec -- true": [],
                                   "stop": [], "start": []}
    storage = ["-s", pool] if pool else []
    names = [daemon.unique(f"m{i}") for i in range(runs)]
    for name in names:
        res["launch"].append(timed(daemon, ["launch", image, name, *storage]))
    for _ in range(runs):
        res[f"list ({runs} running)"].append(timed(daemon, ["list"]))
    for _ in range(runs):
        res["exec -- true"].append(timed(daemon, ["exec", names[0], "--", "true"]))
        res["stop"].append(timed(daemon, ["stop", names[0]]))
        res["start"].append(timed(daemon, ["start", names[0]]))
    for name in names:
        daemon.run("delete", "--force", name)
    return res


def main(argv: Sequence[str] | None = None) -> None:
    """Smoke-test a private incusd with an image and print the lifecycle timings."""
    import argparse

    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--btrfs", action="store_true", help="also measure on a btrfs loop pool")
    parser.add_argument("--image", nargs="+", default=[str(repo / "images-cache/busybox-meta.tar.xz"),
                                                        str(repo / "images-cache/busybox-rootfs.tar.xz")])
    args = parser.parse_args(argv)
    daemon = start_incusd()
    try:
        print(f"incusd pid {daemon.proc.pid}, INCUS_DIR {daemon.incus_dir}", flush=True)
        fp = daemon.import_image(*args.image, alias="img")
        print(f"imported {fp}", flush=True)
        pools = ["default"] + ([daemon.create_btrfs_pool(size="4GiB")] if args.btrfs else [])
        for pool in pools:
            print(f"\npool {pool}:\n" + _median_table(measure_lifecycle(daemon, "img", args.runs, pool)), flush=True)
    finally:
        daemon.stop()


if __name__ == "__main__":
    main()
