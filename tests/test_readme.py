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


def _package_map() -> str:
    text = README.read_text("utf-8")
    block = re.search(r"## A map of the package\n.*?```\n(.*?)\n```", text, re.S)
    assert block is not None, "the README lost its map of the package"
    return block.group(1)


def test_readme_map_names_only_what_exists() -> None:
    """Every file and folder the README's map names is in the package."""
    package = README.parent / "irflow"
    engine = package / "engine"
    named = re.findall(r"([a-z_]+/[a-z_/]*(?:\.py)?|[a-z_]+\.py)", _package_map())
    missing = [
        n
        for n in named
        if not (README.parent / n).exists()
        and not (package / n).exists()
        and not (engine / n).exists()
    ]
    assert missing == []


def test_readme_map_names_every_engine_room() -> None:
    """Every module and package of irflow/engine is on the README's map."""
    engine = README.parent / "irflow" / "engine"
    rooms = {p.name for p in engine.glob("*.py") if p.name != "__init__.py"}
    rooms |= {f"{p.name}/" for p in engine.iterdir() if (p / "__init__.py").exists()}
    named = set(re.findall(r"([a-z_]+(?:\.py|/))", _package_map()))
    assert sorted(rooms - named) == []
