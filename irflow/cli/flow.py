"""``irflow flow``: the flows, as data, and their checks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from irflow.cli.common import DbOption, JsonOption, console, open_engine, print_json

if TYPE_CHECKING:
    from irflow.engine.flow import Flow

app = typer.Typer(help="List, show and check flow files.", no_args_is_help=True)


@app.command("list")
def list_(as_json: JsonOption = False, db: DbOption = None) -> None:
    """Every version of every flow, with how many cases not closed run under it.

    New cases take a flow's current version; a changed flow file is a new version,
    and open cases and inquiries finish under the version they started with.
    """
    versions = open_engine(db).flow_versions()
    if as_json:
        print_json([v.as_json() for v in versions])
        return
    for info in versions:
        f = info.flow
        by = f"(kind {f.spec.selected_by})" if f.spec.selected_by else "(default)"
        now = "current" if info.current else "old"
        console().print(
            f"{f.name} v{info.version} {now}  open: {info.open}  {f.title}  {by}  "
            f"kinds: {', '.join(f.spec.kinds)}",
            markup=False,
        )


def _load(name_or_path: str) -> Flow:
    from irflow.engine.flow import BUNDLED, bundled_flow, load_flow_file

    if name_or_path in BUNDLED:
        return bundled_flow(name_or_path)
    return load_flow_file(Path(name_or_path))


@app.command("show")
def show(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="A bundled flow's name, or a flow file's path.")
    ],
    format: Annotated[
        Literal["text", "mermaid", "json"], typer.Option("--format", help="How to print it.")
    ] = "text",
    db: DbOption = None,
) -> None:
    """Print a flow: its phases and steps as text, a mermaid diagram, or JSON."""
    from irflow.engine.flow import mermaid

    flow = _load(name)
    if format == "mermaid":
        console().print(mermaid(flow), markup=False)
        return
    version = _version(flow, db)
    if format == "json":
        print_json(flow.as_json(version))
        return
    out = console()
    out.print(f"{flow.name} v{version or '?'}: {flow.title}", markup=False)
    for phase in flow.spec.phases:
        out.print(f"\n[{phase.id}] {phase.title}", markup=False)
        for s in phase.steps:
            mark = f"{'①②③④⑤⑥'[s.seed_no - 1]} " if s.seed_no else "  "
            needs = f"  ← {', '.join(s.requires)}" if s.requires else ""
            cond = ""
            if s.only_if:
                cond += f"  (only if {s.only_if})"
            if s.required_if:
                cond += f"  (required if {s.required_if})"
            elif not s.required:
                cond += "  (optional)"
            out.print(f"  {mark}{s.id:<28} {s.tier:<12} {s.title}{needs}{cond}", markup=False)


def _version(flow: Flow, db: str | None) -> int | None:
    """The version number this database gives the flow's text, if it knows it."""
    from irflow.errors import IrflowError

    try:
        current = open_engine(db).flows()
    except IrflowError:
        return None
    match = current.get(flow.name)
    return match[1] if match and match[0].digest == flow.digest else None


@app.command("check")
def check(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The flow file to check.")],
    as_json: JsonOption = False,
) -> None:
    """Validate a flow file: schema, conditions, and that every state reaches closed."""
    from irflow.engine.flow import load_flow_file

    flow = load_flow_file(file)
    if as_json:
        print_json({"file": str(file), "ok": True, "name": flow.name, "steps": len(flow.steps)})
    else:
        console().print(
            f"{file}: ok, flow {flow.name!r} with {len(flow.spec.phases)} phases "
            f"and {len(flow.steps)} steps",
            markup=False,
        )
