"""Notification channels behind one contract: ``Notifier.send(message)``.

- ``MailNotifier``: SMTP (STARTTLS and AUTH optional), Japanese mail with stable
  Message-IDs.
- ``WebhookNotifier``: signed JSON POSTs with an idempotency key
  (``verify_signature`` for receivers). httpx is imported on first send.
- ``MemoryNotifier``: the test double, with simulated outages.
- ``Message``, ``Recipient``, ``Attachment``: what a notifier is given.
- ``DeliveryFailed``: what a notifier raises when its channel did not take a message
  (it lives in ``irflow.errors``, with every other error).
- ``load_notifiers``: the ordered list configured in ``irflow.toml`` or the file
  named by ``IRFLOW_NOTIFIERS``.
"""

# No ``from __future__ import annotations`` and no bare ``TYPE_CHECKING``: see irflow/__init__.py.
import typing as _typing

from irflow._exports import lazy_exports as _lazy_exports
from irflow.errors import DeliveryFailed
from irflow.notifiers.base import Attachment, Message, Notifier, Recipient

if _typing.TYPE_CHECKING:
    from irflow.notifiers.mail import MailNotifier
    from irflow.notifiers.memory import MemoryNotifier
    from irflow.notifiers.settings import load_notifiers
    from irflow.notifiers.webhook import WebhookNotifier, verify_signature
else:
    # The channels load on first use: the engine imports only the contract (base), so
    # a read command does not pay for smtplib, email and structlog.
    __getattr__, __dir__ = _lazy_exports(
        __name__,
        {
            "irflow.notifiers.mail": ["MailNotifier"],
            "irflow.notifiers.memory": ["MemoryNotifier"],
            "irflow.notifiers.settings": ["load_notifiers"],
            "irflow.notifiers.webhook": ["WebhookNotifier", "verify_signature"],
        },
    )

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
