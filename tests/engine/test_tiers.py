"""The tiers and organisation types come from irflow/flows/tiers.yaml, checked when read."""

from __future__ import annotations

from importlib import resources

import pytest

import irflow
from irflow.engine import tiers
from irflow.engine.directory import REFERENCES
from irflow.errors import InvalidFlow

BUNDLED = resources.files("irflow").joinpath("flows", "tiers.yaml").read_text("utf-8")


def test_tier_and_org_type_are_the_files_names_in_its_order() -> None:
    """irflow.Tier and irflow.OrgType hold the file's tiers and types, in its order."""
    assert [t.value for t in irflow.Tier] == ["operator", "coordinator", "reporter", "external"]
    assert irflow.Tier.REPORTER == "reporter"
    assert [t.value for t in irflow.OrgType] == [
        "operator",
        "jlis",
        "prefecture",
        "municipality",
        "national_agency",
        "ministry",
        "aggregation_agency",
        "oversight",
    ]
    assert irflow.OrgType.MUNICIPALITY == "municipality"


def test_the_bundled_file_says_what_each_tier_and_type_may_do() -> None:
    """A case holds reporter, coordinator and operator; each overdue step goes one tier
    up (the operator's to itself); the operator and the coordinator may hand the
    coordinator's role over, to a ministry or an aggregation agency."""
    assert tiers.CASE_TIERS == ("reporter", "coordinator", "operator")
    assert dict(tiers.SUPERVISOR) == {
        "reporter": "coordinator",
        "coordinator": "operator",
        "operator": "operator",
    }
    assert sorted(tiers.ASSIGNERS) == ["coordinator", "operator"]
    assert sorted(tiers.ASSIGNABLE) == ["aggregation_agency", "ministry"]
    coordinating = sorted(tiers.COORDINATOR_TYPES)
    assert coordinating == ["aggregation_agency", "jlis", "ministry", "prefecture"]
    assert tiers.OPERATING_TYPE == "operator"
    assert {t for t, spec in tiers.TYPES.items() if not spec.reports} == {"operator", "oversight"}


def _line(text: str, fragment: str) -> int:
    """The line of the last occurrence of ``fragment`` (the one a test added)."""
    return max(n for n, line in enumerate(text.splitlines(), start=1) if fragment in line)


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (
            "case_tiers: [reporter, coordinator, operator]",
            "case_tiers: [reporter, operator]",
            "case_tiers names the three tiers a case holds",
        ),
        (
            "case_tiers: [reporter, coordinator, operator]",
            "case_tiers: [reporter, coordinator, overseer]",
            "case_tiers names 'overseer', which is not a tier",
        ),
        (
            "escalates_to: coordinator",
            "escalates_to: external",
            "tier 'reporter' escalates to 'external'; name a tier of a case",
        ),
        (
            "  external: {}",
            "  external: {assigns_coordinator: true}",
            "tier 'external' takes part in no case",
        ),
        (
            "coordinated_by: prefecture   #",
            "coordinated_by: province   #",
            "type 'municipality' is coordinated by 'province', which is not a type",
        ),
        (
            "    reports: false\n  jlis:",
            "    reports: false\n  jlis:\n    operates: true",
            "exactly one type operates the network; 2 say operates: true",
        ),
        (
            "    assignable: true             # 集約機関",
            "    assignble: true",
            "types.aggregation_agency.assignble: Extra inputs are not permitted; remove it",
        ),
    ],
)
def test_a_broken_tiers_file_is_refused_naming_the_line_and_the_fix(
    old: str, new: str, words: str
) -> None:
    """Each broken tiers file is refused with the fix, at the line of what is wrong."""
    assert old in BUNDLED
    text = BUNDLED.replace(old, new, 1)
    with pytest.raises(InvalidFlow) as refused:
        tiers.read(text, source="tiers.yaml")
    assert words in str(refused.value)
    assert refused.value.line == _line(text, new.splitlines()[-1].split("#")[0].strip())


def test_named_by_must_be_a_column_that_names_an_organisation() -> None:
    """A type found by a column the directory does not have is refused at that line."""
    text = BUNDLED.replace("named_by: prefecture ", "named_by: parent ")
    read = tiers.read(text, source="tiers.yaml")
    with pytest.raises(InvalidFlow, match="'parent', which is not a column") as refused:
        read.check_columns(REFERENCES)
    assert "use one of prefecture, competent_ministry" in str(refused.value)
    assert refused.value.line == _line(text, "named_by: parent")
