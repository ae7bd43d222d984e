"""Top-level commands: ``init``, ``demo`` and ``verify``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from irflow.cli.common import (
    AtOption,
    DbOption,
    JsonOption,
    ViewerOption,
    console,
    moment,
    open_engine,
    print_json,
    viewer,
)

if TYPE_CHECKING:
    from irflow.engine.facade import Engine
    from irflow.engine.timeline import ChainReport


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("demo")(demo)
    app.command("verify")(verify)
    app.command("route")(route)


def init(as_json: JsonOption = False, db: DbOption = None) -> None:
    """Create or upgrade the database schema and load the bundled directory.

    Safe to run again: a second run changes nothing and says so.
    """
    engine = open_engine(db, writes=True)
    report = engine.init()
    if as_json:
        print_json(
            {
                "database": engine.url,
                "migrated": report.migrated,
                "organisations_added": report.organisations_added,
                "changed": report.changed,
            }
        )
        return
    if not report.changed:
        console().print(f"{engine.url}: up to date; nothing changed", markup=False)
        return
    done = []
    if report.migrated:
        done.append("schema migrated to the newest version")
    if report.organisations_added:
        done.append(f"{report.organisations_added} organisations added")
    console().print(f"{engine.url}: {'; '.join(done)}", markup=False)


def verify(
    case_id: Annotated[
        int | None, typer.Argument(metavar="[CASE]", help="One case; default every case.")
    ] = None,
    reader: ViewerOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Prove the cases: recompute each timeline's hash chain (and, with $IRFLOW_AUDIT_KEY,
    each event's seal) and replay it to the case row; exit 1 if anything differs.

    With --as, the cases ORG takes part in; without it, every case (the administrator's),
    and the security log's chain too (`irflow audit` shows its events)."""
    engine = open_engine(db)
    reports = engine.verify_iter(case_id, viewer=viewer(reader))
    cases = broken = seals = 0
    if as_json:
        # A JSON list, written as the verdicts come: constant memory on any database.
        # The bracket opens with the first verdict, so a refusal prints no half list.
        for r in reports:
            sys.stdout.write(("," if cases else "[") + "\n" + json.dumps(r.as_json(), default=str))
            cases, broken = cases + 1, broken + (not r.ok)
        sys.stdout.write("\n]\n" if cases else "[]\n")
    else:
        out = console()
        for r in reports:
            cases, broken, seals = cases + 1, broken + (not r.ok), seals + (r.seals or 0)
            for line in verdict_lines(r):
                out.print(line, markup=False)
        if not cases:
            out.print("no cases to verify")
        else:
            checked = (
                f"{seals} event seals checked"
                if engine.audit.seals_checked
                else "event seals not checked ($IRFLOW_AUDIT_KEY is not set)"
            )
            out.print(f"{cases} cases verified, {broken} broken; {checked}", markup=False)
    log_broken = False
    if case_id is None and reader is None:
        log_broken = not security_log_verified(engine, as_json)
    if broken or log_broken:
        raise typer.Exit(1)


def security_log_verified(engine: Engine, as_json: bool) -> bool:
    """Verify the security log's chain and say so in one line (on stderr under --json,
    whose stdout is the cases' list, and only when it is broken); whether it is whole.

    A database that ``irflow init`` has not upgraded to accounts yet has no log to verify.
    """
    from sqlalchemy import inspect

    if not inspect(engine.sa).has_table("security_head"):
        if not as_json:
            console().print("no security log yet (run `irflow init` to add it)", markup=False)
        return True
    report = engine.accounts.verify_security_log()
    if report.ok:
        if not as_json:
            checked = (
                f"{report.seals} seals checked"
                if report.seals is not None
                else "seals not checked ($IRFLOW_AUDIT_KEY is not set)"
            )
            console().print(
                f"security log: ok, {report.events} security events chained; {checked}",
                markup=False,
            )
        return True
    line = f"security log: BROKEN at event {report.bad_seq}: {report.problem}"
    if as_json:
        sys.stderr.write(f"irflow: {line}\n")
    else:
        console().print(line, markup=False)
    return False


def verdict_lines(r: ChainReport) -> list[str]:
    """A case's verdict for people: ok, or each broken event and differing column."""
    if r.ok:
        return [f"case {r.case_id}: ok, {r.events} events chained"]
    lines = []
    if r.problem is not None:
        lines.append(f"case {r.case_id}: BROKEN at event {r.bad_seq}: {r.problem}")
    lines += [
        f"case {r.case_id}: BROKEN row: {d.column} is {d.stored!r} in the row, "
        f"the timeline gives {d.replayed!r}"
        for d in r.differences
    ]
    return lines


def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the demo database and print its path.")
    ] = False,
) -> None:
    """Run a whole sample case from detection to close and show its verified timeline.

    三条市 (reporter) detects a failure, 新潟県 (coordinator) and the operator
    (総務省個人番号企画室) take their steps, on a fresh SQLite file in a temporary folder.
    """
    from irflow.cli.demo import run_demo

    run_demo(keep=keep)


def route(
    sender: Annotated[
        str, typer.Option("--from", metavar="ORG", help="Who must make contact (id, code, name).")
    ],
    recipient: Annotated[
        str,
        typer.Option("--to", metavar="ORG", help="Whom to reach: an organisation, or `operator`."),
    ],
    situation: Annotated[
        str,
        typer.Option(
            "--situation", metavar="SITUATION", help="incident (異常事象発生時) or normal (通常時)."
        ),
    ] = "incident",
    at: AtOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Who to phone, on which number, and what to post: the seed's 連絡方法 for a moment.

    The answer depends on whether the moment (Japan time) falls on a working day of
    the administrative calendar, inside the daytime window (09:30-17:00) and inside
    the operator's fallback line hours (08:00-21:00).
    """
    from irflow.engine.routing import render_checklist

    engine = open_engine(db)
    plan = engine.route(sender, recipient, situation, moment(at))
    if as_json:
        print_json(plan.to_json())
        return
    to = "運営主体" if recipient.strip() == "operator" else engine.organisation(recipient).name
    console().print(render_checklist(plan, to), markup=False)
