"""A real ``irflow serve`` process on a free port, spoken to over HTTP: a whole
incident by three organisations' tokens, clients at once, and a clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from tests.service.conftest import make_tokens

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]
    engine: Engine

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )


@pytest.fixture
def server(db_url: str, tmp_path: Any) -> Iterator[Server]:
    engine = Engine(db_url)
    engine.init()
    tokens = make_tokens(engine)
    port = free_port()
    env = {**os.environ, "IRFLOW_DB": db_url, "IRFLOW_METRICS_TOKEN": "scrape-for-tests"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from irflow.cli.main import main; main()", "serve",
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=open(tmp_path / "serve.log", "wb"),  # noqa: SIM115
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        process.kill()
        raise AssertionError((tmp_path / "serve.log").read_text())
    try:
        yield Server(url, tokens, process, engine)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        engine.close()


TIER = {"reporter": "reporter", "coordinator": "coordinator", "operator": "operator"}


def drive(server: Server, case_id: int) -> dict[str, Any]:
    clients = {who: server.client(who) for who in TIER}
    case = clients["reporter"].get(f"/cases/{case_id}").json()
    while case["state"] != "closed":
        step = next(s for s in case["steps"] if s["status"] == "open")
        answer = clients[TIER[step["tier"]]].post(
            f"/cases/{case_id}/steps/{step['id']}", json={"note": "試験"}
        )
        assert answer.status_code == 200, answer.text
        case = answer.json()
    return dict(case)


def test_a_whole_incident_over_http_then_sigterm(server: Server, tmp_path: Any) -> None:
    with server.client("reporter") as me:
        opened = me.post("/cases", json={"title": "副本登録の障害（試験）"})
        assert opened.status_code == 201
        assert opened.headers["Location"] == f"/api/v1/cases/{opened.json()['id']}"
    closed = drive(server, opened.json()["id"])
    assert closed["state"] == "closed"
    assert all(r.ok for r in server.engine.verify(viewer=SYSTEM))
    server.process.send_signal(signal.SIGTERM)
    # uvicorn stops gracefully, then ends by the signal it caught (as a shell sees 143).
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()
    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()
             if line.startswith("{")]  # fmt: skip
    requests = [line for line in lines if line.get("event") == "request"]
    assert {"method", "route", "status", "ms", "org"} <= set(requests[-1])
    assert any(r["route"] == "/api/v1/cases/{case_id}/steps/{step}" for r in requests)
    log = (tmp_path / "serve.log").read_text()
    assert not any(token in log for token in server.tokens.values())


def test_32_clients_at_once_on_their_own_cases(server: Server) -> None:
    with server.client("reporter") as me:
        ids = [me.post("/cases", json={"title": f"試験 {n}"}).json()["id"] for n in range(32)]
    with ThreadPoolExecutor(32) as pool:
        done = list(pool.map(lambda case_id: drive(server, case_id)["state"], ids))
    assert done == ["closed"] * 32
    reports = server.engine.verify(viewer=SYSTEM)
    assert len(reports) == 32
    assert all(r.ok for r in reports)


def test_8_clients_on_one_case_with_if_match_lose_no_update(server: Server) -> None:
    with server.client("reporter") as me:
        case_id = me.post("/cases", json={"title": "試験（競合）"}).json()["id"]
    statuses: list[int] = []

    def worker(_n: int) -> None:
        clients = {who: server.client(who) for who in TIER}
        for _ in range(400):
            case = clients["reporter"].get(f"/cases/{case_id}")
            body = case.json()
            if body["state"] == "closed":
                return
            step = next(s for s in body["steps"] if s["status"] == "open")
            answer = clients[TIER[step["tier"]]].post(
                f"/cases/{case_id}/steps/{step['id']}",
                headers={"If-Match": case.headers["ETag"]},
            )
            statuses.append(answer.status_code)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(8)))
    assert set(statuses) <= {200, 409, 412}, statuses
    view = server.engine.case(case_id, viewer=SYSTEM)
    assert view.state == "closed"
    # Each 200 wrote exactly one step: none was lost, none was doubled.
    steps = [e for e in view.timeline if e.action == "step_completed"]
    assert len(steps) == statuses.count(200) == len({e.step for e in steps})
    (report,) = server.engine.verify(case_id, viewer=SYSTEM)
    assert report.ok
