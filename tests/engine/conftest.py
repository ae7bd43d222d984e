"""Fixtures of the engine's tests: an engine that notifies through a memory notifier, one
whose database holds a case of each bundled flow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from irflow.engine.facade import Engine
from irflow.notifiers.memory import MemoryNotifier
from irflow.testing import MovableClock
from tests.engine.notices import url_of
from tests.engine.rows import SANJO, T0


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


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    """An engine whose database holds a case of each bundled flow (so both are stored)."""
    engine.open_case(reporter=SANJO, title="障害", at=T0)
    engine.open_case(
        reporter=SANJO, title="問合せ", kinds=["inquiry"], confirmed=["faq_checked"], at=T0
    )
    return engine
