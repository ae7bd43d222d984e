"""The one contract every notification channel implements: ``send(message)``.

A ``Message`` is what the outbox hands a notifier: one notification for one
channel, with a stable ``id`` so that a retry after a crash never makes a second
copy where the channel understands ids (the mail Message-ID, a webhook's
idempotency header). A notifier raises ``DeliveryFailed`` when the channel did not
take the message; the dispatcher retries it later with backoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from irflow.errors import IrflowError


@dataclass(frozen=True, kw_only=True, slots=True)
class Recipient:
    """An organisation a message is for."""

    org_id: str
    name: str
    mail: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Message:
    """One notification on its way through one channel."""

    id: str
    """Stable across retries: the outbox row's id."""
    channel: str
    """The notifier that carries it (its ``name``)."""
    kind: str
    """What it is about: report, escalation, announcement, inquiry, ..."""
    subject: str
    body: str
    recipients: tuple[Recipient, ...]
    created_at: datetime
    case_id: int | None = None
    sender: Recipient | None = None
    category: str | None = None
    """The information sharing site's category, for site posts (e.g. 06.異常時における連絡等)."""
    payload: Mapping[str, Any] = field(default_factory=dict)


class DeliveryFailed(IrflowError):
    """The channel did not take the message; the outbox will try again."""


class Notifier(Protocol):
    """A notification channel."""

    name: str

    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise ``DeliveryFailed``."""
        ...
