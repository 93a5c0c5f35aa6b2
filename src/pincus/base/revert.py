"""Reverter: undo the finished steps of a multi-step change when a later step fails."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)


class Reverter:
    """Collects undo callbacks; runs them newest first unless ``success()`` was called.

    Use as a context manager: register the undo right after each step succeeds and call
    ``success()`` at the end. An exception (or a missing ``success()``) runs the undos.
    """

    def __init__(self) -> None:
        self._undo: list[Callable[[], object]] = []
        self._done = False

    def add(self, undo: Callable[[], object]) -> None:
        """Register the undo of a step that just succeeded."""
        self._undo.append(undo)

    def success(self) -> None:
        """Keep every step: the change is complete."""
        self._done = True
        self._undo.clear()

    def fail(self) -> None:
        """Run the registered undos, newest first; an undo that fails is logged, not raised."""
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except Exception:  # noqa: BLE001 - an undo must not mask the original error
                log.exception("revert step failed")

    def __enter__(self) -> Reverter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._done:
            self.fail()
