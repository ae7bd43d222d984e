"""The Engine facade: set-up (init) as a caller sees it."""

from __future__ import annotations

from irflow.engine.facade import Engine


def test_init_is_idempotent(engine: Engine) -> None:
    """A second init on a ready database changes nothing and says so."""
    again = engine.init()
    assert (again.migrated, again.organisations_added, again.changed) == (False, 0, False)


def test_init_reports_what_it_did(db_url: str) -> None:
    """The first init migrates and adds the bundled directory."""
    with Engine(db_url) as fresh:
        first = fresh.init()
    assert first.migrated
    assert first.organisations_added > 60
    assert first.changed
