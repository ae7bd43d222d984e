"""The answers of the service: each refusal its status and problem, ETags, limits,
health, metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from irflow.engine.facade import Engine
from irflow.service.app import create_app
from irflow.service.auth import FailureLimit
from tests.service.conftest import Service
from tests.service.test_authorisation import snapshot


def problem_of(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = dict(answer.json())
    assert set(body) >= {"type", "title", "status", "detail"}
    assert body["status"] == status
    return body


def test_a_step_done_twice_is_a_conflict_with_the_case_as_it_stands(service: Service) -> None:
    case = service.open()["id"]
    assert service.post(f"/cases/{case}/steps/detect_anomaly", "reporter").status_code == 200
    before = snapshot(service.engine)
    again = service.post(f"/cases/{case}/steps/detect_anomaly", "reporter")
    assert "done already" in problem_of(again, 409)["detail"]
    assert snapshot(service.engine) == before


def test_if_match_guards_the_write(service: Service) -> None:
    opened = service.open()
    case = opened["id"]
    shown = service.get(f"/cases/{case}", "reporter")
    assert shown.headers["ETag"] == f'"{opened["version"]}"'
    before = snapshot(service.engine)
    for stale in ('"999"', 'W/"1"', "junk"):
        answer = service.post(
            f"/cases/{case}/steps/detect_anomaly", "reporter", headers={"If-Match": stale}
        )
        problem_of(answer, 412)
        assert snapshot(service.engine) == before
    done = service.post(
        f"/cases/{case}/steps/detect_anomaly", "reporter",
        headers={"If-Match": shown.headers["ETag"]},
    )  # fmt: skip
    assert done.status_code == 200
    assert done.headers["ETag"] == f'"{opened["version"] + 1}"'


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("/cases/{case}/steps/no_such_step", None, "no_such_step"),
        ("/cases/{case}/steps/detect_anomaly", {"declare": ["no_such_flag"]}, "no_such_flag"),
        ("/cases/{case}/flags/no_such_flag", None, "no_such_flag"),
        ("/cases", {"title": "試験", "kinds": ["no_such_kind"]}, "no_such_kind"),
        ("/cases", {"title": ""}, "title"),
        ("/cases", {"kinds": ["system_failure"]}, "title"),
        ("/cases/{case}/steps/detect_anomaly", {"note": 12}, "note"),
        ("/inquiries", {"title": "試験", "body": "質問"}, "faq_checked"),
        ("/cases", {"title": "試験", "kinds": ["inquiry"]}, "/inquiries"),
    ],
)
def test_a_malformed_request_names_the_field_and_writes_nothing(
    service: Service, path: str, body: Any, said: str
) -> None:
    case = service.open()["id"]
    before = snapshot(service.engine)
    answer = service.post(path.format(case=case), "reporter", body)
    assert said in problem_of(answer, 422)["detail"]
    assert snapshot(service.engine) == before


def test_a_body_that_is_not_json_is_refused(service: Service) -> None:
    answer = service.client.post(
        "/api/v1/cases", content=b"{not json", headers={
            **service.auth("reporter"), "content-type": "application/json"},
    )  # fmt: skip
    problem_of(answer, 422)


def test_a_body_over_the_limit_is_refused_before_it_is_read(engine: Engine) -> None:
    app = create_app(engine, max_body=1000)
    with TestClient(app) as client:
        answer = client.post("/api/v1/cases", content=b"x" * 2000)
        assert problem_of(answer, 413)["detail"].startswith("the request body is over 1000")

        def chunks() -> Any:  # no Content-Length: counted as it arrives
            for _ in range(4):
                yield b"x" * 400

        answer = client.post("/api/v1/cases", content=chunks())
        problem_of(answer, 413)


def test_failed_tokens_from_one_address_are_slowed_down(engine: Engine) -> None:
    now = [0.0]
    limit = FailureLimit(limit=10, window=60, clock=lambda: now[0])
    app = create_app(engine, failures=limit)
    engine.accounts.add_user("user-rate", org="sanjo")
    _info, good = engine.accounts.create_token("user-rate")
    bad = {"Authorization": "Bearer irf_" + "x" * 38}
    with TestClient(app, client=("198.51.100.7", 1)) as client:
        for _ in range(20):  # no token at all: counts for nothing
            assert client.get("/api/v1/cases").status_code == 401
        for _ in range(10):
            assert client.get("/api/v1/cases", headers=bad).status_code == 401
        slowed = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {good}"})
        problem_of(slowed, 429)
        assert 1 <= int(slowed.headers["Retry-After"]) <= 60
        now[0] += 61
        assert (
            client.get("/api/v1/cases", headers={"Authorization": f"Bearer {good}"}).status_code
            == 200
        )
    with TestClient(app, client=("198.51.100.8", 1)) as other:
        assert other.get("/api/v1/cases", headers=bad).status_code == 401


def test_an_unreachable_database_is_503_with_retry_after() -> None:
    engine = Engine("postgresql://irflow@127.0.0.1:9/nowhere")
    with TestClient(create_app(engine)) as client:
        health = client.get("/healthz")
        assert problem_of(health, 503)["detail"]
        assert health.headers["Retry-After"]
        answer = client.get("/api/v1/cases", headers={"Authorization": "Bearer irf_" + "x" * 38})
        assert answer.status_code in (401, 503)


def test_health_needs_no_token(service: Service) -> None:
    answer = service.client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_metrics_answer_the_scrape_token_only_and_tell_no_title(service: Service) -> None:
    service.open(title="秘密の件名（試験）")
    assert service.client.get("/metrics").status_code == 401
    wrong = service.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    scraped = service.client.get(
        "/metrics", headers={"Authorization": "Bearer scrape-token-for-tests"}
    )
    assert scraped.status_code == 200
    text = scraped.text
    assert 'irflow_cases{flow="incident",state="detect"} 1.0' in text
    assert 'irflow_open_steps{tier="reporter"}' in text
    assert "irflow_outbox_queued" in text
    assert "irflow_rung_lag_seconds" in text
    assert 'irflow_http_requests_total{method="POST",route="/api/v1/cases",status="201"}' in text
    assert "秘密" not in text
    assert "sanjo" not in text
    assert "三条" not in text


def test_metrics_are_not_there_without_a_scrape_token(engine: Engine) -> None:
    with TestClient(create_app(engine)) as client:
        problem_of(client.get("/metrics", headers={"Authorization": "Bearer x"}), 404)


def test_the_openapi_document_names_every_route_and_its_errors(service: Service) -> None:
    doc = service.client.get("/openapi.json").json()
    paths = set(doc["paths"])
    for path in (
        "/api/v1/cases", "/api/v1/cases/{case_id}", "/api/v1/cases/{case_id}/steps/{step}",
        "/api/v1/cases/{case_id}/flags/{flag}", "/api/v1/cases/{case_id}/coordinator",
        "/api/v1/cases/{case_id}/contacts", "/api/v1/cases/{case_id}/report",
        "/api/v1/route", "/api/v1/inquiries", "/api/v1/inquiries/{case_id}",
        "/api/v1/inquiries/{case_id}/{action}", "/api/v1/posts", "/api/v1/posts/{post_id}",
        "/api/v1/orgs", "/healthz", "/metrics",
    ):  # fmt: skip
        assert path in paths, path
    step = doc["paths"]["/api/v1/cases/{case_id}/steps/{step}"]["post"]
    assert {"401", "403", "404", "409", "412", "422"} <= set(step["responses"])
    assert service.client.get("/docs").status_code == 200
