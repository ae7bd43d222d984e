"""Running the command line in the tests: its result, the rows it left, a case opened."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import SQLModel, create_engine, func, select

from irflow.engine.facade import Engine


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


Run = Callable[..., Result]


def row_counts(path: Path) -> dict[str, int]:
    """How many rows each of irflow's tables holds in the SQLite file at ``path``."""
    db = create_engine(f"sqlite:///{path}")
    with db.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in SQLModel.metadata.sorted_tables
        }


def opened(irflow: Run, *extra: str) -> dict[str, object]:
    assert irflow("init").code == 0
    result = irflow(
        "case",
        "open",
        "--reporter",
        "三条市",
        "--title",
        "サンプル障害",
        "--at",
        "2026-04-01T09:40",
        "--json",
        *extra,
    )
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    return data


@contextmanager
def no_case_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``Engine.case`` refuses to run meanwhile: a command that reads the case again fails."""

    def read_again(*args: object, **kwargs: object) -> object:
        raise AssertionError("the command line read the case again after its command")

    read = Engine.case
    monkeypatch.setattr(Engine, "case", read_again)
    try:
        yield
    finally:
        monkeypatch.setattr(Engine, "case", read)
