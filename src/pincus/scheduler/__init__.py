"""The daemon's timer beside core: expiry, scheduled snapshots, retention (DESIGN.md, Architecture)."""

from __future__ import annotations

from pincus.scheduler.timer import Scheduler, minute_of

__all__ = ["Scheduler", "minute_of"]
