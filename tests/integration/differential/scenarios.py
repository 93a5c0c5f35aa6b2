"""The scripted scenarios: `incus` command lines, grouped; `{sfx}` is each daemon's name suffix."""

from __future__ import annotations

from tests.integration.differential.harness import Group, Scenario, read, step

# Instance names: the same length on both daemons (only the 6-hex suffix differs), so tables line up.
C8 = "diff-c8-{sfx}"
RUN = "diff-fmt1-{sfx}"
STOP = "diff-fmt2-{sfx}"
ERR = "diff-err-{sfx}"
ERUN = "diff-erun-{sfx}"
NOPE = "diff-nope-{sfx}"
LIFE = "diff-life-{sfx}"
COPY = "diff-copy-{sfx}"
EXPIRY = "expires_at: 2031-05-06T07:08:09Z\n"

CHAPTER8 = Scenario("chapter8", (
    Group("launch", (
        step("launch", "busybox", C8),
        step("list", C8, "-c", "ns", "-f", "csv"),
    )),
    Group("snapshot-create", (
        step("snapshot", "create", C8, C8 + "-1"),
        step("snapshot", "list", C8, "-c", "ns", "-f", "csv"),
    )),
    Group("info", (
        step("info", C8),
    )),
    Group("exec-touch", (
        step("exec", C8, "--", "touch", "/root/this_file.txt"),
        read("exec", C8, "--", "ls", "/root"),
    )),
    Group("stop", (
        step("stop", C8),
        step("list", C8, "-c", "ns", "-f", "csv"),
    )),
    Group("restore", (
        step("snapshot", "restore", C8, C8 + "-1"),
        step("list", C8, "-c", "ns", "-f", "csv"),
    )),
    Group("start-file-gone", (
        step("start", C8),
        read("exec", C8, "--", "ls", "/root"),
        read("exec", C8, "--", "test", "-e", "/root/this_file.txt"),
    )),
    Group("snapshot-delete", (
        step("snapshot", "delete", C8, C8 + "-1"),
        step("snapshot", "list", C8, "-f", "csv"),
        step("info", C8),
    )),
    Group("delete-running", (
        step("delete", C8),
        step("query", "-X", "DELETE", f"/1.0/instances/{C8}"),
        step("list", C8, "-c", "ns", "-f", "csv"),
        step("delete", "--force", C8),
        step("list", C8, "-f", "csv"),
    )),
))

SNAPSHOT_FORMATS = ["table", "csv", "json", "yaml", "compact", "csv,header", "table,noheader"]
LIST_FORMATS = ["table", "csv", "json", "yaml", "compact"]
# `p` (PID) is left out: a PID cannot be masked inside a table without hiding the column.
LIST_COLUMNS = ["ns", "nsS46tbcDlP", "n,user.comment:COMMENT", "ns,volatile.base_image:BASE:12",
                "nf", "n,image.description,boot.autostart"]

FORMATS = Scenario("formats", (
    Group("setup", (
        step("launch", "busybox", RUN),
        step("snapshot", "create", RUN, "snap0"),
        step("snapshot", "create", RUN, "snap1", "--no-expiry"),
        step("snapshot", "create", RUN, "snap2", stdin=EXPIRY),
        step("init", "busybox", STOP, "-c", "user.comment=hello world"),
    )),
    Group("snapshot-list", tuple(
        [step("snapshot", "list", RUN, "-f", f) for f in SNAPSHOT_FORMATS]
        + [step("snapshot", "list", RUN, "-f", f, "-c", "sEn") for f in ("table", "csv")]
        + [step("snapshot", "list", STOP, "-f", f) for f in ("table", "csv", "json", "yaml")]
    )),
    # Incus 6.0.4's client has no markdown format (added in 6.15 / 6.0.5): both must refuse it alike.
    Group("snapshot-list-markdown", (
        step("snapshot", "list", RUN, "-f", "markdown"),
    )),
    Group("info", (
        step("info", RUN),
        step("info", STOP),
    )),
    Group("list-formats", tuple(step("list", "diff-fmt", "-f", f) for f in LIST_FORMATS)),
    Group("list-columns", tuple(step("list", "diff-fmt", "-c", c) for c in LIST_COLUMNS)
          + (step("list", "diff-fmt", "-c", "ns", "-f", "csv", "status=stopped"),
             step("list", "diff-fmt", "-c", "ns", "-f", "csv", "user.comment=hello world"),
             step("query", "/1.0/instances?filter=status+eq+stopped"),
             step("query", "/1.0/instances?filter=status+eq+running"))),
    Group("config-show", (
        step("config", "show", STOP),
        step("config", "show", RUN, "--expanded"),
        step("config", "show", f"{RUN}/snap0"),
        step("config", "show", f"{RUN}/snap2"),
        step("config", "show", f"{RUN}/snap2", "--expanded"),
    )),
    Group("snapshot-show", (
        step("snapshot", "show", RUN, "snap0"),
        step("snapshot", "show", RUN, "snap1"),
        step("snapshot", "show", RUN, "snap2"),
    )),
    Group("snapshot-api", (
        step("query", f"/1.0/instances/{RUN}/snapshots"),
        step("query", f"/1.0/instances/{RUN}/snapshots/snap2"),
        step("query", f"/1.0/instances/{RUN}/snapshots?recursion=1"),
    )),
    Group("cleanup", (
        step("delete", "--force", RUN),
        step("delete", STOP),
    )),
))

LIFECYCLE = Scenario("lifecycle", (
    Group("setup", (
        step("launch", "busybox", LIFE),
        step("exec", LIFE, "--", "sh", "-c", "echo 1 > /root/v"),
        step("snapshot", "create", LIFE, "v1"),
    )),
    # Incus stops a running instance, restores, and starts it again.
    Group("restore-running", (
        step("exec", LIFE, "--", "sh", "-c", "echo 2 > /root/v"),
        step("snapshot", "restore", LIFE, "v1"),
        step("list", LIFE, "-c", "ns", "-f", "csv"),
        read("exec", LIFE, "--", "cat", "/root/v"),
    )),
    Group("rename", (
        step("snapshot", "rename", LIFE, "v1", "v2"),
        step("snapshot", "list", LIFE, "-c", "n", "-f", "csv"),
        step("snapshot", "show", LIFE, "v2"),
        step("snapshot", "show", LIFE, "v1"),
    )),
    Group("reuse-and-expiry", (
        step("config", "edit", f"{LIFE}/v2", stdin=EXPIRY),
        step("snapshot", "create", LIFE, "v2", "--reuse"),
        step("snapshot", "list", LIFE, "-c", "nE", "-f", "csv"),
        step("config", "set", LIFE, "snapshots.expiry=1d"),
        step("snapshot", "create", LIFE, "e1"),
        step("snapshot", "create", LIFE, "e2", "--no-expiry"),
        step("snapshot", "create", LIFE, "e3", stdin=EXPIRY),
        step("snapshot", "list", LIFE, "-c", "nE", "-f", "csv"),
        step("config", "set", LIFE, "snapshots.expiry=1x"),
        step("config", "set", LIFE, "snapshots.expiry=1d  2H"),
        step("config", "unset", LIFE, "snapshots.expiry"),
    )),
    Group("auto-names", (
        step("snapshot", "create", LIFE),
        step("snapshot", "create", LIFE),
        step("config", "set", LIFE, "snapshots.pattern=auto-%d"),
        step("snapshot", "create", LIFE),
        step("config", "set", LIFE, "snapshots.pattern=fixed"),
        step("snapshot", "create", LIFE),
        step("snapshot", "create", LIFE),
        step("snapshot", "list", LIFE, "-c", "n", "-f", "csv"),
    )),
    Group("bad-config", (
        step("config", "set", LIFE, "snapshots.schedule=not a cron"),
        step("config", "set", LIFE, "snapshots.pattern=a%d-%d"),
        step("snapshot", "create", LIFE, "--no-expiry"),
    )),
    Group("copy-snapshot", (
        step("copy", f"{LIFE}/v1", COPY),
        step("copy", f"{LIFE}/v2", COPY),
        step("snapshot", "list", COPY, "-f", "csv"),
        step("start", COPY),
        read("exec", COPY, "--", "cat", "/root/v"),
        step("config", "get", COPY, "snapshots.pattern"),
        step("delete", "--force", COPY),
    )),
    Group("cleanup", (
        step("delete", "--force", LIFE),
        step("list", "diff-", "-c", "n", "-f", "csv"),
    )),
))

SERVER = Scenario("server", (
    Group("info", (
        step("info"),
    )),
))

ERRORS = Scenario("errors", (
    Group("setup", (
        step("init", "busybox", ERR),
        step("snapshot", "create", ERR, "s1"),
        step("snapshot", "create", ERR, "s2"),
        step("launch", "busybox", ERUN),
    )),
    Group("unknown-instance", (
        step("info", NOPE),
        step("snapshot", "create", NOPE, "s1"),
        step("snapshot", "list", NOPE),
        step("snapshot", "show", NOPE, "s1"),
        step("config", "show", NOPE),
        step("config", "show", f"{NOPE}/s1"),
        step("start", NOPE),
        step("delete", NOPE),
        step("exec", NOPE, "--", "true"),
        step("query", "--raw", f"/1.0/instances/{NOPE}"),
        step("query", "--raw", f"/1.0/instances/{NOPE}/snapshots"),
        step("query", "--raw", f"/1.0/instances/{NOPE}/snapshots/s1"),
    )),
    Group("unknown-snapshot", (
        step("snapshot", "show", ERR, "nope"),
        step("snapshot", "delete", ERR, "nope"),
        step("snapshot", "rename", ERR, "nope", "other"),
        step("config", "show", f"{ERR}/nope"),
        step("delete", f"{ERR}/nope"),
        step("query", "--raw", f"/1.0/instances/{ERR}/snapshots/nope"),
        step("query", "--raw", "-X", "DELETE", f"/1.0/instances/{ERR}/snapshots/nope"),
    )),
    Group("restore-unknown-snapshot", (
        step("snapshot", "restore", ERR, "nope"),
        # Incus accepts the request (202) and fails the operation; the raw answer shows which
        step("query", "--raw", "-X", "PUT", f"/1.0/instances/{ERR}", "-d", '{"restore": "nope"}', settle=True),
    )),
    Group("running-instance-delete", (
        step("delete", ERUN),
        step("query", "-X", "DELETE", f"/1.0/instances/{ERUN}"),
        step("query", "--raw", "-X", "DELETE", f"/1.0/instances/{ERUN}"),
        step("start", ERUN),
        step("stop", ERR),
        step("exec", ERR, "--", "true"),
    )),
    Group("duplicate-snapshot-name", (
        step("snapshot", "create", ERR, "s1"),
        step("query", "--raw", "-X", "POST", f"/1.0/instances/{ERR}/snapshots", "-d", '{"name": "s1"}',
             settle=True),
    )),
    Group("invalid-snapshot-name", (
        step("snapshot", "create", ERR, "a/b"),
        step("snapshot", "create", ERR, "a+b"),
        step("snapshot", "create", ERR, "a?b"),
        step("snapshot", "rename", ERR, "s1", "a+b"),
        step("query", "--raw", "-X", "POST", f"/1.0/instances/{ERR}/snapshots", "-d", '{"name": "a+b"}'),
        step("snapshot", "list", ERR, "-c", "n", "-f", "csv"),
    )),
    Group("rename-onto-taken-name", (
        step("snapshot", "rename", ERR, "s1", "s2"),
        step("query", "--raw", "-X", "POST", f"/1.0/instances/{ERR}/snapshots/s1", "-d", '{"name": "s2"}',
             settle=True),
        step("snapshot", "list", ERR, "-c", "n", "-f", "csv"),
    )),
    Group("stateful-snapshot", (
        step("snapshot", "create", ERUN, "st", "--stateful"),
        step("snapshot", "create", ERR, "st", "--stateful"),
        step("query", "--raw", "-X", "POST", f"/1.0/instances/{ERUN}/snapshots", "-d",
             '{"name": "st", "stateful": true}', settle=True),
        step("snapshot", "list", ERUN, "-c", "ns", "-f", "csv"),
    )),
    Group("snapshot-config-edit", (
        step("config", "set", f"{ERR}/s1", "user.foo=bar"),
        step("config", "edit", f"{ERR}/s1", stdin=EXPIRY),
        step("snapshot", "list", ERR, "-c", "nE", "-f", "csv"),
        step("snapshot", "create", ERR),
        step("snapshot", "list", ERR, "-c", "n", "-f", "csv"),
    )),
    # The raw 202 answers of requests that succeed: the operation as first returned.
    Group("async-envelopes", (
        step("query", "--raw", "-X", "POST", f"/1.0/instances/{ERR}/snapshots", "-d", '{"name": "raw1"}',
             settle=True),
        step("query", "--raw", "-X", "POST", f"/1.0/instances/{ERR}/snapshots/raw1", "-d", '{"name": "raw2"}',
             settle=True),
        step("query", "--raw", "-X", "DELETE", f"/1.0/instances/{ERR}/snapshots/raw2", settle=True),
        step("snapshot", "list", ERR, "-c", "n", "-f", "csv"),
    )),
    Group("cleanup", (
        step("delete", ERR),
        step("delete", "--force", ERUN),
    )),
))

SCENARIOS: tuple[Scenario, ...] = (CHAPTER8, FORMATS, ERRORS, LIFECYCLE, SERVER)
