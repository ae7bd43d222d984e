"""Time enters irflow here and nowhere else.

The engine never calls ``datetime.now()``: it asks a ``Clock``. Moments are
timezone-aware; naive input is read as Japan time (Asia/Tokyo), since every rule of
the domain is stated in Japan time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from irflow.errors import InvalidInput

JST = ZoneInfo("Asia/Tokyo")


class Clock(Protocol):
    """Anything that tells the current moment, timezone-aware."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that always tells the same moment (used for ``--at``)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = as_aware(moment)

    def now(self) -> datetime:
        return self.moment


def as_aware(moment: datetime) -> datetime:
    """Return ``moment`` with a timezone: a naive moment is Japan time."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=JST)
    return moment


def parse_moment(text: str) -> datetime:
    """Parse an ISO 8601 moment; without an offset it is Japan time.

    >>> parse_moment("2026-12-29T10:00").isoformat()
    '2026-12-29T10:00:00+09:00'
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"moment {text!r} is not ISO 8601; write it like 2026-12-29T10:00 "
            "(Japan time) or 2026-12-29T01:00+00:00"
        ) from None
    return as_aware(moment)


def to_utc(moment: datetime) -> datetime:
    """The same moment in UTC, for storage."""
    return as_aware(moment).astimezone(UTC)


def to_jst(moment: datetime) -> datetime:
    """The same moment in Japan time, for display and for the calendar."""
    return as_aware(moment).astimezone(JST)
