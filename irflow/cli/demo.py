"""``irflow demo``: one sample incident, detection to close, on a throw-away database."""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from irflow.cli.case import render_case
from irflow.cli.common import console, open_engine
from irflow.clock import parse_moment
from irflow.engine.rules import SYSTEM

REPORTER, COORDINATOR, OPERATOR = "sanjo", "pref-niigata", "mic-mynumber"
START = "2026-12-01T09:40"
"""A weekday morning, so the story reads as office hours (Japan time)."""

# (step, note): the sample case's story, every note visibly sample text.
STORY = [
    ("detect_anomaly", "サンプル: 中間サーバーへの副本登録がタイムアウト"),
    ("report_status", "サンプル: 影響は副本登録のみ。新潟県へ報告"),
    ("coordinator_report_status", "サンプル: 状況を確認し運営主体へ報告"),
    ("receive_occurrence_report", None),
    ("analyse_event", "サンプル: 接続端末の証明書期限切れと判明"),
    ("receive_analysis", None),
    ("analyse_failure", "サンプル: ネットワーク側の異常なし"),
    ("contact_agencies", "サンプル: 関係機関へ対応方針を連絡"),
    ("carry_out_response", "サンプル: 証明書を更新し再送"),
    ("operator_response", None),
    ("receive_results", None),
    ("operator_receive_results", None),
    ("confirm_recovery", "サンプル: 副本登録の正常終了を確認"),
    ("receive_completion", None),
    ("announce_status", "サンプル: 情報連携に係る状況を周知"),
]


def run_demo(*, keep: bool) -> None:
    folder = Path(tempfile.mkdtemp(prefix="irflow-demo-"))
    try:
        engine = open_engine(f"sqlite:///{folder / 'demo.db'}", writes=True)
        engine.init()
        out = console()
        at = parse_moment(START)
        case = engine.open_case(
            reporter=REPORTER, title="サンプル: 副本登録の障害", kinds=["system_failure"], at=at
        )
        actors = {"reporter": REPORTER, "coordinator": COORDINATOR, "operator": OPERATOR}
        flow = engine.flow_version("incident", case.event.payload["flow_version"])
        for n, (step, note) in enumerate(STORY, start=1):
            at += timedelta(minutes=20)
            done = engine.advance(
                case.case_id, step, actor=actors[flow.steps[step].tier], note=note, at=at,
                view=n == len(STORY),
            )  # fmt: skip
        assert done.view is not None, "the last step was asked for its view"
        render_case(done.view, engine)
        (report,) = engine.verify(case.case_id, viewer=SYSTEM)
        verdict = "verified" if report.ok else f"BROKEN at event {report.bad_seq}"
        out.print(
            f"hash chain: {report.events} events, {verdict}; replayed state: "
            f"{engine.replay(case.case_id, viewer=SYSTEM)}",
            markup=False,
        )
        engine.close()
        if keep:
            out.print(f"demo database kept: {folder / 'demo.db'}", markup=False)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
