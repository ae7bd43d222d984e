"""What the accounts room hands out: accounts, tokens (never their secrets), the
principal a request acts as, and the security log's events and verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ACTIONS = (
    "user_added",
    "user_disabled",
    "user_enabled",
    "password_set",
    "signed_in",
    "sign_in_failed",
    "token_created",
    "token_rotated",
    "token_revoked",
    "token_refused",
)
"""Every action the security log records."""


def _moment(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as, once proven: an account of one organisation."""

    account_id: int
    login: str
    name: str | None
    org_id: str
    """The account's organisation (its directory id): the request acts as it."""
    read_only: bool
    """A read-only token: the request may read, never write."""
    token_id: int | None
    """The token that proved it; None when signed in by password."""

    def as_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "login": self.login,
            "name": self.name,
            "org": self.org_id,
            "read_only": self.read_only,
            "token_id": self.token_id,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Account:
    """A person's account; it belongs to one organisation of the directory."""

    id: int
    login: str
    org_id: str
    name: str | None
    disabled: bool
    has_password: bool
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "org": self.org_id,
            "name": self.name,
            "disabled": self.disabled,
            "has_password": self.has_password,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenInfo:
    """An API token as lists show it: never its secret, nor the secret's hash."""

    id: int
    login: str
    org_id: str
    label: str | None
    last4: str
    """The secret's last four characters, to tell tokens apart."""
    read_only: bool
    created_at: datetime
    expires_at: datetime | None
    """None: it never expires."""
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        """``revoked``, ``expired`` or ``live`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "live"

    def as_json(self, now: datetime | None = None) -> dict[str, Any]:
        """The token as JSON (never its secret or hash); with ``now``, its ``status`` too."""
        out: dict[str, Any] = {
            "id": self.id,
            "login": self.login,
            "org": self.org_id,
            "label": self.label,
            "last4": self.last4,
            "read_only": self.read_only,
            "created_at": self.created_at.isoformat(),
            "expires_at": _moment(self.expires_at),
            "revoked_at": _moment(self.revoked_at),
        }
        if now is not None:
            out["status"] = self.status(now)
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class SecurityEvent:
    """One entry of the security log; immutable, with a timezone-aware moment."""

    seq: int
    at: datetime
    action: str
    login: str | None
    """The account the action concerned (None for a refusal naming no known account)."""
    org_id: str | None
    address: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "action": self.action,
            "login": self.login,
            "org": self.org_id,
            "address": self.address,
            "detail": dict(self.detail),
            "hash": self.hash,
            "prev_hash": self.prev_hash,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class SecurityLogReport:
    """The verdict on the security log: ok, or the first bad event (its seq) and why.

    ``seals`` is how many events' seals were checked and found good; None when no
    audit key was set, so no seal was checked.
    """

    events: int
    ok: bool
    bad_seq: int | None = None
    problem: str | None = None
    seals: int | None = None

    @property
    def problems(self) -> list[str]:
        """The problems found, each naming its event: empty when the log is whole."""
        return [] if self.problem is None else [f"event {self.bad_seq}: {self.problem}"]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "events": self.events,
            "ok": self.ok,
            "bad_seq": self.bad_seq,
            "problem": self.problem,
        }
        if self.seals is not None:
            out["seals"] = self.seals
        return out
