"""Storage pool, profile and server endpoints."""

from __future__ import annotations

from pincus.client.connection import quote_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.connection import Connection


class StorageMixin:
    """Typed calls on /1.0/storage-pools and /1.0/profiles."""

    conn: Connection

    def get_storage_pools(self) -> list[dict[str, Any]]:
        """All storage pools (recursion=1)."""
        return list(self.conn.request("GET", "/1.0/storage-pools?recursion=1").metadata or [])

    def get_storage_pool_names(self) -> list[str]:
        """Storage pool names."""
        urls = self.conn.request("GET", "/1.0/storage-pools").metadata or []
        return [url.rsplit("/", 1)[-1].split("?", 1)[0] for url in urls]

    def get_storage_pool(self, name: str) -> tuple[dict[str, Any], str]:
        """One pool and its ETag."""
        resp = self.conn.request("GET", f"/1.0/storage-pools/{quote_path(name)}")
        return resp.metadata, resp.etag

    def create_storage_pool(
        self, name: str, driver: str, config: dict[str, str] | None = None, description: str = ""
    ) -> None:
        """POST /1.0/storage-pools."""
        body = {"config": config or {}, "description": description, "name": name, "driver": driver}
        self.conn.request("POST", "/1.0/storage-pools", body)

    def delete_storage_pool(self, name: str) -> None:
        """DELETE a pool."""
        self.conn.request("DELETE", f"/1.0/storage-pools/{quote_path(name)}")

    def get_profiles(self) -> list[dict[str, Any]]:
        """All profiles (recursion=1)."""
        return list(self.conn.request("GET", "/1.0/profiles?recursion=1").metadata or [])

    def get_profile(self, name: str) -> tuple[dict[str, Any], str]:
        """One profile and its ETag."""
        resp = self.conn.request("GET", f"/1.0/profiles/{quote_path(name)}")
        return resp.metadata, resp.etag

    def create_profile(self, name: str, put: dict[str, Any]) -> None:
        """POST /1.0/profiles."""
        self.conn.request("POST", "/1.0/profiles", {**put, "name": name})

    def update_profile(self, name: str, put: dict[str, Any], etag: str = "") -> None:
        """PUT a profile's config, description and devices."""
        headers = {"If-Match": etag} if etag else None
        self.conn.request("PUT", f"/1.0/profiles/{quote_path(name)}", put, headers)

    def get_server(self) -> tuple[dict[str, Any], str]:
        """GET /1.0 and its ETag."""
        resp = self.conn.request("GET", "/1.0")
        return resp.metadata, resp.etag

    def update_server(self, put: dict[str, Any], etag: str = "") -> None:
        """PUT /1.0 (server config)."""
        headers = {"If-Match": etag} if etag else None
        self.conn.request("PUT", "/1.0", put, headers)
