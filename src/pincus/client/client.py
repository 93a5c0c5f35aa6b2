"""The typed client: one object with explicit methods per endpoint, each returning data or an Operation."""

from __future__ import annotations

from pincus.client.connection import Connection
from pincus.client.images import ImageMixin
from pincus.client.instances import InstanceMixin
from pincus.client.snapshots import SnapshotMixin
from pincus.client.storage import StorageMixin


class Client(InstanceMixin, SnapshotMixin, ImageMixin, StorageMixin):
    """An Incus-API client bound to one Connection."""

    def __init__(self, conn: Connection | None = None) -> None:
        self.conn = conn or Connection()

    def has_extension(self, name: str) -> bool:
        """True if GET /1.0 lists ``name`` in api_extensions."""
        if not hasattr(self, "_extensions"):
            server, _ = self.get_server()
            self._extensions = set(server.get("api_extensions") or [])
        return name in self._extensions
