"""LxcRuntime against real liblxc containers (busybox image, temp lxcpath, names pincus-rt-*)."""

from __future__ import annotations

import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pincus.base.errors import Conflict, InvalidArgument, NotFound, NotSupported, RuntimeFailure
from pincus.runtime.attach import LxcExecProcess
from pincus.runtime.base import FROZEN, RUNNING, STOPPED, ContainerSpec, ExecSpec, Runtime
from pincus.runtime.lxc import LxcRuntime
from pincus.runtime.lxc_config import CgroupLayout, cpuset_for, parse_memory_limit, render_config
from tests.support.fds import drain as _drain

pytestmark = pytest.mark.integration

IMAGE = Path(__file__).resolve().parents[3] / "images-cache" / "busybox-rootfs.tar.xz"
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not IMAGE.exists(), reason="needs root, liblxc and the busybox image"
)
V1 = CgroupLayout(frozenset({"memory", "pids", "cpuset", "devices", "cpuacct"}), frozenset(), True)
V2 = CgroupLayout(frozenset(), frozenset({"memory", "pids", "cpuset"}), True)
STUBBORN_INIT = "#!/bin/sh\ntrap '' PWR TERM INT\nwhile true; do sleep 1 & wait $!; done\n"


def _name() -> str:
    return f"pincus-rt-{secrets.token_hex(4)}"


def _leftover_cgroups(name: str) -> list[str]:
    """Cgroups liblxc made for this container in any hierarchy."""
    found = []
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        found += [f"{top}/{d}" for d in dirs if d.startswith((f"lxc.monitor.{name}", f"lxc.payload.{name}"))]
    return found


def _run(
    rt: LxcRuntime, name: str, argv: list[str], stdin: bytes = b"", **kw: object
) -> tuple[int, str, str]:
    proc = rt.exec(name, ExecSpec(argv=argv, **kw), interactive=False)  # type: ignore[arg-type]
    with ThreadPoolExecutor(2) as pool:
        out = pool.submit(_drain, proc.stdout_fd)
        err = pool.submit(_drain, proc.stderr_fd)
        view = memoryview(stdin)
        while view:
            view = view[os.write(proc.stdin_fd, view) :]
        os.close(proc.stdin_fd)
        return proc.wait(), out.result().decode(), err.result().decode()


def _read_until(fd: int, needle: bytes, timeout: float = 5.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        try:
            data += os.read(fd, 4096)
        except OSError:
            break
    return data


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox rootfs, shared by the tests that leave it alone."""
    root = tmp_path_factory.mktemp("image") / "rootfs"
    root.mkdir()
    subprocess.run(["tar", "-xJf", str(IMAGE), "-C", str(root)], check=True)
    return root


@pytest.fixture
def own_rootfs(rootfs: Path, tmp_path: Path) -> Path:
    """A private copy for tests that change files in the rootfs."""
    subprocess.run(["cp", "-a", str(rootfs), str(tmp_path / "rootfs")], check=True)
    return tmp_path / "rootfs"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LxcRuntime]:
    rt = LxcRuntime(tmp_path / "lxc")
    yield rt
    for name in rt.running():  # only containers under this test's own lxcpath
        rt.stop(name, 0, True)
    lock_dir = Path(f"/run/lxc/lock{rt.lxc_path}")
    shutil.rmtree(lock_dir, ignore_errors=True)
    while lock_dir.parent != Path("/run/lxc/lock/tmp") and lock_dir != lock_dir.parent:
        lock_dir = lock_dir.parent
        try:
            lock_dir.rmdir()
        except OSError:
            break


@pytest.fixture
def container(runtime: LxcRuntime, rootfs: Path) -> str:
    name = _name()
    runtime.start(ContainerSpec(name=name, hostname="c1", rootfs=str(rootfs), environment={"INIT_VAR": "1"}))
    return name


# --- config rendering (no container needed) -----------------------------------------------------


def test_render_config() -> None:
    spec = ContainerSpec(
        name="pincus-rt-x",
        hostname="web1",
        rootfs="/srv/rootfs",
        init=["/sbin/init", "--debug"],
        environment={"FOO": "bar baz"},
        limits={"limits.memory": "256MiB", "limits.processes": "100", "limits.cpu": "0-1"},
    )
    lines = render_config(spec, "/var/log/x.log", "warn", V1).splitlines()
    for expected in (
        "lxc.uts.name = web1",
        "lxc.rootfs.path = /srv/rootfs",
        "lxc.init.cmd = /sbin/init --debug",
        "lxc.net.0.type = empty",
        "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
        "lxc.autodev = 1",
        "lxc.pty.max = 1024",
        "lxc.tty.max = 0",
        "lxc.signal.halt = SIGPWR",
        "lxc.apparmor.profile = unconfined",
        "lxc.environment = FOO=bar baz",
        "lxc.log.file = /var/log/x.log",
        "lxc.log.level = warn",
        "lxc.cgroup.devices.deny = a",
        "lxc.cgroup.memory.limit_in_bytes = 268435456",
        "lxc.cgroup.pids.max = 100",
        "lxc.cgroup.cpuset.cpus = 0-1",
    ):
        assert expected in lines
    v2 = render_config(spec, "/l", "info", V2)
    assert "lxc.cgroup2.memory.max = 268435456" in v2
    assert "lxc.cgroup2.pids.max = 100" in v2
    assert "lxc.cgroup2.devices.deny = a" in v2
    assert "lxc.cgroup." not in v2


def test_render_config_soft_memory() -> None:
    spec = ContainerSpec("c", "c", "/r", limits={"limits.memory": "1GB", "limits.memory.enforce": "soft"})
    assert "lxc.cgroup.memory.soft_limit_in_bytes = 1000000000" in render_config(spec, "/l", "warn", V1)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("256MiB", 256 << 20),
        ("1GB", 10**9),
        ("1.5GiB", 3 << 29),
        ("4096", 4096),
        ("64kB", 64000),
        ("2 GiB", 2 << 30),
    ],
)
def test_parse_memory_limit(value: str, size: int) -> None:
    assert parse_memory_limit(value) == size


def test_parse_memory_limit_percent() -> None:
    assert 0 < parse_memory_limit("50%") < parse_memory_limit("100%")


@pytest.mark.parametrize("value", ["", "abc", "10XB", "-1MB", "0", "0%", "150%"])
def test_parse_memory_limit_rejects(value: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_memory_limit(value)


def test_cpuset_for() -> None:
    assert cpuset_for("1") == "0"
    assert cpuset_for("0,2-3") == "0,2-3"
    assert cpuset_for("999").split(",")[0] == "0"  # capped to the online CPUs
    with pytest.raises(InvalidArgument):
        cpuset_for("0")
    with pytest.raises(InvalidArgument):
        cpuset_for("two")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"name": "../x"}, InvalidArgument),
        ({"hostname": "a b"}, InvalidArgument),
        ({"rootfs": "relative"}, InvalidArgument),
        ({"init": ["/bin/sh", "-c", "two words"]}, InvalidArgument),
        ({"environment": {"BAD KEY": "1"}}, InvalidArgument),
        ({"environment": {"K": "line\nbreak"}}, InvalidArgument),
        ({"limits": {"limits.processes": "many"}}, InvalidArgument),
        ({"limits": {"limits.memory": "lots"}}, InvalidArgument),
        ({"privileged": False}, NotSupported),
    ],
)
def test_render_config_rejects(changes: dict[str, object], error: type[Exception]) -> None:
    base: dict[str, object] = {"name": "pincus-rt-x", "hostname": "h", "rootfs": "/r"}
    with pytest.raises(error, match="pincus-rt-x|Invalid container name"):
        render_config(ContainerSpec(**{**base, **changes}), "/l", "warn", V1)  # type: ignore[arg-type]


def test_missing_controller_is_not_supported() -> None:
    spec = ContainerSpec("pincus-rt-x", "h", "/r", limits={"limits.processes": "10"})
    with pytest.raises(NotSupported, match="limits.processes"):
        render_config(spec, "/l", "warn", CgroupLayout(frozenset(), frozenset(), False))


# --- lifecycle --------------------------------------------------------------------------------------


@needs_root
def test_start_state_stop(runtime: LxcRuntime, rootfs: Path) -> None:
    rt: Runtime = runtime
    name = _name()
    own_cgroups = Path("/proc/self/cgroup").read_text()
    rt.start(ContainerSpec(name=name, hostname="c1", rootfs=str(rootfs)))
    assert Path("/proc/self/cgroup").read_text() == own_cgroups  # start() ran in a child
    state = rt.state(name)
    assert state.status == RUNNING
    assert state.pid > 0 and state.processes >= 1
    assert state.memory_usage > 0 and state.cpu_usage_ns > 0
    assert rt.running() == [name]
    assert (runtime.lxc_path / name / "config").exists()
    assert _run(runtime, name, ["hostname"])[1] == "c1\n"
    with pytest.raises(Conflict, match=name):
        rt.start(ContainerSpec(name=name, hostname="c1", rootfs=str(rootfs)))
    rt.stop(name, 10, False)
    assert rt.state(name).status == STOPPED
    assert rt.state(name).pid == -1
    assert rt.running() == []
    assert _leftover_cgroups(name) == []
    rt.stop(name, 10, False)  # no-op when stopped
    rt.start(ContainerSpec(name=name, hostname="c1", rootfs=str(rootfs)))
    rt.stop(name, 10, True)
    assert _leftover_cgroups(name) == []


@needs_root
def test_unknown_container(runtime: LxcRuntime) -> None:
    assert runtime.state("pincus-rt-none").status == STOPPED
    runtime.stop("pincus-rt-none", 1, False)
    with pytest.raises(Conflict, match="pincus-rt-none"):
        runtime.freeze("pincus-rt-none")
    with pytest.raises(Conflict, match="not running"):
        runtime.exec("pincus-rt-none", ExecSpec(argv=["true"]), False)


@needs_root
def test_limits_applied(runtime: LxcRuntime, rootfs: Path) -> None:
    name = _name()
    limits = {"limits.memory": "256MiB", "limits.processes": "50", "limits.cpu": "1"}
    runtime.start(ContainerSpec(name=name, hostname="c1", rootfs=str(rootfs), limits=limits))
    pid = runtime.state(name).pid
    paths = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            paths[controller] = path
    if "memory" in paths:  # v1 hierarchies (this host); v2 hosts use the unified files
        read = lambda ctl, f: Path(f"/sys/fs/cgroup/{ctl}{paths[ctl]}/{f}").read_text().strip()  # noqa: E731
        assert read("memory", "memory.limit_in_bytes") == str(256 << 20)
        assert read("pids", "pids.max") == "50"
        assert read("cpuset", "cpuset.cpus") == "0"
    assert runtime.state(name).processes >= 1


@needs_root
def test_start_failure_reports_log(runtime: LxcRuntime, rootfs: Path) -> None:
    name = _name()
    spec = ContainerSpec(name=name, hostname="c1", rootfs=str(rootfs), init=["/sbin/missing-init"])
    with pytest.raises(RuntimeFailure) as info:
        runtime.start(spec)
    assert f'"{name}"' in str(info.value)
    assert "/sbin/missing-init" in str(info.value)
    assert runtime.state(name).status == STOPPED
    assert _leftover_cgroups(name) == []
    runtime.start(ContainerSpec(name=name, hostname="c1", rootfs=str(rootfs)))
    assert runtime.state(name).status == RUNNING


@needs_root
def test_missing_rootfs(runtime: LxcRuntime, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="pincus-rt-"):
        runtime.start(ContainerSpec(name=_name(), hostname="c1", rootfs=str(tmp_path / "nope")))


@needs_root
def test_stop_timeout_falls_back_to_kill(runtime: LxcRuntime, own_rootfs: Path) -> None:
    (own_rootfs / "sbin" / "stubborn").write_text(STUBBORN_INIT)
    (own_rootfs / "sbin" / "stubborn").chmod(0o755)
    name = _name()
    runtime.start(ContainerSpec(name=name, hostname="c1", rootfs=str(own_rootfs), init=["/sbin/stubborn"]))
    began = time.monotonic()
    stopper = threading.Thread(target=runtime.stop, args=(name, 2.0, False))
    stopper.start()
    # The wait for a clean shutdown must not hold the GIL: other calls go on meanwhile.
    assert _run(runtime, name, ["echo", "still here"])[:2] == (0, "still here\n")
    assert stopper.is_alive()
    stopper.join()
    assert 2.0 <= time.monotonic() - began < 10
    assert runtime.state(name).status == STOPPED
    assert _leftover_cgroups(name) == []


@needs_root
def test_freeze_unfreeze(runtime: LxcRuntime, container: str) -> None:
    runtime.freeze(container)
    runtime.freeze(container)  # already frozen: no-op
    assert runtime.state(container).status == FROZEN
    assert runtime.running() == [container]
    with pytest.raises(Conflict, match="frozen"):
        runtime.exec(container, ExecSpec(argv=["true"]), False)
    runtime.unfreeze(container)
    runtime.unfreeze(container)  # running: no-op
    assert runtime.state(container).status == RUNNING
    assert _run(runtime, container, ["true"])[0] == 0
    runtime.freeze(container)
    runtime.stop(container, 10, False)  # a clean stop thaws first
    assert runtime.state(container).status == STOPPED
    assert _leftover_cgroups(container) == []


@needs_root
def test_force_stop_frozen(runtime: LxcRuntime, container: str) -> None:
    runtime.freeze(container)
    runtime.stop(container, 10, True)
    assert runtime.state(container).status == STOPPED
    assert _leftover_cgroups(container) == []


@needs_root
def test_container_outlives_its_runtime(runtime: LxcRuntime, rootfs: Path) -> None:
    name = _name()
    script = (
        "import sys; from pathlib import Path; from pincus.runtime.lxc import LxcRuntime;"
        "from pincus.runtime.base import ContainerSpec;"
        "LxcRuntime(Path(sys.argv[1])).start(ContainerSpec(name=sys.argv[2], hostname='c1', rootfs=sys.argv[3]))"
    )
    subprocess.run([sys.executable, "-c", script, str(runtime.lxc_path), name, str(rootfs)], check=True)
    fresh = LxcRuntime(runtime.lxc_path)
    assert fresh.running() == [name]
    assert fresh.state(name).status == RUNNING
    assert _run(fresh, name, ["echo", "hi"])[:2] == (0, "hi\n")
    fresh.stop(name, 10, False)
    assert _leftover_cgroups(name) == []


@needs_root
def test_forget(runtime: LxcRuntime, container: str, rootfs: Path) -> None:
    with pytest.raises(Conflict, match=container):
        runtime.forget(container)
    runtime.stop(container, 10, False)
    runtime.forget(container)
    assert not (runtime.lxc_path / container).exists()
    assert (rootfs / "bin" / "busybox").exists()
    runtime.forget(container)  # unknown: no-op


@needs_root
def test_log_file_from_spec(runtime: LxcRuntime, rootfs: Path, tmp_path: Path) -> None:
    name = _name()
    log = tmp_path / "logs" / "lxc.log"
    runtime.start(ContainerSpec(name=name, hostname="c1", rootfs=str(rootfs), log_file=str(log)))
    assert runtime.log_file(name) == log
    runtime.stop(name, 10, False)
    runtime.start(ContainerSpec(name=name, hostname="c1", rootfs=str(rootfs), log_file=str(log)))
    runtime.stop(name, 10, True)
    assert log.exists() and log.with_name("lxc.log.old").exists()  # rotated at every start
    runtime.forget(name)
    assert not log.exists() and not log.with_name("lxc.log.old").exists()


# --- exec -----------------------------------------------------------------------------------------


@needs_root
def test_exec_exit_codes(runtime: LxcRuntime, container: str) -> None:
    assert _run(runtime, container, ["true"]) == (0, "", "")
    assert _run(runtime, container, ["sh", "-c", "exit 3"])[0] == 3
    code, _, err = _run(runtime, container, ["no-such-command"])
    assert code == 127 and "no-such-command" in err
    assert _run(runtime, container, ["sh", "-c", "kill -9 $$"])[0] == 128 + 9


@needs_root
def test_exec_streams_and_stdin(runtime: LxcRuntime, container: str) -> None:
    assert _run(runtime, container, ["sh", "-c", "echo out; echo err >&2"]) == (0, "out\n", "err\n")
    data = "line\n" * 50_000  # more than a pipe buffer each way
    assert _run(runtime, container, ["cat"], stdin=data.encode()) == (0, data, "")


@needs_root
def test_exec_environment_and_cwd(runtime: LxcRuntime, container: str) -> None:
    code, out, _ = _run(runtime, container, ["sh", "-c", "env; pwd"], environment={"FOO": "bar", "LANG": "C"})
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert code == 0
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert (env["HOME"], env["USER"], env["LANG"], env["FOO"]) == ("/root", "root", "C", "bar")
    assert "INIT_VAR" not in env  # the caller's environment and init's are not inherited
    assert out.splitlines()[-1] == "/root"
    assert _run(runtime, container, ["pwd"], cwd="/tmp")[1] == "/tmp\n"
    assert _run(runtime, container, ["pwd"], cwd="/missing")[1] == "/\n"


@needs_root
def test_exec_as_user(runtime: LxcRuntime, own_rootfs: Path) -> None:
    with (own_rootfs / "etc" / "passwd").open("a") as passwd:
        passwd.write("alice:x:1000:1000:Alice:/home/alice:/bin/sh\n")
    (own_rootfs / "home" / "alice").mkdir(parents=True)
    os.chown(own_rootfs / "home" / "alice", 1000, 1000)
    name = _name()
    runtime.start(ContainerSpec(name=name, hostname="c1", rootfs=str(own_rootfs)))
    code, out, _ = _run(
        runtime, name, ["sh", "-c", 'id -u; id -g; echo "$HOME $USER"; pwd'], uid=1000, gid=1000
    )
    assert (code, out.splitlines()) == (0, ["1000", "1000", "/home/alice alice", "/home/alice"])
    code, out, _ = _run(runtime, name, ["sh", "-c", 'id -u; echo "[$HOME]"; pwd'], uid=2000, gid=2000)
    assert (code, out.splitlines()) == (0, ["2000", "[]", "/"])


@needs_root
def test_exec_restores_signal_dispositions(runtime: LxcRuntime, container: str) -> None:
    # Python ignores SIGPIPE; the command must not inherit that, even when called from a thread.
    with ThreadPoolExecutor(1) as pool:
        code, out, err = pool.submit(_run, runtime, container, ["sh", "-c", "yes | head -1"]).result()
    assert (code, out, err) == (0, "y\n", "")
    ignored = _run(runtime, container, ["grep", "SigIgn", "/proc/self/status"])[1]
    assert ignored.split() == ["SigIgn:", "0000000000000000"]


@needs_root
def test_exec_signal(runtime: LxcRuntime, container: str) -> None:
    proc = runtime.exec(container, ExecSpec(argv=["sleep", "60"]), False)
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 128 + signal.SIGTERM
    assert proc.wait() == 128 + signal.SIGTERM  # cached
    proc.signal(signal.SIGTERM)  # after exit: harmless
    for fd in (proc.stdin_fd, proc.stdout_fd, proc.stderr_fd):
        os.close(fd)


@needs_root
def test_exec_pidfd_is_readable_at_exit(runtime: LxcRuntime, container: str) -> None:
    proc = runtime.exec(container, ExecSpec(argv=["sh", "-c", "read line; exit 4"]), False)
    assert proc.pidfd >= 0 and not select.select([proc.pidfd], [], [], 0.2)[0]  # still running
    os.write(proc.stdin_fd, b"go\n")
    assert select.select([proc.pidfd], [], [], 10)[0]
    assert proc.wait() == 4 and proc.pidfd == -1  # closed by wait()
    for fd in (proc.stdin_fd, proc.stdout_fd, proc.stderr_fd):
        os.close(fd)


@needs_root
def test_status_and_try_exec(runtime: LxcRuntime, container: str) -> None:
    assert runtime.status(container) == RUNNING and runtime.status("pincus-rt-none") == STOPPED
    proc = runtime.try_exec(container, ExecSpec(argv=["sh", "-c", "echo hi"]))
    assert proc is not None and proc.wait() == 0 and _drain(proc.stdout_fd) == b"hi\n"
    for fd in (proc.stdin_fd, proc.stderr_fd):
        os.close(fd)
    with runtime._lock(container):  # a start or freeze in flight: no waiting, the caller uses exec()
        assert runtime.try_exec(container, ExecSpec(argv=["true"])) is None
    runtime.freeze(container)
    try:
        assert runtime.status(container) == FROZEN
        with pytest.raises(Conflict, match="frozen"):
            runtime.try_exec(container, ExecSpec(argv=["true"]))
    finally:
        runtime.unfreeze(container)
    runtime.stop(container, 0, True)
    assert runtime.status(container) == STOPPED
    with pytest.raises(Conflict, match="not running"):
        runtime.try_exec(container, ExecSpec(argv=["true"]))


@needs_root
def test_prepare_exec_moves_nothing(runtime: LxcRuntime, container: str) -> None:
    from pincus.runtime import cgroup_warmup

    before = Path("/proc/self/cgroup").read_text()
    runtime.prepare_exec()
    runtime.prepare_exec()
    assert Path("/proc/self/cgroup").read_text() == before
    assert cgroup_warmup._failed == (not cgroup_warmup._mount())  # done where there is cgroup2
    assert _run(runtime, container, ["true"]) == (0, "", "")


@needs_root
def test_concurrent_starts_and_stops(runtime: LxcRuntime, rootfs: Path) -> None:
    names = [_name() for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(lambda n: runtime.start(ContainerSpec(name=n, hostname="c", rootfs=str(rootfs))), names)
        )
        assert runtime.running() == sorted(names)
        list(pool.map(lambda n: runtime.stop(n, 10, False), names))
    assert runtime.running() == []
    assert [_leftover_cgroups(name) for name in names] == [[]] * 4


@needs_root
def test_exec_concurrent(runtime: LxcRuntime, container: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: _run(runtime, container, ["echo", str(i)]), range(30)))
    assert results == [(0, f"{i}\n", "") for i in range(30)]


@needs_root
def test_exec_races_freeze(runtime: LxcRuntime, container: str) -> None:
    # An attach whose child gets frozen never returns (and holds the GIL): must not happen.
    def exec_once(i: int) -> str:
        try:
            return _run(runtime, container, ["echo", str(i)])[1]
        except Conflict:
            return "frozen"

    def toggle() -> None:
        for _ in range(10):
            runtime.freeze(container)
            runtime.unfreeze(container)

    with ThreadPoolExecutor(6) as pool:
        toggler = pool.submit(toggle)
        outputs = list(pool.map(exec_once, range(40)))
        toggler.result()
    assert all(out in (f"{i}\n", "frozen") for i, out in enumerate(outputs))
    assert runtime.state(container).status == RUNNING


@needs_root
def test_exec_interactive(runtime: LxcRuntime, container: str) -> None:
    proc = runtime.exec(container, ExecSpec(argv=["/bin/sh"]), True, width=100, height=30)
    assert isinstance(proc, LxcExecProcess)
    assert (proc.stdin_fd, proc.stdout_fd, proc.stderr_fd) == (-1, -1, -1)
    try:
        os.write(proc.master_fd, b"tty; stty size\n")
        out = _read_until(proc.master_fd, b"30 100")
        assert b"/dev/pts/" in out and b"30 100" in out
        proc.resize(132, 40)
        os.write(proc.master_fd, b"stty size\n")
        assert b"40 132" in _read_until(proc.master_fd, b"40 132")
        os.write(proc.master_fd, b"exit 7\n")
        assert proc.wait() == 7
    finally:
        proc.signal(signal.SIGKILL)
        proc.wait()
        os.close(proc.master_fd)


@needs_root
def test_exec_interactive_signal(runtime: LxcRuntime, container: str) -> None:
    proc = runtime.exec(container, ExecSpec(argv=["sleep", "60"]), True)
    proc.signal(signal.SIGKILL)
    assert proc.wait() == 128 + signal.SIGKILL
    os.close(proc.master_fd)


@needs_root
def test_exec_does_not_leak_fds(runtime: LxcRuntime, container: str) -> None:
    proc = runtime.exec(container, ExecSpec(argv=["/bin/sh"]), True)
    try:
        code, out, _ = _run(runtime, container, ["ls", "/proc/self/fd"])
        assert code == 0 and sorted(out.split()) == ["0", "1", "2", "3"]  # 3: the directory ls reads
    finally:
        proc.signal(signal.SIGKILL)
        proc.wait()
        os.close(proc.master_fd)


@needs_root
def test_init_does_not_inherit_ignored_signals(runtime: LxcRuntime, container: str) -> None:
    # Python ignores SIGPIPE and SIGXFSZ; the container's init (and so every service) must not.
    pid = runtime.state(container).pid
    status = Path(f"/proc/{pid}/status").read_text()
    ignored = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (signum - 1)), signum
