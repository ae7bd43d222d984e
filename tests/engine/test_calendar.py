"""The administrative calendar: working days, closed days, reasons and windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import holidays
import jpholiday
import pytest

from irflow.clock import JST
from irflow.engine.calendar import AdminCalendar, Window
from irflow.errors import InvalidInput

DAYTIME = Window(name="daytime", label="平日日中時", start=time(9, 30), end=time(17, 0))


@pytest.fixture
def calendar() -> AdminCalendar:
    return AdminCalendar()


def test_ordinary_weekday_is_working(calendar: AdminCalendar) -> None:
    """A Wednesday that is no holiday is a working day and has no closed reason."""
    assert calendar.is_working_day(date(2026, 6, 10))
    assert calendar.closed_reason(date(2026, 6, 10)) is None


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        pytest.param(date(2026, 6, 13), "6月13日は土曜日です", id="saturday"),
        pytest.param(date(2026, 6, 14), "6月14日は日曜日です", id="sunday"),
        pytest.param(date(2026, 11, 3), "11月3日は国民の祝日（文化の日）です", id="national"),
        pytest.param(date(2026, 5, 6), "5月6日は振替休日です", id="substitute"),
        pytest.param(date(2026, 9, 22), "9月22日は国民の休日です", id="kokumin-no-kyujitsu"),
        pytest.param(date(2026, 1, 1), "1月1日は国民の祝日（元日）です", id="new-year"),
        pytest.param(date(2019, 5, 1), "5月1日は国民の祝日（天皇の即位の日）です", id="2019"),
    ],
)
def test_closed_day_reason(calendar: AdminCalendar, day: date, reason: str) -> None:
    """Weekends and every kind of national holiday are closed, each with its own reason."""
    assert not calendar.is_working_day(day)
    assert calendar.closed_reason(day) == reason


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2026, 1, 2),
        date(2025, 1, 2),
        date(2025, 1, 3),
        date(2024, 12, 30),
    ],
    ids=str,
)
def test_year_end_closure_on_weekdays(calendar: AdminCalendar, day: date) -> None:
    """29 December to 3 January is closed even on weekdays, and the reason says year-end."""
    assert day.weekday() < 5
    assert not calendar.is_working_day(day)
    assert (
        calendar.closed_reason(day) == f"{day.month}月{day.day}日は行政機関の休日です（年末年始）"
    )


@pytest.mark.parametrize("day", [date(2026, 12, 28), date(2027, 1, 4)], ids=str)
def test_days_around_year_end_are_working(calendar: AdminCalendar, day: date) -> None:
    """28 December and 4 January (weekdays here) are working days again."""
    assert calendar.is_working_day(day)


def test_year_end_saturday_reason_is_year_end(calendar: AdminCalendar) -> None:
    """A Saturday inside the closure gives the year-end reason, the more specific one."""
    assert calendar.closed_reason(date(2029, 12, 29)) == "12月29日は行政機関の休日です（年末年始）"


def test_extra_closed_day_from_data() -> None:
    """An extra closed day given as data is closed, with the reason the data gives."""
    calendar = AdminCalendar({date(2026, 6, 10): "庁舎の計画停電"})
    assert not calendar.is_working_day(date(2026, 6, 10))
    assert (
        calendar.closed_reason(date(2026, 6, 10)) == "6月10日は追加の休業日です（庁舎の計画停電）"
    )
    assert calendar.is_working_day(date(2026, 6, 11))


def test_extra_closed_day_needs_a_reason() -> None:
    """An extra closed day without a reason is refused with the fix."""
    with pytest.raises(InvalidInput, match="say why"):
        AdminCalendar({date(2026, 6, 10): " "})


def test_datetime_is_read_in_japan_time(calendar: AdminCalendar) -> None:
    """A UTC moment late on Friday is Saturday in Japan, so it is a closed day."""
    friday_utc = datetime(2026, 6, 12, 15, 30, tzinfo=UTC)
    assert not calendar.is_working_day(friday_utc)
    assert calendar.closed_reason(friday_utc) == "6月13日は土曜日です"


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (datetime(2026, 6, 10, 9, 29, 59, 999999), False),
        (datetime(2026, 6, 10, 9, 30), True),
        (datetime(2026, 6, 10, 16, 59, 59, 999999), True),
        (datetime(2026, 6, 10, 17, 0), False),
        (datetime(2026, 6, 10, 0, 30, tzinfo=UTC), True),
        (datetime(2026, 6, 13, 10, 0), False),
    ],
    ids=str,
)
def test_window_is_half_open_on_working_days(
    calendar: AdminCalendar, moment: datetime, inside: bool
) -> None:
    """The window's start is inside, its end outside, and closed days have no window."""
    assert calendar.in_window(moment, DAYTIME) is inside


def test_window_must_start_before_end() -> None:
    """A window that ends before it starts is refused."""
    with pytest.raises(InvalidInput, match="must start before it ends"):
        Window(name="bad", label="x", start=time(17), end=time(9))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 6, 10, 18, 0), date(2026, 6, 11)),
        (datetime(2026, 6, 12, 18, 0), date(2026, 6, 15)),
        (datetime(2026, 12, 28, 18, 0), date(2027, 1, 4)),
        (datetime(2026, 5, 2, 10, 0), date(2026, 5, 7)),
        (datetime(2026, 9, 19, 10, 0), date(2026, 9, 24)),
    ],
    ids=str,
)
def test_next_working_day_start(calendar: AdminCalendar, moment: datetime, expected: date) -> None:
    """The next working day's midnight skips weekends, holidays and the year-end closure."""
    assert calendar.next_working_day_start(moment) == datetime.combine(
        expected, time(0), tzinfo=JST
    )


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 6, 10, 8, 0), datetime(2026, 6, 10, 9, 30)),
        (datetime(2026, 6, 10, 12, 0), datetime(2026, 6, 10, 12, 0)),
        (datetime(2026, 6, 10, 17, 0), datetime(2026, 6, 11, 9, 30)),
        (datetime(2026, 12, 29, 10, 0), datetime(2027, 1, 4, 9, 30)),
    ],
    ids=str,
)
def test_next_window_start(calendar: AdminCalendar, moment: datetime, expected: datetime) -> None:
    """The next window opening is the moment itself inside it, else the next start."""
    assert calendar.next_window_start(moment, DAYTIME) == expected.replace(tzinfo=JST)


def test_year_outside_holiday_data_is_refused(calendar: AdminCalendar) -> None:
    """A year the holiday library does not cover is refused rather than read as no holidays."""
    with pytest.raises(InvalidInput, match="outside the holiday data"):
        calendar.is_working_day(date(2150, 6, 10))


def test_other_offsets_convert_before_the_date_is_taken(calendar: AdminCalendar) -> None:
    """A moment at UTC-5 on 28 December evening is 29 December in Japan: closed."""
    moment = datetime(2026, 12, 28, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert not calendar.is_working_day(moment)


def _year_end(day: date) -> bool:
    return (day.month, day.day) >= (12, 29) or (day.month, day.day) <= (1, 3)


def test_holidays_agrees_with_jpholiday_2017_to_2027(calendar: AdminCalendar) -> None:
    """For every day of 2017-2027 `holidays` and `jpholiday` agree, and so does the calendar."""
    jp = holidays.country_holidays("JP", years=range(2017, 2028), language="ja")
    day, last = date(2017, 1, 1), date(2027, 12, 31)
    disagreements = []
    while day <= last:
        national = jpholiday.is_holiday(day)
        if (day in jp) != national:
            disagreements.append(day)
        expected_working = not (day.weekday() >= 5 or national or _year_end(day))
        if calendar.is_working_day(day) != expected_working:
            disagreements.append(day)
        day += timedelta(days=1)
    assert disagreements == []
