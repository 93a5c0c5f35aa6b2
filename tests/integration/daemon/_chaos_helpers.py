"""Helpers of the concurrency and hardening regression tests (issue 11): answers, launches, loop pools."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.chaos import pool_root
from tests.support.pincusd import Pincusd


@dataclass(frozen=True)
class Answer:
    """The end of one request: ``code`` is the HTTP status, or the failed operation's status_code."""

    ok: bool
    code: int
    error: str
    via_operation: bool


def answer(d: Pincusd, method: str, path: str, body: Any = None) -> Answer:
    """Send one request and wait for its operation, if any."""
    status, data = d.api(method, path, body)
    meta = data.get("metadata")
    if status == 200 and isinstance(meta, dict) and "status_code" in meta and "class" in meta:
        return Answer(meta["status"] == "Success", int(meta["status_code"]), str(meta.get("err") or ""), True)
    return Answer(status < 400, status, str(data.get("error") or ""), False)


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; their results (or exceptions) in order."""
    results: list[Any] = [None] * len(calls)
    gate = threading.Barrier(len(calls))

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - reported to the test as a value
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    return results


def init(d: Pincusd, name: str, pool: str = "default", start: bool = False) -> None:
    """Create a busybox instance (on a pool), optionally started."""
    body = {"name": name, "source": {"type": "image", "alias": "busybox"},
            "devices": {"root": {"type": "disk", "path": "/", "pool": pool}}}
    got = answer(d, "POST", "/1.0/instances", body)
    assert got.ok, got
    if start:
        got = answer(d, "PUT", f"/1.0/instances/{name}/state", {"action": "start", "timeout": -1})
        assert got.ok, got


def remove(d: Pincusd, name: str) -> None:
    """Force-stop and delete an instance; missing is fine."""
    d.api("PUT", f"/1.0/instances/{name}/state", {"action": "stop", "force": True, "timeout": -1})
    d.api("DELETE", f"/1.0/instances/{name}")


def rootfs(d: Pincusd, name: str, pool: str = "default") -> Path:
    """The instance's rootfs on disk."""
    return pool_root(d, pool) / "containers" / name / "rootfs"


def snapshot_rootfs(d: Pincusd, name: str, snap: str, pool: str = "default") -> Path:
    """A snapshot's rootfs on disk."""
    return pool_root(d, pool) / "containers-snapshots" / name / snap / "rootfs"


def api_snapshots(d: Pincusd, name: str) -> list[str]:
    """Bare snapshot names the API lists."""
    status, data = d.api("GET", f"/1.0/instances/{name}/snapshots")
    assert status == 200, data
    return sorted(url.rsplit("/", 1)[1] for url in data["metadata"] or [])


def disk_snapshots(d: Pincusd, name: str, pool: str = "default") -> list[str]:
    """Every entry of containers-snapshots/<name>, hidden ones included."""
    path = pool_root(d, pool) / "containers-snapshots" / name
    return sorted(os.listdir(path)) if path.is_dir() else []


def tree_state(root: Path) -> tuple[list[str], str]:
    """(sorted relative file paths, digest of their contents) of a tree."""
    files, h = [], hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            rel = str(p.relative_to(root))
            files.append(rel)
            h.update(rel.encode() + b"\0" + p.read_bytes() + b"\0")
    return files, h.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def small_ext4(size_mib: int = 96) -> Iterator[Path]:
    """A fresh ext4 filesystem on a loop file of our own, mounted at a unique directory."""
    tag = secrets.token_hex(4)
    img = Path("/var/tmp") / f"pincus-chaos-{tag}.img"
    mnt = Path(tempfile.mkdtemp(prefix=f"pincus-chaos-mnt-{tag}-", dir="/var/tmp"))
    mounted = False
    try:
        with open(img, "wb") as f:
            f.truncate(size_mib * 2**20)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", str(img), str(mnt)], check=True, capture_output=True)
        mounted = True  # mount -o loop sets autoclear: unmounting releases the loop device
        yield mnt
    finally:
        if mounted and subprocess.run(["umount", str(mnt)], check=False, capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)  # ours, still busy
        try:
            os.rmdir(mnt)
        except OSError:
            pass
        img.unlink(missing_ok=True)


def free_bytes(path: Path) -> int:
    """Bytes free for root on the filesystem of path."""
    st = os.statvfs(path)
    return st.f_bfree * st.f_frsize
