"""Per-object locks: changes to one instance are serialised, readers of it share, objects run in parallel.

A writer (snapshot, restore, delete, rename, start/stop, config) holds an object exclusively; a
reader that must see one consistent state for a while (a local copy, publish, a transfer to another
server) shares it with other readers and keeps writers out. Waiting writers go first, so a stream
of readers cannot starve them. Several locks are always taken in sorted key order, so two
operations that both need two instances cannot deadlock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager


class _RWLock:
    """One object's lock: many readers or one writer."""

    def __init__(self) -> None:
        self.cond = asyncio.Condition()
        self.readers = 0
        self.writer = False
        self.waiting_writers = 0
        self.users = 0  # holders and waiters; the lock is dropped when this reaches 0

    async def acquire(self, exclusive: bool) -> None:
        async with self.cond:
            if exclusive:
                self.waiting_writers += 1
                try:
                    await self.cond.wait_for(lambda: not self.writer and self.readers == 0)
                    self.writer = True
                finally:
                    self.waiting_writers -= 1
                    if not self.writer:  # cancelled while waiting: readers may go on
                        self.cond.notify_all()
            else:
                await self.cond.wait_for(lambda: not self.writer and self.waiting_writers == 0)
                self.readers += 1

    async def release(self, exclusive: bool) -> None:
        async with self.cond:
            if exclusive:
                self.writer = False
            else:
                self.readers -= 1
            self.cond.notify_all()


class Locks:
    """Named reader-writer locks created on first use and dropped when idle."""

    def __init__(self) -> None:
        self._locks: dict[str, _RWLock] = {}

    @asynccontextmanager
    async def _held(self, key: str, exclusive: bool) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, _RWLock())
        lock.users += 1
        try:
            await lock.acquire(exclusive)
            try:
                yield
            finally:
                await asyncio.shield(lock.release(exclusive))
        finally:
            lock.users -= 1
            if lock.users == 0:
                self._locks.pop(key, None)

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold ``key`` exclusively for the duration of the block."""
        return self._held(key, True)

    def share(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold ``key`` shared with other readers for the duration of the block."""
        return self._held(key, False)

    @asynccontextmanager
    async def hold_all(self, exclusive: Iterable[str], shared: Iterable[str] = ()) -> AsyncIterator[None]:
        """Hold several keys (exclusively or shared), taken in sorted order; a key in both is exclusive."""
        wanted = {key: False for key in shared}
        wanted.update({key: True for key in exclusive})
        async with AsyncExitStack() as stack:
            for key in sorted(wanted):
                await stack.enter_async_context(self._held(key, wanted[key]))
            yield

    def busy(self, key: str) -> bool:
        """True while someone holds or waits for the lock."""
        return key in self._locks
