"""Non-blocking reads and writes of pipe and pty file descriptors from the event loop."""

from __future__ import annotations

import asyncio
import errno
import os


async def read_fd(fd: int, size: int = 65536) -> bytes:
    """Read what is available from a non-blocking fd; b'' at EOF (EIO on a pty counts as EOF)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return os.read(fd, size)
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise
        ready = loop.create_future()
        loop.add_reader(fd, ready.set_result, None)
        try:
            await ready
        finally:
            loop.remove_reader(fd)


async def write_fd(fd: int, data: bytes) -> None:
    """Write all of data to a non-blocking fd."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
            continue
        except BlockingIOError:
            pass
        ready = loop.create_future()
        loop.add_writer(fd, ready.set_result, None)
        try:
            await ready
        finally:
            loop.remove_writer(fd)


def set_nonblocking(fd: int) -> None:
    """Put an fd in non-blocking mode."""
    os.set_blocking(fd, False)


def close_quietly(fd: int) -> None:
    """Close an fd, ignoring errors (already closed)."""
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass
