"""The stock `incus` client against pincusd and against a real Incus 6.0.4: same scenario, same output.

One test per step group. Set PINCUS_DIFF_REPORT=<file> to also write the full human-readable report
(or run ``python -m tests.integration.differential.report``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.integration.differential.allowed import ALLOWED
from tests.integration.differential.daemons import side_by_side, targets, unavailable
from tests.integration.differential.harness import Run, report, run_all
from tests.integration.differential.known_bugs import KNOWN_BUGS
from tests.integration.differential.scenarios import SCENARIOS

pytestmark = [pytest.mark.incus, pytest.mark.integration]


class PincusdBug(Exception):
    """A step group differs from Incus only by known pincusd bugs (known_bugs.py)."""


@pytest.fixture(scope="module")
def diff_run() -> Iterator[Run]:
    """Every scenario, run once on both daemons side by side."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with targets() as (incus, pincus):
        run = run_all(SCENARIOS, incus, pincus, parallel=side_by_side)
    path = os.environ.get("PINCUS_DIFF_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(report(run, verbose=True))
    yield run


def _cases() -> list[object]:
    cases: list[object] = []
    for sc in SCENARIOS:
        for g in sc.groups:
            gid = f"{sc.name}/{g.name}"
            bugs = [b for b in KNOWN_BUGS if gid in b.groups]
            reason = "pincusd bugs: " + " | ".join(f"{b.key}: {b.reason}" for b in bugs)
            marks = [pytest.mark.xfail(strict=True, raises=PincusdBug, reason=reason)] if bugs else []
            cases.append(pytest.param(sc.name, g.name, id=gid, marks=marks))
    return cases


@pytest.mark.parametrize(("scenario", "group"), _cases())
def test_same_output(diff_run: Run, scenario: str, group: str) -> None:
    results = diff_run.group(scenario, group)
    assert results, f"no results for {scenario}/{group}"
    unexplained = [r for r in results if r.state == "DIFF"]
    assert not unexplained, "pincusd differs from Incus:\n" + report(Run(unexplained))
    buggy = [r for r in results if r.state == "bug"]
    if buggy:
        raise PincusdBug("known pincusd bugs:\n" + report(Run(buggy)))


def test_every_allowed_difference_is_still_needed(diff_run: Run) -> None:
    unused = sorted({a.key for a in ALLOWED} - diff_run.used_allowances())
    assert not unused, f"allowed differences no scenario needs any more: {unused}"


def test_every_known_bug_still_reproduces(diff_run: Run) -> None:
    seen = diff_run.bug_groups()
    gone = sorted(f"{b.key} in {g}" for b in KNOWN_BUGS for g in b.groups if (b.key, g) not in seen)
    assert not gone, f"known pincusd bugs that no longer show (fixed? delete them from known_bugs.py): {gone}"
