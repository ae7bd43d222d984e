"""Fixtures: every storage test runs on every backend.

``db_url`` and ``engine`` are parametrized with the ids ``sqlite`` and
``postgresql``. SQLite always runs, on a file in the test's temporary folder.
PostgreSQL runs when ``IRFLOW_TEST_DATABASE_URL`` names a database (e.g.
``postgresql://postgres@127.0.0.1:5432/test``); each test then gets a schema of
its own, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from irflow.clock import JST
from irflow.engine.database import database_url
from irflow.engine.facade import Engine
from irflow.testing import MovableClock

PG_ENV = "IRFLOW_TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgresql")

#: A weekday morning in Japan, inside every contact window.
START = datetime(2026, 4, 1, 10, 0, tzinfo=JST)


def pg_base_url() -> str | None:
    """The PostgreSQL URL tests may use, or None when PostgreSQL tests are off."""
    return os.environ.get(PG_ENV) or None


def _schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's search_path set to ``schema``."""
    url = make_url(database_url(base))
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'irflow.db'}"
        return
    base = pg_base_url()
    if base is None:
        pytest.skip(f"PostgreSQL tests are off; set {PG_ENV}=postgresql://USER@HOST/DB to run them")
    with pg_schema(base, "irflow_test") as url:
        yield url


@contextmanager
def pg_schema(base: str, prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL schema (dropped afterwards), as a database URL."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url(base))
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield _schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def clock() -> MovableClock:
    """The clock the ``engine`` fixture reads; move it to make time pass."""
    return MovableClock(START)


@pytest.fixture
def engine(db_url: str, clock: MovableClock) -> Iterator[Engine]:
    """An initialised engine (schema and bundled directory) on each backend."""
    eng = Engine(db_url, clock=clock)
    eng.init()
    try:
        yield eng
    finally:
        eng.close()


def inquiry_notice(action: str = "relay", **changes: Any) -> dict[str, Any]:
    """An inquiry notice's stored context (as the engine queues it for ``mail_inquiry``).

    三条市 asked 新潟県, which escalated to J-LIS, which answered; ``action`` says
    which hop the notice tells of, ``changes`` replace any top-level field.
    """
    context: dict[str, Any] = {
        "inquiry_id": 7,
        "title": "副本登録の手順について",
        "action": action,
        "action_title": "回答の中継",
        "sender": "新潟県",
        "recipient": "三条市",
        "at": "2026-11-30T15:00:00+09:00",
        "note": "J-LISの回答を中継します。",
        "form": {
            "inquiry_id": 7,
            "title": "副本登録の手順について",
            "asker": "三条市",
            "asked_at": "2026-11-30T10:00:00+09:00",
            "body": "副本登録の手順を確認したい。",
            "faq_checked": True,
            "asker_contact": "",
            "hops": [
                {
                    "receiver": "新潟県",
                    "received_at": "2026-11-30T10:00:00+09:00",
                    "escalated_at": "2026-11-30T11:00:00+09:00",
                    "note": "",
                },
                {
                    "receiver": "地方公共団体情報システム機構",
                    "received_at": "2026-11-30T11:00:00+09:00",
                    "escalated_at": None,
                    "note": "",
                },
            ],
            "answer": "手順書第3章のとおりです。",
            "answered_by": "地方公共団体情報システム機構",
            "answered_at": "2026-11-30T14:00:00+09:00",
        },
    }
    context.update(changes)
    return context


def assert_exports(package: ModuleType, expected: list[str]) -> None:
    """``package`` exports exactly ``expected``, lists it in ``dir()`` and leaks nothing else.

    Each name is irflow's own object; once all are loaded, the public names in
    ``vars(package)`` are ``__all__`` and the submodules that Python binds on import.
    """
    assert expected == sorted(expected), "write the expected names sorted"
    # ``__all__`` is in ruff's order (RUF022: constants first); the set is what is pinned.
    assert sorted(package.__all__) == expected
    assert len(package.__all__) == len(expected)
    assert [name for name in dir(package) if not name.startswith("__")] == expected
    for name in expected:
        home = getattr(package, name).__module__
        assert home.startswith("irflow."), f"{package.__name__}.{name} is {home}'s"
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and getattr(value, "__name__", None) != f"{package.__name__}.{name}"
    }
    assert public == set(expected)
