"""The gate: every read and write of the engine, for every bundled flow, decided for
participants, outsiders of each tier and the system, with the documented outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import Session, col

from irflow.engine import rules
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM, Viewer
from irflow.engine.tables import CaseRow
from irflow.errors import IrflowError, NotAllowed, NotFound
from tests.conftest import START
from tests.engine.cases import do, open_sanjo
from tests.engine.cases import footprint as case_footprint
from tests.engine.inquiries import CHIKYOREN, ISHIKAWA, KANAZAWA, T0, ask, hour, not_found_message
from tests.engine.inquiries import footprint as inquiry_footprint
from tests.engine.rows import EXAMPLES, POOL, Spec, specs, write

SANJO, NIIGATA, OPERATOR, JLIS = "sanjo", "pref-niigata", "mic-mynumber", "jlis"
#: Organisations outside every case opened here, one of each tier that could be in one.
OUTSIDERS = {"municipality": "yamanashi-city", "prefecture": "pref-yamaguchi"}
NEVER_USED = 987_654


def open_flow(engine: Engine, flow: str) -> int:
    """A case of ``flow`` reported (or asked) by 三条市, the coordinator 新潟県."""
    if flow == "inquiry":
        return engine.open_case(
            reporter=SANJO, title="サンプル問合せ", kinds=["inquiry"], note="サンプル",
            confirmed=["faq_checked"], at=START,
        ).case_id  # fmt: skip
    kinds = ["mislink"] if flow == "mislink" else []
    return engine.open_case(reporter=SANJO, title="サンプル障害", kinds=kinds, at=START).case_id


#: Every read of a case, as (name, call for a viewer).
READS: dict[str, Callable[[Engine, int, Any], object]] = {
    "case": lambda e, c, v: e.case(c, viewer=v),
    "timeline": lambda e, c, v: e.timeline(c, viewer=v),
    "deadlines": lambda e, c, v: e.deadlines(c, viewer=v),
    "replay": lambda e, c, v: e.replay(c, viewer=v),
    "verify": lambda e, c, v: e.verify(c, viewer=v),
    "report": lambda e, c, v: e.report(c, viewer=v),
}

#: Every write of a case, as (name, call for an actor); each may be refused for other
#: reasons too, but an outsider is always told the case does not exist.
WRITES: dict[str, Callable[[Engine, int, str], object]] = {
    "advance": lambda e, c, a: e.advance(c, "detect_anomaly", actor=a),
    "advance unknown step": lambda e, c, a: e.advance(c, "no_such_step", actor=a),
    "act": lambda e, c, a: e.advance(c, "answer", actor=a, note="サンプル回答"),
    "declare": lambda e, c, a: e.declare(c, "beyond_own_capacity", actor=a),
    "assign": lambda e, c, a: e.assign_coordinator(c, coordinator="mhlw", actor=a),
    "contacts": lambda e, c, a: e.contacts(c, actor=a),
}


def refusal(call: Callable[[], object]) -> IrflowError | None:
    try:
        call()
    except IrflowError as exc:
        return exc
    return None


def footprint(engine: Engine, case_id: int) -> tuple[Any, ...]:
    view = engine.case(case_id, viewer=SYSTEM)
    outbox = len(engine.outbox())
    return view.version, view.state, len(view.timeline), outbox


@pytest.mark.parametrize("flow", ["incident", "mislink", "inquiry"])
@pytest.mark.parametrize("outsider", sorted(OUTSIDERS.values()))
@pytest.mark.parametrize("read", sorted(READS))
def test_an_outsider_reads_exactly_what_a_number_never_used_gives(
    engine: Engine, flow: str, outsider: str, read: str
) -> None:
    """To an organisation outside the case, every read says what it says of a number
    never used: the same error class and the same words."""
    case_id = open_flow(engine, flow)
    hidden = refusal(lambda: READS[read](engine, case_id, outsider))
    missing = refusal(lambda: READS[read](engine, NEVER_USED, outsider))
    assert isinstance(hidden, NotFound)
    assert type(hidden) is type(missing)
    assert str(hidden) == str(missing).replace(str(NEVER_USED), str(case_id))


@pytest.mark.parametrize("flow", ["incident", "mislink", "inquiry"])
@pytest.mark.parametrize("outsider", sorted(OUTSIDERS.values()))
@pytest.mark.parametrize("write", sorted(WRITES))
def test_an_outsider_acting_is_told_the_case_does_not_exist_and_nothing_is_written(
    engine: Engine, flow: str, outsider: str, write: str
) -> None:
    """An outsider's every command is refused as for a number never used, before any
    other rule is checked, and the case is as it was."""
    case_id = open_flow(engine, flow)
    before = footprint(engine, case_id)
    hidden = refusal(lambda: WRITES[write](engine, case_id, outsider))
    missing = refusal(lambda: WRITES[write](engine, NEVER_USED, outsider))
    assert isinstance(hidden, NotFound)
    assert str(hidden) == str(missing).replace(str(NEVER_USED), str(case_id))
    assert footprint(engine, case_id) == before


@pytest.mark.parametrize("flow", ["incident", "mislink", "inquiry"])
@pytest.mark.parametrize("read", sorted(READS))
def test_participants_and_the_system_read_every_case_they_take_part_in(
    engine: Engine, flow: str, read: str
) -> None:
    """The reporter, the coordinator (an inquiry's first receiver), the operator of an
    incident and the system read the case; only the report is for incidents alone."""
    case_id = open_flow(engine, flow)
    readers: list[Any] = [SANJO, NIIGATA, SYSTEM] + ([OPERATOR] if flow != "inquiry" else [])
    for reader in readers:
        if read == "report" and flow == "inquiry":
            continue
        READS[read](engine, case_id, reader)


def test_the_operator_is_outside_an_inquiry_until_it_reaches_the_operator(
    engine: Engine,
) -> None:
    """The operator takes part in every incident but only in the inquiries that reached it."""
    case_id = open_flow(engine, "inquiry")
    assert isinstance(refusal(lambda: engine.case(case_id, viewer=OPERATOR)), NotFound)
    engine.advance(case_id, "escalate", actor=NIIGATA)
    engine.advance(case_id, "escalate", actor=JLIS)
    assert engine.case(case_id, viewer=OPERATOR).holder.id == OPERATOR  # type: ignore[union-attr]


@pytest.mark.parametrize("flow", ["incident", "mislink"])
def test_a_participant_acting_outside_its_tier_is_not_allowed(engine: Engine, flow: str) -> None:
    """A participant doing another tier's step is told so, by name, and nothing is written."""
    case_id = open_flow(engine, flow)
    first = next(s for s in engine.flows()[flow][0].steps.values() if s.tier == "reporter")
    before = footprint(engine, case_id)
    exc = refusal(lambda: engine.advance(case_id, first.id, actor=NIIGATA))
    assert isinstance(exc, NotAllowed)
    assert "reporter" in str(exc)
    assert footprint(engine, case_id) == before


def test_lists_hold_only_the_cases_a_viewer_takes_part_in(engine: Engine) -> None:
    """The case list of an organisation holds its own cases; the system's holds all."""
    incident = open_flow(engine, "incident")
    inquiry = open_flow(engine, "inquiry")
    assert [c.id for c in engine.cases(viewer=SYSTEM)] == [incident, inquiry]
    assert [c.id for c in engine.cases(viewer=SANJO)] == [incident, inquiry]
    assert [c.id for c in engine.cases(viewer=OPERATOR)] == [incident]
    for outsider in OUTSIDERS.values():
        assert engine.cases(viewer=outsider) == []
    assert [r.case_id for r in engine.verify(viewer=OPERATOR)] == [incident]
    assert engine.verify(viewer=OUTSIDERS["prefecture"]) == []


def test_a_viewer_that_is_no_organisation_is_refused_alike_for_every_case(engine: Engine) -> None:
    """A made-up viewer name gets the same answer for a case that exists and one that does not."""
    case_id = open_flow(engine, "incident")
    hidden = refusal(lambda: engine.case(case_id, viewer="サンプル架空機関"))
    missing = refusal(lambda: engine.case(NEVER_USED, viewer="サンプル架空機関"))
    assert isinstance(hidden, NotFound)
    assert str(hidden) == str(missing)


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
    before = case_footprint(engine, case_id)
    with pytest.raises(NotFound) as missing:
        engine.advance(999, "detect_anomaly", actor="yamanashi-city")
    with pytest.raises(NotFound) as hidden:
        engine.advance(case_id, "detect_anomaly", actor="yamanashi-city")
    assert str(hidden.value) == str(missing.value).replace("999", str(case_id))
    with pytest.raises(NotFound):
        engine.advance(case_id, "no_such_step", actor="jlis")
    assert case_footprint(engine, case_id) == before


@pytest.mark.parametrize("outsider", [ISHIKAWA, KANAZAWA, OPERATOR, CHIKYOREN, "ppc"])
def test_an_organisation_outside_the_chain_learns_nothing(engine: Engine, outsider: str) -> None:
    """Only the asker and the receivers it reached see an inquiry: to anyone else it
    does not exist, in the very words used for a case id nobody has, whether it reads
    it, acts on it (any action, known or not) or lists the cases."""
    case_id = ask(engine)  # 三条市 -> 新潟県; the operator is not reached
    expected = not_found_message(engine, case_id)
    with pytest.raises(NotFound) as read:
        engine.case(case_id, viewer=outsider)
    assert str(read.value) == expected
    before = inquiry_footprint(engine, case_id)
    for action in ("answer", "escalate", "relay", "follow_up", "close", "no_such_action"):
        with pytest.raises(NotFound) as acted:
            engine.advance(case_id, action, actor=outsider, note="x", at=hour(1))
        assert str(acted.value) == expected, action
    with pytest.raises(NotFound) as missing:
        engine.advance(10_000, "answer", actor=outsider, note="x", at=hour(1))
    assert str(missing.value) == expected.replace(str(case_id), "10000")
    assert inquiry_footprint(engine, case_id) == before
    assert engine.cases(viewer=outsider) == []
    assert engine.cases(flow="inquiry", viewer=outsider) == []


def test_receivers_keep_seeing_an_inquiry_after_the_answer_passed(engine: Engine) -> None:
    """The chain is the inquiry's audience for good: the operator and J-LIS, reached
    once, still see it (and list it) after the answer went down to 三条市 and it closed;
    the system sees it too, and an organisation outside the chain never does."""
    case_id = ask(engine)
    expected = not_found_message(engine, case_id)
    assert [c.id for c in engine.cases(flow="inquiry", viewer=JLIS)] == []
    engine.advance(case_id, "escalate", actor=NIIGATA, note="上へ", at=hour(1))
    engine.advance(case_id, "escalate", actor=JLIS, note="上へ", at=hour(2))
    engine.advance(case_id, "answer", actor=OPERATOR, note="回答", at=hour(3))
    engine.advance(case_id, "relay", actor=JLIS, at=hour(4))
    engine.advance(case_id, "relay", actor=NIIGATA, at=hour(5))
    engine.advance(case_id, "close", actor=SANJO, at=hour(6))
    for member in (SANJO, NIIGATA, JLIS, OPERATOR):
        assert engine.case(case_id, viewer=member).state == "closed"
        assert [c.id for c in engine.cases(flow="inquiry", viewer=member)] == [case_id]
    assert engine.case(case_id, viewer=SYSTEM).state == "closed"
    assert [c.id for c in engine.cases(flow="inquiry", viewer=SYSTEM)] == [case_id]
    with pytest.raises(NotFound) as outsider:
        engine.case(case_id, viewer=ISHIKAWA)
    assert str(outsider.value) == expected


def test_incident_cases_are_visible_to_their_participants_only(engine: Engine) -> None:
    """Since the gate an incident is like an inquiry: shown to its participants (the
    operator takes part in every incident) and to the system, to nobody else, and
    listed beside the viewer's inquiries."""
    incident = engine.open_case(reporter=SANJO, title="照会の応答なし", at=T0).case_id
    inquiry = ask(engine, at=hour(1))
    assert engine.case(incident, viewer=SYSTEM).flow == "incident"
    assert engine.case(incident, viewer=OPERATOR).id == incident
    with pytest.raises(NotFound):
        engine.case(incident, viewer=ISHIKAWA)
    assert [c.id for c in engine.cases(viewer=SYSTEM)] == [incident, inquiry]
    assert engine.cases(viewer=ISHIKAWA) == []
    assert [c.id for c in engine.cases(viewer=NIIGATA)] == [incident, inquiry]
    assert [c.id for c in engine.cases(flow="incident", viewer=SANJO)] == [incident]


def test_visibility_in_sql_agrees_with_the_rule(seeded: Engine) -> None:
    """``rules.visible_where`` selects exactly the rows ``rules.visible`` lets a viewer
    see (an organisation, or the system), with or without a chain."""
    flows = seeded.flows()
    states = {name: sorted(f.states) for name, (f, _v) in flows.items()}

    @EXAMPLES
    @given(cases=specs(states), viewer=st.just(SYSTEM) | st.sampled_from(POOL))
    def agree(cases: list[Spec], viewer: Viewer) -> None:
        write(seeded, cases)
        with Session(seeded.sa) as session:
            rows = session.exec(select(CaseRow).order_by(col(CaseRow.id))).scalars().all()  # type: ignore[call-overload]
            chosen = (
                session.exec(  # type: ignore[call-overload]
                    select(CaseRow.id).where(rules.visible_where(viewer)).order_by(col(CaseRow.id))
                )
                .scalars()
                .all()
            )
        expected = [r.id for r in rows if rules.visible(r, viewer)]
        assert chosen == expected

    agree()
