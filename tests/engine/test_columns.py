"""The case row's text columns: steps done as compact JSON, and text every backend stores alike."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irflow.engine.columns import StepsDone
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.engine.timeline import COMPACT
from irflow.errors import InvalidInput
from tests.engine.cases import WHOLE_CASE, _sql, do, open_sanjo


def _steps_done(engine: Engine, case_id: int) -> str:
    return str(engine.ledger.read("case", case_id)[0][11])


def test_steps_done_is_the_compact_json_of_every_step_done(engine: Engine) -> None:
    """The engine appends each step to the text it wrote before, and the result is what
    encoding the whole record afresh gives; a text written elsewhere in another form
    is read, and written back in the compact form."""
    case_id = open_sanjo(engine)
    for step in WHOLE_CASE:
        do(engine, case_id, step)
        stored = _steps_done(engine, case_id)
        assert stored == COMPACT.encode(json.loads(stored))
    assert list(json.loads(stored)) == WHOLE_CASE

    other = open_sanjo(engine)
    do(engine, other, "detect_anomaly")
    spaced = json.dumps(json.loads(_steps_done(engine, other)))  # ", " and ": "
    _sql(engine, "UPDATE irflow_case SET steps_done = :s WHERE id = :c", s=spaced, c=other)
    do(engine, other, "report_status")
    stored = _steps_done(engine, other)
    assert stored == COMPACT.encode(json.loads(stored))
    assert list(json.loads(stored)) == ["detect_anomaly", "report_status"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=12), st.text(max_size=8), st.text(max_size=30)),
        unique_by=lambda entry: entry[0],
        max_size=8,
    )
)
def test_steps_done_appending_encodes_as_the_whole_record_does(
    entries: list[tuple[str, str, str]],
) -> None:
    """Appending a step to the text written before gives exactly the compact encoding
    of the whole record, whatever the step ids hold (quotes, backslashes, Japanese)."""
    memo = StepsDone()
    text, done = "{}", {}
    for step, org, when in entries:
        done = memo.load(text)
        done[step] = [org, when]
        text = memo.dump(text, done, step)
        assert text == COMPACT.encode(done)
        assert json.loads(text) == done


def test_nul_in_text_is_refused_on_every_backend(engine: Engine) -> None:
    """A NUL character in a title or note is bad input on every backend, and nothing is written."""
    with pytest.raises(InvalidInput, match="NUL"):
        engine.open_case(reporter="sanjo", title="サンプル\x00障害")
    assert engine.cases(viewer=SYSTEM) == []
    case = engine.open_case(reporter="sanjo", title="サンプル障害")
    with pytest.raises(InvalidInput, match="NUL"):
        engine.advance(case.case_id, "detect_anomaly", actor="sanjo", note="a\x00b")
    assert engine.case(case.case_id, viewer=SYSTEM).version == 1
