"""Non-blocking reads and writes of pipe and pty file descriptors from the event loop."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable


async def read_fd(fd: int, size: int = 65536) -> bytes:
    """Read what is available from a non-blocking fd; b'' at EOF (EIO on a pty counts as EOF)."""
    while True:
        try:
            return os.read(fd, size)
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise
        await wait_readable(fd)


async def write_fd(fd: int, data: bytes) -> None:
    """Write all of data to a non-blocking fd."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
            continue
        except BlockingIOError:
            pass
        loop = asyncio.get_running_loop()
        await _ready(fd, loop.add_writer, loop.remove_writer)


async def wait_readable(fd: int) -> None:
    """Wait until fd is readable (a pidfd: its process has exited)."""
    loop = asyncio.get_running_loop()
    await _ready(fd, loop.add_reader, loop.remove_reader)


async def _ready(fd: int, watch: Callable[..., object], unwatch: Callable[[int], object]) -> None:
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    watch(fd, _wake, ready)
    try:
        await ready
    finally:
        unwatch(fd)


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():  # the waiter was cancelled, or the fd reported ready twice
        ready.set_result(None)


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
