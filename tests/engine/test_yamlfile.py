"""Reading the data files: a YAML error or a file that is no mapping is refused at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from irflow.engine.flow import parse_flow
from irflow.errors import InvalidFlow
from tests.engine.flow.tiny import TINY, line_of, refused


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


def test_not_a_mapping_is_refused() -> None:
    """A YAML list is not a flow; the message says what a flow file is."""
    with pytest.raises(InvalidFlow, match="a flow file is a YAML mapping"):
        parse_flow("- just\n- a list\n", path="list.yaml")
