"""The book's chapter 8 on real containers, in the book's syntax and in Incus 6's."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration

RUNNING_DELETE = "Error: The instance is currently running, stop it first or pass --force\n"


def _ls(d, name: str) -> list[str]:
    return d.run("exec", name, "--", "ls", "/root").stdout.split()


def _leftovers(d) -> list[str]:
    """Hidden work trees in the pool; a restore's replaced tree goes after the answer, so wait a little."""
    top = d.root / "storage-pools/default/containers"
    deadline = time.monotonic() + 30
    while (found := sorted(p.name for p in top.iterdir() if p.name.startswith("."))) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_book_syntax(daemon, name):
    d = daemon
    d.run("launch", "busybox", name)
    d.run("exec", name, "--", "touch", "/root/made_before.txt")
    d.run("snapshot", name, f"{name}-1")
    info = d.run("info", name).stdout
    assert "Snapshots:" in info and f"{name}-1" in info
    out = d.run("shell", name, input="touch this_file.txt\n")
    assert out.returncode == 0
    assert "this_file.txt" in _ls(d, name)
    d.run("stop", name)
    d.run("restore", name, f"{name}-1")
    d.run("start", name)
    assert _ls(d, name) == ["made_before.txt"]
    d.run("delete", f"{name}/{name}-1")
    assert d.run("snapshot", "list", name, "-f", "csv").stdout == ""
    assert d.run("info", name).returncode == 0  # the instance is still there
    res = d.run("delete", name, check=False)
    assert res.returncode == 1 and res.stderr == RUNNING_DELETE
    d.run("delete", "--force", name)


def test_incus6_syntax_with_stock_client(daemon, name):
    d = daemon
    d.incus("launch", "busybox", name)
    d.incus("snapshot", "create", name, "s1")
    d.incus("exec", name, "--", "touch", "/root/this_file.txt")
    d.incus("snapshot", "restore", name, "s1")  # running: the server stops and restarts it
    assert d.incus("list", name, "-c", "s", "-f", "csv").stdout.strip() == "RUNNING"
    assert d.incus("exec", name, "--", "ls", "/root").stdout.split() == []
    d.incus("snapshot", "delete", name, "s1")
    res = d.incus("delete", name, check=False)
    assert res.returncode == 1 and res.stderr == RUNNING_DELETE
    d.incus("delete", "--force", name)


def test_restore_older_snapshot_keeps_newer(daemon, name):
    d = daemon
    d.run("launch", "busybox", name)
    for i in range(3):
        d.run("exec", name, "--", "sh", "-c", f"echo {i} > /root/version")
        d.run("snapshot", "create", name, f"v{i}")
    d.run("snapshot", "restore", name, "v0")
    assert d.run("exec", name, "--", "cat", "/root/version").stdout == "0\n"
    names = d.run("snapshot", "list", name, "-c", "n", "-f", "csv").stdout.split()
    assert names == ["v0", "v1", "v2"]
    d.run("snapshot", "restore", name, "v2")
    assert d.run("exec", name, "--", "cat", "/root/version").stdout == "2\n"
    assert _leftovers(d) == []  # the replaced trees are deleted (btrfs: after the answer)
    d.run("delete", "--force", name)


def test_snapshot_of_running_container_while_it_writes(daemon, name):
    d = daemon
    d.run("launch", "busybox", name)
    writer = "i=0; while :; do i=$((i+1)); echo $i >> /root/log; done"
    d.run("exec", name, "--", "sh", "-c", f"sh -c '{writer}' </dev/null >/dev/null 2>&1 &")
    for i in range(3):
        d.run("snapshot", "create", name, f"w{i}")
    assert d.run("list", name, "-c", "s", "-f", "csv").stdout.strip() == "RUNNING"
    d.run("copy", f"{name}/w2", f"{name}-copy")
    d.run("start", f"{name}-copy")
    lines = d.run("exec", f"{name}-copy", "--", "cat", "/root/log").stdout.split("\n")
    complete = [int(x) for x in lines[:-1]]
    assert complete == list(range(1, len(complete) + 1)) and len(complete) > 10
    d.run("delete", "--force", f"{name}-copy")
    d.run("delete", "--force", name)


def test_rename_expiry_edit_and_reuse(daemon, name):
    d = daemon
    d.run("init", "busybox", name)
    d.run("snapshot", "create", name, "s1")
    d.run("snapshot", "rename", name, "s1", "s2")
    d.run("config", "edit", f"{name}/s2", input="expires_at: 2031-01-02T03:04:05Z\n")
    assert "2031/01/02" in d.run("snapshot", "list", name, "-c", "nE", "-f", "csv").stdout
    shown = d.incus("config", "show", f"{name}/s2").stdout
    assert "expires_at: 2031-01-02T03:04:05Z" in shown
    d.run("snapshot", "create", name, "s2", "--reuse")
    # --reuse replaced it: the new s2 has no expiry (Incus prints an empty date as a space)
    assert d.run("snapshot", "list", name, "-c", "nE", "-f", "csv").stdout.strip() == 's2," "'
    d.run("delete", name)


def test_error_messages(daemon, name):
    d = daemon
    d.run("init", "busybox", name)
    d.run("snapshot", "create", name, "s1")
    cases = [
        (("snapshot", "create", "nope-x", "s1"),
         'Error: Failed to fetch instance "nope-x" in project "default": Instance not found\n'),
        (("snapshot", "create", name, "s1"), f'Error: Snapshot "s1" of instance "{name}" already exists\n'),
        (("snapshot", "delete", name, "nope"),
         f'Error: Failed to fetch snapshot "nope" of instance "{name}" in project "default": '
         "Instance_snapshot not found\n"),
        (("snapshot", "restore", name, "nope"),
         f'Error: Failed to fetch snapshot "nope" of instance "{name}" in project "default": '
         "Instance_snapshot not found\n"),
    ]
    for args, expected in cases:
        res = d.run(*args, check=False)
        assert (res.returncode, res.stderr) == (1, expected), args
    res = d.run("snapshot", "create", name, "a+b", check=False)
    assert res.returncode == 1 and "Invalid snapshot name" in res.stderr or "a+b" in res.stderr
    res = d.run("snapshot", "create", name, "s9", "--stateful", check=False)
    assert res.returncode == 1 and "CRIU" in res.stderr
    d.run("delete", name)


def test_delete_protection_and_instance_delete_removes_snapshots(daemon, name):
    d = daemon
    d.run("init", "busybox", name, "-c", "security.protection.delete=true")
    d.run("snapshot", "create", name, "s1")
    res = d.run("delete", name, check=False)
    assert res.returncode == 1 and "Instance is protected" in res.stderr
    d.run("config", "set", name, "security.protection.delete=false")
    snapdir = d.root / "storage-pools" / "default" / "containers-snapshots" / name
    assert (snapdir / "s1").exists()
    d.run("delete", name)
    assert not (snapdir / "s1").exists()


def test_publish_snapshot_and_launch_from_it(daemon, name):
    d = daemon
    d.run("launch", "busybox", name)
    d.run("exec", name, "--", "sh", "-c", "echo published > /root/marker")
    d.run("snapshot", "create", name, "golden")
    d.run("exec", name, "--", "rm", "/root/marker")
    d.run("publish", f"{name}/golden", "--alias", f"{name}-img")
    d.run("launch", f"{name}-img", f"{name}-new")
    assert d.run("exec", f"{name}-new", "--", "cat", "/root/marker").stdout == "published\n"
    d.run("delete", "--force", f"{name}-new")
    d.run("delete", "--force", name)
    d.run("image", "delete", f"{name}-img")
