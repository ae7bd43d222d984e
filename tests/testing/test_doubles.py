"""The test doubles: the movable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from irflow.clock import JST
from irflow.testing import MovableClock


def test_movable_clock_stands_still_until_moved() -> None:
    """MovableClock tells the same moment until advanced or set."""
    clock = MovableClock(datetime(2026, 4, 1, 9, 30))
    assert clock.now() == datetime(2026, 4, 1, 9, 30, tzinfo=JST)
    assert clock.now() == clock.now()
    assert clock.advance(timedelta(hours=8)) == datetime(2026, 4, 1, 17, 30, tzinfo=JST)
    clock.set(datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    assert clock.now() == datetime(2026, 4, 1, 9, 0, tzinfo=JST)
    assert clock.now().utcoffset() is not None


def test_movable_clock_reads_naive_moments_as_japan_time() -> None:
    """A naive moment given to set() is Japan time, as everywhere in irflow."""
    clock = MovableClock()
    clock.set(datetime(2026, 12, 29, 10, 0))
    assert clock.now().isoformat() == "2026-12-29T10:00:00+09:00"
