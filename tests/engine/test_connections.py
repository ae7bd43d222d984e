"""Each thread's connection (``irflow.engine.connections``)."""

from __future__ import annotations

import threading

from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM


def test_the_connection_of_an_ended_thread_goes_back_to_the_pool(engine: Engine) -> None:
    """A service's worker threads end when idle: their connections must not be lost."""

    def read() -> None:
        engine.cases(viewer=SYSTEM)
        with engine.ledger.connection():
            pass

    for _ in range(40):  # more threads than the pool holds connections
        worker = threading.Thread(target=read)
        worker.start()
        worker.join()
    read()
    assert len(engine.ledger.connections.opened) <= 2
