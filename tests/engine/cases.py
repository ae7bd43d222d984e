"""Incident cases for the engine's tests: 三条市's case, its participants, its steps in order."""

from __future__ import annotations

from sqlalchemy import text

from irflow.engine.facade import Engine
from irflow.engine.flow import bundled_flow
from irflow.engine.rules import SYSTEM

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


def _sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.sa.begin() as conn:
        conn.execute(text(statement), params)
