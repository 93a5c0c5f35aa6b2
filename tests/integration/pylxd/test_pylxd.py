"""pylxd, the PyPI client, against pincusd over its unix socket; the same tests against a real Incus 6.0.4.

Each test runs twice: ``[incus]`` proves the test itself is right, ``[pincus]`` checks pincusd.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pylxd
import pytest
from pylxd.exceptions import LXDAPIException, NotFound
from pylxd.models.instance import Instance

from tests.support.incusd import IncusDaemon, incus_available, start_incusd
from tests.support.pincusd import Pincusd, busybox_image, start_pincusd

pytestmark = [
    pytest.mark.integration,
    pytest.mark.incus,
    # pylxd 2.4's Snapshot model predates fields that Incus 6 (and so pincusd) return
    pytest.mark.filterwarnings("ignore:Attempted to set unknown attribute:UserWarning"),
]

# Where pincusd breaks pylxd: test name -> (exception pylxd raises, what goes wrong). Only the
# [pincus] run of these tests is xfail(strict=True); the [incus] run proves the test is right.
PINCUSD_BUGS: dict[str, tuple[type[BaseException], str]] = {}


@dataclass
class Server:
    """A daemon under test and a pylxd client bound to its unix socket."""

    kind: str
    socket: Path
    daemon: IncusDaemon | Pincusd

    def client(self) -> pylxd.Client:
        """A fresh pylxd client (a unix socket path is accepted as the endpoint)."""
        return pylxd.Client(endpoint=str(self.socket))


def _unavailable(kind: str) -> str | None:
    if not incus_available():
        return "needs root and the real Incus 6.0.4"
    if kind == "pincus" and not shutil.which("lxc-start"):
        return "needs liblxc"
    return None


@pytest.fixture(scope="module", params=["incus", "pincus"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A private real incusd or pincusd with a dir pool and the busybox image aliased 'busybox'."""
    reason = _unavailable(request.param)
    if reason:
        pytest.skip(reason)
    if request.param == "incus":
        incusd = start_incusd()
        try:
            incusd.import_image(*busybox_image(), alias="busybox")
            yield Server("incus", incusd.incus_dir / "unix.socket", incusd)
        finally:
            incusd.stop()
    else:
        pincusd = start_pincusd()
        try:
            pincusd.init_pool("dir")
            pincusd.import_busybox()
            yield Server("pincus", pincusd.socket, pincusd)
        finally:
            try:
                pincusd.stop()
            finally:
                pincusd.log.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _pincusd_bugs(request: pytest.FixtureRequest) -> None:
    """Mark the [pincus] run of a test listed in PINCUSD_BUGS as a strict xfail."""
    bug = PINCUSD_BUGS.get(request.node.originalname)
    if bug and "[pincus]" in request.node.name:
        request.node.add_marker(pytest.mark.xfail(strict=True, raises=bug[0], reason=bug[1]))


def _name() -> str:
    return f"plxd-{secrets.token_hex(3)}"


def _create(client: pylxd.Client, name: str, start: bool = True) -> Instance:
    config = {"name": name, "source": {"type": "image", "alias": "busybox"}}
    inst = client.instances.create(config, wait=True)
    if start:
        inst.start(wait=True)
        inst.sync()
    return inst


@pytest.fixture(scope="module")
def running(server: Server) -> Iterator[Instance]:
    """A running busybox container made through pylxd; deleted afterwards."""
    client = server.client()
    inst = _create(client, _name())
    try:
        yield inst
    finally:
        try:
            inst.sync()
            if inst.status != "Stopped":
                inst.stop(force=True, wait=True)
            inst.delete(wait=True)
        except LXDAPIException:
            pass


def _snapshot_names(inst: Instance) -> list[str]:
    return sorted(s.name for s in inst.snapshots.all())


def test_server_info_and_api_extensions(server: Server) -> None:
    client = server.client()
    assert client.trusted
    assert client.has_api_extension("instances")
    assert client.host_info["environment"]["driver"] == "lxc"


def test_list_instances(server: Server, running: Instance) -> None:
    client = server.client()
    names = [i.name for i in client.instances.all()]
    assert running.name in names
    assert client.instances.exists(running.name)
    assert not client.instances.exists("plxd-does-not-exist")
    inst = client.instances.get(running.name)
    assert inst.status == "Running"
    assert inst.config["image.os"] == "Busybox"
    assert inst.expanded_devices["root"]["path"] == "/"


def test_get_unknown_instance_raises_not_found(server: Server) -> None:
    with pytest.raises(NotFound):
        server.client().instances.get("plxd-does-not-exist")


def test_snapshot_create_list_get(server: Server, running: Instance) -> None:
    snaps = running.snapshots
    snaps.create("s-create", wait=True)
    assert "s-create" in _snapshot_names(running)
    snap = snaps.get("s-create")
    assert snap.name == "s-create"
    assert snap.stateful is False
    assert snap.created_at
    snap.delete(wait=True)
    assert "s-create" not in _snapshot_names(running)


def test_snapshot_rename(server: Server, running: Instance) -> None:
    snap = running.snapshots.create("s-old", wait=True)
    snap.rename("s-new", wait=True)
    names = _snapshot_names(running)
    assert "s-new" in names and "s-old" not in names
    running.snapshots.get("s-new").delete(wait=True)


def test_snapshot_rename_onto_taken_name_fails(server: Server, running: Instance) -> None:
    a = running.snapshots.create("s-a", wait=True)
    running.snapshots.create("s-b", wait=True)
    with pytest.raises(LXDAPIException, match="already in use"):
        a.rename("s-b", wait=True)
    for name in ("s-a", "s-b"):
        running.snapshots.get(name).delete(wait=True)


def test_restore_snapshot_brings_files_back(server: Server, running: Instance) -> None:
    inst = running
    inst.files.put("/root/marker", b"before\n")
    inst.snapshots.create("s-restore", wait=True)
    inst.files.put("/root/marker", b"after\n")
    inst.restore_snapshot("s-restore", wait=True)
    inst.sync()
    assert inst.status == "Running"
    assert inst.files.get("/root/marker") == b"before\n"
    inst.snapshots.get("s-restore").delete(wait=True)


def test_restore_unknown_snapshot_fails(server: Server, running: Instance) -> None:
    with pytest.raises(LXDAPIException):
        running.restore_snapshot("s-nope", wait=True)


def test_execute(server: Server, running: Instance) -> None:
    result = running.execute(["echo", "hi"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "hi\n", "")
    result = running.execute(["sh", "-c", "cat; echo err >&2; exit 3"], stdin_payload="in\n")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "in\n", "err\n")


def test_stateful_snapshot_is_refused(server: Server, running: Instance) -> None:
    # Incus: migration.stateful is not set; pincusd: no CRIU on this kernel. Either way: refused.
    with pytest.raises(LXDAPIException):
        running.snapshots.create("s-stateful", stateful=True, wait=True)
    assert "s-stateful" not in _snapshot_names(running)


def test_stop_and_delete(server: Server) -> None:
    client = server.client()
    name = _name()
    inst = _create(client, name)
    inst.snapshots.create("s1", wait=True)
    with pytest.raises(LXDAPIException):
        inst.delete(wait=True)  # running: refused by the server
    inst.stop(wait=True)
    inst.sync()
    assert inst.status == "Stopped"
    inst.delete(wait=True)
    assert not client.instances.exists(name)
