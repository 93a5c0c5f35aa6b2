"""Known pincusd incompatibilities found by the differential run: bugs to fix in the daemon.

Each entry says what Incus 6.0.4 answers and what pincusd answers, and lists the step groups it
shows up in; those groups' tests are xfail(strict=True). The rewrites turn the Incus answer into the
pincusd one (or both into a common form) so that a group still fails for any *other* difference.
When the daemon is fixed, the group's test XPASSes (a failure, being strict) and
test_every_known_bug_still_reproduces names the entry to delete.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.integration.differential.allowed import (
    Difference,
)


@dataclass(frozen=True)
class KnownBug(Difference):
    """A difference that is a pincusd bug, and the step groups where it shows."""

    groups: tuple[str, ...] = ()


KNOWN_BUGS: tuple[KnownBug, ...] = ()
