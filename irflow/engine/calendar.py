"""The administrative calendar (行政機関の休日) and the daily windows on it.

A day is a working day unless it is a Saturday, a Sunday, a national holiday
(国民の祝日, with 振替休日 and 国民の休日), one of 29 December to 3 January, or an
extra closed day given as data. National holidays come from the ``holidays``
library (country JP); the year-end closure is our own rule, because no holiday
library has it (``holidays``' "bank" category is 31 December to 3 January, which is
not it).

Every moment is read in Japan time: a naive one is Japan time, any other offset is
converted first (``irflow.clock``).

Routing asks the calendar once per plan, so each year is computed once into a
table of closed days and every later question is one index into it.

Why a day is closed is said in the words of ``irflow/templates/phrases.yaml``
(section ``calendar``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from irflow.clock import JST, to_jst
from irflow.engine.phrases import PhraseBook
from irflow.errors import InvalidInput

#: The year-end closure, 29 December to 3 January (行政機関の休日に関する法律 第1条).
YEAR_END_FROM = (12, 29)
YEAR_END_TO = (1, 3)

#: How far ``next_working_day_start`` looks before it gives up: no stretch of closed
#: days comes near a year, so reaching this means the data is broken.
_MAX_SEARCH_DAYS = 366

_WEEKEND_PHRASES = {5: "saturday", 6: "sunday"}

_WORDING = PhraseBook(
    "calendar",
    {
        "closed_day": ("month", "day", "why"),
        "saturday": (),
        "sunday": (),
        "year_end": (),
        "extra_closed_day": ("reason",),
        "national_holiday": ("name",),
        "substitute_holiday_word": (),
        "substitute_holiday": (),
        "citizens_holiday_word": (),
        "citizens_holiday": (),
    },
)


@dataclass(frozen=True, slots=True)
class Window:
    """A daily window on working days, half-open: ``start`` is inside, ``end`` is not."""

    name: str
    label: str
    """The Japanese name shown to people, e.g. 平日日中時."""
    start: time
    end: time
    start_second: int = field(init=False, repr=False, compare=False)
    end_second: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise InvalidInput(
                f"window {self.name!r} starts at {self.start:%H:%M} and ends at "
                f"{self.end:%H:%M}; a window must start before it ends on the same day"
            )
        # Seconds of the day, precomputed: comparing ints is the cheapest check.
        object.__setattr__(self, "start_second", _second_of_day(self.start))
        object.__setattr__(self, "end_second", _second_of_day(self.end))

    def contains_second(self, second: int) -> bool:
        """Whether a second of the day (Japan time) falls inside the window."""
        return self.start_second <= second < self.end_second

    def span(self) -> str:
        """The window as people write it, e.g. ``09:30-17:00``."""
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _second_of_day(moment: time | datetime) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def second_of_day(moment: datetime) -> int:
    """The second of the day of ``moment`` in Japan time (sub-seconds dropped).

    Dropping sub-seconds is exact for half-open windows with whole-second edges:
    16:59:59.9 is still before 17:00:00, and 09:29:59.9 still before 09:30:00.
    """
    return _second_of_day(to_jst(moment))


@dataclass(frozen=True, slots=True)
class _Year:
    """One year of the calendar: a closed-day flag per day, and why for the holidays."""

    first_ordinal: int
    closed: bytes
    holidays: Mapping[date, str]


class AdminCalendar:
    """Working days and closed days of administrative organs, in Japan time."""

    def __init__(self, extra_closed_days: Mapping[date, str] | None = None) -> None:
        """``extra_closed_days`` maps a date to why it is closed (shown to people)."""
        self._extra: dict[date, str] = dict(extra_closed_days or {})
        for day, reason in self._extra.items():
            if not reason.strip():
                raise InvalidInput(f"extra closed day {day} has no reason; say why it is closed")
        self._years: dict[int, _Year] = {}
        self._after: dict[tuple[date, int], date] = {}
        self._next_start: dict[date, datetime] = {}

    @property
    def extra_closed_days(self) -> Mapping[date, str]:
        return dict(self._extra)

    def warm(self, years: Iterable[int]) -> None:
        """Compute these years now, so that the first question about them is fast."""
        for year in years:
            self._year(year)

    def is_working_day(self, day: date | datetime) -> bool:
        """Whether ``day`` is a working day; a datetime is first put in Japan time."""
        if isinstance(day, datetime):
            day = to_jst(day).date()
        year = self._years.get(day.year) or self._year(day.year)
        return not year.closed[day.toordinal() - year.first_ordinal]

    def closed_reason(self, day: date | datetime) -> str | None:
        """Why ``day`` is closed, in the words of the phrases file, or None for a working day."""
        if isinstance(day, datetime):
            day = to_jst(day).date()
        if self.is_working_day(day):
            return None
        # The most specific reason first: 1 January is 元日 before it is year-end, and
        # a Saturday in the year-end closure is year-end before it is a Saturday.
        name = self._year(day.year).holidays.get(day)
        if name is not None:
            why = _holiday_phrase(name)
        elif _in_year_end(day):
            why = _WORDING["year_end"]
        elif day in self._extra:
            why = _WORDING.fill("extra_closed_day", reason=self._extra[day])
        else:
            why = _WORDING[_WEEKEND_PHRASES[day.weekday()]]
        return _WORDING.fill("closed_day", month=day.month, day=day.day, why=why)

    def in_window(self, moment: datetime, window: Window) -> bool:
        """Whether ``moment`` falls inside ``window`` on a working day."""
        jst = to_jst(moment)
        return self.is_working_day(jst.date()) and window.contains_second(_second_of_day(jst))

    def next_working_day_start(self, moment: datetime) -> datetime:
        """Midnight (Japan time) opening the first working day after ``moment``'s day.

        This is where a deadline that falls on a closed day moves to (行政機関の休日に
        関する法律 第2条), and where an off-hours wait ends at the earliest.
        """
        start = to_jst(moment).date()
        found = self._next_start.get(start)
        if found is not None:
            return found
        day = start
        for _ in range(_MAX_SEARCH_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                # Remembered: a step opened on a closed day asks this for every deadline.
                if len(self._next_start) >= 4096:
                    self._next_start.clear()
                found = self._next_start[start] = datetime.combine(day, time(0), tzinfo=JST)
                return found
        raise InvalidInput(  # pragma: no cover - needs a year of extra closed days
            f"no working day within {_MAX_SEARCH_DAYS} days after {day}; "
            "check the extra closed days"
        )

    def working_day_after(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day``, where ``count`` working days
        counted from ``day`` end. Remembered: a step's deadline asks it every time."""
        key = (day, count)
        found = self._after.get(key)
        if found is None:
            found = day
            for _ in range(count):
                found = self.next_working_day_start(datetime.combine(found, time(0), JST)).date()
            if len(self._after) >= 4096:
                self._after.clear()
            self._after[key] = found
        return found

    def next_window_start(self, moment: datetime, window: Window) -> datetime:
        """The earliest moment at or after ``moment`` inside ``window`` (Japan time)."""
        jst = to_jst(moment)
        if self.is_working_day(jst.date()):
            second = _second_of_day(jst)
            if window.contains_second(second):
                return jst
            if second < window.start_second:
                return datetime.combine(jst.date(), window.start, tzinfo=JST)
        opening = self.next_working_day_start(jst)
        return datetime.combine(opening.date(), window.start, tzinfo=JST)

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is None:
            cached = self._years[year] = self._build_year(year)
        return cached

    def _build_year(self, year: int) -> _Year:
        national = _national_holidays(year)
        first = date(year, 1, 1)
        closed = bytearray()
        day = first
        while day.year == year:
            shut = day.weekday() >= 5 or day in national or _in_year_end(day) or day in self._extra
            closed.append(shut)
            day += timedelta(days=1)
        return _Year(first_ordinal=first.toordinal(), closed=bytes(closed), holidays=national)


def _national_holidays(year: int) -> dict[date, str]:
    """The national holidays of ``year`` with their Japanese names, from ``holidays``."""
    # Imported here: the library loads every country (~90 ms), which only the first
    # calendar question of a process should pay, not `irflow case show`.
    import holidays
    from holidays.countries.japan import Japan

    if not Japan.start_year <= year <= Japan.end_year:
        # Outside these years the library returns nothing, which would silently make
        # every weekday a working day.
        raise InvalidInput(
            f"year {year} is outside the holiday data ({Japan.start_year}-"
            f"{Japan.end_year}); give a moment within those years"
        )
    table = holidays.country_holidays("JP", years=year, language="ja")
    return {day: str(name) for day, name in table.items()}


def _in_year_end(day: date) -> bool:
    month_day = (day.month, day.day)
    return month_day >= YEAR_END_FROM or month_day <= YEAR_END_TO


def _holiday_phrase(name: str) -> str:
    # Substitute holidays and 国民の休日 are holidays under the law but not 国民の祝日
    # themselves; say which, so the reason reads right. Names only word the message:
    # whether a day is closed is decided by its date.
    for kind in ("substitute_holiday", "citizens_holiday"):
        if _WORDING[f"{kind}_word"] in name:
            return _WORDING[kind]
    return _WORDING.fill("national_holiday", name=name)
