"""What every command shares: a read before `irflow init` says how to fix it."""

from __future__ import annotations

from pathlib import Path

from tests.cli.runs import Run


def test_read_commands_need_init_and_create_no_file(irflow: Run, tmp_path: Path) -> None:
    """Before `irflow init`, a read command says how to fix it and leaves no database file."""
    result = irflow("case", "list")
    assert result.code == 2
    assert "irflow init" in result.err
    assert not (tmp_path / "cli.db").exists()
