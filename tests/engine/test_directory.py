"""The directory: organisations found by id, code or name, imported from CSV, and the one
of a type above another."""

from __future__ import annotations

from pathlib import Path

import pytest

from irflow.engine.directory import Organisation, OrgType, Tier, above, local_government_check_digit
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.errors import AmbiguousName, InvalidInput, NotFound
from tests.engine.cases import NIIGATA, SANJO


def _org(org_id: str, kind: str, **refs: str) -> Organisation:
    return Organisation(id=org_id, name=org_id, type=OrgType(kind), tier=Tier("reporter"), **refs)


ORGS = {
    o.id: o
    for o in (
        _org("sample-city", "municipality", prefecture="sample-pref"),
        _org("lost-city", "municipality"),
        _org("sample-pref", "prefecture"),
        _org("other-pref", "prefecture"),
        _org("sample-jlis", "jlis"),
        _org("another-jlis", "jlis"),
        _org("sample-agency", "national_agency", competent_ministry="sample-ministry"),
        _org("sample-ministry", "ministry"),
    )
}


def test_a_type_named_by_a_column_is_the_one_the_row_names() -> None:
    """A municipality's prefecture is the one its row names, never another; without one
    it has none (it is not given the first prefecture)."""
    assert above(ORGS["sample-city"], OrgType("prefecture"), ORGS) == ORGS["sample-pref"]
    assert above(ORGS["lost-city"], OrgType("prefecture"), ORGS) is None
    agency = ORGS["sample-agency"]
    assert above(agency, OrgType("ministry"), ORGS) == ORGS["sample-ministry"]


def test_a_type_no_column_names_is_the_first_of_that_type_but_itself() -> None:
    """J-LIS above a prefecture is the first J-LIS by id; above a J-LIS, the other one."""
    assert above(ORGS["sample-pref"], OrgType("jlis"), ORGS) == ORGS["another-jlis"]
    assert above(ORGS["another-jlis"], OrgType("jlis"), ORGS) == ORGS["sample-jlis"]
    assert above(ORGS["sample-pref"], OrgType("operator"), ORGS) is None


@pytest.mark.parametrize("ref", ["sanjo", "152048", "三条市", "三条"])
def test_organisation_by_id_code_name_or_prefix(engine: Engine, ref: str) -> None:
    """An organisation is found by id, local government code, unique name or unique prefix."""
    assert engine.organisation(ref).id == SANJO


def test_ambiguous_name_lists_the_candidates(engine: Engine) -> None:
    """山口 matches 山口県 and 山口市: the error lists both and asks for an id or code."""
    with pytest.raises(AmbiguousName) as refused:
        engine.organisation("山口")
    assert sorted(refused.value.candidates) == [
        "山口市 (yamaguchi-city)",
        "山口県 (pref-yamaguchi)",
    ]
    assert "give the id or the local government code" in str(refused.value)
    with pytest.raises(AmbiguousName):
        engine.open_case(reporter="山口", title="x")


def test_unknown_organisation_is_not_found(engine: Engine) -> None:
    """An unknown name says how to search the directory."""
    with pytest.raises(NotFound, match="irflow org search"):
        engine.organisation("青海市")


def test_search_by_prefix_or_exact_name(engine: Engine) -> None:
    """データ検索: "starts with" by default, "equals" with exact."""
    assert {o.id for o in engine.search_organisations("山口")} == {
        "pref-yamaguchi",
        "yamaguchi-city",
    }
    assert [o.id for o in engine.search_organisations("山口市", exact=True)] == ["yamaguchi-city"]
    assert engine.search_organisations("山口", exact=True) == []


def _code(prefix: str, *, valid: bool = True) -> str:
    digit = int(local_government_check_digit(prefix))
    return prefix + str(digit if valid else (digit + 1) % 10)


def test_directory_import_adds_and_updates(engine: Engine, tmp_path: Path) -> None:
    """Importing a CSV adds new organisations and updates known ones by id."""
    csv = tmp_path / "directory.csv"
    csv.write_text(
        "id,name,type,tier,prefecture,code,daytime_phone\n"
        f"sample-town,試験町,municipality,reporter,pref-niigata,{_code('15999')},000-9999-0001\n"
        "sanjo,三条市,municipality,reporter,pref-niigata,152048,000-9999-0002\n",
        "utf-8",
    )
    assert engine.import_organisations(csv) == (1, 1)
    assert engine.organisation("試験町").prefecture == "pref-niigata"
    assert engine.organisation("sanjo").daytime_phone == "000-9999-0002"
    case_id = engine.open_case(reporter="試験町", title="x").case_id
    assert engine.case(case_id, viewer=SYSTEM).coordinator.id == NIIGATA


def test_directory_import_refuses_a_bad_check_digit_and_writes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    """A code with a wrong check digit is refused with its line; no row of the file is written."""
    csv = tmp_path / "directory.csv"
    csv.write_text(
        "id,name,type,tier,prefecture,code\n"
        f"sample-town,試験町,municipality,reporter,pref-niigata,{_code('15999')}\n"
        f"sample-village,試験村,municipality,reporter,pref-niigata,{_code('15998', valid=False)}\n",
        "utf-8",
    )
    with pytest.raises(InvalidInput, match=rf"{csv.name}:3: local government code .* check digit"):
        engine.import_organisations(csv)
    assert engine.search_organisations("試験") == []


def test_directory_import_refuses_a_reference_to_an_unknown_prefecture(
    engine: Engine, tmp_path: Path
) -> None:
    """A municipality whose prefecture is not in the directory is refused."""
    csv = tmp_path / "directory.csv"
    csv.write_text(
        "id,name,type,tier,prefecture\nsample-town,試験町,municipality,reporter,pref-atlantis\n",
        "utf-8",
    )
    with pytest.raises(InvalidInput, match="pref-atlantis"):
        engine.import_organisations(csv)
    assert engine.search_organisations("試験") == []
