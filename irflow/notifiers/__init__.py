"""Notification channels behind one contract: ``Notifier.send(message)``.

- ``MailNotifier``: SMTP (STARTTLS and AUTH optional), Japanese mail with stable
  Message-IDs.
- ``WebhookNotifier``: signed JSON POSTs with an idempotency key
  (``verify_signature`` for receivers). httpx is imported on first send.
- ``MemoryNotifier``: the test double, with simulated outages.
- ``Message``, ``Recipient``, ``Attachment``: what a notifier is given.
- ``load_notifiers``: the ordered list configured in ``irflow.toml`` or the file
  named by ``IRFLOW_NOTIFIERS``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from irflow.errors import DeliveryFailed
from irflow.notifiers.base import Attachment, Message, Notifier, Recipient

if TYPE_CHECKING:
    from irflow.notifiers.mail import MailNotifier
    from irflow.notifiers.memory import MemoryNotifier
    from irflow.notifiers.settings import load_notifiers
    from irflow.notifiers.webhook import WebhookNotifier, verify_signature

# The channels load on first use: the engine imports only the contract (base), so a
# read command does not pay for smtplib, email and structlog.
_WHERE = {
    "MailNotifier": "irflow.notifiers.mail",
    "MemoryNotifier": "irflow.notifiers.memory",
    "WebhookNotifier": "irflow.notifiers.webhook",
    "load_notifiers": "irflow.notifiers.settings",
    "verify_signature": "irflow.notifiers.webhook",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'irflow.notifiers' has no attribute {name!r}")


__all__ = [
    "Attachment",
    "DeliveryFailed",
    "MailNotifier",
    "MemoryNotifier",
    "Message",
    "Notifier",
    "Recipient",
    "WebhookNotifier",
    "load_notifiers",
    "verify_signature",
]
