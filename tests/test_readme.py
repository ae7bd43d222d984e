"""The README stays true to the code it describes."""

from __future__ import annotations

import re
from pathlib import Path

from irflow.engine.flow import bundled_flow, mermaid

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_diagram_is_the_flow_file() -> None:
    """The README's mermaid diagram is what `irflow flow show incident --format mermaid` gives."""
    text = README.read_text("utf-8")
    block = re.search(r"```mermaid\n(.*?)\n```", text, re.S)
    assert block is not None
    assert block.group(1) == mermaid(bundled_flow("incident"))


def test_readme_has_exactly_two_setup_lines() -> None:
    """The README keeps two set-up command lines: one runs the demo, one the tests."""
    lines = [ln for ln in README.read_text("utf-8").splitlines() if "pip install" in ln]
    assert len(lines) == 2
    assert lines[0].endswith("irflow demo")
    assert lines[1].endswith("pytest")
