"""Webhook: POST each message as JSON, signed, with an idempotency key.

The request::

    POST <url>
    Content-Type: application/json; charset=utf-8
    Idempotency-Key: <message.id>
    X-Irflow-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>

    {"id": ..., "kind": ..., "case": ..., "subject": ..., "body": ...,
     "recipients": [{"org_id": ..., "name": ..., "mail": ...}], "sender": ...,
     "category": ..., "payload": {...}, "created_at": "2026-04-01T10:00:00+09:00",
     "attachments": [{"filename": "問合せ票.md",
                      "content_type": "text/markdown; charset=utf-8", "text": ...}]}

``attachments`` is always there (``[]`` when the message has none); an inquiry
notice carries the inquiry form 問合せ票 in it, as text.

The body is UTF-8 JSON (Japanese text as is, not ``\\u`` escapes). A receiver
checks the signature over the bytes it received with ``verify_signature`` before
it parses them, and drops a second request with an ``Idempotency-Key`` it has
seen: a retry after a crash carries the same key and the same body.

httpx is imported when a message is sent, not when this module is imported.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from irflow.clock import as_aware
from irflow.errors import DeliveryFailed, InvalidInput
from irflow.notifiers.base import Message, Recipient

if TYPE_CHECKING:
    import httpx

__all__ = ["SIGNATURE_HEADER", "WebhookNotifier", "sign", "verify_signature", "webhook_body"]

SIGNATURE_HEADER = "X-Irflow-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` with ``secret`` (constant time).

    ``body`` must be the raw bytes received, before any JSON parsing.
    """
    if not header:
        return False
    expected = sign(secret, body).encode("ascii")
    given = header.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected, given)


def _recipient(recipient: Recipient | None) -> dict[str, str | None] | None:
    if recipient is None:
        return None
    return {"org_id": recipient.org_id, "name": recipient.name, "mail": recipient.mail}


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return as_aware(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def webhook_body(message: Message) -> bytes:
    """The JSON body posted for ``message``, as UTF-8 bytes (what is signed)."""
    document = {
        "id": message.id,
        "kind": message.kind,
        "case": message.case_id,
        "subject": message.subject,
        "body": message.body,
        "recipients": [_recipient(r) for r in message.recipients],
        "sender": _recipient(message.sender),
        "category": message.category,
        "payload": dict(message.payload),
        "created_at": as_aware(message.created_at).isoformat(),
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "text": a.text}
            for a in message.attachments
        ],
    }
    try:
        text = json.dumps(document, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise DeliveryFailed(
            f"message {message.id}: its payload cannot be written as JSON: {exc}; "
            "payload values must be strings, numbers, booleans, lists, mappings or dates"
        ) from exc
    return text.encode("utf-8")


class WebhookNotifier:
    """POST each message as signed JSON to ``url``.

    A response other than 2xx, a timeout or any transport error raises
    ``DeliveryFailed`` (naming the server's origin, never the full URL, which may
    carry a token, nor the body). Redirects are not followed. Pass ``client`` to
    reuse a configured ``httpx.Client`` (proxies, certificates, a mock transport
    in tests); without one, each send uses a short-lived client.
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str,
        name: str = "webhook",
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(
                f"webhook notifier: url {url!r} is not an http(s) URL; "
                'write it like "https://hooks.example.invalid/irflow"'
            )
        if not secret:
            raise InvalidInput(
                "webhook notifier: the secret is empty; an empty key signs nothing. "
                "Set a long random secret shared with the receiver"
            )
        self.name = name
        self.url = url
        self.timeout = timeout
        self.client = client
        self._secret = secret
        port = f":{parts.port}" if parts.port else ""
        self._origin = f"{parts.scheme}://{parts.hostname}{port}"

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.name!r}, origin={self._origin!r})"

    def send(self, message: Message) -> None:
        """POST ``message``, or raise ``DeliveryFailed``."""
        import httpx

        body = webhook_body(message)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            IDEMPOTENCY_HEADER: message.id,
            SIGNATURE_HEADER: sign(self._secret, body),
            "User-Agent": "irflow-webhook",
        }
        try:
            if self.client is not None:
                response = self.client.post(
                    self.url, content=body, headers=headers, timeout=self.timeout
                )
            else:
                with httpx.Client(timeout=self.timeout) as client:
                    response = client.post(self.url, content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
            raise DeliveryFailed(
                f"webhook to {self._origin} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not response.is_success:
            raise DeliveryFailed(
                f"webhook to {self._origin} answered {response.status_code} "
                f"{response.reason_phrase}"
            )
