"""Reader-writer instance locks: writers exclusive, readers shared, writers not starved, no deadlock."""

from __future__ import annotations

import asyncio

from pincus.core.locks import Locks


async def _spin() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_readers_share_and_writers_wait_for_them() -> None:
    locks, events = Locks(), []
    release = asyncio.Event()

    async def reader(i: int) -> None:
        async with locks.share("instance:c1"):
            events.append(f"r{i}+")
            await release.wait()
            events.append(f"r{i}-")

    async def writer() -> None:
        async with locks.hold("instance:c1"):
            events.append("w")

    readers = [asyncio.create_task(reader(i)) for i in range(2)]
    await _spin()
    w = asyncio.create_task(writer())
    await _spin()
    assert events == ["r0+", "r1+"]  # both readers in at once, the writer waits
    release.set()
    await asyncio.gather(*readers, w)
    assert events[-1] == "w"
    assert not locks.busy("instance:c1")


async def test_a_waiting_writer_goes_before_later_readers() -> None:
    locks, events = Locks(), []
    release = asyncio.Event()

    async def first_reader() -> None:
        async with locks.share("k"):
            await release.wait()

    async def writer() -> None:
        async with locks.hold("k"):
            events.append("w")

    async def late_reader() -> None:
        async with locks.share("k"):
            events.append("r")

    tasks = [asyncio.create_task(first_reader())]
    await _spin()
    tasks.append(asyncio.create_task(writer()))
    await _spin()
    tasks.append(asyncio.create_task(late_reader()))
    await _spin()
    assert events == []
    release.set()
    await asyncio.gather(*tasks)
    assert events == ["w", "r"]


async def test_a_cancelled_waiting_writer_lets_readers_in() -> None:
    locks = Locks()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.share("k"):
            await release.wait()

    h = asyncio.create_task(holder())
    await _spin()
    w = asyncio.create_task(locks.hold("k").__aenter__())
    await _spin()
    w.cancel()
    await _spin()
    async with asyncio.timeout(1):
        async with locks.share("k"):  # not blocked by the writer that gave up
            pass
    release.set()
    await h


async def test_two_sided_acquisitions_in_sorted_order_do_not_deadlock() -> None:
    locks, done = Locks(), []

    async def copy(src: str, dst: str) -> None:
        async with locks.hold_all([f"instance:{dst}"], [f"instance:{src}"]):
            await asyncio.sleep(0)
            done.append((src, dst))

    async with asyncio.timeout(5):
        await asyncio.gather(*(copy("a", "b") if i % 2 else copy("b", "a") for i in range(20)))
    assert len(done) == 20 and not locks.busy("instance:a") and not locks.busy("instance:b")
