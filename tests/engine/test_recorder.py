"""The recorder: each event on the case's chain, and a command that loses a race runs again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest

from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.errors import Conflict, StepNotOpen
from irflow.testing import MovableClock
from tests.engine.cases import SANJO, do, open_sanjo


@contextmanager
def _raced_case(
    engine: Engine, db_url: str, clock: MovableClock, rival_does: Callable[[Engine, int], object]
) -> Iterator[tuple[int, list[int]]]:
    """A case after detection, and another engine that does ``rival_does`` on it between
    this engine's next read of the case and its write. Yields the case id and the case
    ids the engine reads from then on."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly")
    load = engine.ledger.load
    reads: list[int] = []
    with Engine(db_url, clock=clock) as rival:

        def read_then_rival(conn: object, read_id: int) -> object:
            case = load(conn, read_id)
            reads.append(read_id)
            if len(reads) == 1:
                rival_does(rival, case_id)
            return case

        engine.ledger.load = read_then_rival  # type: ignore[assignment,method-assign]
        yield case_id, reads


def _declare_beyond(rival: Engine, case_id: int) -> object:
    return rival.declare(case_id, "beyond_own_capacity", actor=SANJO)


def test_a_command_that_loses_a_race_runs_again_on_the_case_as_it_is_now(
    engine: Engine, db_url: str, clock: MovableClock
) -> None:
    """Another writer changes the case between the command's read and its write: the
    command reads it again and applies on top, instead of failing with a conflict."""
    with _raced_case(engine, db_url, clock, _declare_beyond) as (case_id, reads):
        done = engine.advance(case_id, "report_status", actor=SANJO)
    assert reads == [case_id, case_id]
    assert done.version == 4
    view = engine.case(case_id, viewer=SYSTEM)
    assert [e.action for e in view.timeline] == [
        "opened", "step_completed", "flag_declared", "step_completed"
    ]  # fmt: skip
    assert view.flags == ["beyond_own_capacity"]
    assert engine.verify(case_id, viewer=SYSTEM)[0].ok


def test_a_raced_command_with_expect_version_is_a_conflict_and_writes_nothing(
    engine: Engine, db_url: str, clock: MovableClock
) -> None:
    with (
        _raced_case(engine, db_url, clock, _declare_beyond) as (case_id, reads),
        pytest.raises(Conflict, match="changed while this command ran"),
    ):
        engine.advance(case_id, "report_status", actor=SANJO, expect_version=2)
    assert reads == [case_id]
    view = engine.case(case_id, viewer=SYSTEM)
    assert view.version == 3
    assert view.timeline[-1].action == "flag_declared"
    assert {s.id: s.status for s in view.steps}["report_status"] == "open"


def test_a_rerun_fails_as_the_command_would_have_alone(
    engine: Engine, db_url: str, clock: MovableClock
) -> None:
    """The rival did the same step: the rerun says it is done already (exit 2), by whom."""

    def report(rival: Engine, case_id: int) -> object:
        return rival.advance(case_id, "report_status", actor=SANJO)

    with (
        _raced_case(engine, db_url, clock, report) as (case_id, _reads),
        pytest.raises(StepNotOpen, match="was done already by 三条市"),
    ):
        engine.advance(case_id, "report_status", actor=SANJO)
    assert engine.case(case_id, viewer=SYSTEM).version == 3


def test_events_are_aware_and_in_order(engine: Engine, clock: MovableClock) -> None:
    """Each event carries the clock's moment (or --at), timezone-aware, chained to the last."""
    case_id = open_sanjo(engine)
    clock.advance(timedelta(hours=1))
    at = datetime(2026, 4, 1, 12, 30)  # naive: Japan time
    engine.advance(case_id, "detect_anomaly", actor=SANJO, at=at)
    first, second = engine.case(case_id, viewer=SYSTEM).timeline
    assert first.at == clock.now() - timedelta(hours=1)
    assert second.at.utcoffset() is not None
    assert second.at.isoformat() == "2026-04-01T03:30:00+00:00"
    assert second.prev_hash == first.hash
