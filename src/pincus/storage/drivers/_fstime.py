"""The filesystem's own clock, which the dir driver's trust decisions compare ctimes with."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

# The delta pass also re-copies entries changed this long before pass 1 started: cheap insurance
# against timestamp granularity. Trust comparisons need none: fs_now_ns reads the filesystem's own
# clock, so any later change gets a ctime >= the stamp, and trust requires a ctime < the stamp.
MARGIN_NS = 1_000_000_000


def fs_now_ns(directory: Path) -> int:
    """The filesystem's own current time (the ctime a change made now would get)."""
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except OSError:
        name = directory / f".pincus-stamp-{os.getpid()}-{threading.get_ident()}"
        fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        os.unlink(name)
    try:
        return os.fstat(fd).st_ctime_ns
    finally:
        os.close(fd)


def fs_tick_ns(directory: Path) -> int:
    """A filesystem time strictly later than the ctime of every change made before the call.

    Timestamps are coarse (one kernel tick), so a stamp alone may equal the ctime of a file
    written just before it; waiting for the next tick (a few ms at most) separates them.
    """
    first = fs_now_ns(directory)
    while (now := fs_now_ns(directory)) <= first:
        time.sleep(0.0005)
    return now
