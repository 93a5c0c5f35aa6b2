"""Replication beside core: the daemon refreshes instances onto a snapshot server (DESIGN.md)."""

from __future__ import annotations

from pincus.replication.service import Replication, ReplicationFailed

__all__ = ["Replication", "ReplicationFailed"]
