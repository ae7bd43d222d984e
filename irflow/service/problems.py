"""Errors as HTTP answers: ``application/problem+json`` (RFC 9457).

Every refusal of the engine reaches the client as a problem whose ``detail`` is the
command line's message, with the status its class of failure calls for. One table
decides; the first class in it that the error is an instance of wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from irflow import errors

MEDIA_TYPE = "application/problem+json"
RETRY_AFTER = "5"
"""Seconds a client waits before trying again when the database is unreachable."""

# (error class, status, problem type, title): the first match wins, so a subclass
# comes before its base.
_TABLE: Sequence[tuple[type[errors.IrflowError], int, str, str]] = (
    (errors.Unauthenticated, 401, "unauthenticated", "Not authenticated"),
    (errors.NoSuchCase, 404, "not-found", "Not found"),
    (errors.Conflict, 412, "precondition-failed", "The case changed"),
    (errors.StepNotOpen, 409, "refused-by-state", "Refused by the case as it stands"),
    (errors.NotAllowed, 403, "not-allowed", "Not allowed"),
    # Any other unknown name is a field of the request that names what does not exist
    # (a step, an action, an organisation, a flow): the request is at fault, not the URL.
    (errors.NotFound, 422, "invalid-request", "Invalid request"),
    (errors.InvalidInput, 422, "invalid-request", "Invalid request"),
    (errors.DatabaseUnavailable, 503, "unavailable", "Database unavailable"),
    (errors.DatabaseReadOnly, 503, "unavailable", "Database read-only"),
)

_HTTP_TITLES = {
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
    429: "Too many failed authentications",
}


def problem(
    status: int,
    kind: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json answer; ``kind`` becomes its ``type`` (``/problems/KIND``)."""
    body = {"type": f"/problems/{kind}", "title": title, "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def status_of(exc: errors.IrflowError) -> tuple[int, str, str]:
    for cls, status, kind, title in _TABLE:
        if isinstance(exc, cls):
            return status, kind, title
    return 500, "internal", "The service failed"


def from_error(exc: errors.IrflowError) -> JSONResponse:
    status, kind, title = status_of(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="irflow"'
    if status == 503:
        headers["Retry-After"] = RETRY_AFTER
    return problem(status, kind, title, exc.message, headers=headers)


async def irflow_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.IrflowError)
    return from_error(exc)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """A malformed request: each wrong field named, with what would be right."""
    assert isinstance(exc, RequestValidationError)
    fields = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        fields.append({"field": where or "body", "message": str(error.get("msg", ""))})
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return problem(422, "invalid-request", "Invalid request", detail, errors=fields)


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (an unknown route, a wrong method) as problems too."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    title = _HTTP_TITLES.get(status, "Error")
    kind = "not-found" if status == 404 else "http-error"
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem(status, kind, title, detail, headers=dict(exc.headers or {}))
