"""The database: a database without irflow's schema is refused, naming irflow init."""

from __future__ import annotations

import pytest

from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.errors import NotInitialised
from tests.engine.cases import SANJO


def test_empty_database_is_not_initialised(db_url: str) -> None:
    """Every command on a database without irflow's schema says to run `irflow init`."""
    with Engine(db_url) as empty:
        with pytest.raises(NotInitialised, match="irflow init"):
            empty.cases(viewer=SYSTEM)
        with pytest.raises(NotInitialised):
            empty.open_case(reporter=SANJO, title="x")
        with pytest.raises(NotInitialised):
            empty.verify(viewer=SYSTEM)
