"""Notifications for the engine's tests: a case whose report went out, a crash before a commit."""

from __future__ import annotations

from typing import Any

import pytest

from irflow.engine.facade import Engine
from irflow.engine.flow import bundled_flow
from irflow.engine.ledger import Ledger
from irflow.engine.rules import SYSTEM

INCIDENT = bundled_flow("incident")
SANJO, NIIGATA, OPERATOR = "sanjo", "pref-niigata", "mic-mynumber"
ABNORMAL = "06.異常時における連絡等"


def url_of(engine: Engine) -> str:
    return engine.sa.url.render_as_string(hide_password=False)


def open_case(engine: Engine, reporter: str = SANJO) -> int:
    return engine.open_case(reporter=reporter, title="住基ネット照会の異常").case_id


def do(engine: Engine, case_id: int, *steps: str) -> None:
    """Complete ``steps`` in order, each by the case's participant of the step's tier."""
    view = engine.case(case_id, viewer=SYSTEM)
    actors = {"reporter": view.reporter.id, "coordinator": view.coordinator.id,
              "operator": view.operator.id}  # fmt: skip
    for step in steps:
        engine.advance(case_id, step, actor=actors[INCIDENT.steps[step].tier])


def reported(engine: Engine) -> int:
    """A case of 三条市 whose reporter has just reported its status to 新潟県."""
    case_id = open_case(engine)
    do(engine, case_id, "detect_anomaly")
    engine.advance(case_id, "report_status", actor=SANJO, note="照会の応答が遅延")
    return case_id


def crash_after_effects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next transaction fail after it wrote its outbox rows, before its commit."""
    original = Ledger._write_effects

    def crash(self: Ledger, *args: Any, **kwargs: Any) -> bool:
        original(self, *args, **kwargs)
        monkeypatch.setattr(Ledger, "_write_effects", original)
        raise RuntimeError("power cut before the commit")

    monkeypatch.setattr(Ledger, "_write_effects", crash)
