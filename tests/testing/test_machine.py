"""irflow.testing's state machines on every bundled flow, on every backend: they keep
every invariant, and they catch an engine that breaks one."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from irflow.engine import rules
from irflow.engine.flow import BUNDLED, bundled_flow, parse_flow
from irflow.testing import FlowMachine, PhaseFlowMachine, StateFlowMachine, flow_state_machine

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


# The module docstring's few-lines usage, exactly as an embedder writes it.
IncidentMachine = flow_state_machine(bundled_flow("incident"))
TestIncidentMachineAsTestCase = IncidentMachine.TestCase
TestIncidentMachineAsTestCase.settings = settings(
    max_examples=5, stateful_step_count=15, deadline=None
)
