"""Fixtures of the command line's tests: ``irflow``, the command run in-process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from irflow.cli.main import main
from tests.cli.runs import Result, Run


@pytest.fixture
def irflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    """Run `irflow ARGS` in-process on a fresh SQLite file; return code, stdout, stderr."""
    monkeypatch.setenv("IRFLOW_DB", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("IRFLOW_NOTIFIERS", raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["irflow", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
