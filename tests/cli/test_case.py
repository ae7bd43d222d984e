"""`irflow case`: a write prints the case its command returned, never reading it again."""

from __future__ import annotations

import pytest

from tests.cli.runs import Run, no_case_read


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_each_write_prints_what_case_show_prints_without_reading_it_again(
    irflow: Run, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    """case open, advance, declare and assign print the case from their command's own
    result (``Engine.case`` is never called), and it is what ``case show`` prints."""
    assert irflow("init").code == 0
    shape = ["--json"] if as_json else []
    writes = [
        ("sanjo", ["open", "--reporter", "sanjo", "--title", "サンプル障害", "--at",
                   "2026-04-01T09:40"]),
        ("sanjo", ["advance", "1", "detect_anomaly", "--as", "sanjo", "--note", "検知",
                   "--at", "2026-04-01T09:45"]),
        ("sanjo", ["declare", "1", "beyond_own_capacity", "--as", "sanjo", "--at",
                   "2026-04-01T09:50"]),
        ("mic-mynumber", ["assign", "1", "--coordinator", "mhlw", "--as", "mic-mynumber",
                          "--at", "2026-04-01T09:55"]),
    ]  # fmt: skip
    for actor, args in writes:
        with no_case_read(monkeypatch):
            written = irflow("case", *args, *shape)
        assert written.code == 0, written.err
        shown = irflow("case", "show", "1", "--as", actor, *shape)
        assert written.out == shown.out
