"""`irflow demo`: a sample case run to close."""

from __future__ import annotations

from tests.cli.runs import Run


def test_demo_runs_a_case_to_close(irflow: Run) -> None:
    """`irflow demo` prints a closed case's timeline and a verified chain."""
    result = irflow("demo")
    assert result.code == 0, result.err
    assert "state closed" in result.out
    assert "hash chain: 16 events, verified; replayed state: closed" in result.out
