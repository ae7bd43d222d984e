"""Inquiries for the engine's tests: who asks whom, when, and what each command queued."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from irflow.clock import JST
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.errors import NotFound

SANJO, NIIGATA, JLIS, OPERATOR = "sanjo", "pref-niigata", "jlis", "mic-mynumber"
ISHIKAWA, KANAZAWA = "pref-ishikawa", "kanazawa"
CHIKYOREN, MIC = "chikyoren", "mic"  # a national agency (under 総務省) and a ministry

#: Wednesday 1 April 2026, 10:00 in Japan: a working day.
T0 = datetime(2026, 4, 1, 10, 0, tzinfo=JST)
QUESTION = "副本登録の手順について、FAQに類似の記載がないため確認したい。"


def hour(n: int) -> datetime:
    return T0 + timedelta(hours=n)


def ask(engine: Engine, asker: str = SANJO, *, at: datetime = T0, note: str = QUESTION) -> int:
    return engine.open_case(
        reporter=asker,
        title="副本登録の手順について",
        kinds=["inquiry"],
        note=note,
        confirmed=["faq_checked"],
        at=at,
    ).case_id


def chain_of(engine: Engine, case_id: int, viewer: str = SANJO) -> list[str]:
    return [o.id for o in engine.case(case_id, viewer=viewer).chain]


def assert_replays_and_verifies(engine: Engine, case_id: int) -> None:
    """The timeline replays to the stored state and its hash chain is intact."""
    view = engine.case(case_id, viewer=view_of(engine, case_id))
    assert engine.replay(case_id, viewer=SYSTEM) == view.state
    (report,) = engine.verify(case_id, viewer=SYSTEM)
    assert report.ok, report
    assert report.events == len(view.timeline)


def view_of(engine: Engine, case_id: int) -> str:
    """An organisation that may see ``case_id``: its opener (read off the timeline)."""
    opened = engine.timeline(case_id, viewer=SYSTEM)[0]
    assert opened.actor is not None
    return opened.actor


def footprint(engine: Engine, case_id: int) -> tuple[Any, ...]:
    """What a refused command must leave as it was."""
    view = engine.case(case_id, viewer=view_of(engine, case_id))
    return (
        view.version,
        view.state,
        view.holder.id if view.holder else None,
        [o.id for o in view.chain],
        len(view.timeline),
        len(engine.outbox()),
    )


def not_found_message(engine: Engine, case_id: int) -> str:
    """The message for a case id that does not exist, worded for ``case_id``."""
    missing = 10_000
    with pytest.raises(NotFound) as nothing:
        engine.case(missing, viewer=SANJO)
    return str(nothing.value).replace(str(missing), str(case_id))


def jst(month: int, day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=JST)
