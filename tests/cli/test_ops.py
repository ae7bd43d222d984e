"""The operations commands: irflow sweep, run, report, outbox and post."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from tests.engine.cases import NIIGATA, SANJO
from tests.engine.ladders import escalated, rungs


def _irflow(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `irflow` command in a child process on a SQLite file in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if k != "IRFLOW_NOTIFIERS"}
    env["IRFLOW_DB"] = f"sqlite:///{tmp_path / 'cron.db'}"
    return subprocess.run(
        [sys.executable, "-c", "from irflow.cli.main import main; main()", *args],
        cwd=tmp_path,  # no irflow.toml here: the site is the only channel
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_cli_sweep_twice_at_the_same_moment_fires_nothing_the_second_time(
    tmp_path: Path,
) -> None:
    """`irflow sweep --at T` run twice: the second run fires nothing and sends nothing."""
    _irflow(tmp_path, "init")
    _irflow(tmp_path, "case", "open", "--reporter", "三条市", "--title", "照会の異常",
            "--at", "2026-04-01T10:00")  # fmt: skip
    _irflow(tmp_path, "case", "advance", "1", "detect_anomaly", "--as", "三条市",
            "--at", "2026-04-01T10:10")  # fmt: skip
    # report_status opened at 10:10, 1h: remind 11:10 and notify 11:40 are due by 12:00.
    first = json.loads(_irflow(tmp_path, "sweep", "--at", "2026-04-01T12:00", "--json").stdout)
    assert [(f["case"], f["step"], f["rung"], f["action"], f["told"]) for f in first["fired"]] == [
        (1, "report_status", 1, "remind", [SANJO]),
        (1, "report_status", 2, "notify", [NIIGATA]),
    ]
    assert sorted(first["sent"]) == ["c1.e3.n0.site", "c1.e4.n0.site"]
    second = json.loads(_irflow(tmp_path, "sweep", "--at", "2026-04-01T12:00", "--json").stdout)
    assert second == {"fired": [], "sent": [], "failed": [], "dead": []}
    with Engine(f"sqlite:///{tmp_path / 'cron.db'}") as engine:
        assert rungs(engine, 1) == [("report_status", 1, "remind"), ("report_status", 2, "notify")]
        assert [e.actor for e in escalated(engine, 1)] == [None, None]
        assert engine.verify(1, viewer=SYSTEM)[0].ok
