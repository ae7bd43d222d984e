"""``irflow case``: open, advance, assign, show and list cases."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from irflow.cli.common import (
    AtOption,
    DbOption,
    JsonOption,
    ViewerOption,
    console,
    jst,
    moment,
    open_engine,
    print_json,
    viewer,
)
from irflow.cli.paging import AfterOption, LimitOption, next_page, page_size

if TYPE_CHECKING:
    from irflow.engine.facade import Engine
    from irflow.engine.recorder import Advanced
    from irflow.engine.views import CaseView

app = typer.Typer(help="Open cases and move them through their flow.", no_args_is_help=True)

AsOption = Annotated[
    str,
    typer.Option(
        "--as",
        envvar="IRFLOW_AS",
        metavar="ORG",
        help="The acting organisation: its id, local government code or name. Also read "
        "from $IRFLOW_AS.",
    ),
]
NoteOption = Annotated[
    str | None,
    typer.Option("--note", metavar="TEXT", help="A note kept on the timeline.", show_default=False),
]
ExpectOption = Annotated[
    int | None,
    typer.Option(
        "--expect-version",
        metavar="N",
        help=(
            "Refuse (exit 5) unless the case is still at this version when written; "
            "without it, a command raced by another writer runs again on the case as it is now."
        ),
        show_default=False,
    ),
]


@app.command("open")
def open_(
    reporter: Annotated[
        str, typer.Option("--reporter", metavar="ORG", help="The agency where the event happened.")
    ],
    title: Annotated[
        str, typer.Option("--title", metavar="TEXT", help="A short summary of the event.")
    ],
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            metavar="KIND",
            help="Case kind, repeatable: system_failure (default), security_incident "
            "(adds the report to NISC), personal_info_leak (adds the report to PPC), "
            "mislink (runs the mislink flow).",
            show_default=False,
        ),
    ] = None,
    coordinator: Annotated[
        str | None,
        typer.Option(
            "--coordinator",
            metavar="ORG",
            help="Default: a municipality's prefecture, a prefecture's J-LIS, a national "
            "agency's competent ministry.",
            show_default=False,
        ),
    ] = None,
    at: AtOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Open a case: the reporter detected an anomaly (異常事象) and starts the flow."""
    engine = open_engine(db, writes=True)
    done = engine.open_case(
        reporter=reporter, title=title, kinds=kind or (), coordinator=coordinator, at=moment(at),
        view=True,
    )  # fmt: skip
    _print(engine, done, as_json)


@app.command("advance")
def advance(
    case_id: Annotated[int, typer.Argument(metavar="CASE", help="The case number.")],
    step: Annotated[
        str, typer.Argument(metavar="STEP", help="The step done (see `irflow case show CASE`).")
    ],
    actor: AsOption,
    note: NoteOption = None,
    declare: Annotated[
        list[str] | None,
        typer.Option(
            "--declare",
            metavar="FLAG",
            help="Declare a flag of the flow on the way, repeatable. The reporter declares "
            "beyond_own_capacity (自機関のみで対応可能な事象ではない): the coordinator's step "
            "investigate_event (事象に係る調査及び確認) becomes required.",
            show_default=False,
        ),
    ] = None,
    at: AtOption = None,
    expect_version: ExpectOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Record that the acting organisation has done STEP of CASE."""
    engine = open_engine(db, writes=True)
    done = engine.advance(
        case_id,
        step,
        actor=actor,
        note=note,
        at=moment(at),
        expect_version=expect_version,
        declare=declare or (),
        of="phases",
        view=True,
    )
    _print(engine, done, as_json)


@app.command("declare")
def declare(
    case_id: Annotated[int, typer.Argument(metavar="CASE", help="The case number.")],
    flag: Annotated[
        str,
        typer.Argument(
            metavar="FLAG",
            help="A flag of the case's flow, e.g. beyond_own_capacity "
            "(自機関のみで対応可能な事象ではない), declared by the reporter.",
        ),
    ],
    actor: AsOption,
    note: NoteOption = None,
    at: AtOption = None,
    expect_version: ExpectOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Declare a flag on CASE without completing a step.

    beyond_own_capacity makes the coordinator's step investigate_event
    (事象に係る調査及び確認) required; it may be declared until the analysis phase ends.
    """
    engine = open_engine(db, writes=True)
    done = engine.declare(
        case_id, flag, actor=actor, note=note, at=moment(at), expect_version=expect_version,
        view=True,
    )  # fmt: skip
    _print(engine, done, as_json)


@app.command("assign")
def assign(
    case_id: Annotated[int, typer.Argument(metavar="CASE", help="The case number.")],
    coordinator: Annotated[
        str,
        typer.Option(
            "--coordinator", metavar="ORG", help="The competent ministry or aggregation agency."
        ),
    ],
    actor: AsOption,
    note: NoteOption = None,
    at: AtOption = None,
    expect_version: ExpectOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Hand the coordinator's role to a competent ministry or aggregation agency.

    Only the operator or the current coordinator may; the assignment is on the timeline.
    """
    engine = open_engine(db, writes=True)
    done = engine.assign_coordinator(
        case_id,
        coordinator=coordinator,
        actor=actor,
        note=note,
        at=moment(at),
        expect_version=expect_version,
        view=True,
    )
    handed = done.event.payload
    me = engine.organisation(actor)
    if me.id != handed["from"]:
        _print(engine, done, as_json)
        return
    # The coordinator handed its own role over: the case is no longer its to see, so it
    # is told what it did (from the command's own result), not shown the case.
    new = engine.organisation_by_id(str(handed["to"]))
    if as_json:
        print_json({"case": case_id, "version": done.version, "coordinator": new.as_ref()})
        return
    console().print(
        f"case {case_id}: its coordinator is now {new.name} ({new.id}), version "
        f"{done.version}; {me.name} no longer takes part in it",
        markup=False,
    )


@app.command("contacts")
def contacts(
    case_id: Annotated[int, typer.Argument(metavar="CASE", help="The case number.")],
    actor: AsOption,
    at: AtOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Whom the acting organisation must contact for its open steps, and how, now.

    Each plan shown is recorded on the case's timeline (action contacts_shown).
    """
    from irflow.engine.routing import render_checklist

    found = open_engine(db, writes=True).contacts(case_id, actor=actor, at=moment(at))
    if as_json:
        print_json([c.as_json() for c in found])
        return
    if not found:
        console().print(f"case {case_id}: no open step of yours reports to anyone now")
        return
    blocks = [f"[{c.step}] " + render_checklist(c.plan, c.recipient.name) for c in found]
    console().print("\n\n".join(blocks), markup=False)


@app.command("show")
def show(
    case_id: Annotated[int, typer.Argument(metavar="CASE", help="The case number.")],
    reader: ViewerOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """A case: its participants, every step's status, and its timeline."""
    _show(open_engine(db), case_id, as_json, viewer(reader))


@app.command("list")
def list_(
    state: Annotated[
        str | None,
        typer.Option(
            "--state", help="Only cases in this state (a phase, or closed).", show_default=False
        ),
    ] = None,
    overdue: Annotated[
        bool,
        typer.Option("--overdue", help="Only cases with an open step whose escalation began."),
    ] = False,
    limit: LimitOption = None,
    after: AfterOption = 0,
    reader: ViewerOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The cases, oldest first, a page at a time (50 unless --limit says); overdue ones
    are marked. With --as, the cases ORG takes part in; without it, every case (the
    local administrator's view). The readable view ends with the command for the next
    page, if any."""
    cases = open_engine(db).cases(
        viewer=viewer(reader), state=state, overdue=overdue, limit=page_size(limit), after=after
    )
    if as_json:
        print_json([c.as_json() for c in cases])
        return
    from rich.table import Table

    table = Table("case", "flow", "state", "version", "title", "reporter", "coordinator")
    for c in cases:
        shown_state = f"{c.state} (overdue)" if c.overdue else c.state
        table.add_row(
            str(c.id), c.flow, shown_state, str(c.version), c.title, c.reporter.name,
            c.coordinator.name,
        )  # fmt: skip
    out = console()
    out.print(table)
    filters = {"--as": reader, "--state": state, "--overdue": overdue}
    next_page("irflow case list", filters, cases, limit)


def _show(engine: Engine, case_id: int, as_json: bool, reader: Any) -> None:
    """The case as ``reader`` (an organisation, or the administrator) sees it."""
    _print_view(engine, engine.case(case_id, viewer=reader), as_json)


def _print(engine: Engine, done: Advanced, as_json: bool) -> None:
    """After a command: the case as its actor sees it, read in the command's own
    transaction (the command was asked for its view)."""
    assert done.view is not None, "the command was asked for its view"
    _print_view(engine, done.view, as_json)


def _print_view(engine: Engine, view: CaseView, as_json: bool) -> None:
    if as_json:
        print_json(view.as_json())
    else:
        render_case(view, engine)


STATUS_MARK = {"done": "✔", "open": "▶", "waiting": "·"}


def render_case(view: CaseView, engine: Engine) -> None:
    """A case as plain aligned lines: ASCII columns first, Japanese text last."""
    names = {o.id: o.name for o in engine.organisations().values()}
    lines = [
        f"case {view.id}: {view.title}",
        f"  state {view.state} · version {view.version} · flow {view.flow} v{view.flow_version}"
        f" · kinds {', '.join(view.kinds)}"
        + (f" · flags {', '.join(view.flags)}" if view.flags else ""),
        f"  reporter {view.reporter.name} · coordinator {view.coordinator.name} · "
        f"operator {view.operator.name}",
        "",
        "steps (✔ done, ▶ open, · waiting)",
    ]
    phase = None
    for s in view.steps:
        if s.phase != phase:
            phase = s.phase
            lines.append(f"  [{phase}]")
        optional = "" if s.required else "（任意）"
        done = f"  — {names.get(s.done_by or '', s.done_by)} {jst(s.done_at)}" if s.done_by else ""
        lines.append(
            f"    {STATUS_MARK[s.status]} {s.id:<27} {s.tier:<11} {s.title}{optional}{done}"
        )
    if view.deadlines:
        lines += ["", "deadlines of open steps (JST)" + ("  — OVERDUE" if view.overdue else "")]
        for d in view.deadlines:
            state = f"fired {jst(d.fired_at)}" if d.fired_at else "due"
            lines.append(f"    {d.step:<27} rung {d.rung} {d.action:<12} {jst(d.due_at)}  {state}")
    lines += ["", "timeline (JST)"]
    for e in view.timeline:
        move = e.to_state if e.from_state in (None, e.to_state) else f"{e.from_state}→{e.to_state}"
        what = f"{e.action} {e.step or ''}".strip()
        actor = names.get(e.actor or "", "irflow")
        note = f"  「{e.note}」" if e.note else ""
        lines.append(
            f"  {e.seq:>3} {jst(e.at)}  {e.hash[:12]}  {what:<40} {move or '':<18} {actor}{note}"
        )
    # Plain lines need no rich: `case show` stays close to the imports it cannot avoid.
    sys.stdout.write("\n".join(lines) + "\n")
