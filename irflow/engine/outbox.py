"""The outbox dispatcher: every queued notification reaches its channel, exactly once.

Outbox rows are written in the transaction of the event that caused them, so
nothing is sent before that transaction commits and a rolled-back command sends
nothing. The dispatcher leases due rows (a short lease, so a crashed dispatcher's
rows are taken up again), renders each row's template, hands it to its channel's
notifier, and marks it sent; a failure is retried with exponential backoff and
jitter, and after ``max_attempts`` the row is dead (``irflow outbox retry``
requeues it). A retry carries the same message id, so a channel that knows ids
(the mail Message-ID, the webhook Idempotency-Key, the site post's id) never
shows a second copy.

Some notices carry a form: ``ATTACHED_FORMS`` names, per mail template, the form
rendered from the row's context and attached to the message on every channel (an
inquiry notice, ``mail_inquiry``, carries the inquiry form 問合せ票.md). The site
keeps it on the post (``SitePostRow.attachment``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine as SAEngine
from sqlmodel import Session, col, select, update

from irflow.engine.effects import SITE
from irflow.engine.phrases import PhraseBook
from irflow.engine.tables import OutboxRow, SitePostRow
from irflow.errors import DeliveryFailed, InvalidInput, NotFound
from irflow.notifiers.base import Attachment, Message, Notifier, Recipient

if TYPE_CHECKING:
    from irflow.engine.directory import Organisation

_WORDING = PhraseBook("outbox", {"inquiry_form_file": ()})

LEASE = timedelta(seconds=120)
"""How long a dispatcher may take to send a leased row before another takes it up."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with jitter: base * 2**(attempt-1), capped, +-jitter."""

    max_attempts: int = 8
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        raw = min(self.base * (1 << (attempt - 1)), self.cap)
        return raw * (1 + rng.uniform(-self.jitter, self.jitter))


@dataclass(kw_only=True)
class DrainReport:
    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": [{"id": i, "error": e} for i, e in self.failed],
            "dead": self.dead,
        }


class SitePoster:
    """The information sharing site as a channel: a post the named agencies can read.

    The post's id is the message id, so a retried post is the same post. The form a
    message carries is kept on the post (its name and text); a post holds one form,
    the message's first attachment.
    """

    name = SITE

    def __init__(self, engine: SAEngine) -> None:
        self.engine = engine

    def send(self, message: Message) -> None:
        with Session(self.engine) as session:
            if session.get(SitePostRow, message.id) is not None:
                return
            named = [] if message.kind == "announcement" else [r.org_id for r in message.recipients]
            form = message.attachments[0] if message.attachments else None
            session.add(
                SitePostRow(
                    id=message.id,
                    case_id=message.case_id,
                    category=message.category or "",
                    poster_id=message.sender.org_id if message.sender else None,
                    named=json.dumps(named),
                    title=message.subject,
                    body=message.body,
                    posted_at=message.created_at,
                    attachment_name=form.filename if form else None,
                    attachment=form.text if form else None,
                )
            )
            session.commit()


class Dispatcher:
    """Hands due outbox rows to their notifiers."""

    def __init__(
        self,
        engine: SAEngine,
        notifiers: Sequence[Notifier],
        orgs: Mapping[str, Organisation],
        *,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.by_channel: dict[str, Notifier] = {SITE: SitePoster(engine)}
        self.by_channel.update({n.name: n for n in notifiers})
        self.orgs = orgs
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()

    def drain(
        self, now: datetime, *, limit: int = 200, stopping: Callable[[], bool] = lambda: False
    ) -> DrainReport:
        """Send what is due, up to ``limit`` messages; when ``stopping()`` turns true (a
        daemon told to stop), the messages not leased yet stay queued for later."""
        report = DrainReport()
        for message_id in self._due(now, limit):
            if stopping():
                break
            row = self._lease(message_id, now)
            if row is None:
                continue  # another dispatcher took it meanwhile
            try:
                notifier = self.by_channel.get(row.channel)
                if notifier is None:
                    raise DeliveryFailed(
                        f"no notifier named {row.channel!r} is configured; add it to "
                        "irflow.toml or retry the message once it is"
                    )
                notifier.send(self.message(row))
            except DeliveryFailed as exc:
                self._failed(row, now, exc.message, report)
            except Exception as exc:  # a notifier's bug must not stop the other messages
                self._failed(row, now, f"{type(exc).__name__}: {exc}", report)
            else:
                self._settle(row, status="sent", sent_at=now, attempts=row.attempts + 1)
                report.sent.append(row.id)
        return report

    def _due(self, now: datetime, limit: int) -> list[str]:
        with Session(self.engine) as session:
            query = (
                select(OutboxRow.id)
                .where(col(OutboxRow.status) == "queued")
                .where(col(OutboxRow.next_attempt_at) <= now)
                .where((col(OutboxRow.lease_until).is_(None)) | (col(OutboxRow.lease_until) <= now))
                .order_by(col(OutboxRow.created_at), col(OutboxRow.id))
                .limit(limit)
            )
            return list(session.exec(query).all())

    def _lease(self, message_id: str, now: datetime) -> OutboxRow | None:
        """Take one due row, right before sending it; None if another dispatcher has it.

        The lease is a conditional UPDATE, atomic on every backend, taken per message
        so that a slow channel cannot outlast the leases of the rows behind it.
        """
        with Session(self.engine) as session:
            taken = session.exec(
                update(OutboxRow)
                .where(col(OutboxRow.id) == message_id)
                .where(col(OutboxRow.status) == "queued")
                .where((col(OutboxRow.lease_until).is_(None)) | (col(OutboxRow.lease_until) <= now))
                .values(lease_until=now + LEASE)
            )
            session.commit()
            if taken.rowcount != 1:
                return None
            row = session.get(OutboxRow, message_id)
            assert row is not None
            session.expunge(row)
            return row

    def _settle(self, row: OutboxRow, **values: Any) -> None:
        """Record the outcome, unless the lease ran out and another dispatcher took over."""
        with Session(self.engine) as session:
            session.exec(
                update(OutboxRow)
                .where(col(OutboxRow.id) == row.id)
                .where(col(OutboxRow.lease_until) == row.lease_until)
                .values(lease_until=None, **values)
            )
            session.commit()

    def _failed(self, row: OutboxRow, now: datetime, error: str, report: DrainReport) -> None:
        attempts = row.attempts + 1
        if attempts >= self.policy.max_attempts:
            self._settle(row, status="dead", attempts=attempts, last_error=error)
            report.dead.append(row.id)
        else:
            delay = self.policy.delay(attempts, self.rng)
            self._settle(row, attempts=attempts, last_error=error, next_attempt_at=now + delay)
            report.failed.append((row.id, error))

    def message(self, row: OutboxRow) -> Message:
        """The row rendered: its template filled with its stored context."""
        from irflow.engine import forms

        context = json.loads(row.context)
        mail_context = _context(row.template, context)
        rendered = forms.render_mail(row.template, mail_context)
        attached = ATTACHED_FORMS.get(row.template)
        return Message(
            id=row.id,
            channel=row.channel,
            kind=row.kind,
            subject=rendered.subject,
            body=rendered.body,
            recipients=tuple(self._recipient(r) for r in json.loads(row.recipients)),
            created_at=row.created_at,
            case_id=row.case_id,
            sender=self._recipient(row.sender_id) if row.sender_id else None,
            category=row.category,
            payload=context,
            attachments=(attached.attach(mail_context),) if attached else (),
        )

    def _recipient(self, org_id: str) -> Recipient:
        org = self.orgs.get(org_id)
        if org is None:
            return Recipient(org_id=org_id, name=org_id)
        return Recipient(org_id=org.id, name=org.name, mail=org.mail)


@dataclass(frozen=True, kw_only=True)
class AttachedForm:
    """A form that every message of one mail template carries, on every channel."""

    file_phrase: str
    """The phrase (phrases.yaml, section ``outbox``) of the attachment's name (e.g.
    問合せ票.md)."""
    content_type: str
    render: Callable[[Any], str]
    """The form's text from the message's mail context (the template's context)."""

    @property
    def filename(self) -> str:
        """The attachment's name, as the recipient sees it."""
        return _WORDING[self.file_phrase]

    def attach(self, mail_context: Any) -> Attachment:
        return Attachment(
            filename=self.filename, content_type=self.content_type, text=self.render(mail_context)
        )


def _inquiry_form_md(mail_context: Any) -> str:
    from irflow.engine import forms

    return forms.render_inquiry_form(mail_context.form, format="md")


ATTACHED_FORMS: Mapping[str, AttachedForm] = {
    "mail_inquiry": AttachedForm(
        file_phrase="inquiry_form_file",
        content_type="text/markdown; charset=utf-8",
        render=_inquiry_form_md,
    ),
}
"""Mail template -> the form its messages carry as an attachment."""

# Mail template -> how its context is built from the stored JSON: a context class of
# forms (moments parsed by name), or a forms function taking the whole dict (for
# contexts with nested ones, like the inquiry notice and its form).
_CONTEXTS = {
    "mail_report": "ReportMailContext",
    "mail_escalation": "EscalationMailContext",
    "mail_announcement": "AnnouncementMailContext",
}
_FROM_JSON = {
    "mail_inquiry": "inquiry_mail_from_json",
}
_MOMENTS = ("reported_at", "open_since", "deadline", "fired_at", "announced_at")


def _context(template: str, data: dict[str, Any]) -> Any:
    from irflow.engine import forms

    if template in _FROM_JSON:
        return getattr(forms, _FROM_JSON[template])(data)
    if template not in _CONTEXTS:
        known = ", ".join(sorted([*_CONTEXTS, *_FROM_JSON]))
        raise DeliveryFailed(f"no mail template {template!r} is known; known: {known}")
    values = {
        k: datetime.fromisoformat(v) if k in _MOMENTS and isinstance(v, str) else v
        for k, v in data.items()
    }
    return getattr(forms, _CONTEXTS[template])(**values)


def requeue(engine: SAEngine, message_id: str, now: datetime) -> OutboxRow:
    """Put a dead (or failed) message back in the queue, due now."""
    with Session(engine) as session:
        row = session.get(OutboxRow, message_id)
        if row is None:
            raise NotFound(f"no outbox message {message_id!r}; `irflow outbox list` shows them")
        if row.status == "sent":
            raise InvalidInput(
                f"message {message_id!r} was sent already at {row.sent_at}; a retry would send "
                "a second copy to channels that do not know its id"
            )
        row.status, row.next_attempt_at, row.lease_until, row.attempts = "queued", now, None, 0
        session.add(row)
        session.commit()
        session.refresh(row)
        return row
