"""Small helpers for tests that read raw file descriptors."""

from __future__ import annotations

import os


def drain(fd: int) -> bytes:
    """Everything readable from fd until EOF; the fd is closed."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)
