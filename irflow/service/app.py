"""The ASGI application: ``create_app(engine)`` for embedding, ``app_from_env`` for
``irflow serve``'s workers.

The application holds no data of its own between requests (the failure counters of
``auth.FailureLimit`` aside): every answer is read from the database, so several
processes share one PostgreSQL beside any number of ``irflow run`` workers.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from irflow.engine.facade import Engine
from irflow.errors import IrflowError, StorageError
from irflow.service import cases, directory, inquiries, metrics, problems, requests, schemas
from irflow.service.auth import FailureLimit

MAX_BODY = 256 * 1024
"""The largest request body the service reads, in bytes (413 beyond it)."""
THREADS = 16
"""How many requests a process works on at once: each needs a thread (the engine is
synchronous) and the engine's pool needs about two connections a thread."""


def create_app(
    engine: Engine,
    *,
    metrics_token: str | None = None,
    max_body: int = MAX_BODY,
    failures: FailureLimit | None = None,
    threads: int = THREADS,
    close_engine: bool = False,
) -> FastAPI:
    """The HTTP service over ``engine``, to run with any ASGI server or to mount in
    an application of one's own (``parent.mount("/irflow", create_app(engine))``).

    ``metrics_token``: the scrape token ``/metrics`` asks for (without one, it answers
    404); ``threads``: requests worked on at once (give the engine a pool for them:
    ``Engine(url, connections=2 * threads)``); ``close_engine``: close the engine when
    the application shuts down.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        if close_engine:
            engine.close()

    app = FastAPI(
        title="irflow",
        summary="Incident-response workflows for the My Number information provision network",
        description=(
            "Every request acts as the organisation of its bearer token's account "
            "(`Authorization: Bearer TOKEN`; `irflow token create LOGIN`). Errors are "
            "`application/problem+json` (RFC 9457) whose `detail` is the command line's "
            "message. A case's version is its ETag; `If-Match` makes a write conditional."
        ),
        version=_version(),
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.failures = failures or FailureLimit()
    app.state.metrics_token = metrics_token
    app.state.metrics = metrics.Metrics(engine)
    app.add_exception_handler(IrflowError, problems.irflow_error)
    app.add_exception_handler(RequestValidationError, problems.validation_error)
    app.add_exception_handler(HTTPException, problems.http_error)
    for router in (cases.router, inquiries.router, directory.router, metrics.router):
        app.include_router(router)
    app.add_api_route(
        "/healthz", health, methods=["GET"], tags=["service"], response_model=schemas.Health,
        responses=schemas.problems(503),
    )  # fmt: skip
    requests.install(app, max_body=max_body)
    return app


def health(request: Request) -> JSONResponse:
    """The service is up and its database answers (no token needed)."""
    engine: Engine = request.app.state.engine
    try:
        engine.ping()
    except StorageError as exc:
        return problems.from_error(exc)
    return JSONResponse({"status": "ok", "database": engine.sa.dialect.name})


def app_from_env() -> FastAPI:
    """The application ``irflow serve`` runs in each worker: the database of
    ``$IRFLOW_DB``, the scrape token of ``$IRFLOW_METRICS_TOKEN``."""
    from irflow.logs import configure
    from irflow.notifiers.settings import load_notifiers

    configure(json=True, level=os.environ.get("IRFLOW_LOG_LEVEL", "INFO"))
    engine = Engine(
        os.environ.get("IRFLOW_DB"), notifiers=load_notifiers(), connections=2 * THREADS
    )
    token = os.environ.get("IRFLOW_METRICS_TOKEN") or None
    return create_app(engine, metrics_token=token, close_engine=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("irflow")
    except PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "0"
