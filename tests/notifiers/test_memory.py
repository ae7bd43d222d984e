"""MemoryNotifier, the in-memory test double."""

from __future__ import annotations

import contextlib
import threading

import pytest

import irflow.notifiers
from irflow.notifiers import DeliveryFailed, MemoryNotifier, Notifier

from .conftest import sample_message


def test_records_what_it_sends() -> None:
    """Every delivered message is kept in ``sent``, in order."""
    notifier = MemoryNotifier()
    first, second = sample_message(id="1"), sample_message(id="2")
    notifier.send(first)
    notifier.send(second)
    assert notifier.sent == [first, second]
    assert notifier.delivered_ids() == ["1", "2"]


def test_fail_next_simulates_an_outage() -> None:
    """After ``fail_next(n)`` the next n sends raise DeliveryFailed and deliver nothing."""
    notifier = MemoryNotifier(name="sample")
    notifier.fail_next(2, reason="SMTP server down")
    message = sample_message()
    for _ in range(2):
        with pytest.raises(DeliveryFailed, match="sample: SMTP server down"):
            notifier.send(message)
    assert notifier.sent == []
    assert notifier.failed == [message, message]
    assert notifier.failing == 0
    notifier.send(message)
    assert notifier.delivered_ids() == ["outbox-17"]


def test_fail_next_zero_ends_the_outage() -> None:
    """``fail_next(0)`` ends a simulated outage early; a negative count is refused."""
    notifier = MemoryNotifier()
    notifier.fail_next(5)
    notifier.fail_next(0)
    notifier.send(sample_message())
    assert len(notifier.sent) == 1
    with pytest.raises(ValueError, match="0 or more"):
        notifier.fail_next(-1)


def test_delivered_ids_are_deduplicated_and_duplicates_reported() -> None:
    """A message delivered twice appears once in ``delivered_ids`` and in ``duplicate_ids``."""
    notifier = MemoryNotifier()
    for message_id in ["1", "2", "1", "3"]:
        notifier.send(sample_message(id=message_id))
    assert notifier.delivered_ids() == ["1", "2", "3"]
    assert notifier.duplicate_ids() == ["1"]
    notifier.clear()
    assert (notifier.sent, notifier.delivered_ids(), notifier.duplicate_ids()) == ([], [], [])


def test_sends_from_threads_are_all_counted() -> None:
    """Concurrent sends from several threads are each counted once, failures included."""
    notifier = MemoryNotifier()
    notifier.fail_next(10)

    def worker(start: int) -> None:
        for i in range(start, start + 50):
            with contextlib.suppress(DeliveryFailed):
                notifier.send(sample_message(id=str(i)))

    threads = [threading.Thread(target=worker, args=(n * 50,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(notifier.failed) == 10
    assert len(notifier.sent) == 190
    assert notifier.duplicate_ids() == []


def test_every_notifier_fits_the_protocol() -> None:
    """Each shipped notifier is a ``Notifier``: a name and ``send(message)``."""
    shipped: list[Notifier] = [
        irflow.notifiers.MemoryNotifier(),
        irflow.notifiers.MailNotifier("127.0.0.1", sender="irflow@example.invalid"),
        irflow.notifiers.WebhookNotifier("http://127.0.0.1/hook", secret="s"),
    ]
    assert [n.name for n in shipped] == ["memory", "mail", "webhook"]
