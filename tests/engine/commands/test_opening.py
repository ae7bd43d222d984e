"""Opening a case: its title, its reporter and its coordinator, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.errors import InvalidInput
from tests.engine.cases import SANJO


def test_case_needs_a_title_and_a_reporting_organisation(engine: Engine) -> None:
    """A blank title, or the operator or PPC as reporter, is refused."""
    with pytest.raises(InvalidInput, match="needs a title"):
        engine.open_case(reporter=SANJO, title="  ")
    with pytest.raises(InvalidInput, match="cannot be a case's reporter"):
        engine.open_case(reporter="ppc", title="x")
    assert engine.cases(viewer=SYSTEM) == []


@pytest.mark.parametrize(
    ("reporter", "coordinator"),
    [
        ("sanjo", "pref-niigata"),  # a municipality: its own prefecture
        ("pref-niigata", "jlis"),  # a prefecture: J-LIS
        ("kokkyoren", "mof"),  # a national agency: its competent ministry
        ("jasso", "mext"),
    ],
)
def test_default_coordinator(engine: Engine, reporter: str, coordinator: str) -> None:
    """A case's coordinator defaults by the reporter's place in the directory."""
    case_id = engine.open_case(reporter=reporter, title="x").case_id
    assert engine.case(case_id, viewer=SYSTEM).coordinator.id == coordinator


def test_coordinator_is_required_where_the_directory_names_none(
    engine: Engine, tmp_path: Path
) -> None:
    """A national agency without a competent ministry needs --coordinator, and the error says so."""
    csv = tmp_path / "agency.csv"
    csv.write_text(
        "id,name,type,tier\nsample-agency,試験用の独立行政法人,national_agency,reporter\n", "utf-8"
    )
    engine.import_organisations(csv)
    with pytest.raises(InvalidInput, match=r"names no coordinator.*pass --coordinator"):
        engine.open_case(reporter="sample-agency", title="x")
    case_id = engine.open_case(reporter="sample-agency", title="x", coordinator="mhlw").case_id
    assert engine.case(case_id, viewer=SYSTEM).coordinator.id == "mhlw"


def test_coordinator_given_at_open_must_be_able_to_coordinate(engine: Engine) -> None:
    """A municipality cannot be named coordinator when a case is opened."""
    with pytest.raises(InvalidInput, match="cannot coordinate"):
        engine.open_case(reporter=SANJO, title="x", coordinator="yamaguchi-city")


def test_reporter_cannot_pick_another_prefecture_as_coordinator(engine: Engine) -> None:
    """At open, a coordinator other than the default must be a ministry or aggregation agency."""
    with pytest.raises(InvalidInput, match="新潟県"):
        engine.open_case(reporter="sanjo", title="サンプル", coordinator="pref-tokyo")
    assert engine.cases(viewer=SYSTEM) == []
    case = engine.open_case(reporter="sanjo", title="サンプル", coordinator="mhlw")
    assert engine.case(case.case_id, viewer=SYSTEM).coordinator.id == "mhlw"
