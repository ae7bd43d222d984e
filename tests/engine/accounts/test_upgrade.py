"""Migration 0006: a database of the previous release (0005) upgrades in place, every
case, event and message kept and verified; the new tables are the ones declared."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect

from irflow.engine import database
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.engine.tables import SQLModel
from irflow.testing import MovableClock
from tests.engine.accounts.conftest import TABLES, rows
from tests.engine.test_audit import every_kind_of_case

KEPT = ("organisation", "flow_version", "irflow_case", "timeline_event", "deadline", "outbox",
        "site_post")  # fmt: skip
"""The tables of release 0005, each of whose rows an upgrade must keep as it was."""


def to_revision(engine: Engine, revision: str) -> None:
    from alembic import command

    config = database._alembic_config(engine.sa)
    with engine.sa.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


@pytest.fixture
def db_0005(db_url: str, clock: MovableClock) -> dict[str, list[tuple[Any, ...]]]:
    """A database as release 0005 left it, with cases of every kind (steps, flags, a new
    coordinator, an inquiry up the chain and back, a fired rung) and their messages; its
    rows, table by table."""
    with Engine(db_url, clock=clock) as engine:
        engine.init()
        every_kind_of_case(engine, clock)
        to_revision(engine, "0005")
        assert database.current_revision(engine.sa) == "0005"
        with engine.sa.connect() as conn:
            assert not set(TABLES) & set(inspect(conn).get_table_names())
        kept = {table: rows(engine, table) for table in KEPT}
    assert all(kept[t] for t in ("irflow_case", "timeline_event", "outbox", "deadline"))
    return kept


def test_a_0005_database_upgrades_with_everything_kept_and_verified(
    db_url: str, clock: MovableClock, db_0005: dict[str, list[tuple[Any, ...]]]
) -> None:
    with Engine(db_url, clock=clock) as engine:
        assert engine.init().migrated
        assert database.current_revision(engine.sa) == "0006"
        assert {table: rows(engine, table) for table in KEPT} == db_0005
        verdicts = engine.verify(viewer=SYSTEM)
        assert len(verdicts) == 3
        assert all(v.ok for v in verdicts)
        report = engine.accounts.verify_security_log()
        assert (report.ok, report.events) == (True, 0)
        assert rows(engine, "security_head") == [(1, 0, "")]
        engine.accounts.add_user("tanaka", org="sanjo")
        _, secret = engine.accounts.create_token("tanaka")
        assert engine.accounts.authenticate(secret).org_id == "sanjo"
        assert engine.accounts.verify_security_log().ok
        assert not engine.init().migrated  # a second init changes nothing


def test_downgrading_0006_leaves_the_0005_schema(engine: Engine) -> None:
    """0006's downgrade drops exactly its tables; upgraded again, they are back, empty."""
    with engine.sa.connect() as conn:
        before = set(inspect(conn).get_table_names())
    to_revision(engine, "0005")
    with engine.sa.connect() as conn:
        assert before - set(inspect(conn).get_table_names()) == set(TABLES)
    assert database.migrate(engine.sa)
    assert rows(engine, "account") == []


def test_the_migrations_make_the_tables_tables_py_declares(engine: Engine) -> None:
    """Alembic finds no difference between the migrated schema and the models, but the
    partial index tables.py leaves out on purpose (see ``DeadlineRow``)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.sa.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, SQLModel.metadata)
    assert [(d[0], d[1].name) for d in diffs] == [("remove_index", "ix_deadline_unfired")]
