"""The moment a command is recorded at (``commands.checks.check_moment``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from irflow.engine.commands.checks import SKEW
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.errors import InvalidInput
from irflow.testing import MovableClock


def test_an_undated_command_a_little_behind_the_latest_event_is_recorded_at_it(
    engine: Engine, clock: MovableClock
) -> None:
    """Two writers at once: the one that read the clock first may commit second."""
    case = engine.open_case(reporter="sanjo", title="試験")
    ahead = clock.now() + timedelta(seconds=2)
    engine.advance(case.case_id, "detect_anomaly", actor="sanjo", at=ahead)
    done = engine.advance(case.case_id, "report_status", actor="sanjo")
    (event,) = [e for e in engine.timeline(case.case_id, viewer=SYSTEM) if e.seq == done.version]
    assert event.at == ahead


def test_an_undated_command_far_behind_is_still_refused_and_writes_nothing(
    engine: Engine, clock: MovableClock
) -> None:
    case = engine.open_case(reporter="sanjo", title="試験")
    far = clock.now() + SKEW + timedelta(seconds=1)
    engine.advance(case.case_id, "detect_anomaly", actor="sanjo", at=far)
    before = engine.case(case.case_id, viewer=SYSTEM)
    with pytest.raises(InvalidInput, match="cannot be dated before it"):
        engine.advance(case.case_id, "report_status", actor="sanjo")
    assert engine.case(case.case_id, viewer=SYSTEM) == before


def test_a_dated_command_before_the_latest_event_is_refused(
    engine: Engine, clock: MovableClock
) -> None:
    case = engine.open_case(reporter="sanjo", title="試験")
    engine.advance(case.case_id, "detect_anomaly", actor="sanjo")
    with pytest.raises(InvalidInput, match="give a later --at"):
        engine.advance(
            case.case_id, "report_status", actor="sanjo", at=clock.now() - timedelta(seconds=1)
        )
