"""Around every request: the body's size limit, and one JSON log line.

The line names the method, the route's template (``/api/v1/cases/{case_id}``, never
the path itself, so no query string value and no number typed into a URL reaches
the log), the status, the duration and the acting organisation; it goes through
irflow's masked logging like every other line. A token is never logged.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from irflow.service import metrics


def install(app: Any, *, max_body: int) -> None:
    app.add_middleware(RequestMiddleware, max_body=max_body)


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body
        self.log: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        limit = self.max_body
        read = 0
        over = (_content_length(scope) or 0) > limit

        async def counted() -> Message:
            # Past the limit the application is told the body ended; what it answers
            # to the cut body is replaced by the 413 below.
            nonlocal read, over
            if over:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    over = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def answer(message: Message) -> None:
            nonlocal status
            if over:
                if message["type"] == "http.response.start":
                    status = 413
                    await _too_large(send, limit)
                return
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, counted, answer)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        template = template or "(no route)"
        org = (scope.get("state") or {}).get("org")
        metrics.observe(scope.get("app"), scope["method"], template, status, seconds)
        if self.log is None:
            import structlog

            self.log = structlog.get_logger("irflow.service")
        self.log.info(
            "request", method=scope["method"], route=template, status=status,
            ms=round(seconds * 1000, 2), org=org,
        )  # fmt: skip


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": "/problems/too-large",
            "title": "Request body too large",
            "status": 413,
            "detail": f"the request body is over {limit} bytes; send a shorter one",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
