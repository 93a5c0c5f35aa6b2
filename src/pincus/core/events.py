"""The event hub behind /1.0/events: operation, lifecycle and logging events."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from pincus.base.gotime import format_time

# Incus lifecycle actions that pincus emits.
INSTANCE_CREATED = "instance-created"
INSTANCE_DELETED = "instance-deleted"
INSTANCE_STARTED = "instance-started"
INSTANCE_STOPPED = "instance-stopped"
INSTANCE_SHUTDOWN = "instance-shutdown"
INSTANCE_RESTARTED = "instance-restarted"
INSTANCE_UPDATED = "instance-updated"
INSTANCE_RENAMED = "instance-renamed"
INSTANCE_RESTORED = "instance-restored"
INSTANCE_PAUSED = "instance-paused"
INSTANCE_RESUMED = "instance-resumed"
INSTANCE_EXEC = "instance-exec"
SNAPSHOT_CREATED = "instance-snapshot-created"
SNAPSHOT_DELETED = "instance-snapshot-deleted"
SNAPSHOT_RENAMED = "instance-snapshot-renamed"
SNAPSHOT_UPDATED = "instance-snapshot-updated"


class Listener:
    """One /1.0/events subscriber: a queue filtered by event type."""

    def __init__(self, types: set[str]) -> None:
        self.types = types
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10000)

    def wants(self, event_type: str) -> bool:
        """True when the subscriber asked for this type (no filter means all)."""
        return not self.types or event_type in self.types


class EventHub:
    """Fan-out of events to every listener; publishing never blocks."""

    def __init__(self) -> None:
        self._listeners: set[Listener] = set()

    def subscribe(self, types: set[str]) -> Listener:
        """Register a listener."""
        listener = Listener(types)
        self._listeners.add(listener)
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        """Drop a listener."""
        self._listeners.discard(listener)

    def publish(self, event_type: str, metadata: dict[str, Any]) -> None:
        """Send an event to every interested listener; a full queue drops the event for that one."""
        event = {
            "type": event_type,
            "timestamp": format_time(datetime.now(timezone.utc)),
            "metadata": metadata,
            "location": "none",
            "project": "default",
        }
        for listener in list(self._listeners):
            if listener.wants(event_type):
                try:
                    listener.queue.put_nowait(event)
                except asyncio.QueueFull:
                    pass

    def lifecycle(self, action: str, source: str, context: dict[str, Any] | None = None) -> None:
        """Publish an Incus lifecycle event (``source`` is the object's API URL)."""
        self.publish(
            "lifecycle",
            {"action": action, "source": source, "context": context or {}, "requestor": None, "name": "", "project": "default"},
        )
