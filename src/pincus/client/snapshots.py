"""Instance snapshot endpoints (/1.0/instances/NAME/snapshots)."""

from __future__ import annotations

from pincus.client.connection import quote_path
from pincus.client.instances import instance_path
from pincus.client.operations import Operation

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.connection import Connection



def snapshot_path(instance: str, name: str) -> str:
    """The URL of one snapshot."""
    return f"{instance_path(instance)}/snapshots/{quote_path(name)}"


class SnapshotMixin:
    """Typed calls on instance snapshots."""

    conn: Connection

    def get_instance_snapshots(self, instance: str) -> list[dict[str, Any]]:
        """All snapshots of an instance, as objects (recursion=1)."""
        return list(
            self.conn.request("GET", f"{instance_path(instance)}/snapshots?recursion=1").metadata or []
        )

    def get_instance_snapshot(self, instance: str, name: str) -> tuple[dict[str, Any], str]:
        """One snapshot and its ETag."""
        resp = self.conn.request("GET", snapshot_path(instance, name))
        return resp.metadata, resp.etag

    def create_instance_snapshot(
        self, instance: str, name: str = "", stateful: bool = False, expires_at: str | None = None
    ) -> Operation:
        """POST a new snapshot; ``expires_at`` is RFC 3339 (the zero time means never)."""
        body = {"name": name, "stateful": stateful, "expires_at": expires_at}
        resp = self.conn.request("POST", f"{instance_path(instance)}/snapshots", body)
        return Operation.from_response(self.conn, resp)

    def update_instance_snapshot(
        self, instance: str, name: str, expires_at: str, etag: str = ""
    ) -> Operation:
        """PUT a snapshot's expiry (the only writable field)."""
        headers = {"If-Match": etag} if etag else None
        resp = self.conn.request("PUT", snapshot_path(instance, name), {"expires_at": expires_at}, headers)
        return Operation.from_response(self.conn, resp)

    def rename_instance_snapshot(self, instance: str, name: str, new_name: str) -> Operation:
        """POST a snapshot with its new name."""
        body = {"name": new_name, "migration": False, "target": None}
        resp = self.conn.request("POST", snapshot_path(instance, name), body)
        return Operation.from_response(self.conn, resp)

    def delete_instance_snapshot(self, instance: str, name: str) -> Operation:
        """DELETE a snapshot."""
        resp = self.conn.request("DELETE", snapshot_path(instance, name))
        return Operation.from_response(self.conn, resp)

    def restore_instance_snapshot(
        self, instance: str, name: str, stateful: bool = False, disk_only: bool = False
    ) -> Operation:
        """PUT the instance with ``restore`` set to ``instance/name``."""
        body: dict[str, Any] = {
            "architecture": "",
            "config": None,
            "devices": None,
            "ephemeral": False,
            "profiles": None,
            "restore": name if "/" in name else f"{instance}/{name}",
            "stateful": stateful,
            "description": "",
        }
        if disk_only:
            body["disk_only"] = True
        resp = self.conn.request("PUT", instance_path(instance), body)
        return Operation.from_response(self.conn, resp)
