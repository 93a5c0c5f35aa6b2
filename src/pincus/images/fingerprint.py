"""Image fingerprints, computed exactly as Incus does.

A unified image's fingerprint is the SHA-256 of its tarball's bytes; a split image's is the SHA-256
of the metadata tarball's bytes followed by the rootfs file's bytes (cmd/incusd/images.go hashes
the two multipart parts into one digest, in that order).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pincus.base.errors import InvalidArgument

_CHUNK = 1 << 20


def fingerprint(*paths: str | Path) -> str:
    """SHA-256 hex digest over the given files' bytes in order: (unified) or (metadata, rootfs)."""
    if len(paths) not in (1, 2):
        raise InvalidArgument("An image is one unified tarball or a metadata tarball plus a rootfs file")
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def image_size(*paths: str | Path) -> int:
    """The `size` Incus reports for an image: the sum of its files' sizes."""
    return sum(Path(p).stat().st_size for p in paths)
