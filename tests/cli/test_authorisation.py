"""The gate from the command line: every bundled flow x every viewer x every read and
write, with the documented outcome (README, "Who sees what").

Participants read (exit 0), the administrator (no ``--as``) reads everything, an
outsider is answered byte for byte what a number never used gets (exit 3), a
participant acting outside its tier is not allowed (exit 4), and a refused write
leaves the database as it was.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from irflow.engine.facade import Engine
from tests.cli.runs import Run
from tests.conftest import START

NEVER_USED = 987_654
#: The case each bundled flow is opened as, in the database every test starts from.
CASES = {"incident": 1, "mislink": 2, "inquiry": 3}
#: Each viewer by what it is to an incident; the administrator reads without --as.
VIEWERS: dict[str, str | None] = {
    "reporter sanjo": "sanjo",
    "coordinator pref-niigata": "pref-niigata",
    "operator mic-mynumber": "mic-mynumber",
    "outsider municipality kanazawa": "kanazawa",
    "outsider prefecture pref-ishikawa": "pref-ishikawa",
    "outsider jlis": "jlis",
    "administrator": None,
}
#: Who reads the posts a case caused: the poster and whom a post names (the operator
#: takes part in an incident, but a report to the coordinator is not posted to it).
POST_READERS = {"sanjo", "pref-niigata"}


def participants(flow: str) -> set[str]:
    """An incident's three tiers; an inquiry's asker and the one receiver it reached."""
    return {"sanjo", "pref-niigata"} | ({"mic-mynumber"} if flow != "inquiry" else set())


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, str]]:
    """A database holding one case of each flow, each having caused a site post, made
    once; every test runs on its own copy. Also the post id each case caused."""
    path = tmp_path_factory.mktemp("authorisation") / "template.db"
    engine = Engine(f"sqlite:///{path}")
    engine.init()
    incident = engine.open_case(reporter="sanjo", title="サンプル障害", at=START).case_id
    mislink = engine.open_case(
        reporter="sanjo", title="サンプル誤紐付け", kinds=["mislink"], at=START
    ).case_id
    inquiry = engine.open_case(
        reporter="sanjo", title="サンプル問合せ", kinds=["inquiry"], note="サンプル質問",
        confirmed=["faq_checked"], at=START,
    ).case_id  # fmt: skip
    assert [incident, mislink, inquiry] == list(CASES.values())
    minute = timedelta(minutes=1)
    engine.advance(incident, "detect_anomaly", actor="sanjo", at=START + minute)
    engine.advance(incident, "report_status", actor="sanjo", at=START + 2 * minute)
    engine.advance(mislink, "detect_mislink", actor="sanjo", at=START + minute)
    engine.advance(mislink, "report_mislink", actor="sanjo", at=START + 2 * minute)
    engine.drain(at=START + 3 * minute)
    posts = {p.case_id: p.id for p in engine.posts("sanjo") if p.case_id is not None}
    assert set(posts) == set(CASES.values())
    engine.close()
    return path, posts


@pytest.fixture
def world(
    irflow: Run, template: tuple[Path, dict[int, str]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Run:  # fmt: skip
    """The `irflow` runner on a fresh copy of the template database."""
    monkeypatch.delenv("IRFLOW_AS", raising=False)
    shutil.copyfile(template[0], tmp_path / "cli.db")
    return irflow


def snapshot(tmp_path: Path) -> list[str]:
    """Every row of the test's database, as SQL."""
    with sqlite3.connect(tmp_path / "cli.db") as connection:
        return list(connection.iterdump())


def as_args(viewer: str | None) -> list[str]:
    return [] if viewer is None else ["--as", viewer]


def missing_post(post_id: str, case_id: int) -> str:
    """The id a post of a case never used would have had."""
    return post_id.replace(f"c{case_id}.", f"c{NEVER_USED}.", 1)


# ---------------------------------------------------------------------------- reads

#: Reads of one case: the arguments for case N, the post P it caused, the viewer's --as.
Reading = Callable[[str, str, list[str]], list[str]]
READS: dict[str, Reading] = {
    "case show": lambda n, p, a: ["case", "show", n, *a],
    "case show --json": lambda n, p, a: ["case", "show", n, "--json", *a],
    "report": lambda n, p, a: ["report", n, *a],
    "verify CASE": lambda n, p, a: ["verify", n, *a],
    "verify CASE --json": lambda n, p, a: ["verify", n, "--json", *a],
    "inquiry show": lambda n, p, a: ["inquiry", "show", n, *a],
    "post show": lambda n, p, a: ["post", "show", p, *a],
}
#: Reads that exist only with --as.
NEEDS_AS = {"inquiry show", "post show"}


def may_read(flow: str, read: str, viewer: str | None) -> bool:
    if viewer is None:
        return True
    if read == "post show":
        return viewer in POST_READERS
    return viewer in participants(flow)


READ_CASES = [
    pytest.param(flow, viewer, read, id=f"{flow}-{name}-{read}")
    for flow in CASES
    for name, viewer in VIEWERS.items()
    for read in READS
    if not (viewer is None and read in NEEDS_AS)
    and not (read == "inquiry show" and flow != "inquiry")
]


@pytest.mark.parametrize(("flow", "viewer", "read"), READ_CASES)
def test_each_read_of_each_case_for_each_viewer(
    world: Run, template: tuple[Path, dict[int, str]], tmp_path: Path,
    flow: str, viewer: str | None, read: str,
) -> None:  # fmt: skip
    """A participant and the administrator read; to anyone else the case is a number
    never used: exit 3 and the same words; and a read writes nothing."""
    case_id = CASES[flow]
    post_id = template[1][case_id]
    before = snapshot(tmp_path)
    shown = world(*READS[read](str(case_id), post_id, as_args(viewer)))
    if may_read(flow, read, viewer):
        assert (shown.code, shown.err) == (0, "")
        assert shown.out
    else:
        missing = world(
            *READS[read](str(NEVER_USED), missing_post(post_id, case_id), as_args(viewer))
        )
        assert shown.code == 3
        assert shown.out == missing.out
        assert shown.err == missing.err.replace(str(NEVER_USED), str(case_id))
        assert "Traceback" not in shown.err
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------- lists


def listed_cases(out: str, key: str) -> set[int]:
    rows = json.loads(out)
    assert isinstance(rows, list)
    return {row[key] for row in rows}


#: Lists: (arguments for the viewer's --as, the key naming a row's case).
LISTS: dict[str, tuple[Callable[[list[str]], list[str]], str]] = {
    "case list --json": (lambda a: ["case", "list", "--json", *a], "id"),
    "verify --json": (lambda a: ["verify", "--json", *a], "case"),
    "inquiry list --json": (lambda a: ["inquiry", "list", "--json", *a], "id"),
    "post list --json": (lambda a: ["post", "list", "--json", *a], "case"),
}


def lists_case(flow: str, listing: str, viewer: str | None) -> bool:
    if listing == "inquiry list --json" and flow != "inquiry":
        return False
    if listing == "post list --json":
        return viewer in POST_READERS
    return viewer is None or viewer in participants(flow)


LIST_CASES = [
    pytest.param(viewer, listing, id=f"{name}-{listing}")
    for name, viewer in VIEWERS.items()
    for listing in LISTS
    if not (viewer is None and listing in {"inquiry list --json", "post list --json"})
]


@pytest.mark.parametrize(("viewer", "listing"), LIST_CASES)
def test_each_list_holds_exactly_the_cases_the_viewer_takes_part_in(
    world: Run, viewer: str | None, listing: str
) -> None:
    """Every list names a case to its participants and the administrator, to no one
    else: an outsider's list is as empty as on a database without these cases."""
    args, key = LISTS[listing]
    result = world(*args(as_args(viewer)))
    assert (result.code, result.err) == (0, "")
    expected = {n for flow, n in CASES.items() if lists_case(flow, listing, viewer)}
    assert listed_cases(result.out, key) == expected


# ---------------------------------------------------------------------------- writes

#: Every write: (arguments for case N, an open step S of its flow, the actor's --as).
Writing = Callable[[str, str, list[str]], list[str]]
WRITES: dict[str, Writing] = {
    "case advance": lambda n, s, a: ["case", "advance", n, s, *a],
    "case declare": lambda n, s, a: ["case", "declare", n, "beyond_own_capacity", *a],
    "case assign": lambda n, s, a: ["case", "assign", n, "--coordinator", "mhlw", *a],
    "case contacts": lambda n, s, a: ["case", "contacts", n, *a],
    "inquiry escalate": lambda n, s, a: ["inquiry", "escalate", n, *a],
    "inquiry answer": lambda n, s, a: ["inquiry", "answer", n, "--note", "サンプル回答", *a],
    "inquiry relay": lambda n, s, a: ["inquiry", "relay", n, *a],
    "inquiry follow-up": lambda n, s, a: ["inquiry", "follow-up", n, "--note", "追加", *a],
    "inquiry close": lambda n, s, a: ["inquiry", "close", n, *a],
}
#: A step open in the template: the coordinator's in the incident, the reporter's in
#: the mislink case; an inquiry has actions, not steps.
OPEN_STEP = {
    "incident": "coordinator_report_status", "mislink": "stop_provision", "inquiry": "answer",
}  # fmt: skip
INQUIRY_WRITES = [w for w in WRITES if w.startswith("inquiry ")]
ALL_THREE = ["sanjo", "pref-niigata", "mic-mynumber"]

#: What a participant's write gives, where it is not 0: 4 outside its tier or role
#: (checked before the state), 2 a command the flow or the state does not allow (an
#: inquiry command on an incident names `irflow case advance`, and the other way round).
PARTICIPANT_CODES: dict[tuple[str, str, str], int] = {
    ("incident", "case advance", "sanjo"): 4,
    ("incident", "case advance", "mic-mynumber"): 4,
    ("incident", "case declare", "pref-niigata"): 4,
    ("incident", "case declare", "mic-mynumber"): 4,
    ("incident", "case assign", "sanjo"): 4,
    ("mislink", "case advance", "pref-niigata"): 4,
    ("mislink", "case advance", "mic-mynumber"): 4,
    ("mislink", "case assign", "sanjo"): 4,
    **{("mislink", "case declare", a): 2 for a in ALL_THREE},
    **{(f, w, a): 2 for f in ("incident", "mislink") for w in INQUIRY_WRITES for a in ALL_THREE},
    **{
        ("inquiry", w, a): 2
        for w in ("case advance", "case declare", "case assign")
        for a in ("sanjo", "pref-niigata")
    },
    ("inquiry", "inquiry answer", "sanjo"): 4,
    ("inquiry", "inquiry escalate", "sanjo"): 4,
    ("inquiry", "inquiry relay", "sanjo"): 4,
    ("inquiry", "inquiry relay", "pref-niigata"): 2,
    ("inquiry", "inquiry close", "pref-niigata"): 4,
    ("inquiry", "inquiry close", "sanjo"): 2,
    ("inquiry", "inquiry follow-up", "pref-niigata"): 4,
    ("inquiry", "inquiry follow-up", "sanjo"): 2,
}

WRITE_CASES = [
    pytest.param(
        flow,
        actor,
        write,
        id=f"{flow}-{name}-{write}",
    )
    for flow in CASES
    for name, actor in VIEWERS.items()
    if actor is not None
    for write in WRITES
]


@pytest.mark.parametrize(("flow", "actor", "write"), WRITE_CASES)
def test_each_write_on_each_case_by_each_actor(
    world: Run, tmp_path: Path, flow: str, actor: str, write: str
) -> None:
    """An outsider is told the case does not exist, in the words a number never used
    gets, and nothing is written; a participant gets the documented outcome."""
    case_id = CASES[flow]
    before = snapshot(tmp_path)
    done = world(*WRITES[write](str(case_id), OPEN_STEP[flow], ["--as", actor]))
    assert "Traceback" not in done.err
    expected = 3
    if actor in participants(flow):
        expected = PARTICIPANT_CODES.get((flow, write, actor), 0)
        assert done.code == expected, done.err
        if expected == 0:
            assert done.err == ""
            return
        if expected != 3:
            assert done.out == ""
            assert done.err.startswith("irflow: error: ")
            assert done.err.count("\n") == 1
            assert snapshot(tmp_path) == before
            return
    missing = world(*WRITES[write](str(NEVER_USED), OPEN_STEP[flow], ["--as", actor]))
    assert done.code == expected == missing.code
    assert done.out == ""
    assert done.err == missing.err.replace(str(NEVER_USED), str(case_id))
    assert snapshot(tmp_path) == before


def test_the_operator_and_jlis_join_an_inquiry_only_when_it_reaches_them(world: Run) -> None:
    """Outside the inquiry until escalated to them, J-LIS and then the operator read it."""
    inquiry = str(CASES["inquiry"])
    assert world("case", "show", inquiry, "--as", "jlis").code == 3
    assert world("inquiry", "escalate", inquiry, "--as", "pref-niigata").code == 0
    assert world("inquiry", "show", inquiry, "--as", "jlis").code == 0
    assert world("inquiry", "show", inquiry, "--as", "mic-mynumber").code == 3
    assert world("inquiry", "escalate", inquiry, "--as", "jlis").code == 0
    for read in ("case show", "verify CASE", "inquiry show"):
        assert world(*READS[read](inquiry, "", ["--as", "mic-mynumber"])).code == 0
