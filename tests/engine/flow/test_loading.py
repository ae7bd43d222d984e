"""Reading flows: a file on disk, or a flow bundled with irflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from irflow.engine.flow import BUNDLED, CLOSED, bundled_flow, load_flow_file
from irflow.errors import NotFound
from tests.engine.flow.tiny import TINY


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


def test_missing_flow_file_is_not_found_and_names_the_bundled_flows(tmp_path: Path) -> None:
    """A path that does not exist is refused with the path."""
    with pytest.raises(NotFound, match=r"no flow file .*bundled flows: incident, mislink, inquiry"):
        load_flow_file(tmp_path / "nowhere.yaml")
