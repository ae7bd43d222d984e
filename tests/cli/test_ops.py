"""The operations commands: irflow sweep, run, report, outbox and post."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, create_engine

from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.engine.tables import OutboxRow
from tests.cli.runs import Run
from tests.conftest import START, inquiry_notice
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


def posted_inquiry_notice(irflow: Run, tmp_path: Path) -> str:
    """新潟県's notice relaying J-LIS's answer to 三条市, queued and sent to the site."""
    assert irflow("init").code == 0
    db = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with Session(db) as session:
        session.add(
            OutboxRow(
                id="c7.e5.n0.site",
                case_id=7,
                channel="site",
                kind="inquiry",
                template="mail_inquiry",
                context=json.dumps(inquiry_notice("relay"), ensure_ascii=False),
                recipients='["sanjo"]',
                sender_id="pref-niigata",
                category="02.FAQ・問合せ > 02.問合せ",
                next_attempt_at=START,
                created_at=START,
            )
        )
        session.commit()
    db.dispose()
    swept = irflow("sweep", "--at", "2026-04-01T10:00", "--json")
    assert swept.code == 0, swept.err
    assert swept.json() == {"fired": [], "sent": ["c7.e5.n0.site"], "failed": [], "dead": []}
    return "c7.e5.n0.site"


def test_post_list_names_the_attached_form(irflow: Run, tmp_path: Path) -> None:
    """`post list` shows an inquiry post's id and its 問合せ票.md; `--json` carries the form."""
    post_id = posted_inquiry_notice(irflow, tmp_path)
    listed = irflow("post", "list", "--as", "三条市")
    assert listed.code == 0, listed.err
    assert post_id in listed.out
    assert "添付: 問合せ票.md" in listed.out
    posts = irflow("post", "list", "--as", "sanjo", "--json").json()
    assert isinstance(posts, list)
    (post,) = posts
    assert post["attachment_name"] == "問合せ票.md"
    assert post["attachment"].startswith("# 問合せ票")
    assert "| 2 | 地方公共団体情報システム機構 |" in post["attachment"]


def test_post_show_prints_the_post_and_its_form(irflow: Run, tmp_path: Path) -> None:
    """`post show` prints the post's text and then the whole 問合せ票, to those who may read it."""
    post_id = posted_inquiry_notice(irflow, tmp_path)
    shown = irflow("post", "show", post_id, "--as", "三条市")
    assert shown.code == 0, shown.err
    assert "地方公共団体情報システム機構の回答が新潟県から中継されました。" in shown.out
    assert "--- 添付: 問合せ票.md ---" in shown.out
    form = shown.out[shown.out.index("--- 添付") :]
    for receiver in ("新潟県", "地方公共団体情報システム機構"):
        assert f"| {receiver} |" in form
    assert "> 手順書第3章のとおりです。" in form

    data = irflow("post", "show", post_id, "--as", "新潟県", "--json").json()  # the poster
    assert isinstance(data, dict)
    assert (data["id"], data["poster"], data["named"]) == (post_id, "pref-niigata", ["sanjo"])
    assert data["attachment_name"] == "問合せ票.md"
    assert "副本登録の手順を確認したい。" in data["attachment"]
    assert "問合せ票を添付しています" in data["body"]


@pytest.mark.parametrize("post_id", ["c7.e5.n0.site", "no-such-post"], ids=["hidden", "absent"])
def test_post_show_to_an_outsider_is_not_found(irflow: Run, tmp_path: Path, post_id: str) -> None:
    """A post the reader may not read is not found (exit 3), worded as one that does not exist."""
    posted_inquiry_notice(irflow, tmp_path)
    refused = irflow("post", "show", post_id, "--as", "石川県")
    assert refused.code == 3
    assert refused.err == (
        f"irflow: error: no post {post_id!r} that 石川県 may read; "
        "`irflow post list --as pref-ishikawa` lists the posts it may read\n"
    )
    assert "問合せ票" not in refused.out + refused.err
