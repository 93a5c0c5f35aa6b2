"""Image and image alias endpoints (/1.0/images)."""

from __future__ import annotations

import os

from pincus.client.connection import quote_path
from pincus.client.operations import Operation

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from pincus.client.connection import Connection

_CHUNK = 65536


def multipart_body(boundary: str, parts: list[tuple[str, str]]) -> Iterator[bytes]:
    """Stream a multipart/form-data body of (field name, file path) parts, as the Go client sends it."""
    for field, path in parts:
        yield (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{os.path.basename(path)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        with open(path, "rb") as fobj:
            while True:
                data = fobj.read(_CHUNK)
                if not data:
                    break
                yield data
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


class ImageMixin:
    """Typed calls on images and aliases."""

    conn: Connection

    def get_images(self) -> list[dict[str, Any]]:
        """All images (recursion=1)."""
        return list(self.conn.request("GET", "/1.0/images?recursion=1").metadata or [])

    def get_image(self, fingerprint: str) -> tuple[dict[str, Any], str]:
        """One image (a fingerprint prefix is accepted by the server) and its ETag."""
        resp = self.conn.request("GET", f"/1.0/images/{quote_path(fingerprint)}")
        return resp.metadata, resp.etag

    def get_image_aliases(self) -> list[dict[str, Any]]:
        """All aliases (recursion=1)."""
        return list(self.conn.request("GET", "/1.0/images/aliases?recursion=1").metadata or [])

    def get_image_alias(self, name: str) -> dict[str, Any]:
        """One alias entry (name, target, type, description)."""
        return dict(self.conn.request("GET", f"/1.0/images/aliases/{quote_path(name)}").metadata)

    def create_image_alias(self, name: str, target: str, description: str = "") -> None:
        """POST /1.0/images/aliases."""
        body = {"description": description, "target": target, "name": name, "type": ""}
        self.conn.request("POST", "/1.0/images/aliases", body)

    def delete_image_alias(self, name: str) -> None:
        """DELETE one alias."""
        self.conn.request("DELETE", f"/1.0/images/aliases/{quote_path(name)}")

    def delete_image(self, fingerprint: str) -> Operation:
        """DELETE an image."""
        resp = self.conn.request("DELETE", f"/1.0/images/{quote_path(fingerprint)}")
        return Operation.from_response(self.conn, resp)

    def import_image_unified(self, path: str, public: bool = False) -> Operation:
        """POST a unified tarball as the raw request body."""
        headers = {"Content-Type": "application/octet-stream", "X-Incus-Filename": os.path.basename(path)}
        if public:
            headers["X-Incus-public"] = "1"
        with open(path, "rb") as fobj:
            resp = self.conn.open("POST", "/1.0/images", fobj, headers).read()
        return self._image_op(resp)

    def import_image_split(self, meta: str, rootfs: str, public: bool = False) -> Operation:
        """POST metadata and rootfs tarballs as multipart/form-data."""
        boundary = os.urandom(30).hex()
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-Incus-Filename": os.path.basename(meta),
        }
        if public:
            headers["X-Incus-public"] = "1"
        body = multipart_body(boundary, [("metadata", meta), ("rootfs", rootfs)])
        resp = self.conn.open("POST", "/1.0/images", body, headers).read()
        return self._image_op(resp)

    def create_image(self, req: dict[str, Any]) -> Operation:
        """POST /1.0/images with a JSON ImagesPost (publish from an instance or snapshot)."""
        resp = self.conn.request("POST", "/1.0/images", req)
        return Operation.from_response(self.conn, resp)

    def _image_op(self, resp: Any) -> Operation:
        from pincus.client.connection import check

        check(resp)
        return Operation.from_response(self.conn, resp)
