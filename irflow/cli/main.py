"""Entry point of the ``irflow`` command: assembles the sub-commands, maps errors.

Every ``IrflowError`` ends the command with one line on stderr that names the
problem and the fix, and a distinct exit code: 2 bad input, 3 not found,
4 not allowed, 5 version conflict, 1 anything else.
"""

from __future__ import annotations

import gc
import sys

import typer

from irflow.cli import accounts, case, flow, inquiry, ops, org, serve, top
from irflow.errors import IrflowError

app = typer.Typer(
    name="irflow",
    help="Incident-response workflows for the agencies of the My Number information "
    "provision network: open a case, advance it tier by tier (reporter, coordinator, "
    "operator), and prove its history untouched.",
    epilog="""\b
A case from detection to close:
  irflow init
  irflow case open --reporter 三条市 --title "副本登録の障害"
  irflow case show 1
  irflow case advance 1 detect_anomaly --as 三条市
  irflow case contacts 1 --as 三条市
  irflow route --from 三条市 --to operator --situation incident
  irflow verify
Accounts and API tokens for the service (irflow user --help, irflow token --help):
  irflow user add tanaka --org 三条市
  irflow token create tanaka > token.txt
  irflow audit
Exit codes: 0 ok, 1 failure (or a broken chain), 2 bad input,
3 not found, 4 not allowed, 5 version conflict.""",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
top.register(app)
serve.register(app)
ops.register(app)
app.add_typer(org.app, name="org")
app.add_typer(flow.app, name="flow")
app.add_typer(case.app, name="case")
app.add_typer(inquiry.app, name="inquiry")
accounts.register(app)

_GROUPS = {
    "org": org.app,
    "flow": flow.app,
    "case": case.app,
    "inquiry": inquiry.app,
    "user": accounts.user_app,
    "token": accounts.token_app,
}


def _app_for(argv: list[str]) -> typer.Typer:
    """The whole command tree, or just the group asked for.

    typer inspects every command's signature each time it runs; for
    `irflow case show` that is the case group's few commands, not all of them.
    """
    group = _GROUPS.get(argv[1]) if len(argv) > 1 else None
    if group is None:
        return app
    only = typer.Typer(
        name="irflow", pretty_exceptions_enable=False, add_completion=False, rich_markup_mode=None
    )
    only.add_typer(group, name=argv[1])
    return only


def main() -> None:
    # Leave the start-up heap (typer, SQLAlchemy, pydantic) out of every later
    # garbage collection: measured, collections cost a command ~25 us a step.
    gc.freeze()
    try:
        _app_for(sys.argv)()
    except IrflowError as exc:
        sys.stderr.write(f"irflow: error: {exc.message}\n")
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
