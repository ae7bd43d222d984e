"""The transactional outbox: who is told what, delivery exactly once through retries and
outages, nothing sent for a command that did not commit, and who may read the site's
posts; on every backend.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlmodel import Session

from irflow.engine.facade import Engine
from irflow.engine.ledger import Ledger
from irflow.engine.outbox import RetryPolicy
from irflow.engine.rules import SYSTEM
from irflow.engine.tables import OutboxRow
from irflow.errors import Conflict, InvalidInput, NotAllowed, NotFound, StepNotOpen
from irflow.notifiers import Attachment
from irflow.notifiers.mail import MailNotifier
from irflow.notifiers.memory import MemoryNotifier
from irflow.testing import MovableClock
from tests.conftest import START, inquiry_notice
from tests.engine.notices import (
    ABNORMAL,
    NIIGATA,
    OPERATOR,
    SANJO,
    crash_after_effects,
    do,
    open_case,
    reported,
    url_of,
)
from tests.notifiers.conftest import SmtpRecorder, free_port

IMPORTANT_NOTICE = "01.情報提供ネットワークシステム運営主体からの周知事項 > 01.重要周知事項"
INQUIRY_BOX = "02.FAQ・問合せ > 02.問合せ"
WHOLE_CASE = [
    "detect_anomaly", "report_status", "coordinator_report_status",
    "receive_occurrence_report", "analyse_event", "receive_analysis", "analyse_failure",
    "contact_agencies", "carry_out_response", "operator_response", "receive_results",
    "operator_receive_results", "confirm_recovery", "receive_completion", "announce_status",
]  # fmt: skip


def row(engine: Engine, message_id: str) -> OutboxRow:
    (found,) = [r for r in engine.outbox() if r.id == message_id]
    return found


# --------------------------------------------------------------------------- who is told


def test_report_queues_one_row_per_channel_and_each_is_delivered_once(
    notified: Engine, memory: MemoryNotifier, clock: MovableClock
) -> None:
    """A report is one outbox row per channel, each delivered by the first drain and never again."""
    case_id = reported(notified)
    rows = notified.outbox()
    assert [(r.id, r.channel, r.kind, r.recipients, r.sender_id, r.status) for r in rows] == [
        (f"c{case_id}.e3.n0.memory", "memory", "report", '["pref-niigata"]', SANJO, "queued"),
        (f"c{case_id}.e3.n0.site", "site", "report", '["pref-niigata"]', SANJO, "queued"),
    ]
    assert {r.category for r in rows} == {ABNORMAL}
    assert memory.sent == []  # nothing leaves before a drain

    first = notified.drain()
    assert sorted(first.sent) == sorted(r.id for r in rows)
    assert (first.failed, first.dead) == ([], [])
    (message,) = memory.sent
    assert message.id == f"c{case_id}.e3.n0.memory"
    assert [(r.org_id, r.name) for r in message.recipients] == [(NIIGATA, "新潟県")]
    assert message.sender is not None
    assert message.sender.org_id == SANJO
    assert "照会の応答が遅延" in message.body
    assert [(p.id, p.category, p.poster_id) for p in notified.posts(SANJO)] == [
        (f"c{case_id}.e3.n0.site", ABNORMAL, SANJO)
    ]

    clock.advance(timedelta(days=1))
    second = notified.drain()
    assert (second.sent, second.failed, second.dead) == ([], [], [])
    assert memory.delivered_ids() == [message.id]
    assert memory.duplicate_ids() == []
    assert {(r.status, r.attempts, r.sent_at) for r in notified.outbox()} == {("sent", 1, START)}


def test_escalation_rungs_queue_messages_to_whom_they_tell(
    notified: Engine, memory: MemoryNotifier, clock: MovableClock
) -> None:
    """Remind queues a message to the owner, notify to its supervisor, mark_overdue none."""
    case_id = open_case(notified)
    clock.set(START + timedelta(hours=3))
    assert [f.action for f in notified.sweep()] == ["remind", "notify", "mark_overdue"]
    rows = notified.outbox()
    assert sorted((r.event_seq, r.channel, r.kind, r.recipients) for r in rows) == [
        (2, "memory", "escalation", '["sanjo"]'),
        (2, "site", "escalation", '["sanjo"]'),
        (3, "memory", "escalation", '["pref-niigata"]'),
        (3, "site", "escalation", '["pref-niigata"]'),
    ]
    assert all(r.case_id == case_id and r.sender_id is None for r in rows)
    notified.drain()
    assert [[r.org_id for r in m.recipients] for m in memory.sent] == [[SANJO], [NIIGATA]]
    assert "三条市" in memory.sent[1].body  # the supervisor is told whose step is late


def test_announcement_is_an_important_notice_to_every_organisation(
    notified: Engine, memory: MemoryNotifier
) -> None:
    """The closing announcement is an important notice that every organisation reads and is sent."""
    case_id = open_case(notified)
    do(notified, case_id, *WHOLE_CASE)
    assert notified.case(case_id, viewer=SYSTEM).state == "closed"
    seq = notified.timeline(case_id, viewer=SYSTEM)[-1].seq
    rows = [r for r in notified.outbox() if r.event_seq == seq]
    everyone = sorted(notified.organisations())
    assert len(everyone) > 50
    announced = [r for r in rows if r.kind == "announcement"]
    assert sorted(r.channel for r in announced) == ["memory", "site"]
    assert {r.category for r in announced} == {IMPORTANT_NOTICE}
    assert all(sorted(json.loads(r.recipients)) == everyone for r in announced)
    reports = [r for r in rows if r.kind == "report"]
    assert {tuple(json.loads(r.recipients)) for r in reports} == {("sanjo", "pref-niigata")}

    notified.drain()
    notice = f"c{case_id}.e{seq}.n1.site"
    for org in everyone:
        assert notice in [p.id for p in notified.posts(org)], org
    (post,) = [p for p in notified.posts("kanazawa") if p.id == notice]
    assert (post.category, post.poster_id, post.named) == (IMPORTANT_NOTICE, OPERATOR, "[]")
    (mail,) = [m for m in memory.sent if m.kind == "announcement"]
    assert sorted(r.org_id for r in mail.recipients) == everyone
    assert memory.duplicate_ids() == []


def test_site_post_retried_after_a_crash_is_the_same_post(notified: Engine) -> None:
    """A site message sent again under its id (as after a crash) does not post twice."""
    case_id = reported(notified)
    notified.drain()
    site = f"c{case_id}.e3.n0.site"
    # A crash between the send and its bookkeeping leaves the row queued.
    with notified.sa.begin() as conn:
        conn.execute(
            text("UPDATE outbox SET status = 'queued', sent_at = NULL WHERE id = :id"),
            {"id": site},
        )
    assert notified.drain().sent == [site]
    assert [p.id for p in notified.posts(SANJO)] == [site]


def test_retry_of_a_sent_message_is_refused(notified: Engine) -> None:
    """`retry` refuses a message already sent, which would be a second copy elsewhere."""
    case_id = reported(notified)
    notified.drain()
    with pytest.raises(InvalidInput, match="sent already"):
        notified.retry(f"c{case_id}.e3.n0.memory")


# --------------------------------------------------------------------------- inquiry forms


def queue_inquiry_notice(engine: Engine, *channels: str) -> list[str]:
    """Queue 新潟県's notice to 三条市 that J-LIS's answer is relayed, as the engine would."""
    with Session(engine.sa) as session:
        for channel in channels:
            session.add(
                OutboxRow(
                    id=f"c7.e5.n0.{channel}",
                    case_id=7,
                    event_seq=5,
                    channel=channel,
                    kind="inquiry",
                    template="mail_inquiry",
                    context=json.dumps(inquiry_notice("relay"), ensure_ascii=False),
                    recipients=json.dumps([SANJO]),
                    sender_id=NIIGATA,
                    category=INQUIRY_BOX,
                    next_attempt_at=START,
                    created_at=START,
                )
            )
        session.commit()
    return [f"c7.e5.n0.{channel}" for channel in channels]


def assert_is_the_inquiry_form(text: str) -> None:
    """``text`` is the sample inquiry's 問合せ票: every hop's receiver and the answer."""
    assert text.startswith("# 問合せ票")
    assert "| 1 | 新潟県 |" in text
    assert "| 2 | 地方公共団体情報システム機構 |" in text
    assert "> 手順書第3章のとおりです。" in text


def test_inquiry_notice_carries_the_inquiry_form_on_every_channel(
    notified: Engine, memory: MemoryNotifier
) -> None:
    """An inquiry notice reaches each channel with the 問合せ票 attached as 問合せ票.md."""
    ids = queue_inquiry_notice(notified, "memory", "site")
    assert sorted(notified.drain().sent) == sorted(ids)

    (message,) = memory.sent
    assert message.subject == "【問合せ・回答】副本登録の手順について（問合せ7・新潟県）"
    assert "問合せ票を添付しています" in message.body
    (form,) = message.attachments
    assert isinstance(form, Attachment)
    assert (form.filename, form.content_type) == ("問合せ票.md", "text/markdown; charset=utf-8")
    assert_is_the_inquiry_form(form.text)

    (post,) = notified.posts(SANJO)
    assert (post.id, post.category, post.poster_id) == ("c7.e5.n0.site", INQUIRY_BOX, NIIGATA)
    assert post.attachment_name == "問合せ票.md"
    assert post.attachment == form.text
    assert [p.id for p in notified.posts(NIIGATA)] == [post.id]  # its poster
    assert notified.posts("pref-ishikawa") == []  # nobody else


def test_notices_of_other_templates_carry_nothing(notified: Engine, memory: MemoryNotifier) -> None:
    """A report carries no attachment and its site post no form."""
    reported(notified)
    notified.drain()
    assert [m.attachments for m in memory.sent] == [()]
    assert [(p.attachment_name, p.attachment) for p in notified.posts(SANJO)] == [(None, None)]


# --------------------------------------------------------------------------- retries


def test_failed_delivery_is_retried_with_backoff_and_delivered_once(
    notified: Engine, memory: MemoryNotifier, clock: MovableClock
) -> None:
    """During an outage a message is retried with growing waits, then delivered exactly once."""
    case_id = reported(notified)
    message_id = f"c{case_id}.e3.n0.memory"
    memory.fail_next(2)
    policy = RetryPolicy()

    first = notified.drain()
    assert [i for i, _ in first.failed] == [message_id]
    assert first.sent == [f"c{case_id}.e3.n0.site"]  # the site is not down
    failed = row(notified, message_id)
    assert (failed.status, failed.attempts) == ("queued", 1)
    assert "simulated outage" in (failed.last_error or "")
    wait = failed.next_attempt_at - clock.now()
    assert policy.base * 0.8 <= wait <= policy.base * 1.2

    assert notified.drain().failed == []  # not due yet: not tried
    clock.set(failed.next_attempt_at)
    second = notified.drain()
    assert [i for i, _ in second.failed] == [message_id]
    again = row(notified, message_id)
    assert again.attempts == 2
    assert policy.base * 2 * 0.8 <= again.next_attempt_at - clock.now() <= policy.base * 2 * 1.2

    clock.set(again.next_attempt_at)
    assert notified.drain().sent == [message_id]
    assert row(notified, message_id).status == "sent"
    assert row(notified, message_id).attempts == 3
    assert memory.delivered_ids() == [message_id]
    assert [m.id for m in memory.failed] == [message_id, message_id]
    clock.advance(timedelta(days=2))
    assert notified.drain().sent == []
    assert memory.duplicate_ids() == []


def test_message_that_keeps_failing_goes_dead_and_retry_requeues_it(
    notified: Engine, memory: MemoryNotifier, clock: MovableClock
) -> None:
    """After max_attempts failures a message is dead; `retry` requeues it and it goes once."""
    case_id = reported(notified)
    message_id = f"c{case_id}.e3.n0.memory"
    memory.fail_next(1000)
    policy = RetryPolicy()
    waits = []
    for attempt in range(1, policy.max_attempts + 1):
        report = notified.drain()
        current = row(notified, message_id)
        assert current.attempts == attempt
        if attempt < policy.max_attempts:
            assert [i for i, _ in report.failed] == [message_id]
            waits.append(current.next_attempt_at - clock.now())
            clock.set(current.next_attempt_at)
        else:
            assert report.dead == [message_id]
    assert waits == sorted(waits)  # backoff grows ...
    assert max(waits) <= policy.cap * (1 + policy.jitter)  # ... up to its cap
    assert [r.id for r in notified.outbox(status="dead")] == [message_id]
    clock.advance(timedelta(days=7))
    assert notified.drain().failed == []  # the dead are not tried again
    assert memory.sent == []

    memory.fail_next(0)
    requeued = notified.retry(message_id)
    assert (requeued.status, requeued.attempts) == ("queued", 0)
    assert notified.drain().sent == [message_id]
    assert notified.drain().sent == []
    assert memory.delivered_ids() == [message_id]
    assert memory.duplicate_ids() == []
    assert notified.outbox(status="dead") == []


# --------------------------------------------------------------------------- nothing uncommitted


@pytest.mark.parametrize("refusal", ["outsider", "wrong-tier", "stale-version", "done-twice"])
def test_refused_command_queues_nothing_and_sends_nothing(
    notified: Engine, memory: MemoryNotifier, refusal: str
) -> None:
    """A command refused by its checks writes no outbox row, so nothing is ever sent for it."""
    case_id = open_case(notified)
    do(notified, case_id, "detect_anomaly")
    version = notified.case(case_id, viewer=SYSTEM).version
    attempts: dict[str, tuple[type[Exception], dict[str, Any]]] = {
        "outsider": (NotFound, {"step": "report_status", "actor": "kanazawa"}),
        "wrong-tier": (NotAllowed, {"step": "report_status", "actor": NIIGATA}),
        "stale-version": (
            Conflict,
            {"step": "report_status", "actor": SANJO, "expect_version": version - 1},
        ),
        "done-twice": (StepNotOpen, {"step": "detect_anomaly", "actor": SANJO}),
    }
    error, kwargs = attempts[refusal]
    with pytest.raises(error):
        notified.advance(case_id, kwargs.pop("step"), **kwargs)
    assert notified.outbox() == []
    assert notified.drain().sent == []
    assert memory.sent == []
    assert notified.case(case_id, viewer=SYSTEM).version == version


def test_rolled_back_command_sends_nothing(
    notified: Engine, memory: MemoryNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command rolled back after writing its outbox rows leaves no row and sends nothing."""
    case_id = open_case(notified)
    do(notified, case_id, "detect_anomaly")
    before = notified.case(case_id, viewer=SYSTEM)
    crash_after_effects(monkeypatch)
    with pytest.raises(RuntimeError, match="power cut"):
        notified.advance(case_id, "report_status", actor=SANJO)
    after = notified.case(case_id, viewer=SYSTEM)
    assert (after.version, len(after.timeline)) == (before.version, len(before.timeline))
    assert notified.outbox() == []
    assert notified.drain().sent == []
    assert memory.sent == []

    notified.advance(case_id, "report_status", actor=SANJO)
    assert len(notified.drain().sent) == 2
    assert len(memory.sent) == 1


# --------------------------------------------------------------------------- a real SMTP server


class SmtpServer:
    """aiosmtpd on a fixed port of 127.0.0.1 that a test starts and stops at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.recorder = SmtpRecorder()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def message_ids(self) -> Counter[str]:
        return Counter(
            str(email.message_from_bytes(r.content)["Message-ID"]) for r in self.recorder.received
        )


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server, not started yet: its port is closed until the test starts it."""
    server = SmtpServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mailing(engine: Engine, clock: MovableClock, smtp: SmtpServer) -> Iterator[Engine]:
    """An engine that mails through ``smtp`` (and posts on the site)."""
    mail = MailNotifier("127.0.0.1", smtp.port, sender="irflow@example.invalid", timeout=5)
    eng = Engine(url_of(engine), clock=clock, notifiers=[mail])
    try:
        yield eng
    finally:
        eng.close()


def test_smtp_outage_then_every_mail_is_delivered_exactly_once(
    mailing: Engine, smtp: SmtpServer, clock: MovableClock
) -> None:
    """Mails queued while the SMTP server is down each arrive exactly once after it returns."""
    for reporter in (SANJO, "kanazawa", "matsuyama"):
        do(mailing, open_case(mailing, reporter), "detect_anomaly", "report_status")
    clock.set(START + timedelta(hours=1, minutes=30))  # report_status rungs: remind + notify
    assert len(mailing.sweep()) == 6
    mails = sorted(r.id for r in mailing.outbox() if r.channel == "mail")
    assert len(mails) == 9  # 3 reports, 3 reminders, 3 notifications

    for _ in range(2):  # the server is down: connection refused
        report = mailing.drain()
        assert sorted(i for i, _ in report.failed) == mails
        assert all("failed" in error for _, error in report.failed)
        clock.advance(timedelta(minutes=5))
    assert {row(mailing, m).attempts for m in mails} == {2}

    smtp.start()
    smtp.recorder.refuse_next = 1  # and its first DATA is refused with a 451
    first = mailing.drain()
    assert len(first.sent) == 8
    assert len(first.failed) == 1
    clock.advance(timedelta(minutes=5))
    assert len(mailing.drain().sent) == 1
    clock.advance(timedelta(days=1))
    assert mailing.drain().sent == []
    assert smtp.message_ids() == Counter({f"<{m}@irflow.invalid>": 1 for m in mails})
    assert {row(mailing, m).status for m in mails} == {"sent"}


def test_no_mail_leaves_before_its_command_commits(
    mailing: Engine, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drain during a command's open transaction sends none of its mail; after commit, once."""
    smtp.start()
    case_id = open_case(mailing)
    do(mailing, case_id, "detect_anomaly")
    seen_inside: list[list[str]] = []
    original = Ledger._write_effects

    def drain_before_commit(self: Ledger, *args: Any, **kwargs: Any) -> bool:
        written = original(self, *args, **kwargs)
        seen_inside.append(mailing.drain().sent)  # another connection, same moment
        return written

    monkeypatch.setattr(Ledger, "_write_effects", drain_before_commit)
    mailing.advance(case_id, "report_status", actor=SANJO)
    monkeypatch.setattr(Ledger, "_write_effects", original)
    assert seen_inside == [[]]
    assert smtp.recorder.received == []
    assert len(mailing.drain().sent) == 2
    assert smtp.message_ids() == Counter({f"<c{case_id}.e3.n0.mail@irflow.invalid>": 1})


def test_rolled_back_command_mails_nothing(
    mailing: Engine, smtp: SmtpServer, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command rolled back after writing its outbox rows never reaches the SMTP server."""
    smtp.start()
    case_id = open_case(mailing)
    do(mailing, case_id, "detect_anomaly")
    crash_after_effects(monkeypatch)
    with pytest.raises(RuntimeError):
        mailing.advance(case_id, "report_status", actor=SANJO)
    clock.advance(timedelta(minutes=1))
    assert mailing.drain().sent == []
    assert smtp.recorder.received == []


def test_inquiry_mail_carries_the_inquiry_form(mailing: Engine, smtp: SmtpServer) -> None:
    """The inquiry notice's mail, parsed back, has 問合せ票.md attached with the whole form."""
    smtp.start()
    (mail_id,) = queue_inquiry_notice(mailing, "mail")
    assert mailing.drain().sent == [mail_id]

    (received,) = smtp.recorder.received
    assert received.rcpt_tos == ["sanjo@example.invalid"]
    mail = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == "【問合せ・回答】副本登録の手順について（問合せ7・新潟県）"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    assert "地方公共団体情報システム機構の回答が新潟県から中継されました。" in body.get_content()
    (attached,) = mail.iter_attachments()
    assert attached.get_filename() == "問合せ票.md"
    assert attached.get_content_type() == "text/markdown"
    assert_is_the_inquiry_form(attached.get_content().replace("\r\n", "\n"))


def test_two_dispatchers_never_send_a_message_twice(
    engine: Engine, clock: MovableClock, memory: MemoryNotifier
) -> None:
    """Two dispatchers draining one outbox side by side deliver each message once."""
    first = Engine(url_of(engine), clock=clock, notifiers=[memory])
    second = Engine(url_of(engine), clock=clock, notifiers=[memory])
    try:
        for _ in range(5):
            reported(first)
        results: list[int] = []

        def drain(eng: Engine) -> None:
            results.append(len(eng.drain().sent))

        threads = [threading.Thread(target=drain, args=(e,)) for e in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(results) == 10  # five reports, each on the site and in memory
        assert memory.duplicate_ids() == []
        assert len(memory.delivered_ids()) == 5
    finally:
        first.close()
        second.close()


def test_a_drain_told_to_stop_leaves_the_rest_queued_for_later(notified: Engine) -> None:
    """A daemon told to stop mid-drain sends no further message; the ones it did not
    take stay queued, and the next drain sends each of them once."""
    do(notified, open_case(notified), *WHOLE_CASE)  # the announcement mails everyone
    queued = len(notified.outbox(status="queued"))
    assert queued > 10
    sent: list[str] = []

    def after_three() -> bool:
        sent.append("asked")
        return len(sent) > 3

    first = notified.drain(stopping=after_three)
    assert len(first.sent) + len(first.failed) == 3
    assert len(notified.outbox(status="queued")) == queued - 3
    second = notified.drain(limit=1000)
    assert len(second.sent) == queued - 3
    assert notified.outbox(status="queued") == []
