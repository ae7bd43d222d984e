"""The Runner: the ticker that sweeps and drains, stopped and started again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from irflow.engine.facade import Engine
from irflow.engine.scheduler import Runner, TickReport
from irflow.testing import MovableClock
from tests.conftest import START
from tests.engine.ladders import escalated, open_sanjo, rungs


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    limit = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < limit, "timed out waiting"
        time.sleep(0.01)


def test_restart_fires_the_rungs_missed_while_stopped_once_in_order(
    engine: Engine, clock: MovableClock
) -> None:
    """A restarted Runner fires the two rungs that fell due while it was stopped, on one tick."""
    case_id = open_sanjo(engine)
    reports: list[TickReport] = []
    runner = Runner(engine, sweep_every=3600, on_tick=reports.append)
    runner.start()
    wait_for(lambda: runner.ticks >= 1)
    time.sleep(0.3)  # nothing is due: the runner waits for the deadline, it does not spin
    runner.stop()
    assert runner.ticks == 1
    assert [r.fired for r in reports] == [0]
    assert rungs(engine, case_id) == []

    clock.set(START + timedelta(minutes=65))  # past remind (10:30) and notify (11:00)
    runner.start()
    wait_for(lambda: runner.ticks >= 2)
    runner.stop()
    assert [r.fired for r in reports] == [0, 2]
    assert reports[1].errors == []
    assert rungs(engine, case_id) == [
        ("detect_anomaly", 1, "remind"),
        ("detect_anomaly", 2, "notify"),
    ]
    assert [e.at for e in escalated(engine, case_id)] == [clock.now(), clock.now()]
    assert runner.tick().fired == 0  # a second look at the same moment fires nothing
    assert len(escalated(engine, case_id)) == 2
    clock.set(START + timedelta(hours=2, minutes=30))
    assert runner.tick().fired == 1
    assert rungs(engine, case_id)[-1] == ("detect_anomaly", 3, "mark_overdue")


def test_runner_stop_during_a_tick_waits_for_it_and_returns(
    engine: Engine, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping the Runner while a tick is under way lets the tick finish and then returns."""
    open_sanjo(engine)
    in_sweep, release = threading.Event(), threading.Event()
    sweep = engine.sweep

    def slow_sweep(*args: Any, **kwargs: Any) -> Any:
        in_sweep.set()
        release.wait(10)
        return sweep(*args, **kwargs)

    monkeypatch.setattr(engine, "sweep", slow_sweep)
    runner = Runner(engine, sweep_every=3600)
    runner.start()
    assert in_sweep.wait(10)
    stopper = threading.Thread(target=runner.stop, daemon=True)
    stopper.start()
    time.sleep(0.2)  # stop() is now waiting for the tick
    release.set()
    stopper.join(10)
    assert not stopper.is_alive(), "Runner.stop() hung"
    assert runner.ticks == 1
