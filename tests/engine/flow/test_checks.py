"""The graph checks when a flow loads: no case of it can get stuck; a refusal names the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.flow.tiny import TINY, line_of, refused


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


def test_default_kind_must_be_a_kind(tmp_path: Path) -> None:
    """default_kind must be one of the flow's kinds."""
    text = TINY.replace("default_kind: system_failure", "default_kind: outage")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "default_kind: outage")
