"""``irflow org``: the organisation directory (the site's データ検索)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from irflow.cli.common import DbOption, JsonOption, console, open_engine, print_json

app = typer.Typer(help="Search and load the organisation directory.", no_args_is_help=True)


@app.command("search")
def search(
    text: Annotated[
        str, typer.Argument(metavar="TEXT", help="Name, id or local government code to find.")
    ],
    exact: Annotated[
        bool, typer.Option("--exact", help="Match names that equal TEXT (default: start with).")
    ] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Find organisations whose name, id or code starts with TEXT (or equals it, with
    --exact). Exits 3 when nothing matches (with --json, after printing [])."""
    found = open_engine(db).search_organisations(text, exact=exact)
    if not found:
        if as_json:
            print_json([])
        else:
            hint = "; try without --exact" if exact else "; try a shorter TEXT"
            typer.echo(f"irflow: error: no organisation matches {text!r}{hint}", err=True)
        raise typer.Exit(3)
    if as_json:
        from irflow.engine.views import org_json

        print_json([org_json(o) for o in found])
        return
    from rich.table import Table

    table = Table("id", "name", "type", "tier", "code", "prefecture", "daytime phone")
    for o in found:
        table.add_row(
            o.id,
            o.name,
            o.type.value,
            o.tier.value,
            o.code or "",
            o.prefecture or "",
            o.daytime_phone or "",
        )
    console().print(table)


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A UTF-8 CSV with the directory's columns.")
    ],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Load a directory CSV: new ids are added, known ids updated; all or nothing.

    Columns: id, name, type, tier, prefecture, code, competent_ministry,
    daytime_phone, emergency_phone, mail, note (id, name, type and tier required).
    """
    added, updated = open_engine(db, writes=True).import_organisations(file)
    if as_json:
        print_json({"added": added, "updated": updated})
    else:
        console().print(f"imported {file}: {added} added, {updated} updated")
