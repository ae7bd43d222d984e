"""``irflow serve``: the shared HTTP service (FastAPI on uvicorn)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from irflow.cli.common import DbOption


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="The address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="The port.")
    ] = 8080,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            metavar="N",
            min=1,
            max=64,
            help="Worker processes (PostgreSQL; on SQLite keep one).",
        ),
    ] = 1,
    db: DbOption = None,
) -> None:
    """Serve the API (/api/v1, docs at /docs) to the three tiers at once.

    Every request acts as the organisation of its bearer token's account
    (`irflow user add`, `irflow token create`). Logs one JSON line per request on
    stderr. SIGTERM (or Ctrl-C) finishes the requests in flight and stops. /metrics
    answers the scrape token of $IRFLOW_METRICS_TOKEN, and is not there without one.

    \b
    Several `irflow serve` processes, on one machine or many, share one PostgreSQL
    database beside any number of `irflow run` workers:
      export IRFLOW_DB=postgresql://irflow@db.example/irflow
      irflow init && irflow serve --host 0.0.0.0 --workers 4
    """
    import uvicorn

    from irflow.cli.common import open_engine
    from irflow.engine.database import database_url

    # Refuse a database that is not ready here, in one line, before any worker starts.
    engine = open_engine(db)
    engine.ping()
    engine.close()
    os.environ["IRFLOW_DB"] = database_url(db)
    typer.echo(f"irflow: serving {engine.url} on http://{host}:{port}/ (docs: /docs)", err=True)
    uvicorn.run(
        "irflow.service.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
