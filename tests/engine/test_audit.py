"""`verify` proves each case row and its timeline, and with an audit key resists a rewrite.

Every tamper here is an SQL statement behind the engine's back, as someone who can
write the database (but holds no audit key) would make it.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from irflow.cli.main import main
from irflow.engine import database
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.engine.timeline import AUDIT_KEY_ENV, event_hash
from irflow.testing import MovableClock
from tests.engine.cases import DETECT, NIIGATA, OPERATOR, SANJO, WHOLE_CASE, _sql, do, open_sanjo
from tests.engine.inquiries import CHIKYOREN, ask, assert_replays_and_verifies, jst

JLIS = "jlis"
KEY = "a-secret-kept-outside-the-database"


@dataclass
class Cli:
    code: int
    out: str


@pytest.fixture
def cli(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Cli]:
    """Run `irflow verify ARGS` in-process on the test's database."""
    monkeypatch.delenv("IRFLOW_NOTIFIERS", raising=False)

    def run(*args: str) -> Cli:
        monkeypatch.setattr(sys, "argv", ["irflow", "verify", *args, "--db", db_url])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        return Cli(code, capsys.readouterr().out)

    return run


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.sa.begin() as conn:
        conn.execute(text(statement), params)


def rows(engine: Engine, statement: str, **params: object) -> list[tuple[object, ...]]:
    with engine.sa.connect() as conn:
        return [tuple(r) for r in conn.execute(text(statement), params)]


def every_kind_of_case(engine: Engine, clock: MovableClock) -> list[int]:
    """An incident with steps, a flag and a new coordinator; an inquiry that went up the
    chain and came back; a case an escalation sweep fired on."""
    incident = open_sanjo(engine)
    do(engine, incident, *DETECT)
    engine.declare(incident, "beyond_own_capacity", actor=SANJO, note="memo")
    engine.assign_coordinator(incident, coordinator="mhlw", actor=OPERATOR)
    inquiry = engine.open_case(
        reporter=SANJO, title="question", kinds=["inquiry"], note="how?", confirmed=["faq_checked"]
    ).case_id
    engine.advance(inquiry, "escalate", actor=NIIGATA, note="up")
    engine.advance(inquiry, "answer", actor=JLIS, note="this way")
    swept = open_sanjo(engine)
    clock.advance(timedelta(days=30))
    assert engine.sweep()
    return [incident, inquiry, swept]


def test_a_clean_database_verifies_and_says_seals_were_not_checked(
    engine: Engine, clock: MovableClock, cli: Callable[..., Cli]
) -> None:
    ids = every_kind_of_case(engine, clock)
    reports = engine.verify(viewer=SYSTEM)
    assert [r.case_id for r in reports] == ids
    assert all(r.ok and r.differences == () and r.seals is None for r in reports)
    result = cli()
    assert result.code == 0
    assert "3 cases verified, 0 broken; event seals not checked ($IRFLOW_AUDIT_KEY" in result.out


# A value of the right type, different from the stored one, for each checked column.
TAMPERS = {
    "state": "'closed'",
    "flow": "'inquiry'",
    "flow_version": "flow_version + 7",
    "title": "'another title'",
    "kinds": "'security_incident'",
    "reporter_id": "'kanazawa'",
    "coordinator_id": "'pref-ishikawa'",
    "operator_id": "'jlis'",
    "flags": "''",
    "steps_done": "'{}'",
    "chain": "'sanjo'",
    "chain_at": "chain_at + 1",
    "version": "version + 1",
    "last_seq": "last_seq + 1",
    "last_hash": "'" + "f" * 64 + "'",
}


def test_each_checked_column_changed_is_named_with_both_values(
    engine: Engine, clock: MovableClock, cli: Callable[..., Cli]
) -> None:
    """Each column of the row, changed by SQL, is named with its case, the stored value
    and the replayed one; the other cases stay ok; the CLI exits 1."""
    incident, inquiry, _swept = every_kind_of_case(engine, clock)
    columns = ", ".join(TAMPERS)
    for column, value in TAMPERS.items():
        case = inquiry if column in ("chain", "chain_at") else incident
        (before,) = rows(engine, f"SELECT {columns} FROM irflow_case WHERE id = :c", c=case)
        sql(engine, f"UPDATE irflow_case SET {column} = {value} WHERE id = :c", c=case)
        report = {r.case_id: r for r in engine.verify(viewer=SYSTEM)}
        assert not report[case].ok, column
        (difference,) = [d for d in report[case].differences if d.column == column]
        stored = rows(engine, f"SELECT {column} FROM irflow_case WHERE id = :c", c=case)[0][0]
        assert difference.stored == stored
        assert difference.replayed == before[list(TAMPERS).index(column)] or column == "steps_done"
        assert all(r.ok for cid, r in report.items() if cid != case)
        result = cli()
        assert result.code == 1
        assert f"case {case}: BROKEN row: {column} is {stored!r}" in result.out
        sql(
            engine,
            f"UPDATE irflow_case SET {column} = :v WHERE id = :c",
            v=before[list(TAMPERS).index(column)],
            c=case,
        )
    assert all(r.ok for r in engine.verify(viewer=SYSTEM))
    assert cli().code == 0


def test_a_changed_deleted_or_swapped_event_is_named(
    engine: Engine, clock: MovableClock, cli: Callable[..., Cli]
) -> None:
    changed, deleted, swapped = (open_sanjo(engine) for _ in range(3))
    for case in (changed, deleted, swapped):
        do(engine, case, *DETECT)
    clean = open_sanjo(engine)
    sql(engine, "UPDATE timeline_event SET actor_id = 'jlis' WHERE case_id = :c AND seq = 3",
        c=changed)  # fmt: skip
    sql(engine, "DELETE FROM timeline_event WHERE case_id = :c AND seq = 2", c=deleted)
    for old, new in ((2, -1), (3, 2), (-1, 3)):
        sql(engine, "UPDATE timeline_event SET seq = :n WHERE case_id = :c AND seq = :o",
            n=new, o=old, c=swapped)  # fmt: skip
    report = {r.case_id: r for r in engine.verify(viewer=SYSTEM)}
    assert (report[changed].bad_seq, report[deleted].bad_seq, report[swapped].bad_seq) == (3, 3, 2)
    assert "does not match its hash" in (report[changed].problem or "")
    assert "event 2 is missing" in (report[deleted].problem or "")
    assert "prev_hash" in (report[swapped].problem or "")
    assert {"steps_done", "version"} <= {d.column for d in report[deleted].differences}
    assert report[clean].ok
    result = cli()
    assert result.code == 1
    assert f"case {changed}: BROKEN at event 3" in result.out
    assert f"case {clean}: ok" in result.out
    assert "4 cases verified, 3 broken" in result.out


def rewrite_chain(engine: Engine, case_id: int, seq: int, note: str) -> None:
    """Change event ``seq``'s note and recompute every hash from it on, and the row's
    last hash: a rewrite consistent in everything but the seals."""
    columns = "seq, at, actor_id, action, step, from_state, to_state, note, payload, prev_hash"
    events = rows(
        engine, f"SELECT {columns} FROM timeline_event WHERE case_id = :c ORDER BY seq", c=case_id
    )
    prev = rows(engine, "SELECT hash FROM timeline_event WHERE case_id = :c AND seq = :s",
                c=case_id, s=seq - 1)[0][0]  # fmt: skip
    for ev in events[seq - 1 :]:
        at = engine.ctx.ledger.read_moment(ev[1])
        digest = event_hash(
            case_id=case_id, seq=int(str(ev[0])), at=at, actor=ev[2], action=str(ev[3]),
            step=ev[4], from_state=ev[5], to_state=ev[6],
            note=note if ev[0] == seq else ev[7], payload_json=str(ev[8]), prev_hash=str(prev),
        )  # type: ignore[arg-type]  # fmt: skip
        sql(engine, "UPDATE timeline_event SET note = :n, prev_hash = :p, hash = :h "
            "WHERE case_id = :c AND seq = :s",
            n=note if ev[0] == seq else ev[7], p=prev, h=digest, c=case_id, s=ev[0])  # fmt: skip
        prev = digest
    sql(engine, "UPDATE irflow_case SET last_hash = :h WHERE id = :c", h=prev, c=case_id)


def test_with_the_key_a_consistent_rewrite_is_named_by_its_seal(
    db_url: str, clock: MovableClock, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Cli]
) -> None:
    """With $IRFLOW_AUDIT_KEY every event is sealed; a chain rewritten with every plain
    hash recomputed passes without the key but is named, case and event, with it."""
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    with Engine(db_url, clock=clock) as engine:
        engine.init()
        ids = every_kind_of_case(engine, clock)
        reports = engine.verify(viewer=SYSTEM)
        events = int(rows(engine, "SELECT COUNT(*) FROM timeline_event")[0][0])  # type: ignore[call-overload]
        assert all(r.ok for r in reports)
        assert sum(r.seals or 0 for r in reports) == events
        assert rows(engine, "SELECT COUNT(*) FROM timeline_event WHERE seal IS NULL") == [(0,)]
        assert f"3 cases verified, 0 broken; {events} event seals checked" in cli().out
        rewrite_chain(engine, ids[0], 3, "nothing happened")

    monkeypatch.delenv(AUDIT_KEY_ENV)
    with Engine(db_url, clock=clock) as keyless:
        assert all(
            r.ok for r in keyless.verify(viewer=SYSTEM)
        )  # what the key adds: this passes without it
        assert cli().code == 0

    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    with Engine(db_url, clock=clock) as engine:
        report = {r.case_id: r for r in engine.verify(viewer=SYSTEM)}
        assert not report[ids[0]].ok
        assert report[ids[0]].bad_seq == 3
        assert "seal does not match" in (report[ids[0]].problem or "")
        assert report[ids[1]].ok
        assert report[ids[2]].ok
        result = cli()
        assert result.code == 1
        assert f"case {ids[0]}: BROKEN at event 3: its seal does not match" in result.out

        sql(engine, "UPDATE timeline_event SET seal = NULL WHERE case_id = :c AND seq = 2",
            c=ids[1])  # fmt: skip
        report = {r.case_id: r for r in engine.verify(viewer=SYSTEM)}
        assert report[ids[1]].bad_seq == 2
        assert "no seal" in (report[ids[1]].problem or "")

    monkeypatch.setenv(AUDIT_KEY_ENV, "another-key")
    with Engine(db_url, clock=clock) as other:
        assert all(r.bad_seq == 1 for r in other.verify(viewer=SYSTEM))


def test_verify_reads_a_fixed_number_of_queries_per_batch(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seven cases in batches of three: two reads a batch and one that finds no more."""
    ids = [open_sanjo(engine) for _ in range(7)]
    do(engine, ids[3], *DETECT)
    reads: list[str] = []
    read_in = engine.ctx.ledger.read_in

    def counted(conn: object, name: str, *params: object) -> list[tuple[object, ...]]:
        reads.append(name)
        return read_in(conn, name, *params)

    monkeypatch.setattr(engine.ctx.ledger, "read_in", counted)
    verdicts = list(engine.audit.verify_iter(viewer=SYSTEM, batch=3))
    assert [r.case_id for r in verdicts] == ids
    assert all(r.ok for r in verdicts)
    assert reads == ["verify_cases", "verify_events"] * 3 + ["verify_cases"]
    reads.clear()
    (one,) = engine.verify(ids[3], viewer=SYSTEM)
    assert one.case_id == ids[3]
    assert one.events == 5
    assert reads == ["verify_cases", "verify_events"]


def test_init_adds_the_seal_column_in_place_and_every_event_still_verifies(
    engine: Engine, db_url: str, clock: MovableClock
) -> None:
    """A database at migration 0004 (no seal column) upgrades in place: events kept."""
    every_kind_of_case(engine, clock)
    events = rows(engine, "SELECT case_id, seq, hash FROM timeline_event ORDER BY case_id, seq")
    from alembic import command

    config = database._alembic_config(engine.sa)
    with engine.sa.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    engine.close()
    with Engine(db_url, clock=clock) as again:
        assert again.init().migrated
        assert (
            rows(again, "SELECT case_id, seq, hash FROM timeline_event ORDER BY case_id, seq")
            == events
        )
        assert all(r.ok for r in again.verify(viewer=SYSTEM))


def test_a_moment_given_in_japan_time_replays_to_the_same_steps_done(engine: Engine) -> None:
    """steps_done keeps the moment as the command was given it; the event keeps UTC."""
    case_id = open_sanjo(engine)
    at = datetime.fromisoformat("2026-04-01T12:30:00+09:00")
    engine.advance(case_id, "detect_anomaly", actor=SANJO, at=at)
    assert engine.verify(case_id, viewer=SYSTEM)[0].ok


def test_a_case_row_deleted_with_its_events_left_is_named(engine: Engine) -> None:
    """Where the database lets a case row go without its events, verify names the case."""
    gone, kept = open_sanjo(engine), open_sanjo(engine)
    if not engine.ctx.ledger.sqlite:
        pytest.skip("PostgreSQL's foreign key keeps the row while its events remain")
    # A bare connection: SQLite leaves foreign keys off unless asked (irflow asks).
    with closing(sqlite3.connect(str(engine.sa.url.database))) as bare:
        bare.execute("DELETE FROM irflow_case WHERE id = ?", (gone,))
        bare.commit()
    report = {r.case_id: r for r in engine.verify(viewer=SYSTEM)}
    assert report[kept].ok
    assert not report[gone].ok
    assert "the case row is gone; 1 of its events remain" in (report[gone].problem or "")


def test_tampered_event_is_named_by_verify(engine: Engine) -> None:
    """Changing an event's note behind the engine's back breaks the chain at that event."""
    case_id = open_sanjo(engine)
    do(engine, case_id, *DETECT)
    other = open_sanjo(engine)
    assert all(r.ok for r in engine.verify(viewer=SYSTEM))
    _sql(
        engine,
        "UPDATE timeline_event SET note = 'nothing happened' WHERE case_id = :c AND seq = 3",
        c=case_id,
    )
    report = {r.case_id: r for r in engine.verify(viewer=SYSTEM)}
    assert not report[case_id].ok
    assert report[case_id].bad_seq == 3
    assert "does not match its hash" in (report[case_id].problem or "")
    assert report[other].ok


def test_deleting_the_last_event_is_detected(engine: Engine) -> None:
    """Removing the newest event is caught by the case row's record of its last event."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly", "report_status")
    _sql(engine, "DELETE FROM timeline_event WHERE case_id = :c AND seq = 3", c=case_id)
    (report,) = engine.verify(case_id, viewer=SYSTEM)
    assert not report.ok
    assert report.bad_seq == 3
    assert "removed" in (report.problem or "")


def test_deleting_an_event_in_the_middle_is_detected(engine: Engine) -> None:
    """A gap in the sequence is named as the missing event."""
    case_id = open_sanjo(engine)
    do(engine, case_id, "detect_anomaly", "report_status")
    _sql(engine, "DELETE FROM timeline_event WHERE case_id = :c AND seq = 2", c=case_id)
    (report,) = engine.verify(case_id, viewer=SYSTEM)
    assert not report.ok
    assert report.bad_seq == 3
    assert "event 2 is missing" in (report.problem or "")


def test_replay_equals_the_stored_state_at_every_step(engine: Engine) -> None:
    """Replaying the timeline through the flow's machine gives the case's state after each step."""
    case_id = open_sanjo(engine, "security_incident")
    for step in ["detect_anomaly", "report_to_nisc", *WHOLE_CASE[1:]]:
        do(engine, case_id, step)
        assert engine.replay(case_id, viewer=SYSTEM) == engine.case(case_id, viewer=SYSTEM).state
    assert engine.replay(case_id, viewer=SYSTEM) == "closed"


def test_every_inquiry_timeline_replays_to_its_state_and_verifies(engine: Engine) -> None:
    """The record (section 6 spirit; the engine's hash-chained timeline): after every
    command and every fired rung, each inquiry's timeline replays to its stored state
    and its hash chain verifies, whatever path it took up and down the chain."""
    municipal = ask(engine, SANJO, at=jst(4, 1, 10))
    prefectural = ask(engine, NIIGATA, at=jst(4, 1, 10))
    national = ask(engine, CHIKYOREN, at=jst(4, 1, 10))
    ids = [municipal, prefectural, national]
    script = [
        (municipal, "escalate", NIIGATA, "J-LISへ"),
        (prefectural, "answer", JLIS, "回答"),
        (municipal, "escalate", JLIS, "運営主体へ"),
        (national, "answer", OPERATOR, "回答"),
        (municipal, "answer", OPERATOR, "回答"),
        (prefectural, "follow_up", NIIGATA, "追加"),
        (municipal, "relay", JLIS, None),
        (national, "close", CHIKYOREN, None),
        (municipal, "relay", NIIGATA, None),
        (prefectural, "escalate", JLIS, "運営主体へ"),
        (municipal, "follow_up", SANJO, "追加"),
        (prefectural, "answer", OPERATOR, "回答"),
        (municipal, "answer", NIIGATA, "回答"),
        (prefectural, "relay", JLIS, None),
        (municipal, "close", SANJO, None),
        (prefectural, "close", NIIGATA, None),
    ]
    moment = jst(4, 1, 11)
    for case_id, action, actor, note in script:
        moment += timedelta(days=1)
        engine.sweep(moment)  # rungs fall due between the commands
        engine.advance(case_id, action, actor=actor, note=note, at=moment)
        for each in ids:
            assert_replays_and_verifies(engine, each)
    assert any(e.action == "escalated" for i in ids for e in engine.timeline(i, viewer=SYSTEM))
    assert [engine.replay(i, viewer=SYSTEM) for i in ids] == ["closed"] * 3
    assert all(r.ok for r in engine.verify(viewer=SYSTEM))
