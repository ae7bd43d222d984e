"""Notification channels behind one contract: ``Notifier.send(message)``.

- ``MailNotifier``: SMTP (STARTTLS and AUTH optional), Japanese mail with stable
  Message-IDs.
- ``WebhookNotifier``: signed JSON POSTs with an idempotency key
  (``verify_signature`` for receivers). httpx is imported on first send.
- ``MemoryNotifier``: the test double, with simulated outages.
- ``load_notifiers``: the ordered list configured in ``irflow.toml`` or the file
  named by ``IRFLOW_NOTIFIERS``.
"""

from __future__ import annotations

from irflow.notifiers.base import DeliveryFailed, Message, Notifier, Recipient
from irflow.notifiers.mail import MailNotifier
from irflow.notifiers.memory import MemoryNotifier
from irflow.notifiers.settings import load_notifiers
from irflow.notifiers.webhook import WebhookNotifier, verify_signature

__all__ = [
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
