"""`irflow case list` and `irflow inquiry list` a page at a time, from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.runs import Run, opened


def listed(irflow: Run, *args: str) -> list[int]:
    """The case numbers `case list --json ARGS` shows."""
    result = irflow("case", "list", *args, "--json")
    assert result.code == 0, result.err
    page = result.json()
    assert isinstance(page, list)
    return [row["id"] for row in page]


def test_case_list_walks_pages_with_after(irflow: Run) -> None:
    """Three cases by two: the first page ends with the command for the next one, which
    shows the rest and ends without one; --json is the page, a list."""
    for _ in range(3):
        opened(irflow)
    first = irflow("case", "list", "--limit", "2")
    assert first.code == 0, first.err
    assert first.out.rstrip().splitlines()[-1] == "next page: irflow case list --limit 2 --after 2"
    second = irflow("case", "list", "--limit", "2", "--after", "2")
    assert second.code == 0, second.err
    assert "next page" not in second.out
    assert "サンプル障害" in second.out
    assert listed(irflow, "--limit", "2") == [1, 2]
    assert listed(irflow, "--limit", "2", "--after", "2") == [3]
    assert listed(irflow, "--after", "3") == []
    assert listed(irflow) == [1, 2, 3]
    assert "next page" not in irflow("case", "list").out  # 3 of 50: the last page


def test_case_list_next_page_keeps_the_filters(irflow: Run) -> None:
    """The next page's command repeats --state, so it goes on with the same list."""
    opened(irflow)
    opened(irflow)
    result = irflow("case", "list", "--state", "detect", "--limit", "1")
    assert result.code == 0, result.err
    assert result.out.rstrip().endswith(
        "next page: irflow case list --state detect --limit 1 --after 1"
    )
    assert listed(irflow, "--state", "detect", "--limit", "1", "--after", "1") == [2]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--limit", "0"), "limit 0 is out of range; give a limit from 1 to 1000"),
        (("--limit", "1001"), "limit 1001 is out of range; give a limit from 1 to 1000"),
        (("--after", "-1"), "after -1 is negative"),
    ],
)
def test_case_list_out_of_range_exits_2_before_reading(
    irflow: Run, tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    """A page out of range is refused with exit 2 naming the range, before the database
    is even looked at: no file is created."""
    result = irflow("case", "list", *args)
    assert (result.code, result.out) == (2, "")
    assert words in result.err
    assert not (tmp_path / "cli.db").exists()


def test_inquiry_list_pages(irflow: Run, tmp_path: Path) -> None:
    """`inquiry list --as ORG` pages too, and its next page keeps --as."""
    assert irflow("init").code == 0
    question = tmp_path / "question.txt"
    question.write_text("確認したい。\n", "utf-8")
    for n in range(2):
        asked = irflow(
            "inquiry", "ask", "--as", "三条市", "--title", f"問合せ{n}", "--body-file",
            str(question), "--faq-checked", "--at", "2026-11-30T10:00",
        )  # fmt: skip
        assert asked.code == 0, asked.err
    first = irflow("inquiry", "list", "--as", "三条市", "--limit", "1")
    assert first.code == 0, first.err
    assert first.out.rstrip().endswith(
        "next page: irflow inquiry list --as sanjo --limit 1 --after 1"
    )
    assert "問合せ0" in first.out
    assert "問合せ1" not in first.out
    second = irflow("inquiry", "list", "--as", "sanjo", "--limit", "1", "--after", "1", "--json")
    assert [row["id"] for row in second.json()] == [2]  # type: ignore[union-attr]
    empty = irflow("inquiry", "list", "--as", "sanjo", "--after", "2")
    assert empty.out.strip() == "no inquiries after 2 that 三条市 (sanjo) may see"


def test_case_list_overdue_pages_keep_the_flag(irflow: Run) -> None:
    """Overdue cases (a rung fired) page too; the next page's command keeps --overdue."""
    opened(irflow)
    opened(irflow)
    assert irflow("sweep", "--at", "2026-04-10T10:00").code == 0
    first = irflow("case", "list", "--overdue", "--limit", "1")
    assert first.code == 0, first.err
    assert "(overdue)" in first.out
    assert first.out.rstrip().endswith("next page: irflow case list --overdue --limit 1 --after 1")
    assert listed(irflow, "--overdue", "--limit", "1", "--after", "1") == [2]
