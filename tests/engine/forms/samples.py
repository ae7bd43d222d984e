"""The contexts the forms tests render: a report, an inquiry form, moments."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from irflow.clock import JST
from irflow.engine.forms import IncidentReportContext, StepRecord

T0 = datetime(2026, 12, 1, 9, 10, tzinfo=JST)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def report(**changes: Any) -> IncidentReportContext:
    base = IncidentReportContext(
        case_id=7,
        title="サンプル市 中間サーバー接続障害",
        kinds=("system_failure",),
        reporter="サンプル市",
        coordinator="サンプル県",
        operator="サンプル運営主体",
        occurred_at=at(0),
        detected_at=at(5),
        summary="情報照会がタイムアウトする。",
        impact="サンプル市の情報照会業務",
        response_status="回線事業者に確認中",
        contact_person="サンプル市 情報政策課（it@example.invalid）",
        recovered_at=at(150),
        steps=(
            StepRecord(
                title="異常発生を検知", tier="reporter", done_by="サンプル市", done_at=at(0)
            ),
            StepRecord(
                title="状況確認、報告",
                tier="reporter",
                done_by="サンプル市",
                done_at=at(20),
                note="電話で一報済み",
            ),
        ),
    )
    return replace(base, **changes)
