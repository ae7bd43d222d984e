"""The flow registry: which flow a case's kinds take, and every stored version."""

from __future__ import annotations

import importlib.resources
from typing import Any

import pytest

from irflow.engine.facade import Engine
from irflow.engine.flow import bundled_flow, parse_flow
from irflow.engine.rules import SYSTEM
from irflow.errors import InvalidFlow, InvalidInput, NotFound
from irflow.testing import MovableClock
from tests.engine.cases import INCIDENT, SANJO, open_sanjo
from tests.engine.inquiries import JLIS, NIIGATA, ask, jst


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


def changed_inquiry() -> Any:
    text = importlib.resources.files("irflow.flows").joinpath("inquiry.yaml").read_text("utf-8")
    assert text.count("deadline: 2 working days") == 1
    return parse_flow(
        text.replace("deadline: 2 working days", "deadline: 3 working days"), path="inquiry.yaml"
    )


def test_changed_inquiry_flow_is_version_2_and_open_inquiries_finish_under_1(
    engine: Engine, db_url: str, clock: MovableClock
) -> None:
    """An edited inquiry.yaml is a new version; flow_versions() shows v1 (no longer
    current, with its open inquiries) and v2 (current). An inquiry asked before keeps
    v1's 2 working days to its end; one asked after gets v2's 3."""
    old = ask(engine, at=jst(4, 1, 10))
    done = ask(engine, at=jst(4, 1, 10))
    engine.advance(done, "answer", actor=NIIGATA, note="回答", at=jst(4, 1, 11))
    engine.advance(done, "close", actor=SANJO, at=jst(4, 1, 12))

    flows = [bundled_flow("incident"), bundled_flow("mislink"), changed_inquiry()]
    with Engine(db_url, clock=clock, flows=flows) as newer:
        versions = {(v.flow.name, v.version): (v.current, v.open) for v in newer.flow_versions()}
        assert versions == {
            ("incident", 1): (True, 0),
            ("mislink", 1): (True, 0),
            ("inquiry", 1): (False, 1),
            ("inquiry", 2): (True, 0),
        }
        new = ask(newer, at=jst(4, 2, 10))
        assert newer.case(new, viewer=SANJO).flow_version == 2
        assert newer.case(old, viewer=SANJO).flow_version == 1
        assert [d.deadline_at for d in newer.deadlines(new, viewer=SYSTEM)] == [
            jst(4, 7, 10)
        ] * 2  # 3 days

        newer.advance(old, "escalate", actor=NIIGATA, note="J-LISへ", at=jst(4, 2, 10))
        assert [d.deadline_at for d in newer.deadlines(old, viewer=SYSTEM)] == [
            jst(4, 6, 10)
        ] * 2  # 2 days
        versions = {(v.flow.name, v.version): (v.current, v.open) for v in newer.flow_versions()}
        assert versions[("inquiry", 1)] == (False, 1)
        assert versions[("inquiry", 2)] == (True, 1)

        newer.advance(old, "answer", actor=JLIS, note="回答", at=jst(4, 2, 11))
        newer.advance(old, "relay", actor=NIIGATA, at=jst(4, 2, 12))
        newer.advance(old, "close", actor=SANJO, at=jst(4, 2, 13))
        assert newer.replay(old, viewer=SYSTEM) == "closed"
        versions = {(v.flow.name, v.version): (v.current, v.open) for v in newer.flow_versions()}
        assert versions[("inquiry", 1)] == (False, 0)
        assert versions[("inquiry", 2)] == (True, 1)
        assert all(r.ok for r in newer.verify(viewer=SYSTEM))
