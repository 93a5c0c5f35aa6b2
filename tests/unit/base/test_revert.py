from __future__ import annotations

import pytest

from pincus.base.revert import Reverter


def test_undo_runs_newest_first_on_error():
    done: list[str] = []
    with pytest.raises(RuntimeError):
        with Reverter() as rev:
            rev.add(lambda: done.append("a"))
            rev.add(lambda: done.append("b"))
            raise RuntimeError("step 3 failed")
    assert done == ["b", "a"]


def test_success_keeps_everything():
    done: list[str] = []
    with Reverter() as rev:
        rev.add(lambda: done.append("a"))
        rev.success()
    assert done == []


def test_missing_success_reverts_and_failing_undo_does_not_mask():
    done: list[str] = []

    def broken() -> None:
        raise OSError("undo failed")

    with Reverter() as rev:
        rev.add(lambda: done.append("a"))
        rev.add(broken)
    assert done == ["a"]
