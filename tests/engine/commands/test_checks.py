"""The checks a command makes before it writes: each refusal names the fix, nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from irflow.engine.commands.checks import SKEW
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.errors import Conflict, InvalidInput, NotAllowed, StepNotOpen
from irflow.testing import MovableClock
from tests.engine.cases import ANALYSE, DETECT, NIIGATA, OPERATOR, SANJO, do, footprint, open_sanjo
from tests.engine.inquiries import QUESTION, T0, ask


def test_step_cannot_be_done_twice(engine: Engine) -> None:
    """Doing a done step again is refused with StepNotOpen naming who did it."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly")
    before = footprint(engine, case_id)
    with pytest.raises(StepNotOpen, match="done already by 三条市"):
        engine.advance(case_id, "detect_anomaly", actor=SANJO)
    assert footprint(engine, case_id) == before


def test_step_cannot_be_done_before_what_it_waits_for(engine: Engine) -> None:
    """A step waiting for another is refused with StepNotOpen naming what it waits for."""
    case_id = open_sanjo(engine)
    with pytest.raises(StepNotOpen, match="waits for detect_anomaly"):
        engine.advance(case_id, "report_status", actor=SANJO)
    do(engine, case_id, "detect_anomaly", "report_status")
    with pytest.raises(StepNotOpen, match="waits for coordinator_report_status"):
        engine.advance(case_id, "receive_occurrence_report", actor=OPERATOR)


def test_step_of_a_later_phase_is_refused(engine: Engine) -> None:
    """A step whose phase has not begun is refused even when what it waits for is done."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly", "report_status")
    with pytest.raises(StepNotOpen, match=r"belongs to phase 'analyse'.*still in phase 'detect'"):
        engine.advance(case_id, "analyse_event", actor=SANJO)


def test_stale_expect_version_is_a_conflict_and_writes_nothing(engine: Engine) -> None:
    """A command expecting an old version is refused with Conflict and nothing is written."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly")
    before = footprint(engine, case_id)
    with pytest.raises(Conflict) as refused:
        engine.advance(case_id, "report_status", actor=SANJO, expect_version=1)
    assert (refused.value.expected, refused.value.actual) == (1, 2)
    assert footprint(engine, case_id) == before
    done = engine.advance(case_id, "report_status", actor=SANJO, expect_version=2)
    assert done.version == 3


def test_flag_is_refused_after_the_analyse_phase_ended(engine: Engine) -> None:
    """Declaring the flag once the analyse phase is over is refused and writes nothing."""
    case_id = open_sanjo(engine)
    do(engine, case_id, *DETECT, *ANALYSE)
    before = footprint(engine, case_id)
    with pytest.raises(InvalidInput, match="declare it before that phase ends"):
        engine.advance(case_id, "carry_out_response", actor=SANJO, declare=["beyond_own_capacity"])
    assert footprint(engine, case_id) == before


def test_flag_is_refused_from_a_non_reporter(engine: Engine) -> None:
    """Only the reporter may declare that the event is beyond its own capacity."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly", "report_status")
    with pytest.raises(NotAllowed, match="declared by the reporter"):
        engine.advance(
            case_id, "coordinator_report_status", actor=NIIGATA, declare=["beyond_own_capacity"]
        )
    assert engine.case(case_id, viewer=SYSTEM).flags == []


def test_unknown_flag_is_refused(engine: Engine) -> None:
    """A flag the flow does not declare is refused, listing the flow's flags."""
    case_id = open_sanjo(engine)
    with pytest.raises(InvalidInput, match=r"no flag 'urgent'.*beyond_own_capacity"):
        engine.advance(case_id, "detect_anomaly", actor=SANJO, declare=["urgent"])


def test_report_steps_are_not_part_of_a_plain_failure(engine: Engine) -> None:
    """A system failure has no NISC report; asking for one is refused, naming the condition."""
    case_id = open_sanjo(engine, "system_failure")
    do(engine, case_id, "detect_anomaly")
    with pytest.raises(InvalidInput, match=r"not part of case.*kind:security_incident"):
        engine.advance(case_id, "report_to_nisc", actor=SANJO)


def test_a_command_cannot_be_dated_before_the_latest_event(engine: Engine) -> None:
    """A command whose moment is before the case's latest event is refused, nothing written."""
    case = engine.open_case(reporter="sanjo", title="サンプル障害")
    later = engine.now(None) + timedelta(hours=1)
    engine.advance(case.case_id, "detect_anomaly", actor="sanjo", at=later)
    with pytest.raises(InvalidInput, match="cannot be dated before"):
        engine.advance(case.case_id, "report_status", actor="sanjo")
    assert engine.case(case.case_id, viewer=SYSTEM).version == 2


def test_inquiry_without_the_faq_check_writes_nothing_and_names_the_faq(engine: Engine) -> None:
    """Seed: 問合せを行う前に「02.FAQ・問合せ」-「01.FAQ」のカテゴリに掲載のFAQを参照し…
    An inquiry not confirmed as FAQ-checked is refused, its message says where the FAQ
    is, and no case, event or message is written."""
    with pytest.raises(InvalidInput) as refused:
        engine.open_case(reporter=SANJO, title="質問", kinds=["inquiry"], note=QUESTION, at=T0)
    assert "02.FAQ・問合せ > 01.FAQ" in str(refused.value)
    assert "nothing was opened" in str(refused.value)
    with pytest.raises(InvalidInput, match="faq_checked"):
        engine.open_case(
            reporter=SANJO, title="質問", kinds=["inquiry"], note=QUESTION, at=T0,
            confirmed=["faq_read"],
        )  # fmt: skip
    assert engine.cases(viewer=SANJO) == []
    assert engine.cases(viewer=NIIGATA) == []
    assert engine.outbox() == []
    assert engine.verify(viewer=SYSTEM) == []
    # With the check, the same inquiry is opened (and is the only case).
    case_id = ask(engine)
    assert [c.id for c in engine.cases(viewer=SANJO)] == [case_id]
    assert len(engine.outbox()) == 1


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
