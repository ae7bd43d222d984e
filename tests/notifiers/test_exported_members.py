"""The public names of ``irflow.notifiers``: exactly these, the channels loaded on first use."""

from __future__ import annotations

import subprocess
import sys

import irflow.notifiers
from irflow.errors import DeliveryFailed
from tests.conftest import assert_exports


def test_notifiers_export_exactly_their_public_names() -> None:
    """``irflow.notifiers.__all__`` is this sorted list; ``dir()`` shows it; nothing leaks."""
    assert_exports(
        irflow.notifiers,
        [
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
        ],
    )


def test_delivery_failed_is_the_error_of_the_error_tree() -> None:
    """A notifier's ``DeliveryFailed`` is ``irflow.errors.DeliveryFailed``, not a copy."""
    assert irflow.notifiers.DeliveryFailed is DeliveryFailed


def test_importing_notifiers_does_not_import_httpx() -> None:
    """``import irflow.notifiers`` leaves httpx unloaded until a webhook sends."""
    code = "import sys, irflow.notifiers; print('httpx' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
