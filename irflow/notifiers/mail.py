"""Mail over SMTP: one MIME mail per message, in Japanese, with stable headers.

The mail is built with ``email.message.EmailMessage``: header text that is not
ASCII (the subject, the display names) is RFC 2047 encoded, the body is UTF-8
(base64 when it is not ASCII), so that any relay carries it unchanged. Mail
addresses that are not ASCII are sent with SMTPUTF8 when the server offers it.

A message's attachments (the inquiry form 問合せ票.md) follow the body as MIME
parts of a ``multipart/mixed`` mail, their text UTF-8 and base64, their file name
RFC 2231 encoded (``filename*=utf-8''%E5%95%8F...``); in a mail sent with SMTPUTF8
the name is written as UTF-8 (RFC 6532), like every other header.

``Message-ID`` is ``<{message.id}@irflow.invalid>`` and ``Date`` is the message's
``created_at``: a retry after a crash sends a mail that a recipient (or a
deduplicating relay) recognises as the same one.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import format_datetime
from urllib.parse import quote

import structlog

from irflow.clock import to_jst
from irflow.errors import DeliveryFailed, InvalidInput
from irflow.notifiers.base import Attachment, Message

__all__ = ["MailNotifier", "build_mail", "message_id"]

MESSAGE_ID_DOMAIN = "irflow.invalid"
"""The right-hand side of every Message-ID irflow writes."""

# RFC 2047 headers and 7-bit bodies (base64 for Japanese): safe through any relay.
_POLICY = SMTP.clone(cte_type="7bit")
_LINE_BREAKS = re.compile(r"[\r\n]+")
# atext of RFC 5322 without "%", which quote() uses for everything else.
_ATEXT = "!#$&'*+-/=?^_`{|}~."


def message_id(message: Message) -> str:
    """The Message-ID of ``message``'s mail: the same on every retry."""
    return f"<{quote(message.id, safe=_ATEXT)}@{MESSAGE_ID_DOMAIN}>"


def _one_line(text: str) -> str:
    """``text`` on one line: a header value may not contain line breaks."""
    return _LINE_BREAKS.sub(" ", text).strip()


def _address(name: str, addr: str) -> Address:
    """``addr`` with display name ``name``; a non-ASCII address is split by hand."""
    if addr.isascii():
        return Address(display_name=_one_line(name), addr_spec=addr)
    # email's addr_spec parser refuses a non-ASCII local part even under SMTPUTF8.
    username, at, domain = addr.rpartition("@")
    if not at or not username or not domain:
        raise ValueError(f"{addr!r} is not a mail address")
    return Address(display_name=_one_line(name), username=username, domain=domain)


def build_mail(message: Message, *, sender: str, sender_name: str = "irflow") -> EmailMessage:
    """The MIME mail for ``message``, to every recipient that has a mail address.

    ``From`` is ``sender`` with the sending organisation's name (else
    ``sender_name``) as its display name; ``Reply-To`` is the sending
    organisation's own address when it has one. Raises ``DeliveryFailed`` when
    no recipient has a mail address, or a header cannot be written.
    """
    to = [(r.name, r.mail) for r in message.recipients if r.mail]
    if not to:
        names = "、".join(r.name for r in message.recipients) or "(none)"
        raise DeliveryFailed(
            f"message {message.id}: no recipient has a mail address ({names}); "
            "add a mail address to the organisation in the directory, or send it "
            "through another channel"
        )
    addresses = [sender, *(addr for _, addr in to)]
    if message.sender is not None and message.sender.mail:
        addresses.append(message.sender.mail)
    # Addresses that are not ASCII need SMTPUTF8 (RFC 6531), and UTF-8 headers with it.
    international = not all(a.isascii() for a in addresses)
    mail = EmailMessage(policy=_POLICY.clone(utf8=True) if international else _POLICY)
    try:
        from_name = message.sender.name if message.sender else sender_name
        mail["From"] = _address(from_name, sender)
        unique: dict[str, Address] = {}
        for name, addr in to:
            unique.setdefault(addr.lower(), _address(name, addr))
        mail["To"] = list(unique.values())
        if message.sender is not None and message.sender.mail:
            mail["Reply-To"] = _address(message.sender.name, message.sender.mail)
        mail["Subject"] = _one_line(message.subject)
        mail["Date"] = format_datetime(to_jst(message.created_at))
        mail["Message-ID"] = message_id(message)
        mail["X-Irflow-Kind"] = _one_line(message.kind)
        if message.case_id is not None:
            mail["X-Irflow-Case"] = str(message.case_id)
        mail.set_content(message.body, charset="utf-8")
        for attachment in message.attachments:
            mail.make_mixed()
            mail.attach(_part(attachment, mail.policy))
    except (ValueError, TypeError) as exc:
        # email's header parsers raise these for malformed addresses; the text of
        # the error names the header value, never the body.
        raise DeliveryFailed(
            f"message {message.id}: cannot write the mail headers: {exc}; "
            "check the mail addresses in the directory and the sender setting"
        ) from exc
    return mail


def _part(attachment: Attachment, policy: Policy) -> EmailMessage:
    """``attachment`` as one MIME part of the mail, its text always in UTF-8.

    Of ``content_type`` the type and subtype are kept (text/markdown; one that is
    not ``type/subtype`` is sent as text/plain); the charset is UTF-8 whatever the
    parameter says, so that any Japanese text can be written.
    """
    mime = attachment.content_type.partition(";")[0].strip().lower()
    maintype, slash, subtype = mime.partition("/")
    if not (slash and maintype and subtype):
        maintype, subtype = "text", "plain"
    part = EmailMessage(policy=policy)
    if maintype == "text":
        part.set_content(
            attachment.text,
            subtype=subtype,
            charset="utf-8",
            disposition="attachment",
            filename=_one_line(attachment.filename),
        )
    else:
        part.set_content(
            attachment.text.encode("utf-8"),
            maintype,
            subtype,
            disposition="attachment",
            filename=_one_line(attachment.filename),
        )
    del part["MIME-Version"]  # set_content adds it; it belongs on the mail, not a part
    return part


class MailNotifier:
    """Send each message as one mail over SMTP (optionally STARTTLS and AUTH).

    Recipients without a mail address are left out; a message none of whose
    recipients has one raises ``DeliveryFailed``. Any SMTP or network error
    raises ``DeliveryFailed`` naming ``host:port`` and the error (never the body
    or the password). When the server refuses some recipients but takes the mail
    for the others, the send counts as done (a retry would mail the others
    again) and the refusal is logged.
    """

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str,
        name: str = "mail",
        sender_name: str = "irflow",
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not host:
            raise InvalidInput("mail notifier: host is empty; give the SMTP server's name")
        if not 0 < port < 65536:
            raise InvalidInput(f"mail notifier: port {port} is not a TCP port (1-65535)")
        if "@" not in sender:
            raise InvalidInput(
                f"mail notifier: sender {sender!r} is not a mail address; "
                'write it like "irflow@example.invalid"'
            )
        if password is not None and username is None:
            raise InvalidInput("mail notifier: a password without a username; give both")
        if not (username or "").isascii() or not (password or "").isascii():
            raise InvalidInput(
                "mail notifier: the SMTP username and password must be ASCII "
                "(Python's smtplib sends nothing else); choose an ASCII password"
            )
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.sender_name = sender_name
        self.starttls = starttls
        self.username = username
        self._password = password
        self.timeout = timeout
        self.ssl_context = ssl_context

    def __repr__(self) -> str:
        auth = f", username={self.username!r}" if self.username else ""
        return (
            f"MailNotifier(name={self.name!r}, host={self.host!r}, port={self.port}, "
            f"sender={self.sender!r}, starttls={self.starttls}{auth})"
        )

    def send(self, message: Message) -> None:
        """Deliver ``message`` as one mail, or raise ``DeliveryFailed``."""
        mail = build_mail(message, sender=self.sender, sender_name=self.sender_name)
        to_addrs = [a.addr_spec for a in mail["To"].addresses]  # parsed, deduplicated
        where = f"{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                if self.username is not None:
                    smtp.login(self.username, self._password or "")
                refused = smtp.send_message(mail, from_addr=self.sender, to_addrs=to_addrs)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(
                f"mail to {where}: login as {self.username!r} refused "
                f"({exc.smtp_code} {_text(exc.smtp_error)}); check the username and "
                "the password's environment variable"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryFailed(
                f"mail to {where}: the server does not support what the mail needs: {exc}"
            ) from exc
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            raise DeliveryFailed(
                f"mail to {where} failed: {type(exc).__name__}: {exc}".rstrip(": ")
            ) from exc
        if refused:
            structlog.get_logger("irflow").warning(
                "mail recipients refused",
                message_id=message.id,
                server=where,
                refused=sorted(refused),
                delivered=len(to_addrs) - len(refused),
            )


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
