"""`irflow flow`: list, show and check flow files."""

from __future__ import annotations

from pathlib import Path

from tests.cli.runs import Run


def test_flow_check_names_file_and_line(irflow: Run, tmp_path: Path) -> None:
    """`flow check` on a broken file exits 2 with the file and line of the problem."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "name: broken\ntitle: 壊れたフロー\nkinds: [x]\ndefault_kind: x\nphases:\n"
        "  - id: only\n    title: 唯一\n    steps:\n      - id: a\n        tier: mayor\n"
        "        title: 作業\n",
        "utf-8",
    )
    result = irflow("flow", "check", str(broken))
    assert result.code == 2
    assert f"{broken}:10:" in result.err
    assert "reporter, coordinator, operator" in result.err
