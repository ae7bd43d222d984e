"""Whole flows through the API alone, by three tokens of three organisations."""

from __future__ import annotations

from typing import Any

from irflow.engine.rules import SYSTEM
from tests.service.conftest import Service

TIER_ACTS = {"reporter": "reporter", "coordinator": "coordinator", "operator": "operator"}


def drive_to_close(service: Service, case_id: int) -> dict[str, Any]:
    """Do every open step, each by the organisation of its tier, until the case closes."""
    case = service.get(f"/cases/{case_id}", "reporter").json()
    for _ in range(100):
        if case["state"] == "closed":
            return dict(case)
        open_steps = [s for s in case["steps"] if s["status"] == "open"]
        assert open_steps, f"case {case_id} is stuck in {case['state']}"
        step = open_steps[0]
        answer = service.post(
            f"/cases/{case_id}/steps/{step['id']}",
            TIER_ACTS[step["tier"]],
            {"note": f"{step['title']}を実施（試験）"},
            headers={"If-Match": f'"{case["version"]}"'},
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["ETag"] == f'"{answer.json()["version"]}"'
        case = answer.json()
    raise AssertionError("the case did not close")


def test_an_incident_from_detection_to_close(service: Service) -> None:
    opened = service.open()
    assert opened["reporter"]["id"] == "sanjo"
    assert opened["coordinator"]["id"] == "pref-niigata"
    closed = drive_to_close(service, opened["id"])
    assert closed["state"] == "closed"
    (report,) = service.engine.verify(opened["id"], viewer=SYSTEM)
    assert report.ok
    # Every event written through the service names its organisation.
    actors = {e["actor"] for e in closed["timeline"] if e["actor"]}
    assert actors == {"sanjo", "pref-niigata", "mic-mynumber"}
    # The operator sees it in its list; an outsider does not.
    listed = service.get("/cases", "operator").json()
    assert [c["id"] for c in listed["items"]] == [opened["id"]]
    assert service.get("/cases", "other_reporter").json() == {"items": [], "next": None}


def test_an_inquiry_up_to_jlis_and_back(service: Service) -> None:
    asked = service.post(
        "/inquiries", "reporter",
        {"title": "副本登録の手順（試験）", "body": "手順を確認したい。", "faq_checked": True},
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    inquiry = asked.json()
    number = inquiry["id"]
    assert asked.headers["Location"] == f"/api/v1/inquiries/{number}"
    assert inquiry["holder"]["id"] == "pref-niigata"

    def act(who: str, action: str, **body: str) -> dict[str, Any]:
        answer = service.post(f"/inquiries/{number}/{action}", who, body or None)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    assert act("coordinator", "escalate", note="県では判断できないため")["holder"]["id"] == "jlis"
    answered = act("jlis", "answer", body="手順書第3章のとおりです。")
    assert answered["holder"]["id"] == "pref-niigata"
    assert act("coordinator", "relay")["holder"]["id"] == "sanjo"
    closed = act("reporter", "close")
    assert closed["state"] == "closed"
    assert closed["form"]["answer"] == "手順書第3章のとおりです。"
    mine = service.get("/inquiries", "reporter").json()["items"]
    assert [(i["id"], i["your_turn"]) for i in mine] == [(number, False)]
    # The inquiry lives under /inquiries only, and never for an outsider.
    assert service.get(f"/cases/{number}", "reporter").status_code == 404
    assert service.get(f"/inquiries/{number}", "other_coordinator").status_code == 404
    (report,) = service.engine.verify(number, viewer=SYSTEM)
    assert report.ok


def test_an_inquiry_without_the_faq_checked_asks_nothing(service: Service) -> None:
    answer = service.post(
        "/inquiries", "reporter", {"title": "試験", "body": "質問", "faq_checked": False}
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "FAQ" in answer.json()["detail"] or "faq" in answer.json()["detail"]
    assert service.engine.cases(viewer=SYSTEM) == []
