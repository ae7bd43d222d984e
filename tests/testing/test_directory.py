"""The directory lists a machine draws its actors from, by the engine's own rules."""

from __future__ import annotations

from pathlib import Path

from irflow.engine import chain as chain_rules
from irflow.engine.flow import bundled_flow
from irflow.testing import flow_state_machine


def test_inquiry_machine_askers_are_those_the_engine_lets_ask(tmp_path: Path) -> None:
    """Everyone the inquiry machine asks validly has a reception tier by the engine's
    rule, every type that can ask is among them, and those it uses to be refused have
    none (or do not exist)."""
    flow = bundled_flow("inquiry")
    machine = flow_state_machine(flow, f"sqlite:///{tmp_path}/inquiry.db")
    try:
        shared = machine.shared()
        orgs = shared.engine.organisations()
        for asker in shared.askers:
            assert chain_rules.reception(flow, orgs[asker], orgs) is not None, asker
        for refused in shared.cannot_ask:
            org = orgs.get(refused)
            assert org is None or chain_rules.reception(flow, org, orgs) is None, refused
        can_ask = {
            o.type for o in orgs.values() if chain_rules.reception(flow, o, orgs) is not None
        }
        assert {orgs[a].type for a in shared.askers} == can_ask
    finally:
        machine.close()
