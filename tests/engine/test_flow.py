"""Flow files: a broken file is refused at load with its path, the line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from irflow.engine.flow import BUNDLED, CLOSED, bundled_flow, load_flow_file, parse_flow
from irflow.errors import InvalidFlow, NotFound

TINY = """\
name: tiny
title: 小さなフロー
kinds: [system_failure, security_incident]
default_kind: system_failure
flags:
  beyond_own_capacity:
    title: 自機関のみで対応可能な事象ではない
    declared_by: reporter
phases:
  - id: first
    title: 最初
    steps:
      - id: detect
        tier: reporter
        title: 検知
      - id: check
        tier: coordinator
        title: 確認
        requires: [detect]
  - id: second
    title: 次
    steps:
      - id: confirm
        tier: operator
        title: 確認、周知
        requires: [check]
"""


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based number of the line holding the ``occurrence``-th ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return found[occurrence - 1]


def refused(tmp_path: Path, text: str) -> InvalidFlow:
    """Load ``text`` from a file and return the InvalidFlow it raises."""
    path = tmp_path / "broken.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(InvalidFlow) as caught:
        load_flow_file(path)
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path}:{caught.value.line}: ")
    return caught.value


def test_tiny_flow_loads(tmp_path: Path) -> None:
    """The base flow these tests break is itself valid."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, "utf-8")
    flow = load_flow_file(path)
    assert flow.states == ("first", "second", CLOSED)
    assert list(flow.steps) == ["detect", "check", "confirm"]


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_flows_load(name: str) -> None:
    """Every bundled flow passes the schema and graph checks and compiles its machine."""
    flow = bundled_flow(name)
    assert flow.states[-1] == CLOSED
    # A flow of phases moves by ``advance``; a flow of states by its actions.
    triggers = set(flow.actions) if flow.stateful else {"advance"}
    assert triggers <= set(flow.machine.events)


def test_unknown_tier_is_refused(tmp_path: Path) -> None:
    """A tier that is not reporter, coordinator or operator names the value and the choices."""
    text = TINY.replace("tier: coordinator", "tier: prefecture")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "tier: prefecture")
    assert "'prefecture'" in str(error)
    assert "use one of reporter, coordinator, operator" in str(error)


def test_a_tier_in_no_case_is_refused_for_a_step(tmp_path: Path) -> None:
    """A step of a tier that takes part in no case (external: PPC, NISC) is refused as
    an unknown tier is, naming the tiers a case holds."""
    text = TINY.replace("tier: coordinator", "tier: external")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "tier: external")
    assert "'external'" in str(error)
    assert "use one of reporter, coordinator, operator" in str(error)


def test_step_waiting_for_a_missing_step_is_refused(tmp_path: Path) -> None:
    """A requires entry naming no step says which step and how to fix it."""
    text = TINY.replace("requires: [check]", "requires: [check, chek]")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "requires: [check, chek]")
    assert "step 'confirm' waits for 'chek', which no phase declares" in str(error)
    assert "declare it or remove it from requires" in str(error)


def test_missing_step_in_block_list_points_at_its_own_line(tmp_path: Path) -> None:
    """In a block-style list the error points at the bad entry, not at the list."""
    text = TINY.replace("requires: [check]", "requires:\n          - check\n          - chek")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "- chek")


def test_state_that_cannot_reach_closed_is_refused(tmp_path: Path) -> None:
    """A required step waiting for a later phase would trap the case: the phase is named."""
    wrap_up = "      - id: wrap_up\n        tier: reporter\n        title: まとめ\n"
    text = TINY.replace(
        "  - id: second\n", f"{wrap_up}        requires: [confirm]\n  - id: second\n"
    )
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "requires: [confirm]")
    message = str(error)
    assert "step 'wrap_up' is needed to close phase 'first'" in message
    assert "can never reach closed" in message
    assert "unreachable" in message
    assert "move the step or what it waits for" in message


def test_cycle_is_refused(tmp_path: Path) -> None:
    """Steps waiting for each other are refused, naming a step of the cycle."""
    text = TINY.replace("        title: 検知\n", "        title: 検知\n        requires: [check]\n")
    error = refused(tmp_path, text)
    assert "cycle through 'detect'" in str(error)
    assert "break the cycle" in str(error)
    assert error.line == line_of(text, "requires: [check]")


def test_unknown_condition_family_is_refused(tmp_path: Path) -> None:
    """A condition that is neither kind:<kind> nor flag:<flag> is refused at its line."""
    text = TINY.replace("[check]\n", "[check]\n        required_if: weather:rain\n")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "required_if: weather:rain")
    assert "condition 'weather:rain' is unknown; write kind:<kind>, flag:<flag>" in str(error)


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ("kind:outage", "names a kind the flow does not have"),
        ("flag:urgent", "names an undeclared flag"),
    ],
)
def test_condition_naming_an_unknown_kind_or_flag_is_refused(
    tmp_path: Path, condition: str, says: str
) -> None:
    """kind: and flag: conditions must name a kind or flag the flow declares."""
    text = TINY.replace(
        "        title: 確認\n", f"        title: 確認\n        only_if: {condition}\n"
    )
    error = refused(tmp_path, text)
    assert error.line == line_of(text, f"only_if: {condition}")
    assert says in str(error)


def test_bad_yaml_is_refused_at_its_line(tmp_path: Path) -> None:
    """A YAML syntax error is reported with the line the parser stopped at."""
    text = TINY.replace("title: 確認、周知", "title: [確認、周知")
    error = refused(tmp_path, text)
    assert "not valid YAML" in str(error)
    assert "fix the syntax there" in str(error)
    assert error.line is not None
    assert (
        line_of(text, "title: [確認、周知") <= error.line <= line_of(text, "title: [確認、周知") + 2
    )


def test_misspelt_field_is_refused(tmp_path: Path) -> None:
    """An unknown key (requirs) is refused with a hint to check its spelling."""
    text = TINY.replace("requires: [check]", "requirs: [check]")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "requirs: [check]")
    assert "remove it or check its spelling" in str(error)


def test_missing_field_is_refused(tmp_path: Path) -> None:
    """A step without a title is refused at the step, asking to add it."""
    text = TINY.replace("        title: 検知\n", "")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "- id: detect")
    assert "title" in str(error)
    assert "add it" in str(error)


def test_duplicate_step_id_is_refused(tmp_path: Path) -> None:
    """Two steps with one id are refused at the second."""
    text = TINY.replace("- id: confirm", "- id: check")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "- id: check", occurrence=2)
    assert "step id 'check' is used twice" in str(error)


def test_duplicate_phase_id_is_refused(tmp_path: Path) -> None:
    """Two phases with one id are refused at the second: a case could never leave the
    first of them."""
    text = TINY.replace("- id: second", "- id: first")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "- id: first", occurrence=2)
    assert "phase id 'first' is used twice" in str(error)


def test_phase_named_closed_is_refused(tmp_path: Path) -> None:
    """'closed' is every flow's final state and cannot be a phase."""
    text = TINY.replace("- id: second", "- id: closed")
    error = refused(tmp_path, text)
    assert "rename the phase" in str(error)


def test_default_kind_must_be_a_kind(tmp_path: Path) -> None:
    """default_kind must be one of the flow's kinds."""
    text = TINY.replace("default_kind: system_failure", "default_kind: outage")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "default_kind: outage")


def test_not_a_mapping_is_refused() -> None:
    """A YAML list is not a flow; the message says what a flow file is."""
    with pytest.raises(InvalidFlow, match="a flow file is a YAML mapping"):
        parse_flow("- just\n- a list\n", path="list.yaml")


def test_missing_flow_file_is_not_found_and_names_the_bundled_flows(tmp_path: Path) -> None:
    """A path that does not exist is refused with the path."""
    with pytest.raises(NotFound, match=r"no flow file .*bundled flows: incident, mislink, inquiry"):
        load_flow_file(tmp_path / "nowhere.yaml")


def test_same_text_same_digest_changed_text_new_digest() -> None:
    """A flow's identity (its version) is the digest of its text."""
    assert parse_flow(TINY).digest == parse_flow(TINY).digest
    assert parse_flow(TINY).digest != parse_flow(TINY.replace("最初", "最初の段階")).digest
