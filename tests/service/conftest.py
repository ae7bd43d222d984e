"""Fixtures of the service's tests: an application over the ``engine`` fixture (both
backends), and one account with a token for each organisation a test acts as."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from irflow.engine.facade import Engine
from irflow.service.app import create_app

#: Who acts in the service's tests: the three tiers of a case of 三条市, and an
#: organisation of each tier that takes no part in it.
ORGS = {
    "reporter": "sanjo",
    "coordinator": "pref-niigata",
    "operator": "mic-mynumber",
    "jlis": "jlis",
    "other_reporter": "kanazawa",
    "other_coordinator": "pref-ishikawa",
    "other_ministry": "mhlw",
}


@dataclass
class Service:
    engine: Engine
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    """A live token for each key of ORGS."""

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str, **kw: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.auth(who), **kw)

    def post(self, path: str, who: str, json: Any = None, **kw: Any) -> Any:
        headers = {**self.auth(who), **kw.pop("headers", {})}
        return self.client.post(f"/api/v1{path}", headers=headers, json=json, **kw)

    def open(self, who: str = "reporter", **body: Any) -> dict[str, Any]:
        """Open a case through the API as ``who``; its JSON."""
        answer = self.post("/cases", who, {"title": "副本登録の障害（試験）", **body})
        assert answer.status_code == 201, answer.text
        return dict(answer.json())


def make_tokens(engine: Engine) -> dict[str, str]:
    tokens = {}
    for who, org in ORGS.items():
        engine.accounts.add_user(f"user-{who.replace('_', '-')}", org=org, name=f"担当者（{who}）")
        _info, secret = engine.accounts.create_token(f"user-{who.replace('_', '-')}")
        tokens[who] = secret
    return tokens


@pytest.fixture
def service(engine: Engine) -> Iterator[Service]:
    app = create_app(engine, metrics_token="scrape-token-for-tests")
    with TestClient(app, client=("192.0.2.10", 50000)) as client:
        yield Service(engine, client, make_tokens(engine))
