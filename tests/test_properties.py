"""Property tests: irflow.testing's state machine on every bundled flow, on every backend,
and the test doubles themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from irflow.clock import JST
from irflow.engine import rules
from irflow.engine.flow import BUNDLED, bundled_flow, parse_flow
from irflow.testing import (
    FlowMachine,
    MovableClock,
    PhaseFlowMachine,
    StateFlowMachine,
    case_kinds,
    flow_state_machine,
    moments,
)

#: How hard to try, per backend: SQLite is fast enough to try hard, PostgreSQL less so.
BUDGET = {
    "sqlite": {"max_examples": 60, "stateful_step_count": 40},
    "postgresql": {"max_examples": 25, "stateful_step_count": 30},
}


def backend(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_flow_keeps_every_invariant(name: str, db_url: str) -> None:
    """Random commands by random actors on a bundled flow never break an engine invariant."""
    machine = flow_state_machine(bundled_flow(name), db_url)
    shape = StateFlowMachine if bundled_flow(name).stateful else PhaseFlowMachine
    assert issubclass(machine, shape)
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
                **BUDGET[backend(db_url)],  # type: ignore[arg-type]
            ),
        )
    finally:
        machine.close()


def fails_on(
    machine: type[FlowMachine], match: str | None = None, *, examples: int, steps: int
) -> None:
    """Run ``machine`` against a broken engine: some example must fail an invariant."""
    try:
        with pytest.raises(AssertionError, match=match):
            run_state_machine_as_test(
                machine,
                settings=settings(
                    max_examples=examples,
                    stateful_step_count=steps,
                    deadline=None,
                    database=None,
                    phases=[Phase.generate],
                    report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
    finally:
        machine.close()


def test_machine_catches_an_engine_that_lets_anyone_act(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The machine is not vacuous: an engine that skips the participant check fails it."""

    def every_role(case: object, org: object) -> list[str]:
        return ["reporter", "coordinator", "operator"]

    monkeypatch.setattr(rules, "roles", every_role)
    machine = flow_state_machine(bundled_flow("incident"), f"sqlite:///{tmp_path}/broken.db")
    fails_on(machine, examples=50, steps=20)


def test_machine_catches_an_engine_that_shows_inquiries_to_anyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state-flow machine is not vacuous: an engine that shows a private case to
    everyone fails it."""

    def everyone_sees(case: object, viewer: object) -> bool:
        return True

    monkeypatch.setattr(rules, "visible", everyone_sees)
    machine = flow_state_machine(bundled_flow("inquiry"), f"sqlite:///{tmp_path}/broken.db")
    fails_on(machine, r"sees case|shown case|finds case", examples=20, steps=10)


#: A state flow without a chain: its opener acts alone (and nobody holds it but the
#: opener), and its overdue duty reminds the opener.
CHAINLESS = """
name: request
title: 依頼
kinds: [request]
default_kind: request
ladders:
  short: [{after: 0m, action: remind}]
default_ladder: short
states:
  - id: waiting
    title: 回答待ち
    duty: 確認
    deadline: 2h
actions:
  - id: comment
    title: コメント
    by: opener
    from: [waiting]
    needs_note: true
    to: waiting
  - id: close
    title: 完了
    by: opener
    from: [waiting]
    to: closed
"""


def test_state_machine_runs_a_flow_without_a_chain(tmp_path: Path) -> None:
    """flow_state_machine takes any state flow, a chainless one too."""
    machine = flow_state_machine(parse_flow(CHAINLESS), f"sqlite:///{tmp_path}/request.db")
    assert issubclass(machine, StateFlowMachine)
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=15,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        machine.close()


# --------------------------------------------------------------------------- the doubles


def test_movable_clock_stands_still_until_moved() -> None:
    """MovableClock tells the same moment until advanced or set."""
    clock = MovableClock(datetime(2026, 4, 1, 9, 30))
    assert clock.now() == datetime(2026, 4, 1, 9, 30, tzinfo=JST)
    assert clock.now() == clock.now()
    assert clock.advance(timedelta(hours=8)) == datetime(2026, 4, 1, 17, 30, tzinfo=JST)
    clock.set(datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    assert clock.now() == datetime(2026, 4, 1, 9, 0, tzinfo=JST)
    assert clock.now().utcoffset() is not None


def test_movable_clock_reads_naive_moments_as_japan_time() -> None:
    """A naive moment given to set() is Japan time, as everywhere in irflow."""
    clock = MovableClock()
    clock.set(datetime(2026, 12, 29, 10, 0))
    assert clock.now().isoformat() == "2026-12-29T10:00:00+09:00"


@given(moments())
def test_moments_are_aware(moment: datetime) -> None:
    """moments() gives timezone-aware datetimes only."""
    assert moment.utcoffset() is not None


@pytest.mark.parametrize("name", BUNDLED)
@settings(max_examples=30)
@given(data=st.data())
def test_case_kinds_are_accepted_by_their_flow(name: str, data: st.DataObject) -> None:
    """Every kinds tuple case_kinds(flow) draws is one the flow takes."""
    flow = bundled_flow(name)
    kinds = data.draw(case_kinds(flow))
    chosen = frozenset(kinds) or {flow.spec.default_kind}
    assert flow.kinds_valid(frozenset(chosen))
    if flow.spec.selected_by:
        assert flow.spec.selected_by in kinds


# The module docstring's few-lines usage, exactly as an embedder writes it.
IncidentMachine = flow_state_machine(bundled_flow("incident"))
TestIncidentMachineAsTestCase = IncidentMachine.TestCase
TestIncidentMachineAsTestCase.settings = settings(
    max_examples=5, stateful_step_count=15, deadline=None
)
