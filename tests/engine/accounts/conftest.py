"""Fixtures of the accounts room's tests: its engine on every backend, a cheap hasher,
and the rows a refusal must leave as they were."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from irflow.engine.accounts import Accounts, passwords
from irflow.engine.facade import Engine
from irflow.engine.timeline import AUDIT_KEY_ENV

TABLES = ("account", "api_token", "security_event", "security_head")
"""The tables of the accounts room (migration 0006)."""

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No audit key unless a test sets one (the engine reads it when it starts)."""
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)


@pytest.fixture(autouse=True)
def cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """argon2id with the least work: the rules are the same, the tests fast. (One test
    checks the default parameters by name.)"""
    from argon2 import PasswordHasher

    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(passwords, "hasher", lambda: cheap)
    passwords.dummy_hash.cache_clear()
    yield
    passwords.dummy_hash.cache_clear()


@pytest.fixture
def accounts(engine: Engine) -> Accounts:
    return engine.accounts


def rows(engine: Engine, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table``, in its first column's order."""
    with engine.sa.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]


def footprint(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the accounts room's tables: what a refusal must leave as it was."""
    return {table: rows(engine, table) for table in TABLES}


def actions(accounts: Accounts) -> list[str]:
    return [event.action for event in accounts.security_log()]
