"""Hypothesis strategies for the values a test of a flow draws: moments, time steps,
the kinds of a case, notes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from irflow.clock import JST
from irflow.engine.flow import Flow

_OFFSETS = (JST, UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=45)))


def moments(
    min_value: datetime = datetime(2017, 1, 1),
    max_value: datetime = datetime(2040, 12, 31, 23, 59, 59),
) -> st.SearchStrategy[datetime]:
    """Timezone-aware moments between two naive bounds, in Japan time, UTC and other offsets."""
    return st.datetimes(
        min_value=min_value, max_value=max_value, timezones=st.sampled_from(_OFFSETS)
    )


def time_steps(max_value: timedelta = timedelta(days=3)) -> st.SearchStrategy[timedelta]:
    """Non-negative durations, from a microsecond to ``max_value``, to move a clock by."""
    return st.timedeltas(min_value=timedelta(0), max_value=max_value)


def case_kinds(flow: Flow) -> st.SearchStrategy[tuple[str, ...]]:
    """Kinds a case of ``flow`` may be opened with (empty means the flow's default kind).

    A flow that a kind selects (``selected_by``) always gets that kind.
    """
    chosen = st.lists(st.sampled_from(flow.spec.kinds), unique=True, max_size=len(flow.spec.kinds))
    selected_by = flow.spec.selected_by
    if selected_by is None:
        return chosen.map(lambda ks: tuple(sorted(ks)))
    return chosen.map(lambda ks: tuple(sorted({selected_by, *ks})))


_NOTE_ALPHABET = "ab Z09-@._\n\t\"'\\事象発生報告、。（）ｱ\u3000\U0001f4e7"


def notes() -> st.SearchStrategy[str | None]:
    """What a person may type as a step's note: nothing, or short free text.

    The alphabet is small on purpose (ASCII, Japanese, full-width and astral
    characters, quotes, backslash, whitespace): hypothesis builds a full Unicode
    alphabet slowly, and the engine treats a note as opaque text.
    """
    return st.none() | st.text(alphabet=_NOTE_ALPHABET, max_size=40)
