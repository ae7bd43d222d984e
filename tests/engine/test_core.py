"""The Engine facade: cases across the three tiers, the rules around the table,
organisations, flow versions and the hash-chained timeline, on every backend."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from irflow.engine.columns import StepsDone
from irflow.engine.directory import local_government_check_digit
from irflow.engine.facade import Engine
from irflow.engine.flow import CaseFacts, bundled_flow, parse_flow
from irflow.engine.rules import SYSTEM
from irflow.engine.timeline import COMPACT
from irflow.errors import (
    AmbiguousName,
    Conflict,
    InvalidFlow,
    InvalidInput,
    NotAllowed,
    NotFound,
    NotInitialised,
    StepNotOpen,
)
from irflow.testing import MovableClock

INCIDENT = bundled_flow("incident")

SANJO, NIIGATA, OPERATOR, JLIS = "sanjo", "pref-niigata", "mic-mynumber", "jlis"
ACTORS = {"reporter": SANJO, "coordinator": NIIGATA, "operator": OPERATOR}

DETECT = ["detect_anomaly", "report_status", "coordinator_report_status",
          "receive_occurrence_report"]  # fmt: skip
ANALYSE = ["analyse_event", "receive_analysis", "analyse_failure", "contact_agencies"]
RESPOND = ["carry_out_response", "operator_response", "receive_results",
           "operator_receive_results"]  # fmt: skip
RECOVER = ["confirm_recovery", "receive_completion", "announce_status"]
WHOLE_CASE = [*DETECT, *ANALYSE, *RESPOND, *RECOVER]


def do(engine: Engine, case_id: int, *steps: str) -> None:
    """Complete ``steps`` in order, each by the participant of its tier in 三条市's case."""
    for step in steps:
        engine.advance(case_id, step, actor=ACTORS[INCIDENT.steps[step].tier])


def open_sanjo(engine: Engine, *kinds: str) -> int:
    return engine.open_case(reporter=SANJO, title="住基ネット照会の異常", kinds=kinds).case_id


def footprint(engine: Engine, case_id: int) -> tuple[int, str, int, list[str]]:
    """What a refused command must leave as it was: version, state, timeline, flags."""
    view = engine.case(case_id, viewer=SYSTEM)
    return view.version, view.state, len(view.timeline), view.flags


# --------------------------------------------------------------------------- a whole case


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


def test_step_views_list_every_step_with_its_status(engine: Engine) -> None:
    """A new case lists every step of its flow: the first one open, the rest waiting."""
    view = engine.case(open_sanjo(engine), viewer=SYSTEM)
    statuses = {s.id: s.status for s in view.steps}
    assert statuses["detect_anomaly"] == "open"
    assert set(statuses.values()) == {"open", "waiting"}
    assert "report_to_nisc" not in statuses  # only a security incident has it
    assert statuses.keys() == {
        s for s in INCIDENT.steps if s not in ("report_to_nisc", "report_to_ppc")
    }


# --------------------------------------------------------------------------- who may act


def test_step_of_another_tier_is_refused_naming_who_may_do_it(engine: Engine) -> None:
    """A participant doing another tier's step gets NotAllowed naming the tier and its holder."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly", "report_status")
    with pytest.raises(NotAllowed) as refused:
        engine.advance(case_id, "coordinator_report_status", actor=SANJO)
    message = str(refused.value)
    assert "'coordinator'" in message
    assert "新潟県 may do it" in message
    assert "三条市 is the reporter" in message


def test_outsider_is_refused(engine: Engine) -> None:
    """An organisation that is not a participant of the case may do nothing on it, and
    is told what a case number never used tells (the gate: it learns nothing)."""
    case_id = open_sanjo(engine)
    before = footprint(engine, case_id)
    with pytest.raises(NotFound) as missing:
        engine.advance(999, "detect_anomaly", actor="yamanashi-city")
    with pytest.raises(NotFound) as hidden:
        engine.advance(case_id, "detect_anomaly", actor="yamanashi-city")
    assert str(hidden.value) == str(missing.value).replace("999", str(case_id))
    with pytest.raises(NotFound):
        engine.advance(case_id, "no_such_step", actor="jlis")
    assert footprint(engine, case_id) == before


def test_not_allowed_is_checked_before_the_step_state(engine: Engine) -> None:
    """A refused actor on a done or waiting step learns NotAllowed, not StepNotOpen."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly")
    with pytest.raises(NotAllowed):
        engine.advance(case_id, "detect_anomaly", actor=NIIGATA)  # done already
    with pytest.raises(NotFound):  # an outsider: the case does not exist for it
        engine.advance(case_id, "detect_anomaly", actor="yamanashi-city")
    with pytest.raises(NotAllowed):
        engine.advance(case_id, "announce_status", actor=SANJO)  # a later phase


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


def test_unknown_step_and_case_are_not_found(engine: Engine) -> None:
    """An unknown step lists the flow's steps; an unknown case says how to list cases."""
    case_id = open_sanjo(engine)
    with pytest.raises(NotFound, match=r"no step 'detect'.*detect_anomaly"):
        engine.advance(case_id, "detect", actor=SANJO)
    with pytest.raises(NotFound, match="no case 999"):
        engine.advance(999, "detect_anomaly", actor=SANJO)
    with pytest.raises(NotFound, match="no case 999"):
        engine.case(999, viewer=SYSTEM)


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


# --------------------------------------------------------------------------- beyond own capacity


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


def test_what_a_step_does_is_remembered_by_every_fact_a_guard_sees(engine: Engine) -> None:
    """The engine remembers what completing a step does by the case's kinds, flags and
    steps done: a case that declared the flag never gets the outcome of one that did not."""
    # at_opener and at_top are a chain's facts: only state flows (which Completions never
    # sees) may name them (flow/checks.py refuses chain: conditions without a chain).
    assert [f.name for f in dataclasses.fields(CaseFacts)] == [
        "kinds",
        "flags",
        "done",
        "at_opener",
        "at_top",
    ], "CaseFacts has a new fact: add it to the key in Completions.complete"
    plain, flagged = open_sanjo(engine), open_sanjo(engine)
    do(engine, plain, *DETECT, "analyse_event")
    do(engine, flagged, *DETECT)
    engine.advance(flagged, "analyse_event", actor=SANJO, declare=["beyond_own_capacity"])
    rungs = {c: {d.step for d in engine.deadlines(c, viewer=SYSTEM)} for c in (plain, flagged)}
    assert rungs == {plain: {"receive_analysis"}, flagged: {"investigate_event"}}
    do(engine, plain, "receive_analysis")
    with pytest.raises(StepNotOpen, match="waits for investigate_event"):
        engine.advance(flagged, "receive_analysis", actor=NIIGATA)


def test_analyse_phase_closes_without_investigation_when_no_flag(engine: Engine) -> None:
    """Without the flag, the coordinator's investigation is optional."""
    case_id = open_sanjo(engine)
    do(engine, case_id, *DETECT, *ANALYSE)
    view = engine.case(case_id, viewer=SYSTEM)
    assert view.state == "respond"
    assert {s.id: s.status for s in view.steps}["investigate_event"] == "open"


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


# --------------------------------------------------------------------------- case kinds


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


def test_report_steps_are_not_part_of_a_plain_failure(engine: Engine) -> None:
    """A system failure has no NISC report; asking for one is refused, naming the condition."""
    case_id = open_sanjo(engine, "system_failure")
    do(engine, case_id, "detect_anomaly")
    with pytest.raises(InvalidInput, match=r"not part of case.*kind:security_incident"):
        engine.advance(case_id, "report_to_nisc", actor=SANJO)


def test_mislink_kind_runs_the_mislink_flow(engine: Engine) -> None:
    """A wrong link between numbers (誤ったひも付け) runs under mislink.yaml."""
    opened = engine.open_case(reporter=SANJO, title="誤ったひも付け", kinds=["mislink"])
    view = engine.case(opened.case_id, viewer=SYSTEM)
    assert view.flow == "mislink"
    assert view.steps[0].id == "detect_mislink"
    assert "detect_anomaly" not in {s.id for s in view.steps}
    with pytest.raises(NotFound):
        engine.advance(opened.case_id, "detect_anomaly", actor=SANJO)
    leak = engine.open_case(reporter=SANJO, title="漏えい", kinds=["mislink", "personal_info_leak"])
    assert "report_to_ppc" in {s.id for s in engine.case(leak.case_id, viewer=SYSTEM).steps}


def test_mislink_with_security_incident_is_refused(engine: Engine) -> None:
    """mislink cannot be combined with security_incident, and nothing is written."""
    with pytest.raises(InvalidInput, match="cannot be combined with mislink"):
        engine.open_case(reporter=SANJO, title="x", kinds=["mislink", "security_incident"])
    assert engine.cases(viewer=SYSTEM) == []


def test_unknown_kind_is_refused(engine: Engine) -> None:
    """An unknown kind is refused with the list of kinds."""
    with pytest.raises(InvalidInput, match=r"unknown case kind outage; use .*system_failure"):
        engine.open_case(reporter=SANJO, title="x", kinds=["outage"])
    assert engine.cases(viewer=SYSTEM) == []


def test_case_needs_a_title_and_a_reporting_organisation(engine: Engine) -> None:
    """A blank title, or the operator or PPC as reporter, is refused."""
    with pytest.raises(InvalidInput, match="needs a title"):
        engine.open_case(reporter=SANJO, title="  ")
    with pytest.raises(InvalidInput, match="cannot be a case's reporter"):
        engine.open_case(reporter="ppc", title="x")
    assert engine.cases(viewer=SYSTEM) == []


# --------------------------------------------------------------------------- coordinators


@pytest.mark.parametrize(
    ("reporter", "coordinator"),
    [
        ("sanjo", "pref-niigata"),  # a municipality: its own prefecture
        ("pref-niigata", "jlis"),  # a prefecture: J-LIS
        ("kokkyoren", "mof"),  # a national agency: its competent ministry
        ("jasso", "mext"),
    ],
)
def test_default_coordinator(engine: Engine, reporter: str, coordinator: str) -> None:
    """A case's coordinator defaults by the reporter's place in the directory."""
    case_id = engine.open_case(reporter=reporter, title="x").case_id
    assert engine.case(case_id, viewer=SYSTEM).coordinator.id == coordinator


def test_coordinator_is_required_where_the_directory_names_none(
    engine: Engine, tmp_path: Path
) -> None:
    """A national agency without a competent ministry needs --coordinator, and the error says so."""
    csv = tmp_path / "agency.csv"
    csv.write_text(
        "id,name,type,tier\nsample-agency,試験用の独立行政法人,national_agency,reporter\n", "utf-8"
    )
    engine.import_organisations(csv)
    with pytest.raises(InvalidInput, match=r"names no coordinator.*pass --coordinator"):
        engine.open_case(reporter="sample-agency", title="x")
    case_id = engine.open_case(reporter="sample-agency", title="x", coordinator="mhlw").case_id
    assert engine.case(case_id, viewer=SYSTEM).coordinator.id == "mhlw"


def test_coordinator_given_at_open_must_be_able_to_coordinate(engine: Engine) -> None:
    """A municipality cannot be named coordinator when a case is opened."""
    with pytest.raises(InvalidInput, match="cannot coordinate"):
        engine.open_case(reporter=SANJO, title="x", coordinator="yamaguchi-city")


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


# --------------------------------------------------------------------------- organisations


@pytest.mark.parametrize("ref", ["sanjo", "152048", "三条市", "三条"])
def test_organisation_by_id_code_name_or_prefix(engine: Engine, ref: str) -> None:
    """An organisation is found by id, local government code, unique name or unique prefix."""
    assert engine.organisation(ref).id == SANJO


def test_ambiguous_name_lists_the_candidates(engine: Engine) -> None:
    """山口 matches 山口県 and 山口市: the error lists both and asks for an id or code."""
    with pytest.raises(AmbiguousName) as refused:
        engine.organisation("山口")
    assert sorted(refused.value.candidates) == [
        "山口市 (yamaguchi-city)",
        "山口県 (pref-yamaguchi)",
    ]
    assert "give the id or the local government code" in str(refused.value)
    with pytest.raises(AmbiguousName):
        engine.open_case(reporter="山口", title="x")


def test_unknown_organisation_is_not_found(engine: Engine) -> None:
    """An unknown name says how to search the directory."""
    with pytest.raises(NotFound, match="irflow org search"):
        engine.organisation("青海市")


def test_search_by_prefix_or_exact_name(engine: Engine) -> None:
    """データ検索: "starts with" by default, "equals" with exact."""
    assert {o.id for o in engine.search_organisations("山口")} == {
        "pref-yamaguchi",
        "yamaguchi-city",
    }
    assert [o.id for o in engine.search_organisations("山口市", exact=True)] == ["yamaguchi-city"]
    assert engine.search_organisations("山口", exact=True) == []


def test_init_is_idempotent(engine: Engine) -> None:
    """A second init on a ready database changes nothing and says so."""
    again = engine.init()
    assert (again.migrated, again.organisations_added, again.changed) == (False, 0, False)


def test_init_reports_what_it_did(db_url: str) -> None:
    """The first init migrates and adds the bundled directory."""
    with Engine(db_url) as fresh:
        first = fresh.init()
    assert first.migrated
    assert first.organisations_added > 60
    assert first.changed


def _code(prefix: str, *, valid: bool = True) -> str:
    digit = int(local_government_check_digit(prefix))
    return prefix + str(digit if valid else (digit + 1) % 10)


def test_directory_import_adds_and_updates(engine: Engine, tmp_path: Path) -> None:
    """Importing a CSV adds new organisations and updates known ones by id."""
    csv = tmp_path / "directory.csv"
    csv.write_text(
        "id,name,type,tier,prefecture,code,daytime_phone\n"
        f"sample-town,試験町,municipality,reporter,pref-niigata,{_code('15999')},000-9999-0001\n"
        "sanjo,三条市,municipality,reporter,pref-niigata,152048,000-9999-0002\n",
        "utf-8",
    )
    assert engine.import_organisations(csv) == (1, 1)
    assert engine.organisation("試験町").prefecture == "pref-niigata"
    assert engine.organisation("sanjo").daytime_phone == "000-9999-0002"
    case_id = engine.open_case(reporter="試験町", title="x").case_id
    assert engine.case(case_id, viewer=SYSTEM).coordinator.id == NIIGATA


def test_directory_import_refuses_a_bad_check_digit_and_writes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    """A code with a wrong check digit is refused with its line; no row of the file is written."""
    csv = tmp_path / "directory.csv"
    csv.write_text(
        "id,name,type,tier,prefecture,code\n"
        f"sample-town,試験町,municipality,reporter,pref-niigata,{_code('15999')}\n"
        f"sample-village,試験村,municipality,reporter,pref-niigata,{_code('15998', valid=False)}\n",
        "utf-8",
    )
    with pytest.raises(InvalidInput, match=rf"{csv.name}:3: local government code .* check digit"):
        engine.import_organisations(csv)
    assert engine.search_organisations("試験") == []


def test_directory_import_refuses_a_reference_to_an_unknown_prefecture(
    engine: Engine, tmp_path: Path
) -> None:
    """A municipality whose prefecture is not in the directory is refused."""
    csv = tmp_path / "directory.csv"
    csv.write_text(
        "id,name,type,tier,prefecture\nsample-town,試験町,municipality,reporter,pref-atlantis\n",
        "utf-8",
    )
    with pytest.raises(InvalidInput, match="pref-atlantis"):
        engine.import_organisations(csv)
    assert engine.search_organisations("試験") == []


# --------------------------------------------------------------------------- flow versions


def test_changed_flow_text_is_a_new_version_and_old_cases_keep_theirs(
    engine: Engine, db_url: str
) -> None:
    """A flow whose text changed is registered as version 2; a case opened under 1 stays on 1."""
    old_case = open_sanjo(engine)
    assert engine.flows()["incident"][1] == 1
    changed = parse_flow(
        INCIDENT.source.replace("title: 異常発生を検知", "title: 異常発生を検知（改）"),
        path="incident.yaml",
    )
    with Engine(db_url, flows=[changed, bundled_flow("mislink")]) as newer:
        assert newer.flows()["incident"][1] == 2
        assert newer.flows()["mislink"][1] == 1
        new_case = newer.open_case(reporter=SANJO, title="x").case_id
        assert newer.case(new_case, viewer=SYSTEM).flow_version == 2
        assert newer.case(old_case, viewer=SYSTEM).flow_version == 1
        assert newer.case(old_case, viewer=SYSTEM).steps[0].title == "異常発生を検知"
        assert newer.case(new_case, viewer=SYSTEM).steps[0].title == "異常発生を検知（改）"
        newer.advance(old_case, "detect_anomaly", actor=SANJO)
        assert newer.replay(old_case, viewer=SYSTEM) == "detect"
    with Engine(db_url) as same_again:
        assert same_again.flows()["incident"][1] == 1  # the original text is version 1 still


# --------------------------------------------------------------------------- the timeline


def _sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.sa.begin() as conn:
        conn.execute(text(statement), params)


def _steps_done(engine: Engine, case_id: int) -> str:
    return str(engine.ledger.read("case", case_id)[0][11])


def test_steps_done_is_the_compact_json_of_every_step_done(engine: Engine) -> None:
    """The engine appends each step to the text it wrote before, and the result is what
    encoding the whole record afresh gives; a text written elsewhere in another form
    is read, and written back in the compact form."""
    case_id = open_sanjo(engine)
    for step in WHOLE_CASE:
        do(engine, case_id, step)
        stored = _steps_done(engine, case_id)
        assert stored == COMPACT.encode(json.loads(stored))
    assert list(json.loads(stored)) == WHOLE_CASE

    other = open_sanjo(engine)
    do(engine, other, "detect_anomaly")
    spaced = json.dumps(json.loads(_steps_done(engine, other)))  # ", " and ": "
    _sql(engine, "UPDATE irflow_case SET steps_done = :s WHERE id = :c", s=spaced, c=other)
    do(engine, other, "report_status")
    stored = _steps_done(engine, other)
    assert stored == COMPACT.encode(json.loads(stored))
    assert list(json.loads(stored)) == ["detect_anomaly", "report_status"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=12), st.text(max_size=8), st.text(max_size=30)),
        unique_by=lambda entry: entry[0],
        max_size=8,
    )
)
def test_steps_done_appending_encodes_as_the_whole_record_does(
    entries: list[tuple[str, str, str]],
) -> None:
    """Appending a step to the text written before gives exactly the compact encoding
    of the whole record, whatever the step ids hold (quotes, backslashes, Japanese)."""
    memo = StepsDone()
    text, done = "{}", {}
    for step, org, when in entries:
        done = memo.load(text)
        done[step] = [org, when]
        text = memo.dump(text, done, step)
        assert text == COMPACT.encode(done)
        assert json.loads(text) == done


def test_tampered_event_is_named_by_verify(engine: Engine) -> None:
    """Changing an event's note behind the engine's back breaks the chain at that event."""
    case_id = open_sanjo(engine)
    do(engine, case_id, *DETECT)
    other = open_sanjo(engine)
    assert all(r.ok for r in engine.verify(viewer=SYSTEM))
    _sql(
        engine,
        "UPDATE timeline_event SET note = 'nothing happened' WHERE case_id = :c AND seq = 3",
        c=case_id,
    )
    report = {r.case_id: r for r in engine.verify(viewer=SYSTEM)}
    assert not report[case_id].ok
    assert report[case_id].bad_seq == 3
    assert "does not match its hash" in (report[case_id].problem or "")
    assert report[other].ok


def test_deleting_the_last_event_is_detected(engine: Engine) -> None:
    """Removing the newest event is caught by the case row's record of its last event."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly", "report_status")
    _sql(engine, "DELETE FROM timeline_event WHERE case_id = :c AND seq = 3", c=case_id)
    (report,) = engine.verify(case_id, viewer=SYSTEM)
    assert not report.ok
    assert report.bad_seq == 3
    assert "removed" in (report.problem or "")


def test_deleting_an_event_in_the_middle_is_detected(engine: Engine) -> None:
    """A gap in the sequence is named as the missing event."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly", "report_status")
    _sql(engine, "DELETE FROM timeline_event WHERE case_id = :c AND seq = 2", c=case_id)
    (report,) = engine.verify(case_id, viewer=SYSTEM)
    assert not report.ok
    assert report.bad_seq == 3
    assert "event 2 is missing" in (report.problem or "")


def test_replay_equals_the_stored_state_at_every_step(engine: Engine) -> None:
    """Replaying the timeline through the flow's machine gives the case's state after each step."""
    case_id = open_sanjo(engine, "security_incident")
    for step in ["detect_anomaly", "report_to_nisc", *WHOLE_CASE[1:]]:
        do(engine, case_id, step)
        assert engine.replay(case_id, viewer=SYSTEM) == engine.case(case_id, viewer=SYSTEM).state
    assert engine.replay(case_id, viewer=SYSTEM) == "closed"


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


def test_empty_database_is_not_initialised(db_url: str) -> None:
    """Every command on a database without irflow's schema says to run `irflow init`."""
    with Engine(db_url) as empty:
        with pytest.raises(NotInitialised, match="irflow init"):
            empty.cases(viewer=SYSTEM)
        with pytest.raises(NotInitialised):
            empty.open_case(reporter=SANJO, title="x")
        with pytest.raises(NotInitialised):
            empty.verify(viewer=SYSTEM)


def test_nul_in_text_is_refused_on_every_backend(engine: Engine) -> None:
    """A NUL character in a title or note is bad input on every backend, and nothing is written."""
    with pytest.raises(InvalidInput, match="NUL"):
        engine.open_case(reporter="sanjo", title="サンプル\x00障害")
    assert engine.cases(viewer=SYSTEM) == []
    case = engine.open_case(reporter="sanjo", title="サンプル障害")
    with pytest.raises(InvalidInput, match="NUL"):
        engine.advance(case.case_id, "detect_anomaly", actor="sanjo", note="a\x00b")
    assert engine.case(case.case_id, viewer=SYSTEM).version == 1


def test_a_command_cannot_be_dated_before_the_latest_event(engine: Engine) -> None:
    """A command whose moment is before the case's latest event is refused, nothing written."""
    case = engine.open_case(reporter="sanjo", title="サンプル障害")
    later = engine.now(None) + timedelta(hours=1)
    engine.advance(case.case_id, "detect_anomaly", actor="sanjo", at=later)
    with pytest.raises(InvalidInput, match="cannot be dated before"):
        engine.advance(case.case_id, "report_status", actor="sanjo")
    assert engine.case(case.case_id, viewer=SYSTEM).version == 2


def test_reporter_cannot_pick_another_prefecture_as_coordinator(engine: Engine) -> None:
    """At open, a coordinator other than the default must be a ministry or aggregation agency."""
    with pytest.raises(InvalidInput, match="新潟県"):
        engine.open_case(reporter="sanjo", title="サンプル", coordinator="pref-tokyo")
    assert engine.cases(viewer=SYSTEM) == []
    case = engine.open_case(reporter="sanjo", title="サンプル", coordinator="mhlw")
    assert engine.case(case.case_id, viewer=SYSTEM).coordinator.id == "mhlw"


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


def test_a_flow_naming_an_unknown_site_category_is_refused(engine: Engine, db_url: str) -> None:
    """A flow whose report_category is not a category of routing.yaml is refused at load."""
    text = bundled_flow("incident").source.replace(
        "report_category: abnormal", "report_category: abnormall"
    )
    with (
        Engine(db_url, flows=[parse_flow(text, path="custom.yaml")]) as broken,
        pytest.raises(InvalidFlow, match=r"custom\.yaml.*abnormall"),
    ):
        broken.flows()
