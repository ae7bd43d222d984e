"""Fixtures for the notifier tests: sample messages, a real SMTP server, a real HTTP server.

Servers listen on 127.0.0.1 on a port picked free beforehand (aiosmtpd's
``Controller(port=0)`` does not work). Every server a test starts is stopped
after it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from irflow.clock import JST
from irflow.engine.forms import inquiry_form_from_json, render_inquiry_form
from irflow.notifiers import Attachment, Message, Recipient
from tests.conftest import inquiry_notice

CITY = Recipient(
    org_id="sample-city", name="サンプル市 情報政策課", mail="joho@city.example.invalid"
)
PREF = Recipient(
    org_id="sample-pref", name="サンプル県 情報政策課", mail="joho@pref.example.invalid"
)
TOWN = Recipient(org_id="sample-town", name="サンプル町 総務課", mail="somu@town.example.invalid")
NO_MAIL = Recipient(org_id="sample-village", name="サンプル村 住民課")

SUBJECT = "【第1報】事象発生報告書兼完了報告書（サンプル市・住民基本台帳システム）"
BODY = (
    "サンプル県 情報政策課 御中\n"
    "\n"
    "事象発生報告書兼完了報告書（発生時報告）\n"
    "報告機関：サンプル市 情報政策課\n"
    "発生日時：2026年4月1日 9時40分\n"
    "検知日時：2026年4月1日 9時45分\n"
    "事象の概要：情報照会の応答が遅延している。\n"
    "影響範囲：サンプル市からの情報照会\n"
    "対応状況：原因を調査中。\n"
    "連絡先：サンプル市 情報政策課 000-0000-0001\n"
)
CREATED = datetime(2026, 4, 1, 10, 0, tzinfo=JST)


def sample_message(**changes: Any) -> Message:
    """A report from サンプル市 to サンプル県; ``changes`` replace any field."""
    fields: dict[str, Any] = {
        "id": "outbox-17",
        "channel": "mail",
        "kind": "report",
        "subject": SUBJECT,
        "body": BODY,
        "recipients": (PREF,),
        "created_at": CREATED,
        "case_id": 12,
        "sender": CITY,
        "category": "06.異常時における連絡等",
        "payload": {"step": "report_occurrence", "part": "occurrence"},
    }
    fields.update(changes)
    return Message(**fields)


def form_attachment() -> Attachment:
    """The sample inquiry's form 問合せ票 (三条市 -> 新潟県 -> J-LIS, answered), as the
    outbox attaches it to an inquiry notice."""
    form = inquiry_form_from_json(inquiry_notice()["form"])
    return Attachment(
        filename="問合せ票.md",
        content_type="text/markdown; charset=utf-8",
        text=render_inquiry_form(form, format="md"),
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    """One mail as the SMTP server took it."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool | None


@dataclass
class SmtpRecorder:
    """aiosmtpd handler: keeps every mail; can refuse the next DATA commands."""

    received: list[Received] = field(default_factory=list)
    refuse_next: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return "451 4.3.0 Temporary failure, try again later"
        assert envelope.mail_from is not None
        assert isinstance(envelope.content, bytes)
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.content,
                tls=session.ssl is not None,
                authenticated=session.authenticated,
            )
        )
        return "250 2.0.0 OK"


StartSmtp = Callable[..., tuple[SmtpRecorder, int]]


@pytest.fixture
def start_smtp() -> Iterator[StartSmtp]:
    """Start a real SMTP server: ``start_smtp(port=None, **smtp_options) -> (recorder, port)``."""
    controllers: list[Controller] = []

    def start(port: int | None = None, **options: Any) -> tuple[SmtpRecorder, int]:
        recorder = SmtpRecorder()
        port = port or free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return recorder, port

    yield start
    for controller in controllers:
        controller.stop()


@dataclass
class HttpRequest:
    """One request as the HTTP server took it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpRecorder:
    """A local HTTP server's record, and the statuses it answers with."""

    url: str
    requests: list[HttpRequest] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """Statuses for the next requests, in order; 204 when empty."""


@pytest.fixture
def http_server() -> Iterator[HttpRecorder]:
    """A real HTTP server on 127.0.0.1 in a thread, recording every POST."""
    recorder = HttpRecorder(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            recorder.requests.append(
                HttpRequest(path=self.path, headers=dict(self.headers.items()), body=body)
            )
            status = recorder.statuses.pop(0) if recorder.statuses else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
