"""``/metrics``: counts for Prometheus, never a title, a note or an organisation.

The figures of the cases are read from the database at each scrape, so every
process of a several-instance setup reports the same; the request counts and
latencies are each process's own (label them by instance in the scrape config).
``/metrics`` answers only the scrape token of ``$IRFLOW_METRICS_TOKEN``; without one
set it does not exist (404).
"""

from __future__ import annotations

import hmac
import json
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as RequestCounter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from irflow.engine.facade import Engine

router = APIRouter(tags=["service"])


class Metrics:
    """One application's registry: its requests, and the database's figures."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = RequestCounter(
            "irflow_http_requests", "HTTP requests answered, by route template and status",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "irflow_http_request_duration_seconds", "Time to answer an HTTP request",
            ["method", "route"], registry=self.registry,
        )  # fmt: skip
        self.registry.register(CaseFigures(engine))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


def observe(app: Any, method: str, route: str, status: int, seconds: float) -> None:
    found: Metrics | None = getattr(app.state, "metrics", None)
    if found is not None:
        found.observe(method, route, status, seconds)


class CaseFigures(Collector):
    """The cases' figures, read at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # read nothing when registered: the database is read at scrape time

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from irflow.engine.columns import split
        from irflow.engine.flow import CLOSED, CaseFacts

        engine = self.engine
        now = engine.clock.now()
        by_state = GaugeMetricFamily(
            "irflow_cases", "Cases by flow and state", labels=["flow", "state"]
        )
        tiers: Counter[str] = Counter()
        with engine.sa.connect() as conn:
            for flow, state, n in conn.exec_driver_sql(
                "SELECT flow, state, COUNT(*) FROM irflow_case GROUP BY flow, state"
            ):
                by_state.add_metric([flow, state], n)
            rows = conn.exec_driver_sql(
                "SELECT flow, flow_version, state, kinds, flags, steps_done FROM irflow_case "
                f"WHERE state <> '{CLOSED}'"
            ).all()
            overdue = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM (SELECT DISTINCT case_id, step FROM deadline "
                "WHERE fired_at IS NOT NULL) AS fired"
            ).scalar_one()
            oldest = conn.exec_driver_sql(
                "SELECT MIN(due_at) FROM deadline WHERE fired_at IS NULL"
            ).scalar_one()
            outbox = dict(
                conn.exec_driver_sql("SELECT status, COUNT(*) FROM outbox GROUP BY status").all()
            )
        for flow_name, version, state, kinds, flags, done in rows:
            flow = engine.flow_version(flow_name, version)
            if flow.stateful:
                continue
            facts = CaseFacts(kinds=split(kinds), flags=split(flags), done=json.loads(done))
            for step in flow.steps.values():
                if flow.present(step, facts) and flow.status(step, state, facts) == "open":
                    tiers[step.tier] += 1
        yield by_state
        open_steps = GaugeMetricFamily(
            "irflow_open_steps", "Open steps of cases not closed, by tier", labels=["tier"]
        )
        for tier, n in sorted(tiers.items()):
            open_steps.add_metric([tier], n)
        yield open_steps
        yield GaugeMetricFamily(
            "irflow_overdue_steps", "Open steps at least one of whose rungs fired", value=overdue
        )
        lag = 0.0
        if oldest is not None:
            due = engine.ledger.read_moment(oldest)
            lag = max(0.0, (now - due).total_seconds())
        yield GaugeMetricFamily(
            "irflow_rung_lag_seconds",
            "How long the oldest unfired escalation rung is past due (0: the sweep keeps up)",
            value=lag,
        )
        yield GaugeMetricFamily(
            "irflow_outbox_queued",
            "Notifications waiting to be sent",
            value=outbox.get("queued", 0),
        )
        yield GaugeMetricFamily(
            "irflow_outbox_dead", "Notifications given up on (dead letters)",
            value=outbox.get("dead", 0),
        )  # fmt: skip


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "The Prometheus text format."},
        401: {"description": "Not the scrape token.", "content": {"application/problem+json": {}}},
        404: {
            "description": "No scrape token is set.",
            "content": {"application/problem+json": {}},
        },
    },
)
def scrape(request: Request) -> Response:
    """The figures in the Prometheus text format, for the scrape token only."""
    token: str | None = request.app.state.metrics_token
    if token is None:
        raise HTTPException(404, "not found")
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise HTTPException(
            401, "send the scrape token of $IRFLOW_METRICS_TOKEN as a bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )  # fmt: skip
    metrics: Metrics = request.app.state.metrics
    return Response(
        generate_latest(metrics.registry), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
