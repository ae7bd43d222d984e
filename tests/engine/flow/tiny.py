"""A tiny flow the flow tests break, and how they read its refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from irflow.engine.flow import load_flow_file
from irflow.errors import InvalidFlow

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
