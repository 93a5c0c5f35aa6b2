"""Run one scripted `incus` scenario against pincusd and against a real Incus, and compare the outputs.

Both daemons are driven by the same stock `incus` client. Every step's exit status, stdout and stderr
are normalised (dates, fingerprints, UUIDs, PIDs, sizes, memory and CPU numbers, per-daemon name
suffixes and paths) and then compared. A difference is either

* allowed: explained by ``allowed.ALLOWED``, where pincusd deliberately differs (with the reason),
* a known pincusd bug: explained by ``known_bugs.KNOWN_BUGS``; its step group's test is a strict xfail,
* or unexplained: the group's test fails and prints the diff.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tests.integration.differential.allowed import ALLOWED, Difference
from tests.integration.differential.known_bugs import KNOWN_BUGS, KnownBug


@dataclass(frozen=True)
class Step:
    """One `incus` command line; `{x}` placeholders are filled from the target's names."""

    args: tuple[str, ...]
    stdin: str | None = None
    settle: bool = False  # afterwards, wait until the daemon runs no operation (`query --raw` of a 202)
    # A read-only step, repeated until two runs agree: under load the stock client now and then
    # prints nothing for a short `exec` (seen against the real Incus), which is not what we compare.
    stable: bool = False

    def argv(self, names: dict[str, str]) -> list[str]:
        """The command line for one target (only `{name}` placeholders are filled: JSON bodies stay)."""
        out = []
        for arg in self.args:
            for key, value in names.items():
                arg = arg.replace("{" + key + "}", value)
            out.append(arg)
        return out

    @property
    def text(self) -> str:
        """The command line as written in the scenario."""
        return "incus " + " ".join(self.args) + (f"  <<< {self.stdin!r}" if self.stdin else "")


def step(*args: str, stdin: str | None = None, settle: bool = False, stable: bool = False) -> Step:
    """A step from its arguments."""
    return Step(tuple(args), stdin, settle, stable)


def read(*args: str) -> Step:
    """A read-only step, repeated until two runs agree."""
    return Step(tuple(args), stable=True)


@dataclass(frozen=True)
class Group:
    """Steps that belong together; one pytest test each."""

    name: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Scenario:
    """An ordered list of groups, run top to bottom on one daemon."""

    name: str
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Outcome:
    """What one command printed and returned."""

    rc: int
    stdout: str
    stderr: str

    def render(self) -> str:
        """Exit status and both streams as one text, for diffs."""
        text = f"[rc={self.rc}]\n"
        if self.stdout:
            text += self.stdout if self.stdout.endswith("\n") else self.stdout + "\n"
        if self.stderr:
            text += "".join(f"stderr| {line}\n" for line in self.stderr.splitlines())
        return text


class Target:
    """A daemon that the stock `incus` client can reach."""

    kind: str  # "incus" or "pincus"
    suffix: str  # appended to every name this target creates
    paths: tuple[str, ...]  # daemon directories that may show up in output

    def incus(self, argv: Sequence[str], stdin: str | None) -> Outcome:
        """Run the stock client against this daemon."""
        raise NotImplementedError

    def names(self) -> dict[str, str]:
        """Placeholder values for scenario steps."""
        return {"sfx": self.suffix}

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Wait until GET /1.0/operations lists nothing pending or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.incus(["query", "/1.0/operations"], None)
            try:
                ops = json.loads(out.stdout) if out.rc == 0 else {"?": [out.stderr]}
            except ValueError:
                ops = {"?": [out.stdout]}
            if not any(ops.get(k) for k in ("pending", "running", "?")):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.kind}: operations still running after {timeout} s")


# --- normalisation -----------------------------------------------------------------------------------

# Values that change from one call to the next on any daemon. Only non-zero numbers are masked, so a
# daemon that reports 0 where Incus measures something still shows up; the fixed dates the scenarios
# set (2031), the Unix epoch and the zero time (0001) are compared as they are.
_VOLATILE = (
    "usage|usage_peak|swap_usage|swap_usage_peak|allocated_time|total|bytes_received|bytes_sent|"
    "packets_received|packets_sent|errors_received|errors_sent|packets_dropped_outbound|"
    "packets_dropped_inbound|processes|pid|server_pid|size"
)
MASKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(?!2031/|1970/)\d{4}/\d{2}/\d{2} \d{2}:\d{2} [A-Z][A-Z0-9+\-]*"), "<DATE>"),
    (re.compile(r"\b(?!0001-|1970-|2031-)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"),
     "<TIME>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<UUID>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<FP>"),
    (re.compile(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----", re.S), "<CERTIFICATE>"),
    (re.compile(rf'"({_VOLATILE})": ?[1-9]\d*'), r'"\1": N'),
    (re.compile(rf"^(\s*-?\s*)({_VOLATILE}): [1-9]\d*$", re.M), r"\1\2: N"),
    (re.compile(r"^(PID|Processes): [1-9]\d*$", re.M), r"\1: N"),
    (re.compile(r"^(\s*CPU usage \(in seconds\)): \d+$", re.M), r"\1: N"),
    (re.compile(r"^(\s*(?:Memory \((?:current|peak)\)|Swap \((?:current|peak)\)|Total|"
                r"Bytes (?:received|sent)|Packets (?:received|sent)|"
                r"Root|[a-z0-9]+ \(usage\))): [0-9.]+\s*[KMGTPE]?i?B$", re.M), r"\1: X"),
    (re.compile(r"^(\s*(?:Packets (?:received|sent))): \d+$", re.M), r"\1: N"),
    # incus prints this hint or not depending on a race between an operation and its event listener
    (re.compile(r"^Try `incus info --show-log [^`]*` for more info\n", re.M), ""),
]


def pretty_json(text: str) -> str:
    """JSON output re-indented one value a line (key order kept), so diffs point at one field."""
    if not text.lstrip().startswith(("{", "[")):
        return text
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    except ValueError:
        return text


_DRIVERS = re.compile(r"^  storage_supported_drivers:\n((?:  - .*\n(?:    .*\n)*)+)", re.M)


def sort_drivers(text: str) -> str:
    """Sort `incus info`'s storage_supported_drivers (Incus lists them in no fixed order)."""
    def sort(m: re.Match[str]) -> str:
        entries = re.split(r"(?m)^(?=  - )", m.group(1))
        return "  storage_supported_drivers:\n" + "".join(sorted(e for e in entries if e))
    return _DRIVERS.sub(sort, text)


def normalise(text: str, target: Target) -> str:
    """Mask what legitimately differs between two runs or two daemons."""
    text = sort_drivers(pretty_json(text))
    for path in target.paths:
        text = text.replace(path, "<DIR>")
    text = text.replace(target.suffix, "SUFFIX")
    for pattern, repl in MASKS:
        text = pattern.sub(repl, text)
    return text


def normalised(outcome: Outcome, target: Target) -> Outcome:
    """The outcome with both streams normalised."""
    return Outcome(outcome.rc, normalise(outcome.stdout, target), normalise(outcome.stderr, target))


# --- running -------------------------------------------------------------------------------------------


@dataclass
class StepResult:
    """One step on both daemons, normalised, and how their difference was judged."""

    scenario: str
    group: str
    index: int
    step: Step
    incus: Outcome
    pincus: Outcome
    allowed: tuple[Difference, ...] = ()
    bugs: tuple[KnownBug, ...] = ()
    hint: tuple[KnownBug, ...] = ()  # known bugs that would explain it, but are not listed for its group
    residual: tuple[str, str] = ("", "")  # both rendered outcomes after every applicable rewrite

    @property
    def gid(self) -> str:
        """The step group's id, scenario/group."""
        return f"{self.scenario}/{self.group}"

    @property
    def same(self) -> bool:
        """True when both daemons gave the same normalised outcome."""
        return self.incus == self.pincus

    @property
    def state(self) -> str:
        """same, allowed, bug (a known pincusd bug) or DIFF (unexplained)."""
        if self.same:
            return "same"
        if self.bugs:
            return "bug"
        return "allowed" if self.allowed else "DIFF"

    @property
    def ok(self) -> bool:
        """Same, or different in a way the allowed-differences table explains."""
        return self.state in ("same", "allowed")

    def diff(self, residual: bool = False) -> str:
        """A unified diff from incus's outcome to pincusd's (after the rewrites, when residual)."""
        a, b = self.residual if residual else (self.incus.render(), self.pincus.render())
        lines = difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                     fromfile="incus", tofile="pincusd", n=2)
        return "".join(lines)


@dataclass
class Run:
    """The results of a set of scenarios."""

    results: list[StepResult] = field(default_factory=list)

    def group(self, scenario: str, group: str) -> list[StepResult]:
        """The results of one group."""
        return [r for r in self.results if r.scenario == scenario and r.group == group]

    def used_allowances(self) -> set[str]:
        """Keys of the allowed differences that explained at least one step."""
        return {a.key for r in self.results for a in r.allowed}

    def bug_groups(self) -> set[tuple[str, str]]:
        """(known bug key, group id) pairs that some step needed."""
        return {(b.key, r.gid) for r in self.results for b in r.bugs}


def run_scenario(scenario: Scenario, target: Target) -> list[list[Outcome]]:
    """Run every step of every group on one target; returns normalised outcomes per group."""
    names = target.names()
    out: list[list[Outcome]] = []
    for group in scenario.groups:
        outcomes = []
        for s in group.steps:
            outcome = normalised(target.incus(s.argv(names), s.stdin), target)
            for _ in range(3 if s.stable else 0):
                again = normalised(target.incus(s.argv(names), s.stdin), target)
                if again == outcome:
                    break
                outcome = again
            outcomes.append(outcome)
            if s.settle:
                target.wait_idle()
        out.append(outcomes)
    return out


def judge(scenario: Scenario, incus: list[list[Outcome]], pincus: list[list[Outcome]],
          allowed: Sequence[Difference] = ALLOWED, bugs: Sequence[KnownBug] = KNOWN_BUGS) -> list[StepResult]:
    """Pair the two runs step by step and explain each difference, when the tables can."""
    results = []
    for group, a_outs, b_outs in zip(scenario.groups, incus, pincus, strict=True):
        gid = f"{scenario.name}/{group.name}"
        listed = [b for b in bugs if gid in b.groups]
        for i, (s, a, b) in enumerate(zip(group.steps, a_outs, b_outs, strict=True)):
            res = StepResult(scenario.name, group.name, i, s, a, b)
            if not res.same:
                used, ok, res.residual = _explain(s.args, a.render(), b.render(), [*allowed, *listed])
                if ok:
                    res.allowed = tuple(e for e in used if not isinstance(e, KnownBug))
                    res.bugs = tuple(e for e in used if isinstance(e, KnownBug))
                else:
                    used, ok, _ = _explain(s.args, a.render(), b.render(), [*allowed, *bugs])
                    res.hint = tuple(e for e in used if isinstance(e, KnownBug) and e not in listed) if ok else ()
            results.append(res)
    return results


def _explain(args: tuple[str, ...], a: str, b: str,
             table: Sequence[Difference]) -> tuple[list[Difference], bool, tuple[str, str]]:
    """Entries whose rewrites change something, whether they make both sides equal, both sides after."""
    used = []
    for entry in table:
        if not entry.applies_to(args):
            continue
        a2, b2 = entry.rewrite(a, b)
        if (a2, b2) != (a, b):
            used.append(entry)
            a, b = a2, b2
    return used, a == b, (a, b)


def run_all(scenarios: Sequence[Scenario], incus: Target, pincus: Target,
            parallel: Callable[[Callable[[], object], Callable[[], object]], tuple[object, object]]
            | None = None) -> Run:
    """Run all scenarios on both targets (side by side when `parallel` is given) and judge them."""
    def on(target: Target) -> Callable[[], object]:
        return lambda: [run_scenario(sc, target) for sc in scenarios]

    if parallel is None:
        a, b = on(incus)(), on(pincus)()
    else:
        a, b = parallel(on(incus), on(pincus))
    run = Run()
    for sc, ia, pb in zip(scenarios, a, b, strict=True):  # type: ignore[call-overload]
        run.results.extend(judge(sc, ia, pb))
    return run


# --- reporting -----------------------------------------------------------------------------------------


def report(run: Run, verbose: bool = False, show_all: bool = False) -> str:
    """A human-readable report: one line per step, the diff of every difference, and a summary.

    verbose adds the diffs that allowed differences explain; show_all adds what every step printed.
    """
    lines: list[str] = []
    counts = {"same": 0, "allowed": 0, "bug": 0, "DIFF": 0}
    current = ""
    for r in run.results:
        if r.gid != current:
            current = r.gid
            listed = [b.key for b in KNOWN_BUGS if r.gid in b.groups]
            lines.append(f"\n== {r.gid}" + (f"   [xfail: known pincusd bugs {', '.join(listed)}]" if listed else ""))
        counts[r.state] += 1
        label = r.state
        if r.allowed or r.bugs:
            label = ", ".join([f"allowed: {a.key}" for a in r.allowed] + [f"BUG: {b.key}" for b in r.bugs])
        lines.append(f"  [{label}] {r.step.text}")
        if r.hint:
            lines.append("      (known bugs not listed for this group would explain it: "
                         + ", ".join(b.key for b in r.hint) + ")")
        if r.state == "DIFF":
            if r.residual[0] != r.incus.render() or r.residual[1] != r.pincus.render():
                lines.append("      (what remains after the allowed differences that apply:)")
            lines.extend("      " + line for line in r.diff(residual=True).splitlines())
        if r.state == "bug" or (r.state == "allowed" and verbose):
            lines.extend("      " + line for line in r.diff().splitlines())
        if show_all and r.same:
            lines.extend("      | " + line for line in r.incus.render().splitlines())
    lines.append(f"\nsteps: {counts['same']} same, {counts['allowed']} allowed differences, "
                 f"{counts['bug']} known pincusd bugs, {counts['DIFF']} unexplained differences")
    return "\n".join(lines) + "\n"


def allowed_table() -> str:
    """The allowed-differences table as Markdown."""
    rows = ["| key | commands (regex) | reason |", "|---|---|---|"]
    rows += [f"| {a.key} | `{a.command}` | {a.reason} |" for a in ALLOWED]
    return "\n".join(rows)


def bugs_table() -> str:
    """The known pincusd bugs as Markdown."""
    rows = ["| key | step groups | what differs |", "|---|---|---|"]
    rows += [f"| {b.key} | {', '.join(b.groups)} | {b.reason} |" for b in KNOWN_BUGS]
    return "\n".join(rows)
