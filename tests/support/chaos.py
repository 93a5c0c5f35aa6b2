"""Crash chaos against a real pincusd: random operations, SIGKILL at a random moment, restart, check.

Used by tests/integration/daemon/test_chaos.py (a few dozen cycles) and bench/chaos.py (the long run).

The test keeps a model of what must be true: instances, whether they run, and the token of the marker
file ``/root/marker`` that every rootfs and snapshot must hold. Before each operation the token of the
instance it touches is rewritten (straight into the rootfs on disk), so every snapshot, copy and restore
carries a token of its own. An operation that the kill interrupted may have happened or not: both
states are candidates, and after the restart the observed state must equal one of them. An operation
whose answer arrived before the kill has one candidate (its success or, if it failed, the old state).
"""

from __future__ import annotations

import copy
import json
import os
import random
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.pincusd import Pincusd, start_pincusd

MARKER = "root/marker"
MAX_INSTANCES = 4
MAX_SNAPSHOTS = 3
BACKGROUND = (".delete-",)  # set aside by a live daemon, deleted after the answer (restart: none left)
AFTER_ANSWER = 0.25  # share of cycles that wait for the answer before the random delay and the kill


@dataclass
class Inst:
    """What the model knows of one instance."""

    token: str
    running: bool
    snaps: dict[str, str] = field(default_factory=dict)  # snapshot name -> token it must hold


Model = dict[str, Inst]


@dataclass
class Op:
    """One operation: the request, and the model if it succeeds."""

    what: str
    method: str
    path: str
    body: dict[str, Any] | None
    after: Model


@dataclass
class Result:
    """What one chaos run found."""

    driver: str
    ops: int = 0
    kills: int = 0
    failures: list[str] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)  # operation kind -> how many were sent

    def summary(self) -> str:
        """The one-line summary printed per driver."""
        return f"chaos {self.driver}: {self.ops} ops, {self.kills} kills, {len(self.failures)} failures found"


# --- disk and API observations -------------------------------------------------------------------


def pool_root(d: Pincusd, pool: str = "default") -> Path:
    """Where the pool's containers/ and containers-snapshots/ are."""
    return d.root / "storage-pools" / pool


def read_marker(tree: Path) -> str | None:
    """The marker token in a volume (``<vol>/rootfs/root/marker``), None when absent."""
    try:
        return (tree / "rootfs" / MARKER).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_marker(d: Pincusd, name: str, token: str, pool: str = "default") -> None:
    """Write the marker straight into the instance's rootfs (running or not)."""
    path = pool_root(d, pool) / "containers" / name / "rootfs" / MARKER
    tmp = path.with_name(".marker.tmp")
    tmp.write_text(token + "\n")
    os.rename(tmp, path)


def disk_state(d: Pincusd, pool: str = "default") -> tuple[list[str], dict[str, list[str]]]:
    """Entries of containers/ and of each containers-snapshots/<inst>/ (hidden names included)."""
    root = pool_root(d, pool)
    insts = sorted(os.listdir(root / "containers")) if (root / "containers").is_dir() else []
    snaps: dict[str, list[str]] = {}
    sroot = root / "containers-snapshots"
    for entry in sorted(os.listdir(sroot)) if sroot.is_dir() else []:
        p = sroot / entry
        snaps[entry] = sorted(os.listdir(p)) if p.is_dir() and not p.is_symlink() else ["<not a directory>"]
    return insts, snaps


def api_state(d: Pincusd) -> dict[str, tuple[str, list[str]]]:
    """Instance name -> (status, snapshot names), from the API."""
    status, data = d.api("GET", "/1.0/instances?recursion=1")
    assert status == 200, data
    out: dict[str, tuple[str, list[str]]] = {}
    for inst in data["metadata"] or []:
        status, snaps = d.api("GET", f"/1.0/instances/{inst['name']}/snapshots")
        names = sorted(url.rsplit("/", 1)[1] for url in snaps.get("metadata") or []) if status == 200 else []
        out[inst["name"]] = (inst["status"], names)
    return out


def _empty_dir(p: Path) -> bool:
    return p.is_dir() and not p.is_symlink() and not os.listdir(p)


def disk_mismatches(d: Pincusd, pool: str = "default", in_flight: tuple[str, ...] = ()) -> list[str]:
    """Where the database (through the API) and the pool's directories disagree.

    A hidden name is allowed once per directory only when it is an empty directory (a driver's work
    directory); anything else not listed by the API is a leftover. ``in_flight`` prefixes are
    tolerated too: trees a running daemon deletes in the background (never after a restart).
    """
    problems: list[str] = []
    api = api_state(d)
    insts, snaps = disk_state(d, pool)
    root = pool_root(d, pool)

    def extras(where: str, names: list[str], known: set[str], base: Path) -> None:
        work = [n for n in names if n not in known and n.startswith(".") and _empty_dir(base / n)]
        for n in names:
            if n not in known and n not in work[:1] and not (in_flight and n.startswith(in_flight)):
                problems.append(f"{where}/{n} on disk is unknown to the API")

    extras("containers", insts, set(api), root / "containers")
    extras("containers-snapshots", list(snaps), {n for n, (_, s) in api.items() if s}, root / "containers-snapshots")
    for name, (_, snap_names) in api.items():
        if not (root / "containers" / name / "rootfs").is_dir():
            problems.append(f'instance "{name}" has no containers/{name}/rootfs on disk')
        for s in snap_names:
            if not (root / "containers-snapshots" / name / s).is_dir():
                problems.append(f'snapshot "{name}/{s}" has no containers-snapshots/{name}/{s} on disk')
        if name in snaps:
            extras(f"containers-snapshots/{name}", snaps[name], set(snap_names), root / "containers-snapshots" / name)
    return problems


def running_operations(d: Pincusd) -> list[str]:
    """Operations still pending or running."""
    status, data = d.api("GET", "/1.0/operations?recursion=1")
    assert status == 200, data
    meta = data.get("metadata") or {}
    return [f"{op['description']} ({op['status']})" for key in ("running", "pending") for op in meta.get(key) or []]


def observe(d: Pincusd, pool: str = "default") -> Model:
    """The state as the API lists it, with the marker tokens read from disk."""
    root = pool_root(d, pool)
    model: Model = {}
    for name, (status, snaps) in api_state(d).items():
        tokens = {s: read_marker(root / "containers-snapshots" / name / s) or "<no marker>" for s in snaps}
        token = read_marker(root / "containers" / name) or "<no marker>"
        model[name] = Inst(token, status in ("Running", "Frozen"), tokens)
    return model


def diff(want: Model, got: Model) -> str:
    """A short description of how two models differ."""
    parts = []
    for name in sorted(set(want) | set(got)):
        w, g = want.get(name), got.get(name)
        if w is None:
            parts.append(f"{name}: unexpected")
        elif g is None:
            parts.append(f"{name}: missing")
        elif w != g:
            parts.append(f"{name}: want {w}, got {g}")
    return "; ".join(parts)


# --- operations ----------------------------------------------------------------------------------


def _fresh(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.randrange(16**4):04x}"


def pick_op(rng: random.Random, model: Model, name: str) -> Op:
    """A random operation on instance name that makes sense in the model's state."""
    inst = model[name]
    after = copy.deepcopy(model)
    me = after[name]
    snaps = sorted(inst.snaps)
    # Weighted towards what has crash windows worth hitting: restores, snapshots, renames.
    kinds = ["snap-create"] * 3 + ["start-stop"]
    if snaps:
        kinds += ["snap-delete", "snap-rename", "snap-rename"] + ["restore"] * 4
    if len(model) < MAX_INSTANCES:
        kinds += ["copy"] + (["copy-snap"] if snaps else [])
    if not inst.running:
        kinds += ["rename", "rename"] + (["delete"] if len(model) > 2 else [])
    kind = rng.choice(kinds)
    base = f"/1.0/instances/{name}"
    if kind == "snap-create":
        if len(snaps) >= MAX_SNAPSHOTS:
            return pick_op_delete_snap(rng, name, snaps, after, base)
        snap = _fresh(rng, "s")
        me.snaps[snap] = inst.token
        return Op(f"snapshot create {name} {snap}", "POST", f"{base}/snapshots", {"name": snap}, after)
    if kind == "snap-delete":
        return pick_op_delete_snap(rng, name, snaps, after, base)
    if kind == "snap-rename":
        old, new = rng.choice(snaps), _fresh(rng, "r")
        me.snaps[new] = me.snaps.pop(old)
        return Op(f"snapshot rename {name} {old} {new}", "POST", f"{base}/snapshots/{old}", {"name": new}, after)
    if kind == "restore":
        snap = rng.choice(snaps)
        me.token = inst.snaps[snap]
        state = "running" if inst.running else "stopped"
        return Op(f"snapshot restore {name} {snap} ({state})", "PUT", base, {"restore": snap}, after)
    if kind in ("copy", "copy-snap"):
        new = _fresh(rng, "c")
        if kind == "copy":
            after[new] = Inst(inst.token, False, dict(inst.snaps))
            return Op(f"copy {name} {new}", "POST", "/1.0/instances", {"name": new, "source": {
                "type": "copy", "source": name}}, after)
        snap = rng.choice(snaps)
        after[new] = Inst(inst.snaps[snap], False, {})
        return Op(f"copy {name}/{snap} {new}", "POST", "/1.0/instances", {"name": new, "source": {
            "type": "copy", "source": f"{name}/{snap}"}}, after)
    if kind == "rename":
        new = _fresh(rng, "n")
        after[new] = after.pop(name)
        return Op(f"rename {name} {new}", "POST", base, {"name": new}, after)
    if kind == "delete":
        del after[name]
        return Op(f"delete {name}", "DELETE", base, None, after)
    me.running = not inst.running
    action = "start" if me.running else "stop"
    body = {"action": action, "timeout": -1, "force": True}
    return Op(f"{action} {name}", "PUT", f"{base}/state", body, after)


def pick_op_delete_snap(rng: random.Random, name: str, snaps: list[str], after: Model, base: str) -> Op:
    """Delete a random snapshot of name."""
    snap = rng.choice(snaps)
    del after[name].snaps[snap]
    return Op(f"snapshot delete {name} {snap}", "DELETE", f"{base}/snapshots/{snap}", None, after)


# --- the loop ------------------------------------------------------------------------------------


class _Call(threading.Thread):
    """One API request (waited for) in a thread, so the daemon can be killed while it runs."""

    def __init__(self, d: Pincusd, op: Op) -> None:
        super().__init__(daemon=True)
        self.d, self.op = d, op
        self.answer: tuple[int, dict[str, Any]] | None = None

    def run(self) -> None:
        try:
            self.answer = self.d.api(self.op.method, self.op.path, self.op.body)
        except Exception:  # noqa: BLE001 - the kill breaks the connection anyhow
            self.answer = None


def _meta(data: dict[str, Any]) -> dict[str, Any]:
    meta = data.get("metadata")
    return meta if isinstance(meta, dict) else {}


def outcome(answer: tuple[int, dict[str, Any]] | None) -> str:
    """"success", "failure" (the daemon answered an error) or "unknown" (killed first)."""
    if answer is None:
        return "unknown"
    status, data = answer
    meta = _meta(data)
    if status == 200 and meta.get("status") == "Success":
        return "success"
    if status == 200 and meta.get("status") in ("Running", "Pending"):
        return "unknown"
    if status == 200 and "status_code" not in meta:
        return "success"
    return "failure"


def error_text(answer: tuple[int, dict[str, Any]] | None) -> str:
    """The error a failed answer carries."""
    if answer is None:
        return ""
    status, data = answer
    meta = _meta(data)
    return f"{status} {data.get('error') or meta.get('err') or ''}".strip()


def launch(d: Pincusd, name: str, token: str, running: bool) -> Inst:
    """Create a busybox instance with a marker (outside the chaos: never killed)."""
    status, data = d.api("POST", "/1.0/instances", {"name": name, "source": {"type": "image", "alias": "busybox"}})
    assert status == 200 and data["metadata"]["status"] == "Success", data
    write_marker(d, name, token)
    if running:
        status, data = d.api("PUT", f"/1.0/instances/{name}/state", {"action": "start", "timeout": -1})
        assert status == 200 and data["metadata"]["status"] == "Success", data
    return Inst(token, running)


def check(d: Pincusd, candidates: list[Model]) -> tuple[list[str], Model]:
    """Check every invariant after a restart; return the failures and the observed model."""
    failures = [f"still running after restart: {op}" for op in running_operations(d)]
    failures += disk_mismatches(d)
    got = observe(d)
    if not any(got == c for c in candidates):
        labels = ["before", "after"] if len(candidates) == 2 else ["expected"]
        failures.append("state matches no outcome: " + " | ".join(
            f"against {label}: {diff(c, got)}" for label, c in zip(labels, candidates, strict=True)))
    for name, inst in got.items():
        expected = [c[name].running for c in candidates if name in c]
        if expected and all(expected) and not inst.running:
            failures.append(f'instance "{name}" was running and is stopped')
    return failures, got


def kill(d: Pincusd) -> None:
    """SIGKILL the daemon we started, by its PID, and reap it."""
    if d.proc.poll() is None:
        d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(30)


def run_chaos(d: Pincusd, driver: str, cycles: int, seed: int, log: Callable[[str], None] = print) -> Result:
    """The chaos loop on a daemon with a pool and the busybox image; stops at a daemon that will not start."""
    rng = random.Random(seed)
    res = Result(driver)
    model: Model = {}
    seen: set[str] = set()
    for i in range(3):
        name = f"x{i}-{secrets.token_hex(2)}"
        model[name] = launch(d, name, secrets.token_hex(6), running=i < 2)
    for cycle in range(cycles):
        while len(model) < 2:
            name = f"x-{secrets.token_hex(3)}"
            model[name] = launch(d, name, secrets.token_hex(6), running=False)
        target = rng.choice(sorted(model))
        token = f"{cycle}-{secrets.token_hex(4)}"
        write_marker(d, target, token)  # every snapshot, copy and restore below gets a token of its own
        model[target].token = token
        op = pick_op(rng, model, target)
        call = _Call(d, op)
        call.start()
        if rng.random() < AFTER_ANSWER:
            call.join(300)  # some dir operations outlast 300 ms: also kill after the answer
        time.sleep(rng.uniform(0.0, 0.3))
        kill(d)
        call.join(60)
        res.ops += 1
        res.kills += 1
        kind = " ".join(op.what.split()[:2]) if op.what.startswith("snapshot") else op.what.split()[0]
        res.kinds[kind] = res.kinds.get(kind, 0) + 1
        result = outcome(call.answer)
        candidates = {"success": [op.after], "failure": [model], "unknown": [model, op.after]}[result]
        try:
            d.restart()
        except RuntimeError as exc:
            res.failures.append(f"cycle {cycle}: daemon did not start after kill during {op.what}: {exc}"[:2000])
            log(res.failures[-1])
            return res
        found, got = check(d, candidates)
        for f in found:
            if f in seen:  # a leftover stays until someone removes it: report it where it appeared
                continue
            seen.add(f)
            res.failures.append(f"cycle {cycle} ({op.what}, {result} {error_text(call.answer)}): {f}")
            log(res.failures[-1])
        model = got  # go on from what is there, so one defect is reported once
        _tidy(d, model)
    return res


def _tidy(d: Pincusd, model: Model) -> None:
    """Keep the run going after a defect: drop instances whose state the model cannot follow."""
    for name, inst in list(model.items()):
        if inst.token.startswith("<") or any(t.startswith("<") for t in inst.snaps.values()):
            d.api("PUT", f"/1.0/instances/{name}/state", {"action": "stop", "force": True, "timeout": -1})
            d.api("DELETE", f"/1.0/instances/{name}")
            del model[name]


def stop_leftover_containers(d: Pincusd) -> None:
    """When the daemon cannot clean up, stop the containers it started (by their liblxc names)."""
    lxc = d.root / "lxc"
    if not lxc.is_dir():
        return
    for entry in sorted(lxc.iterdir()):
        subprocess.run(["lxc-stop", "-k", "-P", str(lxc), "-n", entry.name], capture_output=True, check=False)


def chaos_daemon(driver: str) -> Pincusd:
    """A fresh private pincusd with a pool of the driver and the busybox image."""
    d = start_pincusd()
    try:
        d.init_pool(driver)
        d.import_busybox()
    except BaseException:
        d.stop()
        raise
    return d


def finish(d: Pincusd) -> None:
    """Stop a chaos daemon and remove all it made, even if it no longer starts."""
    if d.proc.poll() is not None:
        try:
            d.restart()
        except RuntimeError:
            stop_leftover_containers(d)
    d.stop()


def main_json(res: Result) -> str:
    """The result as one JSON line."""
    return json.dumps({"driver": res.driver, "ops": res.ops, "kills": res.kills, "kinds": res.kinds,
                       "failures": res.failures})
