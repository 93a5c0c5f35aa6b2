"""Run a private pincusd for tests and benchmarks, and talk to it.

The daemon gets its own PINCUS_DIR; stop() removes every instance, image and pool it made
(containers keep running when a daemon stops, so they are stopped through the API first),
then kills the daemon by PID.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
IMAGES = REPO / "images-cache"
LXC_LOCKS = Path("/run/lxc/lock")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 600.0) -> None:
        super().__init__("unix.socket", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def busybox_image() -> tuple[Path, Path]:
    """The split busybox image (built once into images-cache/)."""
    meta, rootfs = IMAGES / "busybox-meta.tar.xz", IMAGES / "busybox-rootfs.tar.xz"
    if not (meta.exists() and rootfs.exists()):
        subprocess.run(["bash", str(REPO / "scripts" / "build-busybox-image.sh"), str(IMAGES)], check=True,
                       stdout=subprocess.DEVNULL)
    return meta, rootfs


@dataclass
class Pincusd:
    """A running private pincusd."""

    root: Path
    proc: subprocess.Popen[bytes]
    log: Path
    pools: list[str] = field(default_factory=list)

    @property
    def socket(self) -> Path:
        """The daemon's unix socket."""
        return self.root / "unix.socket"

    def env(self) -> dict[str, str]:
        """Environment for a client (pincus or the stock incus) aimed at this daemon."""
        conf = self.root / "client-conf"
        conf.mkdir(exist_ok=True)
        return {**os.environ, "PINCUS_DIR": str(self.root), "INCUS_DIR": str(self.root),
                "INCUS_CONF": str(conf), "PINCUS_CONF": str(conf), "INCUS_SOCKET": str(self.socket)}

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """One API request; async operations are waited for. Returns (status, envelope)."""
        conn = _UnixConnection(str(self.socket))
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = json.loads(resp.read() or b"{}")
        finally:
            conn.close()
        if resp.status == 202:
            op = data["operation"]
            return self.api("GET", f"{op}/wait?timeout=-1")
        return resp.status, data

    def raw(self, method: str, path: str, data: bytes = b"", headers: dict[str, str] | None = None,
            timeout: float = 600.0) -> tuple[int, dict[str, Any]]:
        """One request with a raw body, not waited for. Returns (status, envelope)."""
        conn = _UnixConnection(str(self.socket), timeout)
        try:
            conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw or b"{}")
        except ValueError:
            return resp.status, {"raw": raw[:200].decode(errors="replace")}

    def run(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the pincus CLI against this daemon."""
        return subprocess.run([str(VENV_BIN / "pincus"), *args], env=self.env(), input=input,
                              capture_output=True, text=True, check=check, timeout=600)

    def incus(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the stock incus client against this daemon."""
        return subprocess.run(["incus", *args], env=self.env(), input=input, capture_output=True,
                              text=True, check=check, timeout=600)

    def init_pool(self, driver: str, name: str = "default", size: str = "3GiB") -> None:
        """Create a pool and point the default profile's root disk at it."""
        config = {"size": size} if driver == "btrfs" else {}
        status, data = self.api("POST", "/1.0/storage-pools", {"name": name, "driver": driver, "config": config})
        assert status == 200, data
        self.pools.append(name)
        status, data = self.api("PUT", "/1.0/profiles/default", {
            "description": "Default Incus profile", "config": {},
            "devices": {"root": {"type": "disk", "path": "/", "pool": name}}})
        assert status == 200, data

    def import_busybox(self, alias: str = "busybox") -> str:
        """Import the busybox test image; return its fingerprint."""
        meta, rootfs = busybox_image()
        out = self.incus("image", "import", str(meta), str(rootfs), "--alias", alias)
        status, data = self.api("GET", f"/1.0/images/aliases/{alias}")
        assert status == 200, (out.stdout, out.stderr, data)
        return str(data["metadata"]["target"])

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the daemon answers GET /1.0."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pincusd exited: {self.log.read_text()[-3000:]}")
            if self.socket.exists():
                try:
                    status, _ = self.api("GET", "/1.0")
                    if status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"pincusd did not start: {self.log.read_text()[-3000:]}")

    def restart(self, failpoints: str = "") -> None:
        """Stop the daemon (containers keep running) and start it again, optionally with failpoints."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        self.proc = _spawn(self.root, self.log, failpoints)
        self.wait_ready()

    def crashed(self, timeout: float = 60.0) -> bool:
        """Wait for the daemon to die (a failpoint); True when it was killed by SIGKILL."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return self.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        """Remove what the daemon holds, stop it by PID, delete its directory."""
        try:
            if self.proc.poll() is None:
                self._clean()
        finally:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            _unmount_under(self.root)
            shutil.rmtree(self.root, ignore_errors=True)
            shutil.rmtree(LXC_LOCKS / str(self.root.resolve()).lstrip("/"), ignore_errors=True)  # liblxc's lock dirs
            self.log.unlink(missing_ok=True)

    def _clean(self) -> None:
        _, data = self.api("GET", "/1.0/instances?recursion=1")
        for inst in data.get("metadata") or []:
            name = inst["name"]
            if inst["status"] != "Stopped":
                self.api("PUT", f"/1.0/instances/{name}/state", {"action": "stop", "force": True, "timeout": -1})
            self.api("PATCH", f"/1.0/instances/{name}", {"config": {"security.protection.delete": "false"}})
            self.api("DELETE", f"/1.0/instances/{name}")
        _, data = self.api("GET", "/1.0/images")
        for url in data.get("metadata") or []:
            self.api("DELETE", url)
        self.api("PUT", "/1.0/profiles/default", {"config": {}, "devices": {}})
        _, data = self.api("GET", "/1.0/storage-pools")
        for url in data.get("metadata") or []:
            self.api("DELETE", url)


def _unmount_under(root: Path) -> None:
    """Unmount whatever is mounted below root (our own pools only), deepest first."""
    prefix = str(root.resolve()) + "/"
    mounts = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def _spawn(root: Path, log: Path, failpoints: str = "") -> subprocess.Popen[bytes]:
    env = {**os.environ, "PINCUS_DIR": str(root), "PINCUS_FAILPOINTS": failpoints}
    with open(log, "ab") as out:
        return subprocess.Popen([str(VENV_BIN / "pincusd"), "--verbose"], env=env, stdout=out, stderr=out)


def start_pincusd(base: Path | None = None, timeout: float = 30.0) -> Pincusd:
    """Start a pincusd in a fresh directory and wait until it answers (cleaned up if it does not)."""
    root = Path(tempfile.mkdtemp(prefix="pincus-test-", dir=str(base) if base else "/var/tmp"))
    log = root.parent / (root.name + ".log")
    daemon = Pincusd(root=root, proc=_spawn(root, log), log=log)
    try:
        daemon.wait_ready(timeout)
    except RuntimeError:
        daemon.stop()
        log.unlink(missing_ok=True)
        raise
    return daemon


@contextmanager
def private_daemon(driver: str = "dir") -> Iterator[Pincusd]:
    """A private pincusd with a pool of ``driver`` and the busybox image, stopped and removed at the
    end; the calling test is skipped without root and liblxc."""
    import pytest

    if os.geteuid() != 0 or not shutil.which("lxc-start"):
        pytest.skip("needs root and liblxc")
    d = start_pincusd()
    try:
        d.init_pool(driver)
        d.import_busybox()
        yield d
    finally:
        d.stop()


if __name__ == "__main__":
    d = start_pincusd()
    print(d.root, file=sys.stderr)
