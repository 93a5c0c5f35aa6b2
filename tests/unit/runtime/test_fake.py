"""FakeRuntime: the same state machine and errors as LxcRuntime, exec on the host."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from pincus.base.errors import Conflict, InvalidArgument, NotSupported, RuntimeFailure
from pincus.runtime.base import FROZEN, RUNNING, STOPPED, ContainerSpec, ExecSpec, Runtime
from pincus.runtime.fake import FakeExecProcess, FakeRuntime


def _spec(rootfs: Path, name: str = "c1") -> ContainerSpec:
    return ContainerSpec(name=name, hostname=name, rootfs=str(rootfs))


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _read_pty(fd: int, until: bytes, timeout: float = 5.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while until not in data and time.monotonic() < deadline:
        try:
            data += os.read(fd, 4096)
        except OSError:  # EIO: the slave side is closed
            break
    return data


def _run(rt: FakeRuntime, argv: list[str], **kwargs: object) -> tuple[int, bytes, bytes]:
    proc = rt.exec("c1", ExecSpec(argv=argv, **kwargs), interactive=False)  # type: ignore[arg-type]
    os.close(proc.stdin_fd)
    out, err = _read_all(proc.stdout_fd), _read_all(proc.stderr_fd)
    return proc.wait(), out, err


@pytest.fixture
def rt(tmp_path: Path) -> FakeRuntime:
    runtime = FakeRuntime()
    (tmp_path / "root").mkdir()
    runtime.start(_spec(tmp_path))
    return runtime


def test_satisfies_protocol() -> None:
    runtime: Runtime = FakeRuntime()
    assert runtime.running() == []


def test_lifecycle(tmp_path: Path) -> None:
    rt = FakeRuntime()
    assert rt.state("c1").status == STOPPED
    rt.start(_spec(tmp_path))
    state = rt.state("c1")
    assert (state.status, state.processes) == (RUNNING, 1)
    assert state.pid > 0
    assert rt.running() == ["c1"]
    with pytest.raises(Conflict, match='"c1" is already running'):
        rt.start(_spec(tmp_path))
    rt.freeze("c1")
    assert rt.state("c1").status == FROZEN
    assert rt.running() == ["c1"]
    rt.unfreeze("c1")
    with pytest.raises(Conflict, match="running"):
        rt.forget("c1")
    rt.stop("c1", 10, False)
    rt.stop("c1", 10, False)  # stopping a stopped container is a no-op
    assert rt.state("c1").pid == -1
    assert rt.running() == []
    rt.forget("c1")
    assert "c1" not in rt.containers
    assert [call for call, _ in rt.calls] == [
        "start",
        "start",
        "freeze",
        "unfreeze",
        "forget",
        "stop",
        "stop",
        "forget",
    ]
    assert rt.stop_requests == [("c1", 10, False), ("c1", 10, False)]


def test_stopped_container_refuses_freeze_and_exec(tmp_path: Path) -> None:
    rt = FakeRuntime()
    with pytest.raises(Conflict, match="not running"):
        rt.freeze("nope")
    with pytest.raises(Conflict, match="not running"):
        rt.exec("nope", ExecSpec(argv=["true"]), False)
    rt.stop("nope", 1, True)


def test_failed_start(tmp_path: Path) -> None:
    rt = FakeRuntime()
    rt.fail_start["c1"] = "ERROR start - Failed to exec /sbin/init"
    with pytest.raises(RuntimeFailure, match='(?s)"c1".*Failed to exec'):
        rt.start(_spec(tmp_path))
    assert rt.state("c1").status == STOPPED
    rt.start(_spec(tmp_path))  # the failure is consumed
    assert rt.state("c1").status == RUNNING


def test_unprivileged_not_supported(tmp_path: Path) -> None:
    with pytest.raises(NotSupported, match="c1"):
        FakeRuntime().start(ContainerSpec(name="c1", hostname="c1", rootfs=str(tmp_path), privileged=False))


def test_frozen_refuses_exec(rt: FakeRuntime) -> None:
    rt.freeze("c1")
    with pytest.raises(Conflict, match="frozen"):
        rt.exec("c1", ExecSpec(argv=["true"]), False)


def test_exec_exit_codes_and_streams(rt: FakeRuntime) -> None:
    assert _run(rt, ["true"]) == (0, b"", b"")
    assert _run(rt, ["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, b"out\n", b"err\n")
    with pytest.raises(InvalidArgument):
        rt.exec("c1", ExecSpec(argv=[]), False)


def test_exec_environment_and_cwd(rt: FakeRuntime, tmp_path: Path) -> None:
    code, out, _ = _run(rt, ["sh", "-c", 'echo "$HOME $USER $LANG $FOO"; pwd'], environment={"FOO": "bar"})
    assert code == 0
    assert out.decode().splitlines() == ["/root root C.UTF-8 bar", str(tmp_path / "root")]
    _, out, _ = _run(rt, ["pwd"], cwd="/missing")
    assert out.decode().strip() == str(tmp_path)


def test_exec_stdin(rt: FakeRuntime) -> None:
    proc = rt.exec("c1", ExecSpec(argv=["cat"]), False)
    os.write(proc.stdin_fd, b"hello\n")
    os.close(proc.stdin_fd)
    assert _read_all(proc.stdout_fd) == b"hello\n"
    os.close(proc.stderr_fd)
    assert proc.wait() == 0


def test_exec_signal(rt: FakeRuntime) -> None:
    proc = rt.exec("c1", ExecSpec(argv=["sleep", "30"]), False)
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 128 + signal.SIGTERM
    for fd in (proc.stdin_fd, proc.stdout_fd, proc.stderr_fd):
        os.close(fd)


def test_exec_interactive(rt: FakeRuntime) -> None:
    proc = rt.exec("c1", ExecSpec(argv=["sh"]), True, width=100, height=30)
    assert (proc.stdin_fd, proc.stdout_fd, proc.stderr_fd) == (-1, -1, -1)
    os.write(proc.master_fd, b"stty size\n")
    assert b"30 100" in _read_pty(proc.master_fd, b"30 100")
    proc.resize(132, 40)
    os.write(proc.master_fd, b"stty size; exit 4\n")
    assert b"40 132" in _read_pty(proc.master_fd, b"40 132")
    assert proc.wait() == 4
    os.close(proc.master_fd)


def test_canned_reply(rt: FakeRuntime) -> None:
    big = b"x" * 200_000  # more than a pipe buffer
    rt.reply(["cat", "/etc/os-release"], stdout=big, stderr=b"warn\n", code=2)
    proc = rt.exec("c1", ExecSpec(argv=["cat", "/etc/os-release"]), False)
    assert isinstance(proc, FakeExecProcess)
    os.write(proc.stdin_fd, b"ignored")
    os.close(proc.stdin_fd)
    assert _read_all(proc.stdout_fd) == big
    assert _read_all(proc.stderr_fd) == b"warn\n"
    assert proc.wait() == 2
    proc.signal(signal.SIGINT)
    assert proc.signals == [signal.SIGINT]


def test_canned_reply_interactive(rt: FakeRuntime) -> None:
    rt.reply(["bash"], stdout=b"prompt$ ", code=0)
    proc = rt.exec("c1", ExecSpec(argv=["bash"]), True)
    assert b"prompt$ " in _read_pty(proc.master_fd, b"prompt$ ")
    assert proc.wait() == 0
    os.close(proc.master_fd)


def test_status_try_exec_and_pidfd(rt: FakeRuntime) -> None:
    import select

    rt.prepare_exec()
    assert rt.status("c1") == RUNNING and rt.status("nope") == STOPPED
    proc = rt.try_exec("c1", ExecSpec(argv=["sh", "-c", "read x; exit 5"]))
    assert proc is not None and proc.pidfd >= 0
    assert not select.select([proc.pidfd], [], [], 0.1)[0]
    os.write(proc.stdin_fd, b"go\n")
    assert select.select([proc.pidfd], [], [], 10)[0]  # readable once it exited
    assert proc.wait() == 5 and proc.pidfd == -1
    for fd in (proc.stdin_fd, proc.stdout_fd, proc.stderr_fd):
        os.close(fd)
    rt.reply(["canned"])
    canned = rt.exec("c1", ExecSpec(argv=["canned"]), False)
    assert canned.pidfd == -1  # no process: wait() in a thread
    for fd in (canned.stdin_fd, canned.stdout_fd, canned.stderr_fd):
        os.close(fd)
    rt.freeze("c1")
    assert rt.status("c1") == FROZEN
    with pytest.raises(Conflict, match="frozen"):
        rt.try_exec("c1", ExecSpec(argv=["true"]))
