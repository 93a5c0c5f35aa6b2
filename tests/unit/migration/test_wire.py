"""Progress text of a transfer, in Incus's units."""

from __future__ import annotations

from pincus.base.sizes import byte_size
from pincus.migration.wire import Meter


def test_byte_size_is_incus_decimal_with_two_decimals() -> None:
    assert byte_size(999) == "999B"
    assert byte_size(1000) == "1.00kB"
    assert byte_size(123_456_789) == "123.46MB"
    assert byte_size(5 * 10**12) == "5.00TB"


def test_meter_reports_at_most_once_per_interval() -> None:
    seen: list[str] = []
    meter = Meter("s1", seen.append, every=0.0)
    meter.add(2_000_000)
    meter.add(1_000_000)
    assert len(seen) == 2 and seen[-1].startswith("s1: 3.00MB (") and seen[-1].endswith("/s)")
    quiet = Meter("s2", seen.append, every=3600)
    quiet.add(10)
    assert len(seen) == 2 and quiet.total == 10
