"""The Runtime contract: FakeRuntime and LxcRuntime (real busybox containers) pass the same suite.

Where they differ, the fake is wrong: the layers above are unit-tested against it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from pincus.base.errors import Conflict, InvalidArgument, NotFound, NotSupported
from pincus.runtime.base import FROZEN, RUNNING, STOPPED, ContainerSpec, ExecProcess, ExecSpec, Runtime
from pincus.runtime.fake import FakeRuntime
from tests.support.fds import drain as _drain

IMAGE = Path(__file__).resolve().parents[3] / "images-cache" / "busybox-rootfs.tar.xz"
needs_lxc = pytest.mark.skipif(
    os.geteuid() != 0 or not IMAGE.exists(), reason="needs root, liblxc and the busybox image"
)


@dataclass
class Backend:
    """A runtime under test, a rootfs it can start, and whether a name still has files of its own."""

    runtime: Runtime
    rootfs: Path
    has_files: Callable[[str], bool]

    def spec(self, name: str, **changes: object) -> ContainerSpec:
        """A spec that starts on this backend."""
        fields: dict[str, object] = {"name": name, "hostname": "c1", "rootfs": str(self.rootfs), **changes}
        return ContainerSpec(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox rootfs, shared by the module (no test changes it)."""
    root = tmp_path_factory.mktemp("image") / "rootfs"
    root.mkdir()
    subprocess.run(["tar", "-xJf", str(IMAGE), "-C", str(root)], check=True)
    return root


@pytest.fixture(params=["fake", pytest.param("lxc", marks=[pytest.mark.integration, needs_lxc])])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "fake":
        fake = FakeRuntime()
        (tmp_path / "rootfs").mkdir()
        yield Backend(fake, tmp_path / "rootfs", lambda name: name in fake.containers)
        return
    from pincus.runtime.lxc import LxcRuntime

    rt = LxcRuntime(tmp_path / "lxc")
    try:
        yield Backend(rt, request.getfixturevalue("busybox"), lambda name: (rt.lxc_path / name).exists())
    finally:
        for name in rt.running():  # only containers under this test's own lxcpath
            rt.stop(name, 0, True)
        shutil.rmtree(f"/run/lxc/lock{rt.lxc_path}", ignore_errors=True)


@pytest.fixture
def name(backend: Backend) -> str:
    return f"pincus-rt-{secrets.token_hex(4)}"


@pytest.fixture
def running(backend: Backend, name: str) -> str:
    backend.runtime.start(backend.spec(name))
    return name


def _finish(proc: ExecProcess, stdin: bytes = b"") -> tuple[int, str, str]:
    """Feed stdin, read both outputs to the end, wait: (exit code, stdout, stderr)."""
    with ThreadPoolExecutor(2) as pool:
        out, err = pool.submit(_drain, proc.stdout_fd), pool.submit(_drain, proc.stderr_fd)
        view = memoryview(stdin)
        while view:
            view = view[os.write(proc.stdin_fd, view) :]
        os.close(proc.stdin_fd)
        return proc.wait(), out.result().decode(), err.result().decode()


def _run(rt: Runtime, name: str, argv: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    return _finish(rt.exec(name, ExecSpec(argv=argv), interactive=False), stdin)


def test_unknown_names(backend: Backend) -> None:
    rt = backend.runtime
    state = rt.state("pincus-rt-none")
    assert (state.status, state.pid) == (STOPPED, -1)
    assert rt.status("pincus-rt-none") == STOPPED and rt.running() == []
    rt.stop("pincus-rt-none", 1, False)  # stopping what is not running is a no-op
    rt.forget("pincus-rt-none")
    for call in (rt.freeze, rt.unfreeze):
        with pytest.raises(Conflict, match='"pincus-rt-none" is not running'):
            call("pincus-rt-none")
    with pytest.raises(Conflict, match='"pincus-rt-none" is not running'):
        rt.exec("pincus-rt-none", ExecSpec(argv=["true"]), False)
    with pytest.raises(Conflict, match='"pincus-rt-none" is not running'):
        rt.try_exec("pincus-rt-none", ExecSpec(argv=["true"]))
    for call in (rt.state, rt.status, rt.freeze, rt.forget, lambda n: rt.stop(n, 1, False)):
        with pytest.raises(InvalidArgument, match="bad/name"):
            call("bad/name")


def test_start_refuses_bad_specs(backend: Backend, name: str) -> None:
    rt = backend.runtime
    with pytest.raises(InvalidArgument, match="bad name"):
        rt.start(backend.spec("bad name"))
    with pytest.raises(InvalidArgument, match=name):
        rt.start(backend.spec(name, hostname="two words"))
    with pytest.raises(NotSupported, match=name):
        rt.start(backend.spec(name, privileged=False))
    with pytest.raises(NotFound, match=name):
        rt.start(backend.spec(name, rootfs=str(backend.rootfs / "nope")))
    assert rt.status(name) == STOPPED and rt.running() == []


def test_start_and_second_start(backend: Backend, running: str) -> None:
    rt = backend.runtime
    state = rt.state(running)
    assert state.status == RUNNING and state.pid > 0 and state.processes >= 1
    assert state.memory_usage > 0 and state.memory_total > 0 and state.cpu_allocated_ns > 0
    assert rt.status(running) == RUNNING and rt.running() == [running]
    with pytest.raises(Conflict, match=f'"{running}" is already running'):
        rt.start(backend.spec(running))
    assert rt.state(running).pid == state.pid


def test_freeze_unfreeze(backend: Backend, running: str) -> None:
    rt = backend.runtime
    rt.freeze(running)
    rt.freeze(running)  # already frozen: no-op
    assert rt.status(running) == FROZEN and rt.state(running).status == FROZEN
    assert rt.running() == [running]
    with pytest.raises(Conflict, match=f'"{running}" is already running'):
        rt.start(backend.spec(running))
    with pytest.raises(Conflict, match=f'"{running}" is frozen'):
        rt.exec(running, ExecSpec(argv=["true"]), False)
    with pytest.raises(Conflict, match=f'"{running}" is frozen'):
        rt.try_exec(running, ExecSpec(argv=["true"]))
    rt.unfreeze(running)
    rt.unfreeze(running)  # running: no-op
    assert rt.status(running) == RUNNING
    assert _run(rt, running, ["true"])[0] == 0
    rt.freeze(running)
    rt.stop(running, 10, False)  # a clean stop of a frozen container thaws it first
    assert rt.status(running) == STOPPED
    for call in (rt.freeze, rt.unfreeze):
        with pytest.raises(Conflict, match=f'"{running}" is not running'):
            call(running)


def test_exec_with_pipes(backend: Backend, running: str) -> None:
    rt = backend.runtime
    assert _run(rt, running, ["true"]) == (0, "", "")
    assert _run(rt, running, ["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, "out\n", "err\n")
    assert _run(rt, running, ["sh", "-c", "kill -9 $$"])[0] == 128 + 9
    code, out, err = _run(rt, running, ["no-such-command"])
    assert (code, out) == (127, "") and "no-such-command" in err
    data = "line\n" * 50_000  # more than a pipe buffer each way
    assert _run(rt, running, ["cat"], stdin=data.encode()) == (0, data, "")
    with pytest.raises(InvalidArgument, match=running):
        rt.exec(running, ExecSpec(argv=[]), False)


def test_exec_signal_and_pidfd(backend: Backend, running: str) -> None:
    proc = backend.runtime.exec(running, ExecSpec(argv=["sleep", "30"]), False)
    assert proc.pid > 0 and proc.pidfd >= 0 and proc.master_fd == -1
    proc.signal(signal.SIGTERM)
    assert _finish(proc) == (128 + signal.SIGTERM, "", "")
    assert proc.pidfd == -1  # wait() closed it
    proc.signal(signal.SIGTERM)  # exited: nothing happens


def test_try_exec(backend: Backend, running: str) -> None:
    rt = backend.runtime
    rt.prepare_exec()
    proc = rt.try_exec(running, ExecSpec(argv=["sh", "-c", "cat; exit 5"]))
    assert proc is not None  # nothing else holds the container
    assert _finish(proc, b"hi\n") == (5, "hi\n", "")


def test_stop_clean_and_forced(backend: Backend, running: str) -> None:
    rt = backend.runtime
    rt.stop(running, 10, False)
    state = rt.state(running)
    assert (state.status, state.pid) == (STOPPED, -1) and rt.running() == []
    rt.stop(running, 10, False)  # stopped: no-op
    with pytest.raises(Conflict, match=f'"{running}" is not running'):
        rt.exec(running, ExecSpec(argv=["true"]), False)
    with pytest.raises(InvalidArgument, match=running):  # the command is checked first
        rt.exec(running, ExecSpec(argv=[]), False)
    for timeout, force in ((10, True), (0, False)):  # forced, and no time for a clean shutdown
        rt.start(backend.spec(running))
        assert rt.status(running) == RUNNING
        rt.stop(running, timeout, force)
        assert rt.status(running) == STOPPED and rt.running() == []


def test_forget(backend: Backend, running: str) -> None:
    rt = backend.runtime
    with pytest.raises(Conflict, match=f'"{running}" is running, stop it first'):
        rt.forget(running)
    assert backend.has_files(running)
    rt.stop(running, 10, True)
    assert backend.has_files(running)  # stopped, still known
    rt.forget(running)
    assert not backend.has_files(running) and rt.status(running) == STOPPED
    assert backend.rootfs.is_dir()  # never the rootfs
    rt.forget(running)  # unknown now: no-op
    rt.start(backend.spec(running))  # and the name can start again
    assert rt.status(running) == RUNNING
