"""What completing a step does is remembered by every fact the machine sees."""

from __future__ import annotations

import dataclasses

import pytest

from irflow.engine.facade import Engine
from irflow.engine.flow import CaseFacts
from irflow.engine.rules import SYSTEM
from irflow.errors import StepNotOpen
from tests.engine.cases import DETECT, NIIGATA, SANJO, do, open_sanjo


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
