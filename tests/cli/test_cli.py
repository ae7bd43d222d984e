"""The command line: JSON shapes scripts rely on, exit codes, and nothing written on errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, create_engine

from irflow.engine.tables import OutboxRow
from tests.cli.runs import Run, opened, row_counts
from tests.conftest import START, inquiry_notice


def test_init_twice_says_nothing_changed(irflow: Run) -> None:
    """A second `irflow init` changes nothing and says so."""
    assert irflow("init").code == 0
    second = irflow("init", "--json")
    assert second.json() == {
        "database": second.json()["database"],  # type: ignore[index]
        "migrated": False,
        "organisations_added": 0,
        "changed": False,
    }


def test_case_open_json_shape(irflow: Run) -> None:
    """`case open --json` gives the documented shape, every step listed with its status."""
    case = opened(irflow)
    assert {
        "id",
        "flow",
        "state",
        "version",
        "kinds",
        "reporter",
        "coordinator",
        "operator",
        "steps",
        "timeline",
    } <= set(case)
    assert case["flow"] == "incident"
    assert case["state"] == "detect"
    assert case["reporter"] == {"id": "sanjo", "name": "三条市"}
    assert case["coordinator"] == {"id": "pref-niigata", "name": "新潟県"}
    steps = case["steps"]
    assert isinstance(steps, list)
    assert {s["status"] for s in steps} == {"open", "waiting"}
    assert all({"id", "tier", "status", "done_by", "done_at"} <= set(s) for s in steps)
    (first,) = case["timeline"]  # type: ignore[misc]
    assert {
        "seq",
        "at",
        "actor",
        "action",
        "step",
        "from_state",
        "to_state",
        "hash",
        "prev_hash",
    } <= set(first)
    assert first["action"] == "opened"


def test_advance_by_the_wrong_tier_exits_4_and_writes_nothing(irflow: Run) -> None:
    """A step of another tier is refused with exit 4, a one-line reason, and no change."""
    opened(irflow)
    refused = irflow("case", "advance", "1", "detect_anomaly", "--as", "新潟県")
    assert refused.code == 4
    assert refused.err.count("\n") == 1
    assert "三条市 may do it" in refused.err
    assert irflow("case", "show", "1", "--json").json()["version"] == 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("case", "advance", "1", "report_status", "--as", "sanjo"), 2),
        (("case", "advance", "1", "detect_anomaly", "--as", "sanjo", "--expect-version", "9"), 5),
        (("case", "advance", "99", "detect_anomaly", "--as", "sanjo"), 3),
        (("case", "advance", "1", "no_such_step", "--as", "sanjo"), 3),
        (("case", "advance", "1", "detect_anomaly", "--as", "山口"), 2),
        (("case", "advance", "1", "detect_anomaly", "--as", "sanjo", "--at", "tomorrow"), 2),
        (("route", "--from", "sanjo", "--to", "operator", "--situation", "panic"), 2),
        (("flow", "show", "nosuch"), 3),
        (("case", "list", "--state", "bogus"), 2),
        (("org", "search", "該当なしのサンプル"), 3),
    ],
    ids=[
        "waiting-step",
        "stale-version",
        "no-case",
        "no-step",
        "ambiguous-org",
        "bad-moment",
        "bad-situation",
        "no-flow",
        "no-state",
        "no-org-match",
    ],
)
def test_errors_have_distinct_exit_codes(irflow: Run, args: tuple[str, ...], code: int) -> None:
    """Bad input exits 2, not found 3, a version conflict 5, each with nothing written."""
    opened(irflow)
    result = irflow(*args)
    assert result.code == code, result.err
    assert result.err.startswith("irflow: error: ")
    assert irflow("case", "show", "1", "--json").json()["version"] == 1  # type: ignore[index]


@pytest.mark.parametrize(
    "args",
    [
        ("case", "open", "--reporter", "山口", "--title", "サンプル障害"),
        ("inquiry", "ask", "--as", "山口", "--title", "サンプル", "--body", "x", "--faq-checked"),
    ],
    ids=["case-open", "inquiry-ask"],
)
def test_an_ambiguous_name_exits_2_listing_the_candidates_and_writes_nothing(
    irflow: Run, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """山口 names 山口県 and 山口市: bad input (exit 2), both listed, no row written."""
    assert irflow("init").code == 0
    before = row_counts(tmp_path / "cli.db")
    refused = irflow(*args)
    assert refused.code == 2
    assert refused.err.count("\n") == 1
    assert "山口県 (pref-yamaguchi)" in refused.err
    assert "山口市 (yamaguchi-city)" in refused.err
    assert "give the id or the local government code" in refused.err
    assert row_counts(tmp_path / "cli.db") == before


def test_org_search_without_a_match_exits_3_with_json_too(irflow: Run) -> None:
    """No match is exit 3 either way: a hint on stderr, or [] for scripts."""
    assert irflow("init").code == 0
    plain = irflow("org", "search", "該当なしのサンプル", "--exact")
    assert (plain.code, plain.out) == (3, "")
    assert "try without --exact" in plain.err
    scripted = irflow("org", "search", "該当なしのサンプル", "--json")
    assert (scripted.code, scripted.json(), scripted.err) == (3, [], "")


def test_read_commands_need_init_and_create_no_file(irflow: Run, tmp_path: Path) -> None:
    """Before `irflow init`, a read command says how to fix it and leaves no database file."""
    result = irflow("case", "list")
    assert result.code == 2
    assert "irflow init" in result.err
    assert not (tmp_path / "cli.db").exists()


def test_whole_case_through_the_cli_verifies(irflow: Run) -> None:
    """A case advanced to close from the command line has a verified chain (`verify` exits 0)."""
    opened(irflow)
    who = {"reporter": "sanjo", "coordinator": "pref-niigata", "operator": "mic-mynumber"}
    flow = irflow("flow", "show", "incident", "--format", "json").json()
    assert isinstance(flow, dict)
    order = [
        "detect_anomaly",
        "report_status",
        "coordinator_report_status",
        "receive_occurrence_report",
        "analyse_event",
        "receive_analysis",
        "analyse_failure",
        "contact_agencies",
        "carry_out_response",
        "operator_response",
        "receive_results",
        "operator_receive_results",
        "confirm_recovery",
        "receive_completion",
        "announce_status",
    ]
    tiers = {s["id"]: s["tier"] for p in flow["phases"] for s in p["steps"]}
    for step in order:
        assert irflow("case", "advance", "1", step, "--as", who[tiers[step]]).code == 0
    assert irflow("case", "show", "1", "--json").json()["state"] == "closed"  # type: ignore[index]
    verdict = irflow("verify", "--json")
    assert verdict.code == 0
    assert verdict.json() == [
        {"case": 1, "events": 16, "ok": True, "bad_seq": None, "problem": None}
    ]


def test_case_list_and_org_search_json(irflow: Run) -> None:
    """`case list --json` and `org search --json` give the documented fields."""
    opened(irflow)
    (row,) = irflow("case", "list", "--json").json()  # type: ignore[misc]
    assert {"id", "flow", "state", "version", "title", "reporter", "coordinator"} <= set(row)
    found = irflow("org", "search", "山口", "--json").json()
    assert isinstance(found, list)
    assert {o["name"] for o in found} == {"山口県", "山口市"}
    assert set(found[0]) == {"id", "name", "tier", "code", "prefecture"}
    exact = irflow("org", "search", "山口市", "--exact", "--json").json()
    assert [o["code"] for o in exact] == ["352039"]  # type: ignore[union-attr]


def test_route_json_outside_hours(irflow: Run) -> None:
    """`irflow route --json` on 29 December gives an off-hours plan without the 050 line."""
    assert irflow("init").code == 0
    plan = irflow(
        "route",
        "--from",
        "sanjo",
        "--to",
        "operator",
        "--situation",
        "incident",
        "--at",
        "2026-12-29T10:00",
        "--json",
    ).json()
    assert isinstance(plan, dict)
    assert plan["working_day"] is False
    assert plan["window"] == "off_hours"
    assert plan["operator_line_open"] is False
    assert "050-3786-7382" not in json.dumps(plan)
    assert plan["steps"][-1]["category"] == "06.異常時における連絡等"


def test_help_teaches(irflow: Run) -> None:
    """`irflow --help` lists the commands and an example session with the exit codes."""
    result = irflow("--help")
    assert result.code == 0
    for word in ("case", "route", "verify", "irflow case advance 1 detect_anomaly", "Exit codes"):
        assert word in result.out


def test_demo_runs_a_case_to_close(irflow: Run) -> None:
    """`irflow demo` prints a closed case's timeline and a verified chain."""
    result = irflow("demo")
    assert result.code == 0, result.err
    assert "state closed" in result.out
    assert "hash chain: 16 events, verified; replayed state: closed" in result.out


def test_contacts_are_recorded_on_the_timeline(irflow: Run) -> None:
    """`case contacts` prints the plan for the open report step and records it as an event."""
    opened(irflow)
    irflow("case", "advance", "1", "detect_anomaly", "--as", "sanjo", "--at", "2026-12-01T10:00")
    shown = irflow("case", "contacts", "1", "--as", "sanjo", "--at", "2026-12-01T10:05", "--json")
    assert shown.code == 0, shown.err
    (contact,) = shown.json()  # type: ignore[misc]
    assert contact["step"] == "report_status"
    assert contact["to"] == {"id": "pref-niigata", "name": "新潟県"}
    assert [s["action"] for s in contact["plan"]["steps"]] == ["lookup", "phone", "post"]
    timeline = irflow("case", "show", "1", "--json").json()["timeline"]  # type: ignore[index]
    assert timeline[-1]["action"] == "contacts_shown"


def test_assign_coordinator_is_audited(irflow: Run) -> None:
    """`case assign` by the operator hands the case to a ministry, as a timeline event."""
    opened(irflow)
    assigned = irflow(
        "case", "assign", "1", "--coordinator", "厚生労働省", "--as", "mic-mynumber", "--json"
    )
    assert assigned.code == 0, assigned.err
    data = assigned.json()
    assert data["coordinator"] == {"id": "mhlw", "name": "厚生労働省"}  # type: ignore[index]
    assert data["timeline"][-1]["action"] == "coordinator_assigned"  # type: ignore[index]
    refused = irflow("case", "assign", "1", "--coordinator", "mext", "--as", "sanjo")
    assert refused.code == 4


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


def test_org_import_refuses_a_bad_check_digit_and_writes_nothing(
    irflow: Run, tmp_path: Path
) -> None:
    """`org import` refuses a wrong check digit naming the line, and adds nothing."""
    assert irflow("init").code == 0
    csv = tmp_path / "dir.csv"
    csv.write_text(
        "id,name,type,tier,prefecture,code\n"
        "sample-town,サンプル町,municipality,reporter,pref-niigata,159990\n"
        "sample-city,サンプル市,municipality,reporter,pref-niigata,152048\n",
        "utf-8",
    )
    result = irflow("org", "import", str(csv))
    assert result.code == 2
    assert ":2:" in result.err
    assert irflow("org", "search", "サンプル", "--json").json() == []
    csv.write_text(
        "id,name,type,tier,prefecture,code\n"
        "sample-city,サンプル市,municipality,reporter,pref-niigata,152048\n",
        "utf-8",
    )
    assert irflow("org", "import", str(csv)).code == 0
    assert [o["id"] for o in irflow("org", "search", "サンプル", "--json").json()] == [  # type: ignore[union-attr]
        "sample-city"
    ]


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
