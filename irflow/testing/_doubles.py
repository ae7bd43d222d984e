"""The clock double: a clock that a test moves by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from irflow.clock import JST, as_aware

#: Where a ``MovableClock`` starts unless told: a weekday inside every contact window.
START = datetime(2026, 4, 1, 10, tzinfo=JST)


class MovableClock:
    """A ``Clock`` that stands still until a test moves it.

    Moments are timezone-aware; a naive moment given to the constructor or to
    ``set`` is Japan time. The default start, 2026-04-01 10:00 in Japan, is a
    weekday inside every contact window.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = as_aware(start) if start is not None else START

    def now(self) -> datetime:
        """The clock's current moment."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock by ``delta`` (backwards if negative); return the new moment."""
        self._now = self._now + delta
        return self._now

    def set(self, moment: datetime) -> None:
        """Put the clock at ``moment`` (naive means Japan time)."""
        self._now = as_aware(moment)

    def __repr__(self) -> str:
        return f"MovableClock({self._now.isoformat()})"
