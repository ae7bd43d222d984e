"""An in-memory notifier: the test double for every channel.

It keeps what it was given in ``sent`` and can pretend to be down::

    notifier = MemoryNotifier()
    notifier.fail_next(2)          # the next two sends raise DeliveryFailed
    ...                            # run the dispatcher until it gives up or succeeds
    assert notifier.delivered_ids() == ["1", "2"]
    assert notifier.duplicate_ids() == []   # nothing delivered twice

It is safe to use from several threads (a dispatcher thread and the test).
"""

from __future__ import annotations

import threading
from collections import Counter

from irflow.errors import DeliveryFailed
from irflow.notifiers.base import Message

__all__ = ["MemoryNotifier"]


class MemoryNotifier:
    """Keep every delivered message in ``sent``; fail on demand."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.sent: list[Message] = []
        """Every message delivered whole (attachments included), in order; a message
        sent twice is here twice."""
        self.failed: list[Message] = []
        """Every message whose send was made to fail, in order."""
        self._fail_left = 0
        self._reason = ""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryNotifier(name={self.name!r}, sent={len(self.sent)})"

    def fail_next(self, n: int, *, reason: str = "simulated outage") -> None:
        """Make the next ``n`` sends raise ``DeliveryFailed`` (0 ends the outage)."""
        if n < 0:
            raise ValueError(f"fail_next({n}): give a count of 0 or more")
        with self._lock:
            self._fail_left = n
            self._reason = reason

    @property
    def failing(self) -> int:
        """How many of the next sends will still fail."""
        return self._fail_left

    def send(self, message: Message) -> None:
        """Record ``message``, or raise ``DeliveryFailed`` during a simulated outage."""
        with self._lock:
            if self._fail_left > 0:
                self._fail_left -= 1
                self.failed.append(message)
                raise DeliveryFailed(f"{self.name}: {self._reason} (message {message.id})")
            self.sent.append(message)

    def delivered_ids(self) -> list[str]:
        """The ids delivered, each once, in the order of first delivery."""
        with self._lock:
            return list(dict.fromkeys(m.id for m in self.sent))

    def duplicate_ids(self) -> list[str]:
        """The ids delivered more than once (empty when every delivery was unique)."""
        with self._lock:
            counts = Counter(m.id for m in self.sent)
        return [message_id for message_id, n in counts.items() if n > 1]

    def clear(self) -> None:
        """Forget what was sent and failed, and end any simulated outage."""
        with self._lock:
            self.sent.clear()
            self.failed.clear()
            self._fail_left = 0
