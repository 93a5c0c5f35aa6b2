"""Freeze detector: a loop inside a running container prints /proc/uptime every 20 ms; a frozen
container prints nothing, so the largest gap between consecutive ticks is the stall it saw."""

from __future__ import annotations

import subprocess
import threading
import time

from common import Target

TICK_SCRIPT = "while :; do cat /proc/uptime; usleep 20000; done"
CLOCK_SKEW_LIMIT = 0.5


def boottime() -> float:
    """The host clock that /proc/uptime shows (CLOCK_BOOTTIME), in seconds."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class Ticker:
    """`exec -- sh -c 'while :; do cat /proc/uptime; usleep 20000; done'` in a running instance."""

    def __init__(self, target: Target, instance: str) -> None:
        self.ticks: list[float] = []
        self.offset = 0.0
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [*target.argv0, "exec", instance, "--", "sh", "-c", TICK_SCRIPT], env=target.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self._recv: list[float] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = boottime()
            try:
                value = float(line.split()[0])
            except (IndexError, ValueError):
                continue
            with self._lock:
                self.ticks.append(value)
                self._recv.append(now - value)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until ticks flow, and estimate the offset between the container's clock and the host's."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.ticks) >= 10:
                    # Receive latency is >= 0, so the smallest (receive - value) is the clock offset;
                    # without lxcfs both read the same kernel clock and the offset is ~0.
                    skew = min(self._recv)
                    self.offset = skew if abs(skew) > CLOCK_SKEW_LIMIT else 0.0
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"ticker exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError("ticker printed nothing within 10 s")

    def max_gap(self, start: float, end: float, wait: float = 5.0) -> float:
        """Largest gap between ticks around the host boottime window [start, end]."""
        w0, w1 = start - self.offset, end - self.offset
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self._lock:
                if self.ticks and self.ticks[-1] > w1:
                    break
            time.sleep(0.02)
        with self._lock:
            ticks = sorted(self.ticks)
        before = [t for t in ticks if t <= w0]
        after = [t for t in ticks if t >= w1]
        inside = [t for t in ticks if w0 < t < w1]
        # No tick after the window yet: the stall lasted at least until its end.
        series = before[-1:] + inside + (after[:1] or [w1])
        if len(series) < 2:
            return end - start
        return max(b - a for a, b in zip(series, series[1:], strict=False))

    def stop(self) -> None:
        """Stop the exec client (the loop inside ends when the instance stops)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._thread.join(2)
