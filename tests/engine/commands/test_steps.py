"""The commands of flows of phases: steps done, flags declared, the coordinator assigned."""

from __future__ import annotations

from datetime import timedelta

import pytest

from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.errors import InvalidInput, NotAllowed, NotFound, StepNotOpen
from irflow.testing import MovableClock
from tests.engine.cases import (
    ACTORS,
    ANALYSE,
    DETECT,
    INCIDENT,
    NIIGATA,
    OPERATOR,
    SANJO,
    WHOLE_CASE,
    do,
    footprint,
    open_sanjo,
)


def test_whole_incident_case_from_detection_to_close(engine: Engine, clock: MovableClock) -> None:
    """三条市, 新潟県 and the operator take a case through all four phases to closed."""
    opened = engine.open_case(reporter="三条市", title="情報照会の応答なし")
    case_id = opened.case_id
    view = engine.case(case_id, viewer=SYSTEM)
    assert (view.reporter.id, view.coordinator.id, view.operator.id) == (SANJO, NIIGATA, OPERATOR)
    assert (view.state, view.version, view.kinds) == ("detect", 1, ["system_failure"])

    states = []
    for step in WHOLE_CASE:
        clock.advance(timedelta(minutes=10))
        states.append(engine.advance(case_id, step, actor=ACTORS[INCIDENT.steps[step].tier]).state)
    assert states == [
        "detect", "detect", "detect", "analyse",
        "analyse", "analyse", "analyse", "respond",
        "respond", "respond", "respond", "recover",
        "recover", "recover", "closed",
    ]  # fmt: skip

    view = engine.case(case_id, viewer=SYSTEM)
    assert view.state == "closed"
    assert view.closed_at == clock.now()
    assert view.version == 1 + len(WHOLE_CASE)
    assert {s.id: s.done_by for s in view.steps if s.status == "done"} == {
        s: ACTORS[INCIDENT.steps[s].tier] for s in WHOLE_CASE
    }
    assert {s.id for s in view.steps if s.status != "done"} == {"investigate_event"}
    assert [e.action for e in view.timeline] == ["opened"] + ["step_completed"] * len(WHOLE_CASE)
    assert view.timeline[-1].to_state == "closed"
    (report,) = engine.verify(case_id, viewer=SYSTEM)
    assert report.ok
    assert report.events == len(WHOLE_CASE) + 1
    assert engine.replay(case_id, viewer=SYSTEM) == "closed"
    assert [c.state for c in engine.cases(state="closed", viewer=SYSTEM)] == ["closed"]


def test_unknown_step_and_case_are_not_found(engine: Engine) -> None:
    """An unknown step lists the flow's steps; an unknown case says how to list cases."""
    case_id = open_sanjo(engine)
    with pytest.raises(NotFound, match=r"no step 'detect'.*detect_anomaly"):
        engine.advance(case_id, "detect", actor=SANJO)
    with pytest.raises(NotFound, match="no case 999"):
        engine.advance(999, "detect_anomaly", actor=SANJO)
    with pytest.raises(NotFound, match="no case 999"):
        engine.case(999, viewer=SYSTEM)


def test_beyond_own_capacity_makes_investigation_required(engine: Engine) -> None:
    """Once the reporter declares the flag, the analyse phase cannot close without 調査及び確認."""
    case_id = open_sanjo(engine)
    do(engine, case_id, *DETECT)
    required = {s.id: s.required for s in engine.case(case_id, viewer=SYSTEM).steps}
    assert required["investigate_event"] is False
    engine.advance(case_id, "analyse_event", actor=SANJO, declare=["beyond_own_capacity"])
    view = engine.case(case_id, viewer=SYSTEM)
    assert view.flags == ["beyond_own_capacity"]
    assert {s.id: s.required for s in view.steps}["investigate_event"] is True
    with pytest.raises(StepNotOpen, match="waits for investigate_event"):
        engine.advance(case_id, "receive_analysis", actor=NIIGATA)
    assert engine.case(case_id, viewer=SYSTEM).state == "analyse"
    do(engine, case_id, "investigate_event", "receive_analysis", "analyse_failure",
       "contact_agencies")  # fmt: skip
    assert engine.case(case_id, viewer=SYSTEM).state == "respond"
    assert view.timeline[-1].payload == {"declared": ["beyond_own_capacity"]}


def test_analyse_phase_closes_without_investigation_when_no_flag(engine: Engine) -> None:
    """Without the flag, the coordinator's investigation is optional."""
    case_id = open_sanjo(engine)
    do(engine, case_id, *DETECT, *ANALYSE)
    view = engine.case(case_id, viewer=SYSTEM)
    assert view.state == "respond"
    assert {s.id: s.status for s in view.steps}["investigate_event"] == "open"


@pytest.mark.parametrize(
    ("kind", "report"),
    [("security_incident", "report_to_nisc"), ("personal_info_leak", "report_to_ppc")],
)
def test_mandatory_report_is_required_before_close(engine: Engine, kind: str, report: str) -> None:
    """A security incident adds 'report to NISC', a leak 'report to PPC', by the reporter;
    the case does not close while it is open."""
    case_id = open_sanjo(engine, kind)
    steps = {s.id: s for s in engine.case(case_id, viewer=SYSTEM).steps}
    assert steps[report].required
    assert steps[report].tier == "reporter"
    assert steps[report].status == "waiting"
    do(engine, case_id, *WHOLE_CASE)
    view = engine.case(case_id, viewer=SYSTEM)
    assert view.state == "recover"  # held until the report is made
    assert {s.id: s.status for s in view.steps}[report] == "open"
    do(engine, case_id, report)
    assert engine.case(case_id, viewer=SYSTEM).state == "closed"


def test_mandatory_report_can_be_made_right_after_detection(engine: Engine) -> None:
    """The NISC report opens as soon as the anomaly is detected, before the rest of the flow."""
    case_id = open_sanjo(engine, "security_incident")
    do(engine, case_id, "detect_anomaly")
    assert {s.id: s.status for s in engine.case(case_id, viewer=SYSTEM).steps}[
        "report_to_nisc"
    ] == "open"
    do(engine, case_id, "report_to_nisc")
    view = engine.case(case_id, viewer=SYSTEM)
    assert view.state == "detect"
    assert {s.id: s.done_by for s in view.steps}["report_to_nisc"] == SANJO
    do(engine, case_id, *WHOLE_CASE[1:])
    assert engine.case(case_id, viewer=SYSTEM).state == "closed"


def test_combined_kinds_need_both_reports_before_close(engine: Engine) -> None:
    """A security incident that leaked personal information needs both reports to close."""
    case_id = open_sanjo(engine, "security_incident", "personal_info_leak")
    view = engine.case(case_id, viewer=SYSTEM)
    assert view.kinds == ["personal_info_leak", "security_incident"]
    do(engine, case_id, "detect_anomaly", "report_to_ppc", *WHOLE_CASE[1:])
    assert engine.case(case_id, viewer=SYSTEM).state == "recover"
    do(engine, case_id, "report_to_nisc")
    assert engine.case(case_id, viewer=SYSTEM).state == "closed"


def test_operator_assigns_a_competent_ministry_as_an_audited_event(engine: Engine) -> None:
    """The operator can make a ministry the coordinator; the event is on the timeline."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly", "report_status")
    done = engine.assign_coordinator(case_id, coordinator="mhlw", actor=OPERATOR, note="所管府省へ")
    assert done.version == 4
    view = engine.case(case_id, viewer=SYSTEM)
    assert view.coordinator.id == "mhlw"
    event = view.timeline[-1]
    assert (event.action, event.actor, event.note) == (
        "coordinator_assigned",
        OPERATOR,
        "所管府省へ",
    )
    assert dict(event.payload) == {"from": NIIGATA, "to": "mhlw"}
    with pytest.raises(NotFound):  # no longer a participant: the case is not its to see
        engine.advance(case_id, "coordinator_report_status", actor=NIIGATA)
    engine.advance(case_id, "coordinator_report_status", actor="mhlw")
    assert engine.verify(case_id, viewer=SYSTEM)[0].ok
    assert engine.replay(case_id, viewer=SYSTEM) == engine.case(case_id, viewer=SYSTEM).state


def test_current_coordinator_assigns_an_aggregation_agency(engine: Engine) -> None:
    """The current coordinator can hand the case to an aggregation agency (集約機関)."""
    case_id = open_sanjo(engine)
    engine.assign_coordinator(case_id, coordinator="社会保険診療報酬支払基金", actor=NIIGATA)
    assert engine.case(case_id, viewer=SYSTEM).coordinator.id == "ssk"


def test_assign_coordinator_is_refused_from_the_reporter(engine: Engine) -> None:
    """The reporter may not choose its own coordinator."""
    case_id = open_sanjo(engine)
    before = footprint(engine, case_id)
    with pytest.raises(NotAllowed, match="only the operator or the current coordinator"):
        engine.assign_coordinator(case_id, coordinator="mhlw", actor=SANJO)
    assert footprint(engine, case_id) == before


def test_assign_coordinator_is_refused_to_a_municipality(engine: Engine) -> None:
    """Only a competent ministry or an aggregation agency may be assigned."""
    case_id = open_sanjo(engine)
    with pytest.raises(InvalidInput, match="competent ministry"):
        engine.assign_coordinator(case_id, coordinator="yamaguchi-city", actor=OPERATOR)
    assert engine.case(case_id, viewer=SYSTEM).coordinator.id == NIIGATA


def test_assign_coordinator_is_refused_to_the_reporter_itself(engine: Engine) -> None:
    """A ministry that reports a case cannot be made that case's coordinator."""
    case_id = engine.open_case(reporter="mhlw", title="x", coordinator="mic").case_id
    before = footprint(engine, case_id)
    with pytest.raises(InvalidInput, match="reporter of case"):
        engine.assign_coordinator(case_id, coordinator="mhlw", actor=OPERATOR)
    assert footprint(engine, case_id) == before


def test_declare_beyond_own_capacity_outside_a_step(engine: Engine) -> None:
    """The reporter declares beyond_own_capacity on its own; the investigation becomes required."""
    case_id = engine.open_case(reporter="sanjo", title="サンプル障害").case_id
    for step, who in [
        ("detect_anomaly", "sanjo"),
        ("report_status", "sanjo"),
        ("coordinator_report_status", "pref-niigata"),
        ("receive_occurrence_report", OPERATOR),
        ("analyse_event", "sanjo"),
    ]:
        engine.advance(case_id, step, actor=who)
    with pytest.raises(NotAllowed):
        engine.declare(case_id, "beyond_own_capacity", actor="pref-niigata")
    done = engine.declare(case_id, "beyond_own_capacity", actor="sanjo", note="サンプル")
    assert done.event.action == "flag_declared"
    view = engine.case(case_id, viewer=SYSTEM)
    steps = {s.id: s for s in view.steps}
    assert steps["investigate_event"].required
    assert steps["receive_analysis"].status == "waiting"
    assert {d.step for d in view.deadlines} == {"investigate_event"}
    assert engine.replay(case_id, viewer=SYSTEM) == view.state
    with pytest.raises(InvalidInput, match="already"):
        engine.declare(case_id, "beyond_own_capacity", actor="sanjo")
