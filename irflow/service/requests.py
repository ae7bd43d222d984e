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


class BodyTooLarge(Exception):
    pass


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
        sent = False

        async def send_status(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                sent = True
            await send(message)

        declared = _content_length(scope)
        try:
            if declared is not None and declared > self.max_body:
                raise BodyTooLarge
            await self.app(scope, self._limited(receive), send_status)
        except BodyTooLarge:
            if sent:
                raise
            status = 413
            await _too_large(send, self.max_body)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _limited(self, receive: Receive) -> Receive:
        read = 0
        limit = self.max_body

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise BodyTooLarge
            return message

        return counted

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
