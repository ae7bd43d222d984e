"""Every route, for every kind of caller: exactly the documented status, and nothing
written by a refusal (version, events, deadlines, outbox unchanged)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from irflow.engine.facade import Engine
from tests.service.conftest import ORGS, Service

PARTICIPANTS = ("reporter", "coordinator", "operator")
OUTSIDERS = ("other_reporter", "other_coordinator", "other_ministry", "jlis")
UNPROVEN = ("no_token", "garbage", "disabled", "revoked", "expired")
NEVER = 999_999


def snapshot(engine: Engine) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    with engine.sa.connect() as conn:
        return tuple(
            tuple(conn.execute(text(q)).all())
            for q in (
                "SELECT id, version, state, last_seq FROM irflow_case ORDER BY id",
                "SELECT COUNT(*) FROM timeline_event",
                "SELECT COUNT(*) FROM deadline",
                "SELECT COUNT(*) FROM outbox",
            )
        )


@pytest.fixture
def world(service: Service) -> dict[str, Any]:
    """A case and an inquiry of 三条市, and tokens that prove nothing."""
    case = service.open()
    asked = service.post(
        "/inquiries",
        "reporter",
        {"title": "試験の問合せ", "body": "質問（試験）", "faq_checked": True},
    ).json()
    accounts = service.engine.accounts
    for who in ("disabled", "revoked", "expired"):
        accounts.add_user(f"user-{who}", org="sanjo")
    _info, service.tokens["disabled"] = accounts.create_token("user-disabled")
    accounts.disable("user-disabled")
    info, service.tokens["revoked"] = accounts.create_token("user-revoked")
    accounts.revoke(info.id)
    _info, service.tokens["expired"] = accounts.create_token(
        "user-expired", expires=timedelta(minutes=5)
    )
    service.engine.clock.advance(timedelta(minutes=6))  # type: ignore[attr-defined]
    live = service.tokens["reporter"]
    service.tokens["garbage"] = live[:-1] + ("A" if live[-1] != "A" else "B")
    return {"case": case["id"], "inquiry": asked["id"]}


def call(service: Service, who: str, method: str, path: str, body: Any = None) -> Any:
    headers = {} if who == "no_token" else service.auth(who)
    return service.client.request(method, f"/api/v1{path}", headers=headers, json=body)


# (method, path, body, status by caller): "*" stands for every caller not named; 0: a
# caller for whom it would succeed, not tried here (the flows' tests do it).
CASE_ROUTES: list[tuple[str, str, Any, dict[str, int]]] = [
    ("GET", "/cases/{case}", None, {**dict.fromkeys(PARTICIPANTS, 200), "*": 404}),
    ("GET", "/cases/{case}/report", None, {**dict.fromkeys(PARTICIPANTS, 200), "*": 404}),
    ("POST", "/cases/{case}/steps/detect_anomaly", {"note": "試験"},
     {"reporter": 0, "coordinator": 403, "operator": 403, "*": 404}),
    ("POST", "/cases/{case}/flags/beyond_own_capacity", None,
     {"reporter": 0, "coordinator": 403, "operator": 403, "*": 404}),
    ("PUT", "/cases/{case}/coordinator", {"coordinator": "mhlw"},
     {"reporter": 403, "coordinator": 0, "operator": 0, "*": 404}),
    ("GET", "/inquiries/{inquiry}", None, {"reporter": 200, "coordinator": 200, "*": 404}),
    ("POST", "/inquiries/{inquiry}/answer", {"body": "回答（試験）"},
     {"reporter": 403, "coordinator": 0, "*": 404}),
    ("POST", "/inquiries/{inquiry}/close", None, {"reporter": 409, "coordinator": 403, "*": 404}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "expected"), CASE_ROUTES)
def test_each_caller_gets_its_status_and_a_refusal_writes_nothing(
    service: Service, world: dict[str, Any], method: str, path: str, body: Any,
    expected: dict[str, int],
) -> None:  # fmt: skip
    url = path.format(**world)
    for who in (*PARTICIPANTS, *OUTSIDERS, *UNPROVEN):
        want = 401 if who in UNPROVEN else expected.get(who, expected["*"])
        if want == 0:
            continue
        before = snapshot(service.engine)
        answer = call(service, who, method, url, body)
        assert answer.status_code == want, (who, answer.text)
        if want >= 400:
            assert answer.headers["content-type"] == "application/problem+json"
            problem = answer.json()
            assert problem["status"] == want
            assert problem["detail"]
            assert snapshot(service.engine) == before, f"{who} was refused but something changed"
        if want == 401:
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body", "expected"), CASE_ROUTES)
def test_an_outsider_hears_what_a_number_never_used_gives(
    service: Service, world: dict[str, Any], method: str, path: str, body: Any,
    expected: dict[str, int],
) -> None:  # fmt: skip
    number = world["inquiry" if "inquiry" in path else "case"]
    never = call(service, "other_reporter", method, path.format(case=NEVER, inquiry=NEVER), body)
    for who in OUTSIDERS:
        seen = call(service, who, method, path.format(**world), body)
        assert seen.status_code == never.status_code == 404
        assert seen.content.replace(str(number).encode(), b"N") == never.content.replace(
            str(NEVER).encode(), b"N"
        )
        assert seen.headers.get("etag") is None


OPEN_ROUTES = [
    ("GET", "/cases"), ("GET", "/inquiries"), ("GET", "/posts"), ("GET", "/orgs?q=三条"),
    ("GET", "/route?to=pref-tokyo&situation=incident"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path"), OPEN_ROUTES)
def test_lists_answer_every_proven_caller_and_no_one_else(
    service: Service, world: dict[str, Any], method: str, path: str
) -> None:
    for who in (*PARTICIPANTS, *OUTSIDERS, *UNPROVEN):
        answer = call(service, who, method, path)
        assert answer.status_code == (401 if who in UNPROVEN else 200), (who, answer.text)


def test_a_list_holds_only_what_the_caller_takes_part_in(
    service: Service, world: dict[str, Any]
) -> None:
    for who in OUTSIDERS:
        assert call(service, who, "GET", "/cases").json()["items"] == []
        assert call(service, who, "GET", "/inquiries").json()["items"] == []
    ids = [c["id"] for c in call(service, "operator", "GET", "/cases").json()["items"]]
    assert ids == [world["case"]]  # the inquiry lives under /inquiries only


def test_no_field_of_a_request_can_name_another_organisation(
    service: Service, world: dict[str, Any]
) -> None:
    before = snapshot(service.engine)
    for body in ({"title": "偽装", "reporter": "kanazawa"}, {"title": "偽装", "actor": "kanazawa"}):
        answer = service.post("/cases", "other_ministry", body)
        assert answer.status_code == 422
    answer = service.post(
        f"/cases/{world['case']}/steps/detect_anomaly", "coordinator", {"actor": "sanjo"}
    )
    assert answer.status_code == 422
    assert snapshot(service.engine) == before


def test_a_read_only_token_reads_and_never_writes(service: Service, world: dict[str, Any]) -> None:
    _info, secret = service.engine.accounts.create_token("user-reporter", read_only=True)
    service.tokens["read_only"] = secret
    assert service.get(f"/cases/{world['case']}", "read_only").status_code == 200
    before = snapshot(service.engine)
    answer = service.post(f"/cases/{world['case']}/steps/detect_anomaly", "read_only", {})
    assert answer.status_code == 403
    assert "read-only" in answer.json()["detail"]
    assert service.post("/cases", "read_only", {"title": "試験"}).status_code == 403
    assert snapshot(service.engine) == before


def test_a_disabled_account_is_refused_from_the_next_request_on(service: Service) -> None:
    assert service.get("/cases", "reporter").status_code == 200
    service.engine.accounts.disable("user-reporter")
    assert service.get("/cases", "reporter").status_code == 401
    service.engine.accounts.enable("user-reporter")
    assert service.get("/cases", "reporter").status_code == 200


def test_the_orgs_of_the_fixture_are_of_the_tiers_they_play(engine: Engine) -> None:
    tiers = {who: engine.organisation_by_id(org).tier.value for who, org in ORGS.items()}
    assert tiers["reporter"] == "reporter"
    assert tiers["operator"] == "operator"
    assert tiers["coordinator"] == tiers["other_coordinator"] == "coordinator"
