"""Failpoints: named places where a test-configured daemon kills itself, to prove crash safety.

PINCUS_FAILPOINTS="snapshot-volume-created,restore-swapped" makes the daemon SIGKILL itself when
it reaches one of those points. Unset (production), hit() is a set lookup.
"""

from __future__ import annotations

import os
import signal

_ACTIVE = frozenset(p for p in os.environ.get("PINCUS_FAILPOINTS", "").split(",") if p)


def hit(name: str) -> None:
    """Die here, like a power cut, if the failpoint ``name`` is active."""
    if name in _ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)
