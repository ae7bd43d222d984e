"""Operations: ``run`` (the daemon), ``sweep``, ``outbox``, ``post`` and ``report``."""

from __future__ import annotations

from typing import Annotated, Literal

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

outbox_app = typer.Typer(help="See and requeue outgoing notifications.", no_args_is_help=True)
post_app = typer.Typer(help="Read the information sharing site's posts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("sweep")(sweep)
    app.command("report")(report)
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(post_app, name="post")


def run(
    sweep_every: Annotated[
        float, typer.Option("--sweep-every", metavar="SECONDS", help="Periodic sweep interval.")
    ] = 10.0,
    db: DbOption = None,
) -> None:
    """The daemon: fire overdue steps' escalation rungs and send notifications.

    Logs JSON to stderr, with a health line at start (database, next deadline, queued
    messages). Stops cleanly on SIGTERM or Ctrl-C, after the tick under way.
    Several `irflow run` may share one PostgreSQL database; on SQLite run one.
    """
    import logging
    import signal
    import threading

    from irflow.engine.scheduler import Runner
    from irflow.logs import configure

    engine = open_engine(db, writes=True)
    configure(level="INFO", json=True)
    # APScheduler tells of every job run at INFO: only its warnings (misfires) matter here.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        engine.log.info("irflow.stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    nearest = engine.next_deadline()
    engine.log.info(
        "irflow.started",
        database=engine.url,
        next_deadline=nearest.isoformat() if nearest else None,
        queued=len(engine.outbox(status="queued")),
        channels=engine.channels,
        sweep_every=sweep_every,
    )
    runner = Runner(engine, sweep_every=sweep_every)
    runner.start()
    stop.wait()
    runner.stop()
    engine.log.info("irflow.stopped", ticks=runner.ticks)


def sweep(at: AtOption = None, as_json: JsonOption = False, db: DbOption = None) -> None:
    """One sweep and one outbox drain, then exit (for cron, and for scripts).

    Prints what it fired and sent; run twice at the same moment, the second run
    fires nothing.
    """
    engine = open_engine(db, writes=True)
    when = moment(at)
    fired = engine.sweep(when)
    drained = engine.drain(when)
    if as_json:
        print_json({"fired": [f.as_json() for f in fired], **drained.as_json()})
        return
    out = console()
    for f in fired:
        told = ", ".join(f.told) or "every list (overdue)"
        out.print(
            f"fired case {f.case_id} {f.step} rung {f.rung} ({f.action}) → {told}", markup=False
        )
    out.print(
        f"{len(fired)} rungs fired; {len(drained.sent)} messages sent, "
        f"{len(drained.failed)} to retry, {len(drained.dead)} dead",
        markup=False,
    )


@outbox_app.command("list")
def outbox_list(
    dead: Annotated[bool, typer.Option("--dead", help="Only messages that gave up.")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The outgoing notifications, oldest first, with their state."""
    rows = open_engine(db).outbox(status="dead" if dead else None)
    if as_json:
        print_json(
            [
                {
                    "id": r.id,
                    "case": r.case_id,
                    "channel": r.channel,
                    "kind": r.kind,
                    "status": r.status,
                    "attempts": r.attempts,
                    "last_error": r.last_error,
                    "created_at": r.created_at.isoformat(),
                    "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                }
                for r in rows
            ]
        )
        return
    out = console()
    for r in rows:
        error = f"  {r.last_error}" if r.last_error else ""
        out.print(
            f"{r.id:<28} {r.status:<6} {r.channel:<8} {r.kind:<12} "
            f"tries {r.attempts}  {jst(r.created_at)}{error}",
            markup=False,
        )
    if not rows:
        out.print("no messages")


@outbox_app.command("retry")
def outbox_retry(
    message_id: Annotated[str, typer.Argument(metavar="ID", help="The message's id.")],
    db: DbOption = None,
) -> None:
    """Requeue a dead or failing message: the next drain sends it (same id)."""
    row = open_engine(db, writes=True).retry(message_id)
    console().print(f"{row.id} queued again", markup=False)


@post_app.command("list")
def post_list(
    actor: Annotated[str, typer.Option("--as", metavar="ORG", help="Whose view of the site.")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The posts ORG may read: its own, those naming it, and notices to every agency.

    Each line shows the post's id (for `irflow post show`) and the name of the form
    attached to it, if any (an inquiry's post carries its 問合せ票).
    """
    posts = open_engine(db).posts(actor)
    if as_json:
        from irflow.engine.views import post_json

        print_json([post_json(p) for p in posts])
        return
    out = console()
    for p in posts:
        attached = f"  添付: {p.attachment_name}" if p.attachment_name else ""
        out.print(f"{p.id}  {jst(p.posted_at)}  [{p.category}]  {p.title}{attached}", markup=False)
    if not posts:
        out.print("no posts")


@post_app.command("show")
def post_show(
    post_id: Annotated[str, typer.Argument(metavar="ID", help="The post's id (`post list`).")],
    actor: Annotated[str, typer.Option("--as", metavar="ORG", help="Whose view of the site.")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """One post ORG may read, with the form attached to it (e.g. the 問合せ票).

    A post ORG may not read is not found (exit 3), as one that does not exist.
    """
    from irflow.errors import NotFound

    engine = open_engine(db)
    reader = engine.organisation(actor)
    found = [p for p in engine.posts(reader.id) if p.id == post_id]
    if not found:
        raise NotFound(
            f"no post {post_id!r} that {reader.name} may read; "
            f"`irflow post list --as {reader.id}` lists the posts it may read"
        )
    (post,) = found
    if as_json:
        from irflow.engine.views import post_json

        print_json(post_json(post, body=True))
        return
    import json

    orgs = engine.organisations()

    def name(org_id: str | None) -> str:
        org = orgs.get(org_id or "")
        return f"{org.name} ({org.id})" if org else (org_id or "irflow")

    named = json.loads(post.named)
    out = console()
    lines = [
        post.title,
        f"id:       {post.id}",
        f"category: {post.category}",
        f"posted:   {jst(post.posted_at)} by {name(post.poster_id)}",
        f"named:    {'、'.join(name(n) for n in named) if named else 'every organisation'}",
    ]
    if post.case_id is not None:
        lines.append(f"case:     {post.case_id}")
    lines += ["", post.body.rstrip("\n")]
    if post.attachment_name:
        lines += ["", f"--- 添付: {post.attachment_name} ---", (post.attachment or "").rstrip("\n")]
    for line in lines:
        out.print(line, markup=False)


def report(
    case_id: Annotated[int, typer.Argument(metavar="CASE", help="The case number.")],
    part: Annotated[
        Literal["occurrence", "completion"],
        typer.Option("--part", help="発生報告 (occurrence) or 完了報告 (completion)."),
    ] = "occurrence",
    format: Annotated[
        Literal["md", "html"], typer.Option("--format", help="Markdown or HTML.")
    ] = "md",
    contact: Annotated[
        str | None,
        typer.Option(
            "--contact",
            metavar="TEXT",
            help="担当者 (contact person) for the form.",
            show_default=False,
        ),
    ] = None,
    reader: ViewerOption = None,
    db: DbOption = None,
) -> None:
    """Render the form 事象発生報告書兼完了報告書 of a case (with --as, only for a participant)."""
    text = open_engine(db).report(
        case_id, viewer=viewer(reader), part=part, format=format, contact_person=contact
    )
    typer.echo(text)
