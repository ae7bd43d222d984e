"""The templates' environment: escaping, Japan time, jinja2 loaded only to render."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from irflow.engine.forms import StepRecord, format_jst, render_incident_report
from tests.engine.forms.samples import at, report


def test_html_escapes_script_in_a_note() -> None:
    """HTML output escapes markup that arrives in data (autoescape on for .html)."""
    step = StepRecord(
        title="状況確認、報告",
        tier="reporter",
        done_by="サンプル市",
        done_at=at(20),
        note="<script>alert('x')</script>",
    )
    text = render_incident_report(report(steps=(step,)), format="html")
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


def test_markdown_keeps_japanese_unescaped() -> None:
    """Markdown output keeps Japanese text and ampersands as written, without HTML entities."""
    summary = "「情報照会」＆『副本登録』が失敗 & 再送不可"
    text = render_incident_report(report(summary=summary), format="md")
    assert summary in text
    assert "&amp;" not in text
    assert "&#" not in text


def test_moments_are_written_in_japan_time() -> None:
    """A UTC moment is written as the Japan-time wall clock of the forms."""
    assert format_jst(datetime(2026, 12, 1, 0, 40, tzinfo=UTC)) == "2026年12月1日 09:40"


def test_importing_forms_does_not_import_jinja2() -> None:
    """Importing irflow.engine.forms leaves jinja2 unimported until something is rendered."""
    code = "import sys, irflow.engine.forms; print('jinja2' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
