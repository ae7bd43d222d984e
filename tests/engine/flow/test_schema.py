"""What a flow file may say: a field misspelt, missing or of no case is refused at its line."""

from __future__ import annotations

from pathlib import Path

from tests.engine.flow.tiny import TINY, line_of, refused


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


def test_phase_named_closed_is_refused(tmp_path: Path) -> None:
    """'closed' is every flow's final state and cannot be a phase."""
    text = TINY.replace("- id: second", "- id: closed")
    error = refused(tmp_path, text)
    assert "rename the phase" in str(error)
