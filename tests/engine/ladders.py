"""Escalation for the engine's tests: 三条市's case opened at a moment, and its rungs fired."""

from __future__ import annotations

from datetime import datetime

from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.engine.timeline import Event

SANJO = "sanjo"


def open_sanjo(engine: Engine, at: datetime | None = None) -> int:
    return engine.open_case(reporter=SANJO, title="住基ネット照会の異常", at=at).case_id


def escalated(engine: Engine, case_id: int) -> list[Event]:
    return [e for e in engine.timeline(case_id, viewer=SYSTEM) if e.action == "escalated"]


def rungs(engine: Engine, case_id: int) -> list[tuple[str | None, int, str]]:
    """The escalated events of a case as (step, rung, action), in timeline order."""
    return [(e.step, e.payload["rung"], e.payload["action"]) for e in escalated(engine, case_id)]
