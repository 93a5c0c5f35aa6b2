"""Where pincusd deliberately differs from Incus 6.0.4, each with its reason.

An entry applies to the steps whose command line matches `command`; its rewrites are applied to the
rendered outcome of each side (``[rc=N]``, stdout, ``stderr| `` lines). A step counts as an allowed
difference only when the rewrites of the entries that apply make both sides equal, so one entry never
hides an unrelated difference in the same output. A pincusd bug never belongs here: it goes to
known_bugs.py, and the test of its step group is an xfail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Rewrite = tuple[str, str]  # (regex, replacement), applied with re.M
PairRewrite = Callable[[str, str], tuple[str, str]]


@dataclass(frozen=True)
class Difference:
    """One explained difference between Incus and pincusd."""

    key: str
    command: str  # regex searched in the space-joined arguments
    reason: str
    incus: tuple[Rewrite, ...] = ()
    pincus: tuple[Rewrite, ...] = ()
    both: tuple[Rewrite, ...] = ()
    pair: PairRewrite | None = None  # for rewrites that need to see both sides

    def applies_to(self, args: tuple[str, ...]) -> bool:
        """True when this entry concerns the command line."""
        return re.search(self.command, " ".join(args)) is not None

    def rewrite(self, incus: str, pincus: str) -> tuple[str, str]:
        """Both rendered outcomes with this entry's rewrites applied."""
        for pattern, repl in self.incus + self.both:
            incus = re.sub(pattern, repl, incus, flags=re.M)
        for pattern, repl in self.pincus + self.both:
            pincus = re.sub(pattern, repl, pincus, flags=re.M)
        if self.pair is not None:
            incus, pincus = self.pair(incus, pincus)
        return incus, pincus


def swap(incus: str, pincus: str, token: str) -> PairRewrite:
    """Replace both whole outcomes by token when each matches its pattern (re.S, full match)."""
    def rewrite(a: str, b: str) -> tuple[str, str]:
        if re.fullmatch(incus, a, re.S) and re.fullmatch(pincus, b, re.S):
            return token, token
        return a, b
    return rewrite


def async_envelope(description: str) -> str:
    """A raw 202 answer (`incus query --raw`) carrying a running operation with this description."""
    return (r'\[rc=0\]\n\{\n  "type": "async",\n  "status": "Operation created",\n  "status_code": 100,\n'
            r'.*"description": "' + re.escape(description) + r'",.*\n\}\n')


def error_envelope(code: int, message: str) -> str:
    """A raw error answer (`incus query --raw`) with this HTTP code and message regex."""
    return (r'\[rc=0\]\n\{\n  "type": "error",\n  "status": "",\n  "status_code": 0,\n  "operation": "",\n'
            rf'  "error_code": {code},\n  "error": "{message}",\n  "metadata": null\n\}}\n')


# Extensions pincusd advertises that Incus 6.0.4 does not have (two from later 6.0.x, one of its own).
EXTRA_EXTENSIONS = {
    "snapshot_manual_expiry": "snapshots.expiry.manual, Incus 6.0.5 / 6.14",
    "instance_snapshot_disk_only_restore": "restore --diskonly, Incus 6.0.6 / 6.22",
    "pincus_replication": "pincusd's own: replication targets and snapshots.replicate.*",
}

_EXT_BLOCK = re.compile(r"^api_extensions:\n((?:- .*\n)*)", re.M)


def _extensions(text: str) -> list[str]:
    m = _EXT_BLOCK.search(text)
    return [line[2:] for line in m.group(1).splitlines()] if m else []


def compare_extensions(incus: str, pincus: str) -> tuple[str, str]:
    """Keep on the Incus side only what pincusd claims, drop pincusd's declared extras, sort both."""
    ours = set(_extensions(pincus))

    def block(names: list[str]) -> str:
        return "api_extensions:\n" + "".join(f"- {n}\n" for n in sorted(names))

    incus = _EXT_BLOCK.sub(lambda m: block([n for n in _extensions(incus) if n in ours]), incus)
    pincus = _EXT_BLOCK.sub(lambda m: block([n for n in ours if n not in EXTRA_EXTENSIONS]), pincus)
    return incus, pincus


_IDMAP_KEYS = r'^[ \t]*"?volatile\.(?:idmap\.\w+|last_state\.idmap)"?: .*\n'
_PROGRESS = r"^\n?Retrieving image: [^\n]*\n(?:[ ]*\n)?"
_NO_LO = (r'^([ \t]*)"network": \{\n[ \t]*"lo": \{\n(?:.*\n)*?\1\}', r'\1"network": {}')

def _both(*rewrites: PairRewrite) -> PairRewrite:
    """Several pair rewrites applied in turn."""
    def rewrite(a: str, b: str) -> tuple[str, str]:
        for r in rewrites:
            a, b = r(a, b)
        return a, b
    return rewrite


ALLOWED: tuple[Difference, ...] = (
    Difference(
        "progress-output", r"^(launch|init) ",
        "Incus prints image-unpack progress from its operation metadata while a container is created "
        "from an image; whether and how often it appears depends on timing. pincusd sends no progress "
        "metadata, so its clients print none.",
        both=((_PROGRESS, ""),),
    ),
    Difference(
        "privileged-only", r".",
        "pincusd runs every container privileged (runtime/lxc.py refuses unprivileged ones: 'not "
        "supported yet'), so it keeps no id maps: no volatile.idmap.base/current/next and no "
        "volatile.last_state.idmap keys.",
        incus=((_IDMAP_KEYS, ""),),
    ),
    Difference(
        "no-network", r".",
        "pincusd has no networking: a container's state lists no interfaces (Incus lists the "
        "container's own down loopback 'lo' even without a NIC), and the server reports firewall "
        "'none' (Incus: nftables).",
        incus=(_NO_LO,
               (r"^  Network usage:\n    lo:\n(?:      .*\n)+", ""),
               (r"^(\s*)network:\n\s+lo:\n(?:\1\s+.*\n)+", r"\1network: {}\n"),
               (r"^(  firewall:) nftables$", r"\1 none")),
    ),
    Difference(
        "server-identity", r"^info$",
        "`incus info` of the server names the implementation: server 'pincus', server_version 0.1.0.",
        incus=((r"^(  server:) incus$", r"\1 pincus"), (r"^(  server_version:) .*$", r"\1 0.1.0")),
    ),
    Difference(
        "api-extensions", r"^info$",
        "pincusd advertises only the API extensions whose behaviour it implements (49 of Incus 6.0.4's "
        "450 today; clients feature-detect), in its own order, plus some Incus 6.0.4 does not have: "
        + "; ".join(f"{k} ({v})" for k, v in EXTRA_EXTENSIONS.items()) + ".",
        pair=compare_extensions,
    ),
    Difference(
        "stateful-refused", r"^snapshot create .* --stateful$|^query .*\"stateful\": ?true",
        "CRIU cannot run on this machine kind's kernel, so pincusd refuses every stateful snapshot "
        "with an explicit CRIU message; Incus first checks migration.stateful and would then fail in "
        "CRIU.",
        incus=((r"^stderr\| Error: Stateful snapshots require that the instance has migration.stateful be "
                r"set to true$", "stderr| Error: <stateful snapshots refused>"),),
        pincus=((r"^stderr\| Error: Stateful snapshots are not supported on this server: .*CRIU.*$",
                 "stderr| Error: <stateful snapshots refused>"),),
        # the raw answer: Incus accepts (202) and fails the operation; pincusd refuses at once (400)
        pair=swap(async_envelope("Snapshotting instance"),
                  error_envelope(400, "Stateful snapshots are not supported on this server: .*CRIU.*"),
                  "<stateful snapshots refused>\n"),
    ),
    Difference(
        "unknown-instance-snapshot-list", r"^query --raw /1.0/instances/diff-nope-\{sfx\}/snapshots$",
        "Incus 6.0.4 lists the snapshots of an instance that does not exist as an empty list (200), so a typo in the name looks like 'no snapshots'; pincusd answers 404 naming the instance.",
        pair=swap(r'\[rc=0\]\n\{\n  "type": "sync",\n  "status": "Success",\n  "status_code": 200,\n'
                  r'  "operation": "",\n  "error_code": 0,\n  "error": "",\n  "metadata": \[\]\n\}\n',
                  error_envelope(404, r'Failed to fetch instance \\"diff-nope-SUFFIX\\" in project '
                                      r'\\"default\\": Instance not found'),
                  "<unknown instance: empty list vs 404>\n"),
    ),
    Difference(
        "restore-unknown-snapshot", r"snapshot restore .* nope$|\"restore\": \"nope\"",
        "pincusd checks the snapshot before it starts an operation, so restoring an unknown snapshot is a 404 at once with the standard not-found text; Incus 6.0.4 accepts the request and fails the operation with 'Snapshot INST/nope does not exist'.",
        incus=((r"^stderr\| Error: Snapshot (\S+)/nope does not exist$",
                r'stderr| Error: Failed to fetch snapshot "nope" of instance "\1" in project "default": '
                r"Instance_snapshot not found"),),
        pair=swap(async_envelope("Restoring snapshot"),
                  error_envelope(404, r'Failed to fetch snapshot \\"nope\\" of instance \\"diff-err-SUFFIX\\" '
                                      r'in project \\"default\\": Instance_snapshot not found'),
                  "<restore of an unknown snapshot: 202 + failed operation vs 404>\n"),
    ),
    Difference(
        "duplicate-snapshot-name", r"snapshot create .* s1$|\"name\": \"s1\"",
        "A taken snapshot name: Incus 6.0.4 accepts the request and fails the operation with a raw SQLite UNIQUE-constraint message; pincusd refuses at once with 409 'Snapshot \"s1\" of instance \"INST\" already exists'.",
        incus=((r'^stderr\| Error: Failed creating instance snapshot record "s1": Add snapshot info to the '
                r'database: Failed to create "instances_snapshots" entry: UNIQUE constraint failed: '
                r"instances_snapshots\.instance_id, instances_snapshots\.name$",
                r'stderr| Error: Snapshot "s1" of instance "diff-err-SUFFIX" already exists'),),
        pair=swap(async_envelope("Snapshotting instance"),
                  error_envelope(409, r'Snapshot \\"s1\\" of instance \\"diff-err-SUFFIX\\" already exists'),
                  "<duplicate snapshot name: 202 + failed operation vs 409>\n"),
    ),
    Difference(
        "config-error-wording", r"^config set ",
        "pincusd's config errors name the key that is wrong ('Invalid value for \"snapshots.expiry\": ...'); Incus 6.0.4 prints only the validator's message, leaving the user to guess which key it means.",
        pincus=((r'^(stderr\| Error: Invalid config: )Invalid value for "[^"]+": ', r"\1"),),
    ),
    Difference(
        "pattern-checked-too-early", r"snapshots\.pattern=a%d-%d|^snapshot create \S+ --no-expiry$",
        "pincusd validates snapshots.pattern when it is set; Incus 6.0.4 accepts an invalid pattern and then every unnamed snapshot (manual or scheduled) fails.",
        pair=_both(
            swap(r"\[rc=0\]\n", r"\[rc=1\]\nstderr\| Error: Invalid config: (Invalid value for "
                 r"\"snapshots\.pattern\": )?Snapshot pattern may contain '%d' only once\n", "<pattern: set>\n"),
            swap(r"\[rc=1\]\nstderr\| Error: Snapshot pattern may contain '%d' only once\n", r"\[rc=0\]\n",
                 "<pattern: used>\n")),
    ),
    Difference(
        "server-environment", r"^info$",
        "pincusd does not probe kernel and LXC features: GET /1.0 reports kernel_features and lxc_features as empty maps (Incus 6.0.4 lists idmapped_mounts, seccomp_listener, cgroup2, pidfd, ...).",
        incus=((r"^(  (?:kernel|lxc)_features):\n(?:    .*\n)+", r"\1: {}\n"),),
    ),
)
