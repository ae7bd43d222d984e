"""The directory: organisations from CSV, and the one of a type above another."""

from __future__ import annotations

from irflow.engine.directory import Organisation, OrgType, Tier, above


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
