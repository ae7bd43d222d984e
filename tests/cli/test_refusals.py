"""A command that fails writes nothing: every write command of the command line, drawn by
hypothesis with right and wrong arguments against cases of every bundled flow.

Each drawn command runs in-process on a SQLite file seeded with an incident of each
kind, a mislink case and an inquiry. A command that exits non-zero must leave every row
of every table as it was (cases, timeline events, deadlines, the outbox, site posts,
organisations), exit with one of the documented codes 1..5, and never show a traceback;
a command that exits 0 becomes the new state the next command runs against.
"""

from __future__ import annotations

import io
import os
import sqlite3
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import closing, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from irflow.cli.main import main
from irflow.engine.flow import BUNDLED, bundled_flow
from tests.cli.runs import Result

#: The moment the seeded cases were opened, Japan time.
OPENED_AT = "2026-04-01T09:40"

Table = list[tuple[object, ...]]
Snapshot = dict[str, Table]


@contextmanager
def _argv(args: list[str], url: str) -> Iterator[None]:
    env = {"IRFLOW_DB": url}
    with mock.patch.dict(os.environ, env), mock.patch.object(sys, "argv", ["irflow", *args]):
        os.environ.pop("IRFLOW_NOTIFIERS", None)
        yield


def run(url: str, *args: str) -> Result:
    """`irflow ARGS` in-process on ``url``; an escaped exception is reported as code -1."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with _argv(list(args), url), redirect_stdout(out), redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # a traceback is what this test looks for
            code = -1
            err.write(traceback.format_exc())
    return Result(code, out.getvalue(), err.getvalue())


def snapshot(path: Path) -> Snapshot:
    """Every row of every table, in a stable order."""
    with closing(sqlite3.connect(path)) as con:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            name: sorted(con.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
            for name in sorted(names)
        }


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed, table by table: rows gone and rows new."""
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = set(before.get(name, [])), set(after.get(name, []))
        lines += [f"{name} lost {row!r}" for row in sorted(old - new, key=repr)]
        lines += [f"{name} gained {row!r}" for row in sorted(new - old, key=repr)]
    return lines


# --- what the commands are drawn from --------------------------------------------------

FLOWS = [bundled_flow(name) for name in BUNDLED]
STEPS = sorted({s for f in FLOWS for s in f.steps} | {a for f in FLOWS for a in f.actions})
FLAGS = sorted({flag for f in FLOWS for flag in f.spec.flags})
KINDS = sorted({kind for f in FLOWS for kind in f.spec.kinds})

#: The seeded cases: 1-3 incidents of each kind, 4 a mislink case, 5 an inquiry.
CASES = ["1", "2", "3", "4", "5"]
ACTORS = [
    "sanjo", "三条市", "152048", "pref-niigata", "新潟県", "jlis", "mic-mynumber",
    "mhlw", "厚生労働省", "mext", "ssk", "chikyoren", "ppc", "nisc",
    # outsiders of every seeded case, of each tier
    "kanazawa", "金沢市", "pref-ishikawa", "石川県",
]  # fmt: skip
NOT_ACTORS = ["山口", "nobody", "", "999999", "-x"]
# "\udcff" is how Python reads a byte of argv that is not UTF-8.
NOTES = [
    "確認しました", "", "   ", "a\x00b", "x" * 5000, "県では判断できないため\n第二行",
    "🙂", "'; DROP TABLE irflow_case; --", "--as", "\udcff",
]  # fmt: skip


@dataclass(frozen=True)
class Expect:
    """--expect-version: the target case's version plus ``delta`` (0: the right one)."""

    delta: int


@dataclass(frozen=True)
class Latest:
    """--at: the target case's latest event plus ``minutes`` (negative: before it)."""

    minutes: int


@dataclass(frozen=True)
class OutboxId:
    """An id of the outbox as it is when the command runs (the ``index``-th, wrapping)."""

    index: int


@dataclass(frozen=True)
class File:
    """A file of the seeded folder, by name (some are missing, a folder, not UTF-8)."""

    name: str


FILES = ["good.csv", "bad-digit.csv", "answer.txt", "latin1.txt", "missing.csv", "."]

FLAWS = [None, None, "actor", "expect", "before", "other-flow", "waiting", "declare", "case"]


@dataclass(frozen=True)
class Fitting:
    """The command that fits ``case`` now (its open step by the tier that does it, or the
    holder's action), with one ``flaw`` or none; resolved against the case as it is."""

    case: int
    flaw: str | None
    pick: int
    note: str


Token = str | Expect | Latest | OutboxId | File | Fitting
files = st.sampled_from(FILES).map(File)

case_numbers = st.sampled_from(CASES) | st.sampled_from(["6", "0", "99", "-1", "x", "1.5"])
actors = st.sampled_from(ACTORS) | st.sampled_from(NOT_ACTORS)
fixed_moments = st.sampled_from(
    [
        "2026-03-01T09:00",  # before every event
        "2026-04-01T12:00",
        "2026-04-02T10:00+09:00",
        "2026-12-29T10:00",  # outside working days
        "2027-01-04T01:00Z",
        "2099-01-01T00:00",
        "tomorrow",
        "2026-13-01T00:00",
        "",
    ]
)
latest_moments = st.sampled_from(
    [Latest(-60), Latest(-1), Latest(0), Latest(1), Latest(90), Latest(60 * 24 * 3)]
)
moments: st.SearchStrategy[list[Token]] = st.one_of(fixed_moments, latest_moments).map(
    lambda m: [m]
)
expects = st.sampled_from([Expect(0), Expect(0), Expect(-1), Expect(1), Expect(-100)])


def optional(option: str, values: st.SearchStrategy[list[Token]]) -> st.SearchStrategy[list[Token]]:
    return st.just([]) | values.map(lambda v: [option, *v])


def one(values: st.SearchStrategy[Token]) -> st.SearchStrategy[list[Token]]:
    return values.map(lambda v: [v])


def repeated(option: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[Token]]:
    return st.lists(values, max_size=2).map(lambda vs: [t for v in vs for t in (option, v)])


def command() -> st.SearchStrategy[list[Token]]:
    """A command that fits a seeded case, maybe with a flaw; or any write command."""
    fitting = st.builds(
        Fitting,
        case=st.integers(1, len(CASES)),
        flaw=st.sampled_from(FLAWS),
        pick=st.integers(0, 20),
        note=st.sampled_from(["回答です", *NOTES]),
    )
    fits: st.SearchStrategy[list[Token]] = fitting.map(lambda f: [f])
    return fits | fits | any_command()


@st.composite
def any_command(draw: st.DrawFn) -> list[Token]:
    """One write command of the command line with drawn arguments."""
    at = draw(optional("--at", moments))
    note = draw(optional("--note", one(st.sampled_from(NOTES))))
    expect = draw(optional("--expect-version", one(expects)))
    case = draw(case_numbers)
    actor = ["--as", draw(actors)]
    body_file = draw(optional("--body-file", one(files)))
    name = draw(
        st.sampled_from(
            [
                "init", "case open", "case advance", "case declare", "case assign",
                "case contacts", "inquiry ask", "inquiry escalate", "inquiry answer",
                "inquiry relay", "inquiry follow-up", "inquiry close", "sweep",
                "outbox retry", "org import",
            ]
        )
    )  # fmt: skip
    match name.split():
        case ["init"]:
            return ["init"]
        case ["case", "open"]:
            kinds = draw(repeated("--kind", st.sampled_from([*KINDS, "bogus"])))
            coordinator = draw(optional("--coordinator", one(actors)))
            title = draw(st.sampled_from(["サンプル障害", "", "x" * 300, "a\x00b"]))
            reporter = draw(actors)
            return ["case", "open", "--reporter", reporter, "--title", title, *kinds,
                    *coordinator, *at]  # fmt: skip
        case ["case", "advance"]:
            step = draw(st.sampled_from(STEPS) | st.sampled_from(["no_such_step", ""]))
            flags = draw(repeated("--declare", st.sampled_from([*FLAGS, "bogus"])))
            return ["case", "advance", case, step, *actor, *note, *flags, *at, *expect]
        case ["case", "declare"]:
            flag = draw(st.sampled_from([*FLAGS, "bogus", "faq_checked"]))
            return ["case", "declare", case, flag, *actor, *note, *at, *expect]
        case ["case", "assign"]:
            to = draw(actors)
            return ["case", "assign", case, "--coordinator", to, *actor, *note, *at, *expect]
        case ["case", "contacts"]:
            return ["case", "contacts", case, *actor, *at]
        case ["inquiry", "ask"]:
            title = draw(st.sampled_from(["副本登録の手順", "", "x" * 300]))
            body = draw(st.sampled_from([["--body", "質問"], ["--body", ""], []]))
            faq = draw(st.sampled_from([["--faq-checked"], ["--faq-checked"], []]))
            return ["inquiry", "ask", *actor, "--title", title, *body, *body_file, *faq, *at]
        case ["inquiry", ("answer" | "follow-up") as verb]:
            return ["inquiry", verb, case, *actor, *note, *body_file, *at, *expect]
        case ["inquiry", verb]:
            return ["inquiry", verb, case, *actor, *note, *at, *expect]
        case ["sweep"]:
            return ["sweep", *at]
        case ["outbox", "retry"]:
            message = draw(st.integers(0, 20).map(OutboxId) | st.just("no-such-message"))
            return ["outbox", "retry", message]
        case _:
            csv = draw(st.sampled_from(FILES).map(File))
            return ["org", "import", csv]


# --- resolving the tokens against the database as it is ---------------------------------


def _stored_moment(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fitting(url: str, wanted: Fitting) -> list[Token]:
    """The command ``wanted`` names, as tokens; any command, if the case has none."""
    from irflow.engine.facade import Engine
    from irflow.engine.rules import SYSTEM
    from irflow.errors import IrflowError

    try:
        with Engine(url) as engine:
            view = engine.case(wanted.case, viewer=SYSTEM)
    except IrflowError:  # a case number the seed has not reached: show it, which writes nothing
        return ["case", "show", str(wanted.case)]
    case, flaw, pick = str(view.id), wanted.flaw, wanted.pick
    tiers = {"reporter": view.reporter.id, "coordinator": view.coordinator.id}
    tiers["operator"] = view.operator.id
    if view.holder is not None or view.actions:  # a flow of states: the holder acts
        actions = view.actions or ["close"]
        action = actions[pick % len(actions)]
        doer = view.holder.id if view.holder else view.reporter.id
        tokens: list[Token] = ["inquiry", action.replace("_", "-"), case]
        if flaw == "other-flow":
            tokens = ["case", "advance", case, action]
        elif flaw == "waiting":
            tokens = ["inquiry", "escalate" if action != "escalate" else "close", case]
    else:
        open_steps = [s for s in view.steps if s.status == "open"] or view.steps
        step = open_steps[pick % len(open_steps)]
        doer = tiers.get(step.tier, view.reporter.id)
        tokens = ["case", "advance", case, step.id]
        if flaw == "other-flow":
            tokens = ["inquiry", "answer", case]
        elif flaw == "waiting":
            waiting = [s for s in view.steps if s.status == "waiting"] or view.steps
            tokens = ["case", "advance", case, waiting[pick % len(waiting)].id]
        elif flaw == "declare":
            tokens += ["--declare", [*FLAGS, "bogus"][pick % (len(FLAGS) + 1)]]
    if flaw == "actor":
        doer = [a for a in ACTORS if a != doer][pick % (len(ACTORS) - 1)]
    if flaw == "case":
        tokens[2] = str(99 + pick)
    tokens += ["--as", doer, "--note", wanted.note]
    tokens += ["--at", Latest(-1 if flaw == "before" else 30 + pick)]
    if flaw == "expect" or pick % 2:
        tokens += ["--expect-version", Expect(-1 if flaw == "expect" else 0)]
    return tokens


def resolve(tokens: list[Token], state: Snapshot, folder: Path, url: str) -> list[str]:
    """The command's arguments, with the tokens that depend on the database filled in."""
    if tokens and isinstance(tokens[0], Fitting):
        tokens = fitting(url, tokens[0])
    case_id = next((int(t) for t in tokens[2:3] if isinstance(t, str) and t.isdigit()), None)
    cases = {row[0]: row for row in state["irflow_case"]}
    version = int(cases[case_id][7]) if case_id in cases else 1  # type: ignore[call-overload]
    events = [row for row in state["timeline_event"] if case_id is None or row[0] == case_id]
    latest = max((_stored_moment(str(row[2])) for row in events), default=None)
    outbox = sorted(str(row[0]) for row in state["outbox"])
    args = []
    for token in tokens:
        match token:
            case Expect(delta):
                args.append(str(version + delta))
            case Latest(minutes):
                when = latest or datetime(2026, 4, 1, 0, 40, tzinfo=UTC)
                args.append((when + timedelta(minutes=minutes)).isoformat())
            case OutboxId(index):
                args.append(outbox[index % len(outbox)] if outbox else "no-such-message")
            case File(name):
                args.append(str(folder / name))
            case str():
                args.append(token)
    return args


# --- the seeded database ---------------------------------------------------------------


def _seed(url: str, folder: Path) -> None:
    """Cases of every bundled flow, and the files commands may be given."""
    opened = [
        ("case", "open", "--reporter", "三条市", "--title", "障害", "--at", OPENED_AT),
        ("case", "open", "--reporter", "sanjo", "--title", "不正アクセス", "--kind",
         "security_incident", "--at", OPENED_AT),
        ("case", "open", "--reporter", "sanjo", "--title", "漏えい", "--kind",
         "personal_info_leak", "--at", OPENED_AT),
        ("case", "open", "--reporter", "sanjo", "--title", "誤登録", "--kind", "mislink",
         "--at", OPENED_AT),
        ("inquiry", "ask", "--as", "sanjo", "--title", "副本登録の手順", "--body", "質問",
         "--faq-checked", "--at", OPENED_AT),
    ]  # fmt: skip
    for args in [("init",), *opened]:
        result = run(url, *args)
        assert result.code == 0, (args, result.err)
    header = "id,name,type,tier,prefecture,code\n"
    (folder / "good.csv").write_text(
        header + "sample-city,サンプル市,municipality,reporter,pref-niigata,152048\n", "utf-8"
    )
    (folder / "bad-digit.csv").write_text(
        header + "sample-town,サンプル町,municipality,reporter,pref-niigata,159990\n", "utf-8"
    )
    (folder / "answer.txt").write_text("手順書第3章のとおりです。\n", "utf-8")
    (folder / "latin1.txt").write_bytes("r\xe9ponse\n".encode("latin-1"))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the seeded database ``seed.db`` and the files commands are given."""
    folder = tmp_path_factory.mktemp("refusals")
    _seed(f"sqlite:///{folder / 'seed.db'}", folder)
    return folder


def copy_of(seeded: Path, folder: Path) -> Path:
    """A fresh copy of the seeded database in ``folder``."""
    path = folder / "irflow.db"
    # The backup API, not a file copy: the seed's last writes may still be in its WAL.
    with (
        closing(sqlite3.connect(seeded / "seed.db")) as source,
        closing(sqlite3.connect(path)) as target,
    ):
        source.backup(target)
    return path


def check(folder: Path, path: Path, commands: list[list[Token]]) -> list[tuple[list[str], int]]:
    """Run ``commands`` one after another on ``path``; assert each refusal wrote nothing."""
    url = f"sqlite:///{path}"
    state = snapshot(path)
    ran = []
    for tokens in commands:
        args = resolve(tokens, state, folder, url)
        result = run(url, *args)
        ran.append((args, result.code))
        command_name = " ".join(args[:1] if args[0] in ("init", "sweep") else args[:2])
        event(f"{command_name}: exit {result.code}")
        assert "Traceback" not in result.err, (ran, result.err)
        assert result.code in range(6), (ran, result.err)
        after = snapshot(path)
        if result.code != 0:
            assert after == state, (ran, result.err, differences(state, after))
        state = after
    return ran


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # Explaining a failure reruns it hundreds of times, minutes on the command line.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
@given(commands=st.lists(command(), min_size=1, max_size=10))
def test_a_failing_command_writes_nothing(seeded: Path, commands: list[list[Token]]) -> None:
    """Every non-zero exit of every write command leaves the whole database unchanged."""
    with tempfile.TemporaryDirectory() as scratch:
        check(seeded, copy_of(seeded, Path(scratch)), commands)


def test_org_import_of_a_folder_is_one_line(seeded: Path, tmp_path: Path) -> None:
    """Importing a folder instead of a CSV is refused in one line, and writes nothing."""
    path = copy_of(seeded, tmp_path)
    before = snapshot(path)
    result = run(f"sqlite:///{path}", "org", "import", str(seeded))
    assert snapshot(path) == before
    assert "Traceback" not in result.err
    assert result.code == 2
    assert result.err.startswith("irflow: error: ")


@pytest.mark.parametrize(
    "args",
    [
        ("case", "advance", "1", "detect_anomaly", "--as", "sanjo", "--note", "\udcff"),
        ("case", "open", "--reporter", "sanjo", "--title", "\udcff"),
        ("inquiry", "escalate", "5", "--as", "pref-niigata", "--note", "\udcff"),
    ],
    ids=["advance-note", "open-title", "inquiry-note"],
)
def test_a_note_that_is_not_utf8_is_one_line(
    seeded: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Text that is not UTF-8 is refused in one line (exit 2), and writes nothing."""
    path = copy_of(seeded, tmp_path)
    before = snapshot(path)
    result = run(f"sqlite:///{path}", *args, "--at", "2026-04-01T10:00")
    assert snapshot(path) == before
    assert "Traceback" not in result.err
    assert (result.code, result.err.count("\n")) == (2, 1)
