"""A command asked for its view returns the case as its actor sees it, read in its own
transaction: a face shows it without reading the case again."""

from __future__ import annotations

import pytest

from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.errors import NotAllowed, NotFound
from tests.engine.cases import NIIGATA, OPERATOR, SANJO, do, open_sanjo


def test_each_command_asked_for_its_view_returns_the_case_as_its_actor_sees_it(
    engine: Engine,
) -> None:
    """open_case, advance, declare and assign_coordinator carry the view a fresh read
    as the actor gives, taken before any other command could change the case."""
    opened = engine.open_case(reporter=SANJO, title="住基ネット照会の異常", view=True)
    assert opened.view == engine.case(opened.case_id, viewer=SANJO)
    case_id = opened.case_id
    done = engine.advance(case_id, "detect_anomaly", actor=SANJO, note="検知", view=True)
    assert done.view == engine.case(case_id, viewer=SANJO)
    assert done.view.version == done.version == 2
    assert done.view.timeline[-1] == done.event
    flagged = engine.declare(case_id, "beyond_own_capacity", actor=SANJO, view=True)
    assert flagged.view == engine.case(case_id, viewer=SANJO)
    assert flagged.view.flags == ["beyond_own_capacity"]
    handed = engine.assign_coordinator(case_id, coordinator="mhlw", actor=OPERATOR, view=True)
    assert handed.view == engine.case(case_id, viewer=OPERATOR)
    assert handed.view.coordinator.id == "mhlw"
    assert handed.view.deadlines == engine.deadlines(case_id, viewer=SYSTEM)


def test_an_action_of_a_state_flow_returns_its_view_too(engine: Engine) -> None:
    """An inquiry's ask and escalation carry the inquiry as the asker and the holder see it."""
    asked = engine.open_case(
        reporter=SANJO, title="副本登録の手順について", kinds=["inquiry"],
        note="手順を確認したい。", confirmed=["faq_checked"], view=True,
    )  # fmt: skip
    assert asked.view == engine.case(asked.case_id, viewer=SANJO)
    assert asked.view.holder == engine.organisation_by_id(NIIGATA)
    up = engine.advance(asked.case_id, "escalate", actor=NIIGATA, view=True)
    assert up.view == engine.case(asked.case_id, viewer=NIIGATA)
    assert [o.id for o in up.view.chain] == [SANJO, NIIGATA, "jlis"]


def test_a_command_not_asked_reads_no_view(engine: Engine) -> None:
    """Without view=True a command returns no view (the library's hot path reads nothing more)."""
    opened = engine.open_case(reporter=SANJO, title="x")
    assert opened.view is None
    assert engine.advance(opened.case_id, "detect_anomaly", actor=SANJO).view is None


def test_a_coordinator_that_hands_its_role_over_gets_no_view(engine: Engine) -> None:
    """The case is no longer the old coordinator's to see: its command returns no view,
    and the assignment is written all the same."""
    case_id = engine.open_case(reporter=SANJO, title="x").case_id
    done = engine.assign_coordinator(case_id, coordinator="mhlw", actor=NIIGATA, view=True)
    assert done.view is None
    assert engine.case(case_id, viewer=SYSTEM).coordinator.id == "mhlw"


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
