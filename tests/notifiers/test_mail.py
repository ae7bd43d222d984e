"""MailNotifier against a real SMTP server (aiosmtpd) on the loopback interface."""

from __future__ import annotations

import email
import shutil
import ssl
import subprocess
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from irflow.errors import InvalidInput
from irflow.notifiers import DeliveryFailed, MailNotifier, Recipient
from irflow.notifiers.mail import build_mail, message_id

from .conftest import (
    BODY,
    CITY,
    NO_MAIL,
    PREF,
    SUBJECT,
    TOWN,
    Received,
    StartSmtp,
    form_attachment,
    free_port,
    sample_message,
)

SENDER = "irflow@example.invalid"

# aiosmtpd warns about AUTH without TLS, which the plaintext AUTH tests do on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def parse(received: Received) -> EmailMessage:
    mail = email.message_from_bytes(received.content, policy=default_policy)
    assert isinstance(mail, EmailMessage)
    return mail


def notifier(port: int, **options: object) -> MailNotifier:
    return MailNotifier("127.0.0.1", port, sender=SENDER, timeout=5.0, **options)  # type: ignore[arg-type]


def test_japanese_mail_arrives_with_decoded_headers_and_body(start_smtp: StartSmtp) -> None:
    """A report arrives as one mail whose subject, names and body decode to the Japanese text."""
    recorder, port = start_smtp()
    notifier(port).send(sample_message(recipients=(PREF, TOWN)))

    assert len(recorder.received) == 1
    received = recorder.received[0]
    assert received.mail_from == SENDER
    assert received.rcpt_tos == [PREF.mail, TOWN.mail]
    mail = parse(received)
    assert mail["Subject"] == SUBJECT
    assert [(a.display_name, a.addr_spec) for a in mail["To"].addresses] == [
        ("サンプル県 情報政策課", "joho@pref.example.invalid"),
        ("サンプル町 総務課", "somu@town.example.invalid"),
    ]
    assert mail["From"].addresses[0].display_name == "サンプル市 情報政策課"
    assert mail["From"].addresses[0].addr_spec == SENDER
    assert mail["Reply-To"].addresses[0].addr_spec == CITY.mail
    assert mail["Message-ID"] == "<outbox-17@irflow.invalid>"
    assert mail["X-Irflow-Kind"] == "report"
    assert mail["X-Irflow-Case"] == "12"
    assert mail["Date"].datetime.isoformat() == "2026-04-01T10:00:00+09:00"
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    # Text travels in canonical form (CRLF line ends, RFC 2046).
    assert mail.get_content().replace("\r\n", "\n") == BODY
    assert "事象発生報告書兼完了報告書（発生時報告）" in mail.get_content()


def test_headers_on_the_wire_are_ascii(start_smtp: StartSmtp) -> None:
    """Japanese header text is RFC 2047 encoded and the body base64, so any relay carries it."""
    recorder, port = start_smtp()
    notifier(port).send(sample_message())

    raw = recorder.received[0].content
    head, _, body = raw.partition(b"\r\n\r\n")
    head.decode("ascii")
    body.decode("ascii")
    assert b"Subject: =?utf-8?b?" in head
    assert b"Content-Transfer-Encoding: base64" in head


def test_inquiry_form_arrives_as_an_attachment_with_its_japanese_name(
    start_smtp: StartSmtp,
) -> None:
    """The 問合せ票 arrives as a UTF-8 Markdown attachment named 問合せ票.md after the body."""
    recorder, port = start_smtp()
    form = form_attachment()
    notifier(port).send(sample_message(kind="inquiry", attachments=(form,)))

    mail = parse(recorder.received[0])
    assert mail.get_content_type() == "multipart/mixed"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == BODY
    (attached,) = mail.iter_attachments()
    assert attached.get_filename() == "問合せ票.md"
    assert attached.get_content_type() == "text/markdown"
    assert attached.get_content_charset() == "utf-8"
    text = attached.get_content().replace("\r\n", "\n")
    assert text == form.text
    for receiver in ("新潟県", "地方公共団体情報システム機構"):  # each hop's receiver
        assert f"| {receiver} |" in text
    assert "> 手順書第3章のとおりです。" in text  # and the answer


def test_attachment_name_on_the_wire_is_rfc2231(start_smtp: StartSmtp) -> None:
    """The Japanese file name travels RFC 2231 encoded and the form base64: all ASCII."""
    recorder, port = start_smtp()
    notifier(port).send(sample_message(attachments=(form_attachment(),)))

    raw = recorder.received[0].content
    raw.decode("ascii")
    assert b"filename*=utf-8''%E5%95%8F%E5%90%88%E3%81%9B%E7%A5%A8.md" in raw
    assert raw.count(b"MIME-Version") == 1  # on the mail, not on each part


def test_recipients_without_mail_are_left_out(start_smtp: StartSmtp) -> None:
    """Only recipients with a mail address are mailed; the others do not block the mail."""
    recorder, port = start_smtp()
    notifier(port).send(sample_message(recipients=(NO_MAIL, PREF, PREF)))

    assert recorder.received[0].rcpt_tos == [PREF.mail]
    assert len(parse(recorder.received[0])["To"].addresses) == 1


def test_non_ascii_address_goes_with_smtputf8(start_smtp: StartSmtp) -> None:
    """A Japanese mail address is delivered through SMTPUTF8 when the server offers it."""
    recorder, port = start_smtp()
    tanto = Recipient(org_id="sample-city", name="サンプル市", mail="担当@example.invalid")
    notifier(port).send(sample_message(recipients=(tanto,)))

    assert recorder.received[0].rcpt_tos == ["担当@example.invalid"]
    assert "To: サンプル市 <担当@example.invalid>".encode() in recorder.received[0].content


def test_non_ascii_address_without_smtputf8_fails(start_smtp: StartSmtp) -> None:
    """A Japanese mail address to a server without SMTPUTF8 is a failed delivery that says so."""
    recorder, port = start_smtp(enable_SMTPUTF8=False)
    tanto = Recipient(org_id="sample-city", name="サンプル市", mail="担当@example.invalid")
    with pytest.raises(DeliveryFailed, match="SMTPUTF8"):
        notifier(port).send(sample_message(recipients=(tanto,)))
    assert recorder.received == []


def test_no_recipient_with_mail_fails_with_reason(start_smtp: StartSmtp) -> None:
    """A message none of whose recipients has a mail address fails and says why."""
    recorder, port = start_smtp()
    with pytest.raises(DeliveryFailed, match="no recipient has a mail address") as caught:
        notifier(port).send(sample_message(recipients=(NO_MAIL,)))
    assert "サンプル村 住民課" in str(caught.value)
    assert recorder.received == []


def test_message_id_is_stable_across_resends(start_smtp: StartSmtp) -> None:
    """Sending the same message twice gives two mails with the same Message-ID and Date."""
    recorder, port = start_smtp()
    mailer = notifier(port)
    mailer.send(sample_message())
    mailer.send(sample_message())

    first, second = (parse(r) for r in recorder.received)
    assert first["Message-ID"] == second["Message-ID"] == "<outbox-17@irflow.invalid>"
    assert first["Date"] == second["Date"]


def test_message_id_escapes_characters_outside_atext() -> None:
    """An id with spaces or brackets still makes one valid, stable Message-ID."""
    weird = sample_message(id="a b<c>@d")
    assert message_id(weird) == "<a%20b%3Cc%3E%40d@irflow.invalid>"
    assert message_id(weird) == message_id(sample_message(id="a b<c>@d"))


def test_line_breaks_in_the_subject_are_folded_away() -> None:
    """A subject with a line break becomes one line instead of failing or injecting headers."""
    mail = build_mail(sample_message(subject="件名\r\nBcc: someone@example.invalid"), sender=SENDER)
    assert mail["Subject"] == "件名 Bcc: someone@example.invalid"
    assert mail["Bcc"] is None


def test_engine_message_without_sender_uses_sender_name() -> None:
    """A message the engine itself sends shows the configured sender name and no Reply-To."""
    mail = build_mail(sample_message(sender=None, case_id=None), sender=SENDER)
    assert mail["From"].addresses[0].display_name == "irflow"
    assert mail["Reply-To"] is None
    assert mail["X-Irflow-Case"] is None


def test_server_down_then_up_delivers_once(start_smtp: StartSmtp) -> None:
    """While the server is down a send fails naming host:port; once up, the mail arrives once."""
    port = free_port()
    mailer = notifier(port)
    message = sample_message()
    for _ in range(2):
        with pytest.raises(DeliveryFailed, match=f"127.0.0.1:{port}") as caught:
            mailer.send(message)
        assert "情報照会" not in str(caught.value)

    recorder, _ = start_smtp(port=port)
    mailer.send(message)
    assert len(recorder.received) == 1
    assert parse(recorder.received[0])["Message-ID"] == "<outbox-17@irflow.invalid>"


def test_temporary_refusal_fails_then_delivers(start_smtp: StartSmtp) -> None:
    """A 451 answer to DATA is a failed delivery; the next try delivers the mail once."""
    recorder, port = start_smtp()
    recorder.refuse_next = 1
    mailer = notifier(port)
    with pytest.raises(DeliveryFailed, match="451"):
        mailer.send(sample_message())
    mailer.send(sample_message())
    assert len(recorder.received) == 1


class Authenticator:
    """aiosmtpd authenticator that accepts one login and records every attempt."""

    def __init__(self, login: str, password: str) -> None:
        self.login = login
        self.password = password
        self.attempts: list[tuple[str, str]] = []

    def __call__(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: object,
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login = auth_data.login.decode()
        password = auth_data.password.decode()
        self.attempts.append((mechanism, login))
        ok = (login, password) == (self.login, self.password)
        # handled=False: aiosmtpd answers 235 or 535 itself.
        return AuthResult(success=ok, handled=False)


def test_auth_is_attempted_when_configured(start_smtp: StartSmtp) -> None:
    """With a username the notifier logs in before sending, and the session is authenticated."""
    authenticator = Authenticator("irflow", "sample-pass")
    recorder, port = start_smtp(
        authenticator=authenticator, auth_require_tls=False, auth_required=True
    )
    notifier(port, username="irflow", password="sample-pass").send(sample_message())

    assert [login for _, login in authenticator.attempts] == ["irflow"]
    assert recorder.received[0].authenticated is True


def test_wrong_password_fails_without_revealing_it(start_smtp: StartSmtp) -> None:
    """A refused login is a failed delivery that names the user, never the password."""
    authenticator = Authenticator("irflow", "right")
    recorder, port = start_smtp(
        authenticator=authenticator, auth_require_tls=False, auth_required=True
    )
    mailer = notifier(port, username="irflow", password="wrong-secret")
    with pytest.raises(DeliveryFailed, match="login as 'irflow' refused") as caught:
        mailer.send(sample_message())
    assert "wrong-secret" not in str(caught.value)
    assert "wrong-secret" not in repr(mailer)
    assert authenticator.attempts
    assert recorder.received == []


def test_auth_required_by_server_but_not_configured_fails(start_smtp: StartSmtp) -> None:
    """A server that requires AUTH refuses an anonymous send, which is a failed delivery."""
    recorder, port = start_smtp(
        authenticator=Authenticator("irflow", "x"), auth_require_tls=False, auth_required=True
    )
    with pytest.raises(DeliveryFailed, match="530"):
        notifier(port).send(sample_message())
    assert recorder.received == []


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def tls_server_options(certificate: tuple[Path, Path]) -> dict[str, object]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return {"tls_context": context, "require_starttls": True}


def test_starttls_then_auth_delivers(start_smtp: StartSmtp, certificate: tuple[Path, Path]) -> None:
    """With starttls the session is encrypted before the login, and the mail arrives over TLS."""
    authenticator = Authenticator("irflow", "secret")
    recorder, port = start_smtp(
        authenticator=authenticator, auth_required=True, **tls_server_options(certificate)
    )
    client = ssl.create_default_context(cafile=str(certificate[0]))
    notifier(port, starttls=True, ssl_context=client, username="irflow", password="secret").send(
        sample_message()
    )
    assert recorder.received[0].tls
    assert recorder.received[0].authenticated is True
    assert parse(recorder.received[0])["Subject"] == SUBJECT


def test_starttls_verifies_the_certificate(
    start_smtp: StartSmtp, certificate: tuple[Path, Path]
) -> None:
    """An untrusted server certificate is a failed delivery, not a silent plaintext fallback."""
    recorder, port = start_smtp(**tls_server_options(certificate))
    with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
        notifier(port, starttls=True).send(sample_message())
    assert recorder.received == []


def test_server_requiring_starttls_refuses_plaintext(
    start_smtp: StartSmtp, certificate: tuple[Path, Path]
) -> None:
    """A server that requires STARTTLS refuses a plaintext send, which is a failed delivery."""
    recorder, port = start_smtp(**tls_server_options(certificate))
    with pytest.raises(DeliveryFailed, match="STARTTLS"):
        notifier(port).send(sample_message())
    assert recorder.received == []


def test_starttls_against_server_without_it_fails(start_smtp: StartSmtp) -> None:
    """STARTTLS asked of a server that does not offer it fails instead of sending in the clear."""
    recorder, port = start_smtp()
    with pytest.raises(DeliveryFailed, match="STARTTLS"):
        notifier(port, starttls=True).send(sample_message())
    assert recorder.received == []


@pytest.mark.parametrize(
    ("options", "match"),
    [
        pytest.param({"host": ""}, "host is empty", id="empty-host"),
        pytest.param({"port": 0}, "not a TCP port", id="port"),
        pytest.param({"sender": "irflow"}, "not a mail address", id="sender"),
        pytest.param({"password": "x"}, "without a username", id="password-only"),
        pytest.param(
            {"username": "irflow", "password": "パスワード"}, "ASCII", id="non-ascii-password"
        ),
    ],
)
def test_bad_settings_are_refused_at_construction(options: dict[str, object], match: str) -> None:
    """A mail notifier with an unusable setting is refused when made, not at the first send."""
    arguments: dict[str, object] = {"host": "127.0.0.1", "port": 25, "sender": SENDER}
    arguments.update(options)
    with pytest.raises(InvalidInput, match=match):
        MailNotifier(**arguments)  # type: ignore[arg-type]
