"""The database tables (SQLModel). Schema changes go through Alembic migrations.

Moments are stored in UTC: SQLite drops a timestamp's offset, so the ``UTCDateTime``
type converts to UTC on the way in and re-attaches UTC on the way out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Dialect, Index, String, Text, TypeDecorator
from sqlmodel import Column, Field, SQLModel

__all__ = [
    "AccountRow",
    "ApiTokenRow",
    "CaseRow",
    "DeadlineRow",
    "EventRow",
    "FlowVersionRow",
    "OrganisationRow",
    "OutboxRow",
    "SQLModel",
    "SecurityEventRow",
    "SecurityHeadRow",
    "SitePostRow",
    "UTCDateTime",
]


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
    chain: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    """Comma-separated ids of the organisations a chain flow's case reached, opener first."""
    chain_at: int = 0
    """Which link of ``chain`` holds the case now (0: the opener)."""


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
    seal: str | None = None
    """HMAC-SHA256 of ``hash`` under ``$IRFLOW_AUDIT_KEY``, if it was set (migration 0005)."""


class DeadlineRow(SQLModel, table=True):
    """One rung of an open step's escalation ladder, due at ``due_at``.

    Written in the transaction of the command that opened the step, deleted in the
    one that completes it; ``fired_at`` is set in the transaction that fires it.
    """

    __tablename__ = "deadline"
    # Migration 0003 adds the partial index ix_deadline_unfired (due_at, case_id, step,
    # rung) WHERE fired_at IS NULL, which the sweep's claim reads; it is left out here
    # because declaring it loads SQLAlchemy's PostgreSQL dialect into every command.
    __table_args__ = (Index("ix_deadline_due", "fired_at", "due_at"),)

    case_id: int = Field(primary_key=True, foreign_key="irflow_case.id")
    step: str = Field(primary_key=True)
    rung: int = Field(primary_key=True)
    action: str
    opened_at: datetime = _moment()
    deadline_at: datetime = _moment()
    due_at: datetime = _moment()
    fired_at: datetime | None = _moment(nullable=True)


class OutboxRow(SQLModel, table=True):
    """A notification waiting for (or done with) its channel."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_queue", "status", "next_attempt_at"),)

    id: str = Field(primary_key=True)
    """Stable across retries: the mail Message-ID and the webhook idempotency key."""
    case_id: int | None = Field(default=None, index=True)
    event_seq: int | None = None
    channel: str
    kind: str
    template: str
    context: str = Field(sa_column=Column(Text, nullable=False))
    """JSON: what the template needs; rendered when the message is sent."""
    recipients: str = Field(sa_column=Column(Text, nullable=False))
    """JSON list of organisation ids."""
    sender_id: str | None = None
    category: str | None = None
    status: str = "queued"
    """queued, sent or dead."""
    attempts: int = 0
    next_attempt_at: datetime = _moment()
    lease_until: datetime | None = _moment(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _moment()
    sent_at: datetime | None = _moment(nullable=True)


class SitePostRow(SQLModel, table=True):
    """A post on the information sharing site; only the poster and the named may read it."""

    __tablename__ = "site_post"

    id: str = Field(primary_key=True)
    """The outbox message id: a retried post is the same post."""
    case_id: int | None = Field(default=None, index=True)
    category: str
    poster_id: str | None = None
    named: str = Field(sa_column=Column(Text, nullable=False))
    """JSON list of the organisation ids named on the post; [] for a notice to all."""
    title: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    posted_at: datetime = _moment()
    attachment_name: str | None = None
    """The file name of the form attached to the post (e.g. 問合せ票.md), if any."""
    attachment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AccountRow(SQLModel, table=True):
    """A person's account; it belongs to one organisation of the directory (migration 0006)."""

    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(sa_column=Column(String, nullable=False, unique=True))
    org_id: str = Field(foreign_key="organisation.id", index=True)
    name: str | None = None
    disabled: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    password_hash: str | None = None
    """The argon2 hash of the password (never the password); None until one is set."""
    created_at: datetime = _moment()


class ApiTokenRow(SQLModel, table=True):
    """An API token of an account: only the SHA-256 of its secret and its last four
    characters are kept; the secret itself is shown once, when it is made."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    digest: str = Field(sa_column=Column(String, nullable=False, unique=True))
    """The SHA-256 of the secret, in hex: what a request's token is looked up by."""
    last4: str
    label: str | None = None
    read_only: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    created_at: datetime = _moment()
    expires_at: datetime | None = _moment(nullable=True)
    """None: the token never expires."""
    revoked_at: datetime | None = _moment(nullable=True)
    rotated_from: int | None = None
    """The token this one replaced (``irflow token rotate``), if any."""


class SecurityEventRow(SQLModel, table=True):
    """One entry of the security log: sign-ins, token and account changes, refusals.

    Hash-chained (and sealed under ``$IRFLOW_AUDIT_KEY``) as a case's timeline is; it
    never holds a secret, a password or a password's or token's hash.
    """

    __tablename__ = "security_event"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = _moment()
    action: str
    login: str | None = None
    org_id: str | None = None
    address: str | None = None
    """Where the request came from (an IP address), when it came over the network."""
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    """JSON: what the action concerned (a token's id, a refusal's reason)."""
    prev_hash: str
    hash: str
    seal: str | None = None


class SecurityHeadRow(SQLModel, table=True):
    """The security log's one head row: its last event, as a case row holds its timeline's.

    Every append locks it first, so that concurrent writers add events one after another
    (no two with the same seq); ``verify`` compares it with the log's last event, so
    events removed from the end are found.
    """

    __tablename__ = "security_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_seq: int = 0
    last_hash: str = ""
