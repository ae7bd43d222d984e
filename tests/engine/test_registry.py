"""The flow registry: which flow a case's kinds take, and every stored version."""

from __future__ import annotations

import pytest

from irflow.engine.facade import Engine
from irflow.engine.flow import bundled_flow, parse_flow
from irflow.engine.rules import SYSTEM
from irflow.errors import InvalidFlow, InvalidInput, NotFound
from tests.engine.cases import INCIDENT, SANJO, open_sanjo


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
