"""Connecting to the database and keeping its schema current.

SQLite (WAL) is the embedded default, a file next to the user; PostgreSQL is the
same code with another URL. The schema is created and upgraded only by Alembic
migrations (``irflow/migrations``), which ``irflow init`` runs.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine as SAEngine
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError

from irflow.errors import InvalidInput, NotInitialised, StorageError

DEFAULT_URL = "sqlite:///irflow.db"
ENV_VAR = "IRFLOW_DB"


def database_url(url: str | None = None) -> str:
    """The URL to use: the one given, else ``$IRFLOW_DB``, else ``irflow.db`` here."""
    chosen = url or os.environ.get(ENV_VAR) or DEFAULT_URL
    if chosen.startswith(("postgresql://", "postgres://")):
        # psycopg 3 is the driver irflow installs; SQLAlchemy's default is psycopg2.
        chosen = "postgresql+psycopg://" + chosen.split("://", 1)[1]
    return chosen


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str | None = None) -> SAEngine:
    """A SQLAlchemy engine for ``url``, with SQLite set up for WAL and foreign keys."""
    resolved = database_url(url)
    try:
        engine = create_engine(resolved)
    except Exception as exc:  # bad URL, missing driver: both are the caller's to fix
        raise InvalidInput(
            f"cannot use database URL {resolved!r} ({exc}); give sqlite:///FILE or "
            "postgresql://USER@HOST/DB"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(engine: SAEngine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "irflow:migrations")
    # The config is a ConfigParser: a "%" (percent-encoded password or query) must be doubled.
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision(engine: SAEngine) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: SAEngine) -> str | None:
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except OperationalError as exc:
        raise StorageError(f"cannot open the database {engine.url!r}: {exc.orig}") from None
    return str(row[0]) if row else None


def migrate(engine: SAEngine) -> bool:
    """Upgrade the schema to the newest migration; return whether anything changed."""
    from alembic import command

    if current_revision(engine) == head_revision(engine):
        return False
    config = _alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return True


def _missing_sqlite_file(engine: SAEngine) -> bool:
    name = engine.url.database
    return (
        engine.dialect.name == "sqlite"
        and bool(name)
        and name != ":memory:"
        and not (os.path.exists(name or ""))
    )


def require_schema(engine: SAEngine) -> None:
    """Refuse to work on a database that ``irflow init`` has not prepared.

    A SQLite file that does not exist is not created by the check.
    """
    if _missing_sqlite_file(engine) or current_revision(engine) is None:
        raise NotInitialised(
            f"the database {engine.url.render_as_string()!r} has no irflow schema; "
            "run `irflow init` first (or pass --db to use another database)"
        )
