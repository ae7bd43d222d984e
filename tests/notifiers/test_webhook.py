"""WebhookNotifier against a real HTTP server on the loopback interface."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime

import httpx
import pytest

from irflow.clock import JST
from irflow.errors import InvalidInput
from irflow.notifiers import DeliveryFailed, WebhookNotifier, verify_signature
from irflow.notifiers.webhook import webhook_body

from .conftest import (
    BODY,
    CITY,
    NO_MAIL,
    PREF,
    SUBJECT,
    HttpRecorder,
    form_attachment,
    free_port,
    sample_message,
)

SECRET = "sample-webhook-secret"


def test_posts_the_message_as_utf8_json(http_server: HttpRecorder) -> None:
    """The POST body is UTF-8 JSON with every field of the message, Japanese text unescaped."""
    WebhookNotifier(http_server.url, secret=SECRET).send(
        sample_message(channel="webhook", recipients=(PREF, NO_MAIL))
    )

    (request,) = http_server.requests
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert SUBJECT.encode() in request.body
    assert json.loads(request.body) == {
        "id": "outbox-17",
        "kind": "report",
        "case": 12,
        "subject": SUBJECT,
        "body": BODY,
        "recipients": [
            {"org_id": "sample-pref", "name": "サンプル県 情報政策課", "mail": PREF.mail},
            {"org_id": "sample-village", "name": "サンプル村 住民課", "mail": None},
        ],
        "sender": {"org_id": "sample-city", "name": "サンプル市 情報政策課", "mail": CITY.mail},
        "category": "06.異常時における連絡等",
        "payload": {"step": "report_occurrence", "part": "occurrence"},
        "created_at": "2026-04-01T10:00:00+09:00",
        "attachments": [],
    }


def test_attachments_travel_in_the_json_body(http_server: HttpRecorder) -> None:
    """An inquiry notice's 問合せ票 is in the signed JSON body, name, type and text."""
    form = form_attachment()
    WebhookNotifier(http_server.url, secret=SECRET).send(
        sample_message(channel="webhook", kind="inquiry", attachments=(form,))
    )

    (request,) = http_server.requests
    assert verify_signature(SECRET, request.body, request.headers["X-Irflow-Signature"])
    (attached,) = json.loads(request.body)["attachments"]
    assert attached == {
        "filename": "問合せ票.md",
        "content_type": "text/markdown; charset=utf-8",
        "text": form.text,
    }
    assert "| 地方公共団体情報システム機構 |" in attached["text"]
    assert "問合せ票".encode() in request.body  # UTF-8 as is, not \\u escapes


def test_idempotency_key_is_the_message_id_on_every_try(http_server: HttpRecorder) -> None:
    """Each try of one message carries Idempotency-Key = its id and the very same body."""
    hook = WebhookNotifier(http_server.url, secret=SECRET)
    hook.send(sample_message())
    hook.send(sample_message())

    first, second = http_server.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "outbox-17"
    assert first.body == second.body


def test_signature_verifies_and_tampering_does_not(http_server: HttpRecorder) -> None:
    """The signature header is the HMAC-SHA256 of the raw body; a changed body or key fails it."""
    WebhookNotifier(http_server.url, secret=SECRET).send(sample_message())

    (request,) = http_server.requests
    header = request.headers["X-Irflow-Signature"]
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"
    assert verify_signature(SECRET, request.body, header)
    tampered = request.body.replace("サンプル市".encode(), "サンプル町".encode())
    assert not verify_signature(SECRET, tampered, header)
    assert not verify_signature("another-secret", request.body, header)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("sha1=abc", id="other-algorithm"),
        pytest.param("sha256=", id="no-digest"),
        pytest.param("sha256=" + "0" * 64, id="wrong-digest"),
        pytest.param("sha256=日本語", id="non-ascii"),
    ],
)
def test_malformed_signature_headers_do_not_verify(header: str | None) -> None:
    """Missing, malformed or wrong signature headers are refused without raising."""
    assert not verify_signature(SECRET, b"{}", header)


@pytest.mark.parametrize("status", [400, 404, 500, 503, 302])
def test_non_2xx_is_a_failed_delivery(http_server: HttpRecorder, status: int) -> None:
    """An answer other than 2xx (redirects included) raises DeliveryFailed naming the status."""
    http_server.statuses = [status]
    hook = WebhookNotifier(http_server.url + "?token=hidden", secret=SECRET)
    with pytest.raises(DeliveryFailed, match=f"answered {status}") as caught:
        hook.send(sample_message())
    assert "hidden" not in str(caught.value)
    assert "情報照会" not in str(caught.value)


def test_500_then_200_delivers(http_server: HttpRecorder) -> None:
    """After a 500 the next try is delivered, with the same idempotency key."""
    http_server.statuses = [500, 200]
    hook = WebhookNotifier(http_server.url, secret=SECRET)
    with pytest.raises(DeliveryFailed):
        hook.send(sample_message())
    hook.send(sample_message())
    assert [r.headers["Idempotency-Key"] for r in http_server.requests] == ["outbox-17"] * 2


def test_connection_refused_is_a_failed_delivery() -> None:
    """A server that does not answer at all raises DeliveryFailed naming its origin."""
    port = free_port()
    hook = WebhookNotifier(f"http://127.0.0.1:{port}/hook", secret=SECRET, timeout=2.0)
    with pytest.raises(DeliveryFailed, match=f"http://127.0.0.1:{port} failed: ConnectError"):
        hook.send(sample_message())


def test_given_client_is_used() -> None:
    """A caller's httpx.Client (here with a mock transport) carries the request."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    with httpx.Client(transport=httpx.MockTransport(handle)) as client:
        WebhookNotifier("https://hooks.example.invalid/irflow", secret=SECRET, client=client).send(
            sample_message()
        )
    (request,) = seen
    assert request.headers["Idempotency-Key"] == "outbox-17"
    assert verify_signature(SECRET, request.content, request.headers["X-Irflow-Signature"])


def test_transport_errors_of_a_given_client_are_mapped() -> None:
    """Any httpx transport error becomes DeliveryFailed, so callers never catch httpx errors."""

    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with httpx.Client(transport=httpx.MockTransport(handle)) as client:
        hook = WebhookNotifier("https://hooks.example.invalid/x", secret=SECRET, client=client)
        with pytest.raises(DeliveryFailed, match="ReadTimeout"):
            hook.send(sample_message())


def test_payload_dates_are_iso_and_unserialisable_values_fail() -> None:
    """Dates in the payload become ISO strings; a value JSON cannot hold is a clear failure."""
    dated = sample_message(
        payload={"day": date(2026, 4, 1), "at": datetime(2026, 4, 1, 9, 40, tzinfo=JST)}
    )
    assert json.loads(webhook_body(dated))["payload"] == {
        "day": "2026-04-01",
        "at": "2026-04-01T09:40:00+09:00",
    }
    with pytest.raises(DeliveryFailed, match="payload cannot be written as JSON"):
        webhook_body(sample_message(payload={"x": object()}))


@pytest.mark.parametrize(
    ("url", "secret", "match"),
    [
        pytest.param("ftp://example.invalid/x", SECRET, "not an http", id="scheme"),
        pytest.param("hooks.example.invalid/x", SECRET, "not an http", id="no-scheme"),
        pytest.param("https://hooks.example.invalid/x", "", "secret is empty", id="no-secret"),
    ],
)
def test_bad_settings_are_refused_at_construction(url: str, secret: str, match: str) -> None:
    """An unusable URL or an empty secret is refused when the notifier is made."""
    with pytest.raises(InvalidInput, match=match):
        WebhookNotifier(url, secret=secret)


def test_repr_hides_secret_and_path() -> None:
    """The notifier's repr shows its origin only: no secret, no token in the URL."""
    hook = WebhookNotifier("https://hooks.example.invalid:8443/T0/B0/tok", secret=SECRET)
    assert (
        repr(hook) == "WebhookNotifier(name='webhook', origin='https://hooks.example.invalid:8443')"
    )
