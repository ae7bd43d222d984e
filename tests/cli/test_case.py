"""`irflow case`: open, advance, declare, assign, contacts, show and list from the command
line; a write prints the case its command returned, never reading it again."""

from __future__ import annotations

import pytest

from tests.cli.runs import Run, no_case_read, opened


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
