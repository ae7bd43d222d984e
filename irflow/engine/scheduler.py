"""The in-process ticker of ``irflow run``: APScheduler with a memory job store only.

The database is the truth; APScheduler only says when to look. Two jobs: a periodic
sweep, and a one-off wake-up at the nearest deadline (rescheduled after every
tick), so a rung fires within a second of its moment. There is never a job per
case in a persistent job store: such jobs are dropped on a misfire or a renamed
module, and run twice when several processes share the store. Each tick fires
what is due (``Engine.sweep``) and sends what is queued (``Engine.drain``); the
first tick runs at start, so everything that fell due while nothing ran fires then,
in order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from irflow.engine.facade import Engine

RETRY_DUE = timedelta(seconds=1)
"""How soon to look again at a rung that is due but was not fired by this tick."""


@dataclass(kw_only=True)
class TickReport:
    fired: int = 0
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class Runner:
    """Sweeps and drains on a timer until stopped."""

    def __init__(
        self,
        engine: Engine,
        *,
        sweep_every: float = 10.0,
        on_tick: Callable[[TickReport], None] | None = None,
    ) -> None:
        self.engine = engine
        self.sweep_every = sweep_every
        self.on_tick = on_tick
        self._lock = threading.Lock()
        self._scheduler: Any = None
        # Guards adding the wake-up job against stop(): APScheduler's shutdown holds its
        # job store lock while it waits for the running tick, so a tick that then adds
        # a job would wait forever.
        self._jobs_lock = threading.Lock()
        self._stopping = False
        self.ticks = 0

    def tick(self) -> TickReport:
        """One sweep and one drain; never raises (a failed tick is logged and retried)."""
        report = TickReport()
        with self._lock:
            # Scheduler threads do not inherit contextvars: bind per tick, clear after.
            import structlog

            structlog.contextvars.bind_contextvars(job="tick")
            try:
                # A stop asked for mid-tick ends the tick at the next rung or message:
                # what is left is in the database for the next start, nothing is lost.
                report.fired = len(self.engine.sweep(stopping=self.stopping))
                drained = self.engine.drain(stopping=self.stopping)
                report.sent, report.failed = len(drained.sent), len(drained.failed)
            except Exception as exc:  # the daemon must outlive a database hiccup
                report.errors.append(f"{type(exc).__name__}: {exc}")
                self.engine.log.error("tick.failed", error=report.errors[-1])
            finally:
                structlog.contextvars.clear_contextvars()
            self.ticks += 1
            self._schedule_wakeup(report.fired)
        if self.on_tick is not None:
            self.on_tick(report)
        return report

    def stopping(self) -> bool:
        """Whether a ``stop`` is under way (the running tick then ends early)."""
        return self._stopping

    def _schedule_wakeup(self, fired: int) -> None:
        if self._scheduler is None:
            return
        try:
            nearest = self.engine.next_deadline()
        except Exception:  # the periodic sweep will look again
            return
        if nearest is None:
            return
        # Waiting is measured on the engine's clock. A rung already due after this tick
        # fell due while it ran (wake again at once, if this tick got work done) or is
        # held by another worker or failing (look again in a second: not a spin, and
        # not the periodic sweep's whole interval either).
        wait = nearest - self.engine.clock.now()
        if wait.total_seconds() <= 0:
            wait = timedelta(0) if fired else RETRY_DUE
        with self._jobs_lock:
            if self._stopping or self._scheduler is None:
                return
            self._scheduler.add_job(
                self.tick,
                "date",
                run_date=datetime.now(UTC) + wait,
                id="wake-up",
                replace_existing=True,
                misfire_grace_time=None,
                # Added from inside the running wake-up: a second instance may queue.
                max_instances=2,
            )

    def start(self) -> None:
        """Start ticking in a background thread; the first tick runs at once."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        self._stopping = False
        self._scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.sweep_every,
            id="sweep",
            next_run_time=datetime.now(UTC),
        )
        self._scheduler.start()

    def stop(self) -> None:
        """Stop after the tick under way, if any, has finished."""
        with self._jobs_lock:
            self._stopping = True
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        # The tick under way has ended: a tick called by hand from now on runs whole.
        self._stopping = False
