"""Instance endpoints: list, get, create, state changes, rename, delete, exec and files."""

from __future__ import annotations

from pincus.client.connection import Response, check, encode_query, quote_path, quote_query
from pincus.client.operations import Operation

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.connection import Body, Connection, RawResponse


def instance_path(name: str) -> str:
    """The URL of one instance."""
    return f"/1.0/instances/{quote_path(name)}"


def filter_query(filters: list[str]) -> str:
    """Server-side filter expression as the Go client builds it (``key eq value and ...``)."""
    parts = []
    for item in filters:
        if "=" in item:
            key, _, value = item.partition("=")
            parts.append(f"{key} eq {value}")
    return " and ".join(parts)


def start_exec(conn: Connection, name: str, req: dict[str, Any]) -> Operation:
    """POST /1.0/instances/NAME/exec (Client.exec_instance); a function too, so that ``pincus exec``
    need not import the whole Client: its other mixins cost ~1 ms of start-up."""
    return Operation.from_response(conn, conn.request("POST", f"{instance_path(name)}/exec", req))


class InstanceMixin:
    """Typed calls on /1.0/instances."""

    conn: Connection

    def get_instances(
        self, full: bool = False, filters: list[str] | None = None, all_projects: bool = False
    ) -> list[dict[str, Any]]:
        """All instances (recursion=1), or with state, snapshots and backups (recursion=2)."""
        params = {"recursion": "2" if full else "1", "filter": filter_query(filters or [])}
        if all_projects:
            params["all-projects"] = "true"
        query = encode_query(params)
        return list(self.conn.request("GET", f"/1.0/instances?{query}").metadata or [])

    def get_instance(self, name: str) -> tuple[dict[str, Any], str]:
        """One instance and its ETag."""
        resp = self.conn.request("GET", instance_path(name))
        return resp.metadata, resp.etag

    def get_instance_full(self, name: str) -> dict[str, Any]:
        """One instance with state, snapshots and backups (``?recursion=1``)."""
        return dict(self.conn.request("GET", f"{instance_path(name)}?recursion=1").metadata)

    def create_instance(self, req: dict[str, Any]) -> Operation:
        """POST /1.0/instances (from an image, a copy or empty)."""
        return self._async("POST", "/1.0/instances", req)

    def update_instance(self, name: str, put: dict[str, Any], etag: str = "") -> Operation:
        """PUT /1.0/instances/NAME with an InstancePut body."""
        headers = {"If-Match": etag} if etag else None
        return self._async("PUT", instance_path(name), put, headers)

    def update_instance_state(
        self, name: str, action: str, timeout: int = -1, force: bool = False, stateful: bool = False
    ) -> Operation:
        """PUT /1.0/instances/NAME/state (start, stop, restart, freeze, unfreeze)."""
        body = {"action": action, "timeout": timeout, "force": force, "stateful": stateful}
        return self._async("PUT", f"{instance_path(name)}/state", body)

    def rename_instance(self, name: str, new_name: str) -> Operation:
        """POST /1.0/instances/NAME with the new name."""
        body = {
            "name": new_name,
            "migration": False,
            "live": False,
            "instance_only": False,
            "target": None,
            "pool": "",
            "project": "",
            "allow_inconsistent": False,
        }
        return self._async("POST", instance_path(name), body)

    def delete_instance(self, name: str) -> Operation:
        """DELETE /1.0/instances/NAME."""
        return self._async("DELETE", instance_path(name))

    def exec_instance(self, name: str, req: dict[str, Any]) -> Operation:
        """POST /1.0/instances/NAME/exec; the operation metadata holds the websocket secrets."""
        return start_exec(self.conn, name, req)

    def get_instance_file(self, name: str, path: str) -> RawResponse:
        """GET a file; headers X-Incus-uid/gid/mode/type describe it, the body is its content."""
        raw = self.conn.open("GET", f"{instance_path(name)}/files?path={quote_query(path)}")
        if raw.status != 200:
            check(Response(raw.status, raw.headers, b"".join(raw.iter_body())))
        return raw

    def create_instance_file(
        self,
        name: str,
        path: str,
        content: Body,
        uid: int = -1,
        gid: int = -1,
        mode: int = -1,
        file_type: str = "file",
        write_mode: str = "",
    ) -> None:
        """POST a file, directory or symlink into an instance."""
        headers: dict[str, str] = {"Content-Type": "application/octet-stream"}
        if uid > -1:
            headers["X-Incus-uid"] = str(uid)
        if gid > -1:
            headers["X-Incus-gid"] = str(gid)
        if mode > -1:
            headers["X-Incus-mode"] = f"{mode:04o}"
        if file_type:
            headers["X-Incus-type"] = file_type
        if write_mode:
            headers["X-Incus-write"] = write_mode
        if content is None:
            content = b""
        raw = self.conn.open(
            "POST", f"{instance_path(name)}/files?path={quote_query(path)}", content, headers
        )
        check(raw.read())

    def _async(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Operation:
        resp = self.conn.request(method, path, body, headers)
        return Operation.from_response(self.conn, resp)
