"""``irflow inquiry``: ask the tiers above, and bring the answer back down (問合せ).

Each command is one engine call on a case of the ``inquiry`` flow
(``irflow/flows/inquiry.yaml``): ``ask`` opens it, the others are the flow's actions.
The human output names the new state and who holds the inquiry now; ``--json``
prints the same shape as ``irflow inquiry show --json``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from irflow.cli.case import AsOption, ExpectOption, NoteOption
from irflow.cli.common import (
    AtOption,
    DbOption,
    JsonOption,
    console,
    jst,
    moment,
    open_engine,
    print_json,
)
from irflow.cli.paging import AfterOption, LimitOption, next_page, page_size

if TYPE_CHECKING:
    from irflow.engine.directory import Organisation
    from irflow.engine.facade import Engine
    from irflow.engine.flow import Flow
    from irflow.engine.recorder import Advanced
    from irflow.engine.views import CaseView
    from irflow.errors import IrflowError

FLOW = "inquiry"

app = typer.Typer(
    help="""Inquiries (問合せ): ask the tiers above you; the answer comes back down the
same chain.

\b
The chain: a municipality's inquiry reaches its prefecture's reception (【受付】),
a prefecture's reaches J-LIS, J-LIS's (and a national agency's) the operator
(運営主体). The receiver holding it answers (回答, answer) or, if it cannot,
escalates it one tier up (エスカレーション, escalate). The answer travels back
hop by hop (回答の返送, relay) until the asker has it; the asker closes it
(完了, close) or asks a follow-up (追加質問, follow-up), which goes up again.
Only the asker and the receivers it reached see an inquiry. Check the FAQ
(02.FAQ・問合せ > 01.FAQ) before asking.""",
    epilog="""\b
An inquiry of 三条市, answered by J-LIS:
  irflow inquiry ask --as sanjo --title "副本登録の手順" --body-file q.txt --faq-checked
  irflow inquiry escalate 1 --as pref-niigata --note "県では判断できないため"
  irflow inquiry answer 1 --as jlis --body-file a.txt
  irflow inquiry relay 1 --as pref-niigata
  irflow inquiry show 1 --as sanjo --form md
  irflow inquiry close 1 --as sanjo""",
    short_help="Ask the tiers above you (問合せ); the answer comes back down the chain.",
    no_args_is_help=True,
)

CaseArgument = Annotated[int, typer.Argument(metavar="ID", help="The inquiry's number.")]
BodyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--body-file",
        metavar="FILE",
        help="Read the text from this UTF-8 file ('-': standard input) instead of --note.",
        show_default=False,
    ),
]

# What the human output says each command did.
DONE = {
    "ask": "asked",
    "escalate": "escalated",
    "answer": "answered",
    "relay": "answer relayed",
    "follow_up": "follow-up asked",
    "close": "closed",
}


@app.command("ask")
def ask(
    actor: AsOption,
    title: Annotated[
        str, typer.Option("--title", metavar="TEXT", help="The inquiry's subject (件名).")
    ],
    body: Annotated[
        str | None,
        typer.Option(
            "--body", metavar="TEXT", help="The question (問合せ内容).", show_default=False
        ),
    ] = None,
    body_file: Annotated[
        Path | None,
        typer.Option(
            "--body-file",
            metavar="FILE",
            help="Read the question from this UTF-8 file instead ('-': standard input).",
            show_default=False,
        ),
    ] = None,
    faq_checked: Annotated[
        bool,
        typer.Option(
            "--faq-checked",
            help="Confirm that you read the FAQ (02.FAQ・問合せ > 01.FAQ) and found no "
            "similar inquiry there. Required: without it nothing is asked.",
        ),
    ] = False,
    at: AtOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Ask a question: it goes to ORG's reception tier (its prefecture, J-LIS or the operator).

    The inquiry form (問合せ票) travels with it; `irflow inquiry show ID --form md`
    prints it.
    """
    question = _text(body, body_file, "--body")
    if question is None or not question.strip():
        from irflow.errors import InvalidInput

        raise InvalidInput("an inquiry needs its question: give --body TEXT or --body-file FILE")
    engine = open_engine(db, writes=True)
    me = engine.organisation(actor)
    done = engine.open_case(
        reporter=me.id,
        title=title,
        kinds=[FLOW],
        note=question,
        confirmed=["faq_checked"] if faq_checked else [],
        at=moment(at),
        view=True,
    )
    _done(engine, done, me, "ask", as_json)


@app.command("answer")
def answer(
    case_id: CaseArgument,
    actor: AsOption,
    note: NoteOption = None,
    body_file: BodyFileOption = None,
    at: AtOption = None,
    expect_version: ExpectOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Answer the inquiry you hold (回答): the answer starts back down the chain.

    Give the answer with --note TEXT or --body-file FILE.
    """
    _act(case_id, "answer", actor, _text(note, body_file), at, expect_version, as_json, db)


@app.command("escalate")
def escalate(
    case_id: CaseArgument,
    actor: AsOption,
    note: NoteOption = None,
    at: AtOption = None,
    expect_version: ExpectOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Pass the inquiry you hold to your own reception tier (エスカレーション).

    You stay on its chain as a receiver; the operator, at the top, can only answer.
    """
    _act(case_id, "escalate", actor, note, at, expect_version, as_json, db)


@app.command("relay")
def relay(
    case_id: CaseArgument,
    actor: AsOption,
    note: NoteOption = None,
    at: AtOption = None,
    expect_version: ExpectOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Pass the answer you hold one link down the chain (回答の返送)."""
    _act(case_id, "relay", actor, note, at, expect_version, as_json, db)


@app.command("follow-up")
def follow_up(
    case_id: CaseArgument,
    actor: AsOption,
    note: NoteOption = None,
    body_file: BodyFileOption = None,
    at: AtOption = None,
    expect_version: ExpectOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Ask a further question on your answered inquiry (追加質問).

    It goes to the first receiver again. Give it with --note TEXT or --body-file FILE.
    """
    _act(case_id, "follow_up", actor, _text(note, body_file), at, expect_version, as_json, db)


@app.command("close")
def close(
    case_id: CaseArgument,
    actor: AsOption,
    note: NoteOption = None,
    at: AtOption = None,
    expect_version: ExpectOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Close your answered inquiry (完了)."""
    _act(case_id, "close", actor, note, at, expect_version, as_json, db)


@app.command("list")
def list_(
    actor: Annotated[
        str, typer.Option("--as", metavar="ORG", help="Whose inquiries: id, code or name.")
    ],
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            metavar="STATE",
            help="Only inquiries in this state: asking, relaying, answered or closed.",
            show_default=False,
        ),
    ] = None,
    limit: LimitOption = None,
    after: AfterOption = 0,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The inquiries ORG asked or was reached by, oldest first; ▶ marks those it must act on.

    Overdue ones (an escalation rung fired) are marked. With --json, "your_turn" is
    true on those ORG must act on.
    """
    engine = open_engine(db)
    me = engine.organisation(actor)
    if state is not None:
        flow, _version = engine.flows()[FLOW]
        if state not in flow.states:
            from irflow.errors import InvalidInput

            raise InvalidInput(
                f"an inquiry is never {state!r}; its states are {', '.join(flow.states)}"
            )
    found = engine.cases(flow=FLOW, viewer=me.id, state=state, limit=page_size(limit), after=after)
    from irflow.engine.views import your_turn

    turn = {c.id: your_turn(c.state, c.holder, me.id) for c in found}
    if as_json:
        from irflow.engine.views import inquiry_summary_json

        print_json([inquiry_summary_json(c, me.id) for c in found])
        return
    if not found:
        past = f"no inquiries after {after}" if after else "no inquiries"
        console().print(f"{past} that {me.name} ({me.id}) may see", markup=False)
        return
    from rich.table import Table

    table = Table("", "inquiry", "state", "version", "asker", "holder", "title")
    for c in found:
        holder = c.holder.name if c.holder else ""
        shown_state = f"{c.state} (overdue)" if c.overdue else c.state
        table.add_row(
            "▶" if turn[c.id] else "", str(c.id), shown_state, str(c.version), c.reporter.name,
            holder, c.title,
        )  # fmt: skip
    out = console()
    out.print(table)
    if any(turn.values()):
        out.print(f"▶ {me.name} ({me.id}) holds it: its turn to act", markup=False)
    next_page("irflow inquiry list", {"--as": me.id, "--state": state}, found, limit)


@app.command("show")
def show(
    case_id: CaseArgument,
    actor: Annotated[
        str, typer.Option("--as", metavar="ORG", help="Whose view: the asker or a receiver.")
    ],
    form: Annotated[
        Literal["md", "html"] | None,
        typer.Option(
            "--form",
            help="Print the inquiry form (問合せ票) as it stands, in Markdown or HTML.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """An inquiry: its state, its chain and who holds it, what ORG can do now, its timeline.

    Only the asker and the receivers it reached may see it; to anyone else it does
    not exist (exit 3). --json adds "form", the inquiry form's data.
    """
    if form is not None and as_json:
        from irflow.errors import InvalidInput

        raise InvalidInput("give --form or --json, not both: --json carries the form's data")
    engine = open_engine(db)
    me = engine.organisation(actor)
    view = _view(engine, case_id, me)
    flow = engine.flow_version(view.flow, view.flow_version)
    if form is not None:
        from irflow.engine.forms import inquiry_form_from_json, render_inquiry_form

        context = inquiry_form_from_json(_as_json(engine, view, flow)["form"])
        sys.stdout.write(render_inquiry_form(context, format=form).rstrip("\n") + "\n")
    elif as_json:
        print_json(_as_json(engine, view, flow))
    else:
        _render(engine, view, flow, me)


# ----------------------------------------------------------------------------- helpers


def _text(note: str | None, path: Path | None, option: str = "--note") -> str | None:
    """The text given inline or in a UTF-8 file (``-``: standard input)."""
    from irflow.errors import InvalidInput

    if path is None:
        return note
    if note is not None:
        raise InvalidInput(f"give {option} or --body-file, not both")
    try:
        # Trailing blank lines and spaces are never part of the text.
        return (sys.stdin.read() if str(path) == "-" else path.read_text("utf-8")).rstrip()
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None


def _act(
    case_id: int,
    action: str,
    actor: str,
    note: str | None,
    at: str | None,
    expect_version: int | None,
    as_json: bool,
    db: str | None,
) -> None:
    from irflow.errors import NotFound

    engine = open_engine(db, writes=True)
    me = engine.organisation(actor)
    try:  # of="states": an incident's participant is told to use `irflow case advance`
        done = engine.advance(case_id, action, actor=me.id, note=note, at=moment(at),
                              expect_version=expect_version, of="states", view=True)  # fmt: skip
    except NotFound:
        # A missing case, one ORG may not see, or a case of another flow: one answer.
        raise _no_inquiry(case_id, me) from None
    _done(engine, done, me, action, as_json)


def _view(engine: Engine, case_id: int, viewer: Organisation) -> CaseView:
    """The inquiry as ``viewer`` sees it; not found, alike, if it does not exist, if
    ``viewer`` is outside its chain, or if the case is not an inquiry."""
    from irflow.errors import NotFound

    try:
        view = engine.case(case_id, viewer=viewer.id)
    except NotFound:
        raise _no_inquiry(case_id, viewer) from None
    if view.flow != FLOW:
        raise _no_inquiry(case_id, viewer)
    return view


def _no_inquiry(case_id: int, viewer: Organisation) -> IrflowError:
    from irflow.errors import NotFound

    return NotFound(
        f"no inquiry {case_id} that {viewer.name} may see; "
        f"`irflow inquiry list --as {viewer.id}` lists the inquiries it may see"
    )


def _done(engine: Engine, done: Advanced, actor: Organisation, action: str, as_json: bool) -> None:
    """After a command: the inquiry as JSON, or what happened and who acts next, from
    the case as the command read it in its own transaction (it was asked for its view)."""
    view = done.view
    if view is None or view.flow != FLOW:
        raise _no_inquiry(done.case_id, actor)
    flow = engine.flow_version(view.flow, view.flow_version)
    if as_json:
        print_json(_as_json(engine, view, flow))
        return
    lines = [f"inquiry {view.id}: {DONE[action]}"]
    if view.state == "closed":
        lines[0] += f"; version {view.version}"
    else:
        assert view.holder is not None
        lines[0] += f"; now with {_ref(view.holder)}"
        can = ", ".join(_command(a) for a in engine.actions_for(view, view.holder.id))
        lines.append(
            f"  state {view.state} · version {view.version} · {view.holder.id} may: {can}"
            f"  ({flow.state_titles[view.state]})"
        )
    sys.stdout.write("\n".join(lines) + "\n")


def _as_json(engine: Engine, view: CaseView, flow: Flow) -> dict[str, Any]:
    from irflow.engine.views import inquiry_json

    names = {o.id: o.name for o in engine.organisations().values()}
    return inquiry_json(view, flow, names)


def _ref(org: Organisation) -> str:
    return f"{org.name} ({org.id})"


def _command(name: str) -> str:
    return name.replace("_", "-")


def _render(engine: Engine, view: CaseView, flow: Flow, me: Organisation) -> None:
    """An inquiry as plain aligned lines: ASCII columns first, Japanese text last."""
    from irflow.engine import chain as chain_rules

    orgs = engine.organisations()

    def name(org_id: object) -> str:
        org = orgs.get(str(org_id))
        return org.name if org else str(org_id)

    faq = "FAQ checked" if view.timeline[0].payload.get("confirmed") else "FAQ not checked"
    lines = [
        f"inquiry {view.id}: {view.title}",
        f"  state {view.state} · version {view.version} · flow {view.flow} v{view.flow_version}"
        f" · asked {jst(view.opened_at)} · {faq}  ({flow.state_titles[view.state]})",
        "",
        "chain (▶ holds it now)",
    ]
    ids = [o.id for o in view.chain]
    for n, org in enumerate(view.chain, 1):
        mark = "▶" if view.holder is not None and org.id == view.holder.id else " "
        role = "asker" if n == 1 else "receiver"
        lines.append(f"  {mark} {n} {role:<9} {_ref(org)}")
    lines.append("")
    can = engine.actions_for(view, me.id)
    if can:
        lines.append(f"{me.id} can now:")
        for a in can:
            action = flow.actions[a]
            text = " --note TEXT" if action.needs_note else ""
            command = f"irflow inquiry {_command(a)} {view.id} --as {me.id}{text}"
            lines.append(f"  {command:<58} {action.title}")
    elif view.state == "closed":
        lines.append("closed: nothing more to do")
    elif view.holder is not None:
        theirs = ", ".join(_command(a) for a in engine.actions_for(view, view.holder.id))
        lines.append(f"{me.id} has nothing to do now; {_ref(view.holder)} holds it ({theirs})")
    if view.deadlines and view.holder is not None:
        at = ids.index(view.holder.id)
        above = chain_rules.supervisor(flow, ids, at, orgs)
        lines += ["", "deadlines (JST)" + ("  — OVERDUE" if view.overdue else "")]
        for d in view.deadlines:
            fired = f"fired {jst(d.fired_at)}" if d.fired_at else "due"
            told = view.holder.id if d.action == "remind" else above
            lines.append(
                f"  {d.step:<9} rung {d.rung} {d.action:<7} {jst(d.due_at)}  {fired:<22} "
                f"tells {told}  {name(told)}"
            )
    lines += ["", "timeline (JST)"]
    for e in view.timeline:
        if e.action == "opened":
            what, move = "ask", f"{name(ids[0])} → {name(e.payload['chain'][1])}"
        elif e.action == "action_taken":
            what = _command(e.step or "")
            move = f"{name(e.payload.get('from'))} → {name(e.payload.get('to'))}"
        elif e.action == "escalated":
            what = f"{e.payload.get('action')} (rung {e.payload.get('rung')})"
            move = "tells " + "、".join(name(t) for t in e.payload.get("told", ()))
        else:
            what, move = e.action, name(e.actor) if e.actor else ""
        lines.append(f"  {e.seq:>3} {jst(e.at)}  {what:<16} {move}")
        lines += [f"        {line}" for line in (e.note or "").splitlines()]
    # Plain lines need no rich, as `irflow case show`.
    sys.stdout.write("\n".join(lines) + "\n")
