"""API round trip at scale: GET /1.0/instances?recursion=2 with 50 instances and 500 snapshots.

Side by side in one run: a private pincusd and a private real Incus 6.0.4, both on btrfs pools
(so creating 500 snapshots is quick on both). Measures the raw request (a minimal stdlib client,
keep-alive off, as the incus client does) and the stock `incus list` wall time against each daemon.
Prints medians, min-max and the pincusd/incusd ratio.

    .venv/bin/python bench/bench_api.py [--instances 50] [--snapshots 10] [--runs 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import INCUS, markdown_table, progress, ratio, report_header, side_by_side


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("unix.socket", timeout=600)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def call(sock: str, method: str, path: str, body: Any = None) -> Any:
    """One request; async operations are waited for; returns the metadata."""
    conn = _Unix(sock)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read())
    finally:
        conn.close()
    if resp.status == 202:
        return call(sock, "GET", data["operation"] + "/wait?timeout=-1")
    if resp.status >= 400:
        raise RuntimeError(f"{method} {path}: {data.get('error')}")
    return data["metadata"]


def populate(sock: str, prefix: str, instances: int, snapshots: int) -> None:
    """Create the instances (stopped) and their snapshots, a few requests at a time."""
    names = [f"{prefix}-{i:02d}" for i in range(instances)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: call(sock, "POST", "/1.0/instances",
                                     {"name": n, "source": {"type": "image", "alias": "busybox"}}), names))
        jobs = [(n, f"s{j}") for n in names for j in range(snapshots)]
        list(pool.map(lambda js: call(sock, "POST", f"/1.0/instances/{js[0]}/snapshots", {"name": js[1]}), jobs))


def time_request(sock: str, runs: int) -> list[float]:
    """Seconds per GET /1.0/instances?recursion=2 (new connection each, as the incus client)."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call(sock, "GET", "/1.0/instances?recursion=2")
        out.append(time.perf_counter() - t0)
    return out


def time_list(env: dict[str, str], runs: int) -> list[float]:
    """Seconds per `incus list` (default columns: recursion=2)."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([INCUS, "list"], env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


def cell(xs: list[float]) -> str:
    """median [min-max] in ms."""
    return f"{statistics.median(xs) * 1000:.1f} [{min(xs) * 1000:.1f}-{max(xs) * 1000:.1f}] ms"


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=50)
    ap.add_argument("--snapshots", type=int, default=10, help="snapshots per instance")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with side_by_side("btrfs") as d:
        pool = d.incusd.create_btrfs_pool(size="6GiB")
        d.incusd.set_root_pool(pool)
        socks = {"pincusd": str(d.pincusd.socket), "incusd": str(d.incusd.incus_dir / "unix.socket")}
        for label, sock in socks.items():
            progress(f"{label}: creating {args.instances} instances x {args.snapshots} snapshots")
            populate(sock, f"api-{d.incusd.suffix}", args.instances, args.snapshots)
        req = {k: time_request(s, args.runs) for k, s in socks.items()}
        lst = {"pincusd": time_list(d.pincus.env | {"INCUS_CONF": str(d.pincusd.root / "client-conf")}, args.runs),
               "incusd": time_list(d.incus.env, args.runs)}
        print(report_header(f"API at scale: {args.instances} instances, "
                            f"{args.instances * args.snapshots} snapshots (btrfs)", d))
        rows = [["GET /1.0/instances?recursion=2", cell(req["pincusd"]), cell(req["incusd"]),
                 ratio(statistics.median(req["pincusd"]), statistics.median(req["incusd"]))],
                ["`incus list` (stock client)", cell(lst["pincusd"]), cell(lst["incusd"]),
                 ratio(statistics.median(lst["pincusd"]), statistics.median(lst["incusd"]))]]
        print(markdown_table(["operation", "pincusd", "incusd 6.0.4", "ratio"], rows))
        print("\nTarget: ratio <= 1.0")


if __name__ == "__main__":
    main()
