"""The API tested from its own OpenAPI document (schemathesis): for any request the
document allows, and many it does not, by tokens of several organisations: no 5xx,
no answer that breaks the document, and no refused request that wrote."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from irflow.clock import FixedClock
from irflow.engine.facade import Engine
from irflow.service.app import create_app
from tests.conftest import START
from tests.service.conftest import make_tokens
from tests.service.test_authorisation import snapshot

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class World:
    """One SQLite database with a case and an inquiry, shared by every example."""

    def __init__(self, folder: Path) -> None:
        self.engine = Engine(f"sqlite:///{folder / 'api.db'}", clock=FixedClock(START))
        self.engine.init()
        self.app = create_app(self.engine, metrics_token="scrape-token-for-tests")
        self.tokens = make_tokens(self.engine)
        reporter = self.tokens["reporter"]
        from fastapi.testclient import TestClient

        with TestClient(self.app) as client:
            headers = {"Authorization": f"Bearer {reporter}"}
            client.post("/api/v1/cases", json={"title": "試験の障害"}, headers=headers)
            client.post(
                "/api/v1/inquiries",
                json={"title": "試験の問合せ", "body": "質問", "faq_checked": True},
                headers=headers,
            )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("schemathesis"))
    yield w
    w.engine.close()


WHO = ("reporter", "coordinator", "operator", "other_reporter", "jlis")


def test_no_request_breaks_the_service_or_writes_when_refused(world: World) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def check(case: Any) -> None:
            label = f"{case.method} {case.path} {case.path_parameters}"
            who = WHO[zlib.crc32(label.encode()) % len(WHO)]
            headers = {"Authorization": f"Bearer {world.tokens[who]}"}
            before = snapshot(world.engine)
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            if response.status_code >= 400:
                assert snapshot(world.engine) == before, (label, response.text)

        check()
