"""Background operations: the 202 + operation envelope, and waiting with one /wait request."""

from __future__ import annotations

from pincus.client.connection import ClientError, Response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.connection import Connection, Sent

SUCCESS = 200


class OperationError(ClientError):
    """The operation finished with a failure; the message is its ``err`` text."""


class Operation:
    """An Incus operation as returned by an async call."""

    def __init__(self, conn: Connection, data: dict[str, Any], url: str = "") -> None:
        self.conn = conn
        self.data = data
        self.url = url or f"/1.0/operations/{data.get('id', '')}"

    @classmethod
    def from_response(cls, conn: Connection, resp: Response) -> Operation:
        """Build from an async response (falls back to a finished operation for sync answers)."""
        doc = resp.json()
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if not isinstance(meta, dict):
            meta = {}
        if not resp.is_async:
            return cls(
                conn, {"status_code": SUCCESS, "status": "Success", "metadata": meta, "err": ""}, url="-"
            )
        url = doc.get("operation") or resp.headers.get("location", "")
        return cls(conn, meta, url=url.split("?", 1)[0])

    @property
    def id(self) -> str:
        """The operation UUID."""
        return str(self.data.get("id", ""))

    @property
    def metadata(self) -> dict[str, Any]:
        """The operation's own metadata (exec fds, return code, image fingerprint, ...)."""
        meta = self.data.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def resources(self) -> dict[str, list[str]]:
        """Resources the operation touches (``instances``, ``instances_snapshots`` ...)."""
        res = self.data.get("resources")
        return res if isinstance(res, dict) else {}

    @property
    def done(self) -> bool:
        """True once the operation reached a final state."""
        return int(self.data.get("status_code") or 0) >= SUCCESS

    def refresh(self) -> dict[str, Any]:
        """Re-read the operation."""
        if self.url != "-":
            self.data = self.conn.request("GET", self.url).metadata or {}
        return self.data

    def wait(self, timeout: int = -1) -> dict[str, Any]:
        """Block until the operation is final; raise OperationError with its ``err`` on failure."""
        return self.finish_wait(self.start_wait(timeout), timeout)

    def start_wait(self, timeout: int = -1) -> Sent | ClientError | None:
        """Send the /wait request now; finish_wait() reads its answer (exec sends it before the
        command runs, so the answer is on its way as soon as the operation ends)."""
        if self.url == "-" or self.done:
            return None
        try:
            return self.conn.send("GET", f"{self.url}/wait?timeout={timeout}")
        except ClientError as exc:
            return exc  # handled by finish_wait like a failed answer

    def finish_wait(self, sent: Sent | ClientError | None, timeout: int = -1) -> dict[str, Any]:
        """wait() with the /wait request start_wait() sent."""
        if sent is not None:
            try:
                if isinstance(sent, ClientError):
                    raise sent
                self.data = sent.read().metadata or {}
            except ClientError as exc:
                # Incus answers /wait of a failed operation with an error envelope carrying ``err``
                # and no metadata; re-read the operation so callers still see its metadata (exec's
                # return code). A daemon without /wait gets polled instead.
                try:
                    self.refresh()
                except ClientError:
                    raise OperationError(exc.status, exc.message) from None
                self._poll(timeout)
        code = int(self.data.get("status_code") or 0)
        if code < SUCCESS:  # still running: only possible with a finite timeout
            return self.data
        if code != SUCCESS:
            err = str(self.data.get("err") or self.data.get("status") or "Operation failed")
            raise OperationError(code, err)
        return self.data

    def _poll(self, timeout: int) -> None:
        import time

        deadline = None if timeout < 0 else time.monotonic() + timeout
        while not self.done and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.1)
            self.refresh()

    def cancel(self) -> None:
        """Ask the daemon to cancel the operation."""
        if self.url != "-":
            self.conn.request("DELETE", self.url)
