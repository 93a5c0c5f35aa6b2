"""The snapshot server (the book's chapters 9 and 10): copies and refreshes between two pincusd over
HTTPS, on btrfs and dir pools, with real containers; interrupted transfers; hostile peers."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.remote.test_https import free_port
from tests.support.pincusd import VENV_BIN, Pincusd, start_pincusd

pytestmark = pytest.mark.integration


@dataclass
class Pair:
    """A primary and a snapshot server; the client config on the primary knows the other as "backup"."""

    primary: Pincusd
    backup: Pincusd
    conf: Path

    def cli(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """The pincus CLI on the primary (local remote = its unix socket)."""
        proc = subprocess.run([str(VENV_BIN / "pincus"), *args], env=self.env(), capture_output=True, text=True,
                              timeout=600, input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"pincus {' '.join(args)}: {proc.returncode} {proc.stderr}\n"
                                 f"{self.backup.log.read_text()[-3000:]}")
        return proc

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INCUS_", "PINCUS_"))}
        return {**env, "PINCUS_DIR": str(self.primary.root), "PINCUS_CONF": str(self.conf)}

    def snapshots(self, daemon: Pincusd, inst: str) -> dict[str, dict[str, Any]]:
        status, data = daemon.api("GET", f"/1.0/instances/{inst}/snapshots?recursion=1")
        assert status == 200, data
        return {s["name"]: s for s in data["metadata"]}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if os.geteuid() != 0 or not shutil.which("lxc-start") or not shutil.which("rsync"):
        pytest.skip("needs root, liblxc and rsync")
    primary, backup = start_pincusd(), start_pincusd()
    try:
        for daemon in (primary, backup):
            daemon.init_pool("dir", name="dirpool")
            daemon.init_pool("btrfs", name="btrpool")  # the default profile's root disk ends here
            daemon.run("config", "set", "core.https_address", f"127.0.0.1:{free_port()}")
        primary.import_busybox()
        conf = tmp_path_factory.mktemp("client")
        token = backup.run("config", "trust", "add", "primary").stdout.splitlines()[-1]
        p = Pair(primary, backup, conf)
        p.cli("remote", "add", "backup", token)
        yield p
    finally:
        primary.stop()
        backup.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def volume_file(daemon: Pincusd, pool: str, inst: str, path: str, snap: str = "") -> Path:
    base = daemon.root / "storage-pools" / pool
    vol = base / "containers-snapshots" / inst / snap if snap else base / "containers" / inst
    return vol / "rootfs" / path.lstrip("/")


@pytest.mark.parametrize("pool", ["btrpool", "dirpool"])
def test_book_chapters_9_and_10(pair: Pair, pool: str, tmp_path: Path) -> None:
    inst = unique("rocky")
    p = pair
    p.cli("profile", "copy", "default", f"backup:{inst}-prof")  # the book copies its macvlan profile
    assert f"{inst}-prof" in p.cli("profile", "list", "backup:", "-f", "csv").stdout
    p.cli("launch", "busybox", inst, "-s", pool)
    p.cli("exec", inst, "--", "sh", "-c", "echo before > /before.txt")
    # Chapter 9: snapshot, then a new stopped instance on the snapshot server from that snapshot.
    p.cli("snapshot", inst, f"{inst}-snap1")
    p.cli("copy", f"{inst}/{inst}-snap1", f"backup:{inst}")
    listed = p.cli("list", "backup:", "-c", "ns", "-f", "csv").stdout
    assert f"{inst},STOPPED" in listed
    # ... keep boot.autostart off on the snapshot server across refreshes, and keep expired snapshots.
    p.cli("config", "set", f"backup:{inst}", "boot.autostart", "0")
    p.cli("config", "set", f"backup:{inst}", "refresh.keep_config", "boot.autostart")
    # Automating: daily snapshots with the book's pattern and a one-day expiry.
    p.cli("config", "set", inst, "snapshots.schedule", "50 20 * * *")
    p.cli("config", "set", inst, "snapshots.pattern", inst + "{{ creation_date|date:'2006-01-02_15-04-05' }}")
    p.cli("config", "set", inst, "snapshots.expiry", "1d")
    p.cli("snapshot", "create", inst)
    p.cli("exec", inst, "--", "sh", "-c", "echo after > /after.txt")
    # Chapter 10: the refresh script as written, with pincus in place of lxc.
    script = tmp_path / "refreshcontainers.sh"
    pincus = VENV_BIN / "pincus"
    script.write_text(f"""#!/bin/bash
for x in $({pincus} ls -c n --format csv)
        do echo "Refreshing $x"
        {pincus} copy --refresh $x backup:$x
        done
""")
    script.chmod(0o755)
    run = subprocess.run([str(script)], env=p.env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert f"Refreshing {inst}" in run.stdout
    source_snaps, target_snaps = p.snapshots(p.primary, inst), p.snapshots(p.backup, inst)
    assert set(target_snaps) == set(source_snaps) and len(source_snaps) == 2
    for name, snap in source_snaps.items():  # names, creation and expiry dates travel
        assert (target_snaps[name]["created_at"], target_snaps[name]["expires_at"]) == (
            snap["created_at"], snap["expires_at"])
    dated = next(n for n in source_snaps if n != f"{inst}-snap1")
    assert source_snaps[dated]["expires_at"] != "0001-01-01T00:00:00Z"
    config = p.cli("config", "show", f"backup:{inst}").stdout
    assert "boot.autostart: \"0\"" in config and "snapshots.expiry: 1d" in config
    # Failover: the primary stops, the snapshot server starts the copy.
    p.cli("stop", "-f", inst)
    p.cli("start", f"backup:{inst}")
    out = p.cli("exec", f"backup:{inst}", "--", "cat", "/before.txt", "/after.txt").stdout
    assert out == "before\nafter\n"
    p.cli("stop", "-f", f"backup:{inst}")
    p.cli("delete", f"backup:{inst}")
    p.cli("delete", inst)
    p.backup.api("DELETE", f"/1.0/profiles/{inst}-prof")


@pytest.mark.parametrize(("src_pool", "dst_pool"), [("btrpool", "btrpool"), ("dirpool", "dirpool"),
                                                   ("btrpool", "dirpool"), ("dirpool", "btrpool")])
def test_refresh_sends_only_what_changed_and_follows_deletions(pair: Pair, src_pool: str, dst_pool: str) -> None:
    p, inst = pair, unique("pairs")
    p.cli("launch", "busybox", inst, "-s", src_pool)
    p.cli("snapshot", "create", inst, "s0")
    p.cli("snapshot", "create", inst, "s1")
    p.cli("copy", inst, f"backup:{inst}", "-s", dst_pool, "--mode", "push")
    p.cli("exec", inst, "--", "sh", "-c", "head -c 300000 /dev/urandom > /data.bin")
    p.cli("snapshot", "create", inst, "s2")
    p.cli("snapshot", "delete", inst, "s0")
    p.cli("copy", "--refresh", inst, f"backup:{inst}")
    assert set(p.snapshots(p.backup, inst)) == {"s1", "s2"}
    want = hashlib.sha256(volume_file(p.primary, src_pool, inst, "/data.bin", "s2").read_bytes()).hexdigest()
    for snap in ("s2", ""):
        got = volume_file(p.backup, dst_pool, inst, "/data.bin", snap).read_bytes()
        assert hashlib.sha256(got).hexdigest() == want
    log = p.backup.log.read_text()
    transport = "btrfs" if src_pool == dst_pool == "btrpool" else "rsync"
    assert f"received s2 of {inst} over {transport}" in log
    assert log.count(f"received s1 of {inst}") == 1  # sent by the first copy only
    p.cli("delete", "--force", inst)
    p.cli("delete", f"backup:{inst}")


def test_keep_target_snapshots_and_target_expiry(pair: Pair) -> None:
    p, inst = pair, unique("keep")
    p.cli("launch", "busybox", inst)
    p.cli("snapshot", "create", inst, "old")
    p.cli("copy", inst, f"backup:{inst}", "-c", "refresh.keep_snapshots=true",
          "-c", "refresh.snapshots.expiry=30d")
    p.cli("snapshot", "delete", inst, "old")
    p.cli("snapshot", "create", inst, "new", "--expiry", "1d")
    p.cli("copy", "--refresh", inst, f"backup:{inst}")
    target = p.snapshots(p.backup, inst)
    assert set(target) == {"old", "new"}
    assert target["new"]["expires_at"][:10] != p.snapshots(p.primary, inst)["new"]["expires_at"][:10]
    # The flag form, without the key: a plain mirror deletes, --keep-target-snapshots keeps.
    p.cli("config", "unset", f"backup:{inst}", "refresh.keep_snapshots")
    p.cli("snapshot", "delete", inst, "new")
    p.cli("copy", "--refresh", "--keep-target-snapshots", inst, f"backup:{inst}")
    assert set(p.snapshots(p.backup, inst)) == {"old", "new"}
    p.cli("copy", "--refresh", inst, f"backup:{inst}")
    assert set(p.snapshots(p.backup, inst)) == set()
    p.cli("delete", "--force", inst)
    p.cli("delete", f"backup:{inst}")


@pytest.mark.parametrize("pool", ["btrpool", "dirpool"])
def test_an_interrupted_refresh_leaves_the_target_intact_and_the_next_one_completes(
        pair: Pair, pool: str) -> None:
    p, inst = pair, unique("cut")
    p.cli("launch", "busybox", inst, "-s", pool)
    p.cli("snapshot", "create", inst, "s0")
    p.cli("copy", inst, f"backup:{inst}")
    p.cli("exec", inst, "--", "sh", "-c", "echo v2 > /v.txt")
    p.cli("snapshot", "create", inst, "s1")
    p.cli("snapshot", "create", inst, "s2")
    p.backup.restart(failpoints="migration-snapshot-received")
    cut = p.cli("copy", "--refresh", inst, f"backup:{inst}", check=False)
    assert cut.returncode != 0
    assert p.backup.crashed()
    p.backup.restart()
    # s1 landed whole (its row and volume); the instance volume is the old one; nothing half-made.
    assert set(p.snapshots(p.backup, inst)) == {"s0", "s1"}
    assert not volume_file(p.backup, pool, inst, "/v.txt").exists()
    hidden = [e.name for d in ("containers", f"containers-snapshots/{inst}")
              for e in os.scandir(p.backup.root / "storage-pools" / pool / d) if e.name.startswith(".")]
    assert hidden == []
    p.cli("copy", "--refresh", inst, f"backup:{inst}")
    assert set(p.snapshots(p.backup, inst)) == {"s0", "s1", "s2"}
    assert volume_file(p.backup, pool, inst, "/v.txt").read_text() == "v2\n"
    # A first copy cut in the middle leaves nothing at all.
    other = unique("cutnew")
    p.backup.restart(failpoints="migration-snapshot-received")
    assert p.cli("copy", inst, f"backup:{other}", check=False).returncode != 0
    assert p.backup.crashed()
    p.backup.restart()
    status, _ = p.backup.api("GET", f"/1.0/instances/{other}")
    assert status == 404
    assert not (p.backup.root / "storage-pools" / pool / "containers-snapshots" / other).exists() or not any(
        os.scandir(p.backup.root / "storage-pools" / pool / "containers-snapshots" / other))
    p.cli("delete", "--force", inst)
    p.cli("delete", f"backup:{inst}")


def test_refresh_of_a_running_target_is_refused(pair: Pair) -> None:
    p, inst = pair, unique("busy")
    p.cli("launch", "busybox", inst)
    p.cli("copy", inst, f"backup:{inst}")
    p.cli("start", f"backup:{inst}")
    refused = p.cli("copy", "--refresh", inst, f"backup:{inst}", check=False)
    assert refused.returncode == 1
    assert f'Instance "{inst}" is running: stop it before refreshing it' in refused.stderr
    p.cli("delete", "--force", f"backup:{inst}")
    running = p.cli("move", inst, f"backup:{inst}", check=False)
    assert running.returncode == 1 and "The instance is currently running, stop it first" in running.stderr
    p.cli("stop", "-f", inst)
    p.cli("move", inst, f"backup:{inst}")
    assert p.primary.api("GET", f"/1.0/instances/{inst}")[0] == 404
    assert f"{inst},STOPPED" in p.cli("list", "backup:", "-c", "ns", "-f", "csv").stdout
    p.cli("delete", f"backup:{inst}")


async def _hostile(backup: Pincusd, pool: str, frames: list[Any]) -> str:
    """Play a source that sends ``frames`` to a push-mode target; return the operation's error."""
    status, data = 0, {}
    conn = aiohttp.UnixConnector(path=str(backup.socket))
    async with aiohttp.ClientSession(connector=conn) as session:
        body = {"name": unique("hostile"), "source": {"type": "migration", "mode": "push"},
                "devices": {"root": {"type": "disk", "path": "/", "pool": pool}}, "profiles": []}
        async with session.post("http://pincus/1.0/instances", json=body) as resp:
            op = await resp.json()
        op_id, secret = op["metadata"]["id"], op["metadata"]["metadata"]["control"]
        ws = await session.ws_connect(f"http://pincus/1.0/operations/{op_id}/websocket?secret={secret}")
        for frame in frames:
            if frame == "recv":
                await ws.receive(timeout=30)
            elif isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(json.dumps(frame))
        await ws.close()
        async with session.get(f"http://pincus/1.0/operations/{op_id}/wait?timeout=60") as resp:
            data = await resp.json()
            status = resp.status
    assert status in (200, 400, 500), data
    meta = data.get("metadata") or {}
    return str(meta.get("err") or data.get("error") or "")


def _header(name: str) -> dict[str, Any]:
    snap = {"name": name, "created_at": "2026-01-01T00:00:00.000000Z", "uuid": "", "config": {}, "devices": {},
            "profiles": []}
    return {"type": "header", "version": 1, "driver": "dir", "nested": False,
            "instance": {"name": "x", "config": {}, "devices": {}, "profiles": []}, "snapshots": [snap]}


@pytest.mark.parametrize("pool", ["btrpool", "dirpool"])
def test_hostile_or_truncated_data_from_a_peer_is_refused(pair: Pair, pool: str) -> None:
    import asyncio

    err = asyncio.run(_hostile(pair.backup, pool, [_header("../../etc")]))
    assert 'Invalid snapshot name "../../etc"' in err
    truncated = [_header("s0"), "recv", "recv", b"\x00garbage" * 100, {"type": "eof"},
                 {"type": "status", "error": ""}, "recv"]
    err = asyncio.run(_hostile(pair.backup, pool, truncated))
    assert "rsync failed" in err or "The migration peer" in err
    status, data = pair.backup.api("GET", "/1.0/instances")
    assert not [u for u in data["metadata"] if "hostile" in u]


def test_replication_scheduled_inside_the_daemon(pair: Pair) -> None:
    p, inst = pair, unique("auto")
    token = p.backup.run("config", "trust", "add", "primary-daemon").stdout.splitlines()[-1]
    added = p.cli("replication", "target", "add", "snapsrv", token).stdout
    assert added.startswith("Replication target snapsrv added: https://127.0.0.1:")
    assert "snapsrv" in p.cli("replication", "target", "list", "-f", "csv").stdout
    p.cli("launch", "busybox", inst)
    p.cli("config", "set", inst, "snapshots.replicate.target", "snapsrv")
    p.cli("replication", "run", inst)  # on demand
    assert f"{inst},STOPPED" in p.cli("list", "backup:", "-c", "ns", "-f", "csv").stdout
    # Every scheduled snapshot is followed by a refresh (no cron script needed).
    p.cli("config", "set", inst, "snapshots.schedule", "* * * * *")
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not p.snapshots(p.backup, inst):
        time.sleep(2)
    assert p.snapshots(p.backup, inst), p.primary.log.read_text()[-3000:]
    assert set(p.snapshots(p.backup, inst)) <= set(p.snapshots(p.primary, inst))
    status, data = p.primary.api("GET", f"/1.0/instances/{inst}")
    assert "volatile.replicate.last_success" in data["metadata"]["config"]
    assert "volatile.replicate.last_error" not in data["metadata"]["config"]
    bad = p.cli("config", "set", inst, "snapshots.replicate.target", "no such", check=False)
    assert bad.returncode == 1 and "snapshots.replicate.target" in bad.stderr
    p.cli("config", "set", inst, "snapshots.replicate.target", "nowhere")
    failed = p.cli("replication", "run", inst, check=False)
    assert failed.returncode == 1 and 'Replication target "nowhere" not found' in failed.stderr
    p.cli("replication", "target", "remove", "snapsrv")
    p.cli("delete", "--force", inst)
    p.cli("delete", "--force", f"backup:{inst}")


@pytest.mark.parametrize("mode", ["pull", "push", "relay"])
def test_the_stock_incus_client_copies_and_refreshes_between_two_pincusd(pair: Pair, tmp_path: Path, mode: str) -> None:
    if not shutil.which("incus"):
        pytest.skip("needs the incus client")
    p, inst = pair, unique("stock")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("INCUS_", "PINCUS_"))},
           "INCUS_CONF": str(tmp_path)}

    def incus(*args: str) -> str:
        proc = subprocess.run(["incus", *args], env=env, capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, (args, proc.stderr, p.backup.log.read_text()[-2000:])
        return proc.stdout

    incus("remote", "add", "pa", p.primary.run("config", "trust", "add", "stock-a").stdout.splitlines()[-1])
    incus("remote", "add", "pb", p.backup.run("config", "trust", "add", "stock-b").stdout.splitlines()[-1])
    p.cli("launch", "busybox", inst)  # running: the stock client asks for a live copy, served statelessly
    incus("snapshot", "create", f"pa:{inst}", "s1")
    incus("copy", f"pa:{inst}", f"pb:{inst}", "--mode", mode)
    incus("snapshot", "create", f"pa:{inst}", "s2")
    incus("copy", "--refresh", f"pa:{inst}", f"pb:{inst}", "--mode", mode)
    assert set(p.snapshots(p.backup, inst)) == {"s1", "s2"}
    p.cli("delete", "--force", inst)
    p.cli("delete", f"backup:{inst}")


def test_a_source_that_dies_mid_refresh_leaves_the_target_intact(pair: Pair) -> None:
    p, inst = pair, unique("srcdies")
    p.cli("launch", "busybox", inst)
    p.cli("snapshot", "create", inst, "s0")
    p.cli("copy", inst, f"backup:{inst}")
    p.cli("exec", inst, "--", "sh", "-c", "echo new > /new.txt")
    p.cli("snapshot", "create", inst, "s1")
    p.cli("snapshot", "create", inst, "s2")
    p.primary.restart(failpoints="migration-item-sent")  # dies after sending s1, like a cut network
    assert p.cli("copy", "--refresh", inst, f"backup:{inst}", check=False).returncode != 0
    assert p.primary.crashed()
    p.primary.restart()
    deadline = time.monotonic() + 60
    while p.backup.api("GET", "/1.0/operations?recursion=1")[1]["metadata"].get("running"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert set(p.snapshots(p.backup, inst)) == {"s0", "s1"}  # s1 arrived whole; s2 never started
    assert not volume_file(p.backup, "btrpool", inst, "/new.txt").exists()
    assert p.backup.api("GET", f"/1.0/instances/{inst}")[1]["metadata"]["status"] == "Stopped"
    p.cli("copy", "--refresh", inst, f"backup:{inst}")
    assert set(p.snapshots(p.backup, inst)) == {"s0", "s1", "s2"}
    assert volume_file(p.backup, "btrpool", inst, "/new.txt").read_text() == "new\n"
    p.cli("delete", "--force", inst)
    p.cli("delete", f"backup:{inst}")


def test_a_pool_the_target_lacks_falls_back_to_its_profile_pool(pair: Pair) -> None:
    p, inst, pool = pair, unique("pool"), unique("onlyhere")
    status, data = p.primary.api("POST", "/1.0/storage-pools", {"name": pool, "driver": "dir", "config": {}})
    assert status == 200, data
    try:
        p.cli("launch", "busybox", inst, "-s", pool)
        p.cli("copy", inst, f"backup:{inst}")
        status, data = p.backup.api("GET", f"/1.0/instances/{inst}")
        assert data["metadata"]["expanded_devices"]["root"]["pool"] == "btrpool"
        p.cli("delete", f"backup:{inst}")
        p.cli("delete", "--force", inst)
    finally:
        p.primary.api("DELETE", f"/1.0/storage-pools/{pool}")


def test_a_lying_btrfs_stream_is_refused(pair: Pair) -> None:
    import asyncio

    p, inst = pair, unique("liar")
    p.cli("launch", "busybox", inst)
    p.cli("snapshot", "create", inst, "s0")
    real = p.primary.root / "storage-pools" / "btrpool" / "containers-snapshots" / inst / "s0"
    stream = subprocess.run(["btrfs", "send", "-q", str(real)], capture_output=True, check=True).stdout
    header = _header("s9")  # announces s9, sends s0
    header["driver"] = "btrfs"
    frames = [header, "recv", "recv"] + [stream[i:i + (1 << 20)] for i in range(0, len(stream), 1 << 20)]
    frames += [{"type": "eof"}, {"type": "status", "error": ""}, "recv", "recv"]
    err = asyncio.run(_hostile(p.backup, "btrpool", frames))
    assert "did not hold exactly the announced subvolume" in err
    leftovers = list((p.backup.root / "storage-pools" / "btrpool" / "containers-snapshots").glob("hostile-*/*"))
    assert leftovers == []
    p.cli("delete", "--force", inst)
