"""The database tables (SQLModel). Schema changes go through Alembic migrations.

Moments are stored in UTC: SQLite drops a timestamp's offset, so the ``UTCDateTime``
type converts to UTC on the way in and re-attaches UTC on the way out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Index, Text, TypeDecorator
from sqlmodel import Column, Field, SQLModel

__all__ = ["CaseRow", "EventRow", "FlowVersionRow", "OrganisationRow", "SQLModel", "UTCDateTime"]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware moment stored as UTC on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} reached the database; make it aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite hands back text
            value = datetime.fromisoformat(value)
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def _moment(nullable: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable))


class OrganisationRow(SQLModel, table=True):
    __tablename__ = "organisation"

    id: str = Field(primary_key=True)
    name: str = Field(index=True)
    type: str
    tier: str
    prefecture: str | None = None
    code: str | None = Field(default=None, index=True)
    competent_ministry: str | None = None
    daytime_phone: str | None = None
    emergency_phone: str | None = None
    mail: str | None = None
    note: str | None = None


class FlowVersionRow(SQLModel, table=True):
    """Every version of every flow a case has run under, with its source text."""

    __tablename__ = "flow_version"

    name: str = Field(primary_key=True)
    version: int = Field(primary_key=True)
    digest: str = Field(index=True)
    source: str = Field(sa_column=Column(Text, nullable=False))
    registered_at: datetime = _moment()


class CaseRow(SQLModel, table=True):
    __tablename__ = "irflow_case"
    __table_args__ = (Index("ix_irflow_case_state", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    flow: str
    flow_version: int
    title: str
    kinds: str
    """Comma-separated case kinds."""
    flags: str = ""
    """Comma-separated flags declared on the case (e.g. beyond_own_capacity)."""
    state: str
    version: int
    reporter_id: str = Field(foreign_key="organisation.id")
    coordinator_id: str = Field(foreign_key="organisation.id")
    operator_id: str = Field(foreign_key="organisation.id")
    steps_done: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    """JSON: step id -> [actor id, ISO moment]; kept on the row so a command reads one row."""
    opened_at: datetime = _moment()
    closed_at: datetime | None = _moment(nullable=True)
    last_seq: int = 0
    last_hash: str = ""


class EventRow(SQLModel, table=True):
    """One entry of a case's append-only, hash-chained timeline."""

    __tablename__ = "timeline_event"

    case_id: int = Field(primary_key=True, foreign_key="irflow_case.id")
    seq: int = Field(primary_key=True)
    at: datetime = _moment()
    actor_id: str | None = None
    """None when the engine itself acted (escalations)."""
    action: str
    step: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    prev_hash: str
    hash: str
