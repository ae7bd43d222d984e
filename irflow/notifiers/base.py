"""The one contract every notification channel implements: ``send(message)``.

A ``Message`` is what the outbox hands a notifier: one notification for one
channel, with a stable ``id`` so that a retry after a crash never makes a second
copy where the channel understands ids (the mail Message-ID, a webhook's
idempotency header). A notifier raises ``DeliveryFailed`` (from ``irflow.errors``)
when the channel did not take the message; the dispatcher retries it later with
backoff.

A message may carry ``attachments`` (the inquiry form 問合せ票 travels with every
inquiry notice); every channel delivers them: the mail as MIME parts, the webhook in
its JSON body, the information sharing site on the post.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, kw_only=True, slots=True)
class Recipient:
    """An organisation a message is for."""

    org_id: str
    name: str
    mail: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Attachment:
    """A text file that travels with a message (e.g. the inquiry form 問合せ票.md)."""

    filename: str
    """The file's name as the recipient sees it; Japanese is fine (問合せ票.md)."""
    content_type: str
    """Its MIME type with parameters, e.g. ``text/markdown; charset=utf-8``."""
    text: str


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
    attachments: tuple[Attachment, ...] = ()
    """Files delivered with the message, in order, on every channel."""


class Notifier(Protocol):
    """A notification channel."""

    name: str

    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise ``DeliveryFailed``."""
        ...
