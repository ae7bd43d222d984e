"""Fixtures of the engine's tests: an engine that notifies through a memory notifier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from irflow.engine.facade import Engine
from irflow.notifiers.memory import MemoryNotifier
from irflow.testing import MovableClock
from tests.engine.notices import url_of


@pytest.fixture
def memory() -> MemoryNotifier:
    return MemoryNotifier()


@pytest.fixture
def notified(engine: Engine, clock: MovableClock, memory: MemoryNotifier) -> Iterator[Engine]:
    """An engine with a MemoryNotifier configured, on the ``engine`` fixture's database."""
    eng = Engine(url_of(engine), clock=clock, notifiers=[memory])
    try:
        yield eng
    finally:
        eng.close()
