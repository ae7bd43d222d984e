"""Contact routing: one example per cell of the seed's tables, properties, data checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from irflow.clock import JST
from irflow.engine.directory import Organisation, OrgType, Tier
from irflow.engine.routing import (
    ContactPlan,
    ContactStep,
    bundled_routing,
    load_routing,
    parse_routing,
    plan_contact,
    render_checklist,
)
from irflow.errors import InvalidFlow, InvalidInput

# The seed's values, copied here on purpose: these tests pin routing.yaml to the seed
# (the engine itself never spells them).
NAVI_DIAL = "0570-00-1515"
OPERATOR_ALTERNATIVE = "050-3786-7382"
INQUIRY_CATEGORY = "02.FAQ・問合せ > 03.問合せ"
ABNORMAL_CATEGORY = "06.異常時における連絡等"
INQUIRY_FORM = "問合せ票"
REPORT_FORM = "事象発生報告書兼完了報告書"
INQUIRY_MAIL = "nws-toiwase-uketsuke@mail.renkei.go.jp"
SITE_OPENS = date(2017, 5, 31)

RULES = bundled_routing()
CALENDAR = RULES.calendar()
OPERATOR_LABEL = RULES.operator_label
SITE = RULES.channels["site"].label

CITY = Organisation(
    id="sample-city",
    name="サンプル市",
    type=OrgType.MUNICIPALITY,
    tier=Tier.REPORTER,
    prefecture="sample-pref",
    daytime_phone="000-0000-0001",
    emergency_phone="000-0001-0001",
)
PREF = Organisation(
    id="sample-pref",
    name="サンプル県",
    type=OrgType.PREFECTURE,
    tier=Tier.COORDINATOR,
    daytime_phone="000-0000-0002",
    emergency_phone="000-0001-0002",
)
OPERATOR = Organisation(
    id="sample-operator",
    name="サンプル運営主体",
    type=OrgType.OPERATOR,
    tier=Tier.OPERATOR,
    daytime_phone="000-0000-0003",
)


@dataclass(frozen=True)
class Moment:
    """A moment of the example table and where it falls."""

    at: datetime
    working: bool
    daytime: bool
    line_open: bool


WED = "2026-06-10"
MOMENTS = {
    "07:59:59": Moment(datetime.fromisoformat(f"{WED}T07:59:59"), True, False, False),
    "08:00": Moment(datetime.fromisoformat(f"{WED}T08:00"), True, False, True),
    "09:29:59": Moment(datetime.fromisoformat(f"{WED}T09:29:59"), True, False, True),
    "09:30": Moment(datetime.fromisoformat(f"{WED}T09:30"), True, True, True),
    "16:59:59": Moment(datetime.fromisoformat(f"{WED}T16:59:59"), True, True, True),
    "17:00": Moment(datetime.fromisoformat(f"{WED}T17:00"), True, False, True),
    "20:59:59": Moment(datetime.fromisoformat(f"{WED}T20:59:59"), True, False, True),
    "21:00": Moment(datetime.fromisoformat(f"{WED}T21:00"), True, False, False),
    "saturday": Moment(datetime(2026, 6, 13, 10, 0), False, False, False),
    "national-holiday": Moment(datetime(2026, 11, 3, 10, 0), False, False, False),
    "substitute-holiday": Moment(datetime(2026, 5, 6, 10, 0), False, False, False),
    "kokumin-no-kyujitsu": Moment(datetime(2026, 9, 22, 10, 0), False, False, False),
    "12-29": Moment(datetime(2026, 12, 29, 10, 0), False, False, False),
    "01-03": Moment(datetime(2025, 1, 3, 10, 0), False, False, False),
    "01-04": Moment(datetime(2027, 1, 4, 10, 0), True, True, True),
}
ALL = list(MOMENTS)
DAYTIME = [name for name, m in MOMENTS.items() if m.daytime]
OFF_HOURS = [name for name, m in MOMENTS.items() if not m.daytime]


def plan(
    recipient: Organisation | None, situation: str, at: datetime, sender: Organisation = CITY
) -> ContactPlan:
    return plan_contact(RULES, CALENDAR, sender, recipient, situation, at)


def shape(p: ContactPlan) -> tuple[object, ...]:
    """Everything of a plan but its moment and its reason (which names the date)."""
    return (p.window, p.operator_line_open, p.working_day, p.steps)


# --------------------------------------------------------------------------- the cells


@pytest.mark.parametrize("name", ALL)
def test_moments_fall_where_the_table_says(name: str) -> None:
    """Each example moment is classified as working day, daytime and operator line expect."""
    m = MOMENTS[name]
    p = plan(PREF, "incident", m.at)
    assert (p.working_day, p.window == "daytime", p.operator_line_open) == (
        m.working,
        m.daytime,
        m.line_open,
    )


@pytest.mark.parametrize("name", ALL)
def test_operator_normal_posts_inquiry_form(name: str) -> None:
    """To the operator, normal: post 問合せ票 in 02.FAQ・問合せ > 03.問合せ, at any moment."""
    p = plan(None, "normal", MOMENTS[name].at)
    assert [(s.action, s.target, s.category, s.form) for s in p.steps] == [
        ("post", SITE, INQUIRY_CATEGORY, INQUIRY_FORM)
    ]


@pytest.mark.parametrize("name", ALL)
def test_operator_incident_phones_then_posts_report(name: str) -> None:
    """To the operator, incident: navi dial, 050 only while the line is open, then the report."""
    m = MOMENTS[name]
    p = plan(None, "incident", m.at)
    second = OPERATOR_ALTERNATIVE if m.line_open else NAVI_DIAL
    assert [(s.action, s.target, s.number) for s in p.steps[:2]] == [
        ("phone", OPERATOR_LABEL, NAVI_DIAL),
        ("phone", OPERATOR_LABEL, second),
    ]
    if not m.line_open:
        assert "携帯電話等の他の電話回線" in (p.steps[1].note or "")
    assert p.steps[2] == ContactStep(
        action="post",
        target=SITE,
        category=ABNORMAL_CATEGORY,
        form=REPORT_FORM,
        named=(OPERATOR_LABEL,),
    )
    assert len(p.steps) == 3


def _agency_normal_steps() -> list[tuple[object, ...]]:
    return [
        ("lookup", PREF.name, None, None, None, None),
        ("phone", PREF.name, PREF.daytime_phone, None, None, None),
        ("post", SITE, None, ABNORMAL_CATEGORY, INQUIRY_FORM, (PREF.name,)),
    ]


def _fields(p: ContactPlan) -> list[tuple[object, ...]]:
    return [(s.action, s.target, s.number, s.category, s.form, s.named) for s in p.steps]


@pytest.mark.parametrize("name", DAYTIME)
def test_agency_normal_daytime(name: str) -> None:
    """To an agency, normal, daytime: look up, phone its contact, post 問合せ票 in 06 if needed."""
    p = plan(PREF, "normal", MOMENTS[name].at)
    assert p.window == "daytime"
    assert _fields(p) == _agency_normal_steps()
    assert p.steps[2].note == "必要に応じて"


@pytest.mark.parametrize("name", OFF_HOURS)
def test_agency_normal_off_hours_same_as_daytime(name: str) -> None:
    """To an agency, normal, outside the daytime window: the same steps as in daytime."""
    p = plan(PREF, "normal", MOMENTS[name].at)
    assert p.window == "off_hours"
    assert _fields(p) == _agency_normal_steps()


@pytest.mark.parametrize("name", DAYTIME)
def test_agency_incident_daytime(name: str) -> None:
    """To an agency, incident, daytime: look up, phone its daytime contact, post the report."""
    p = plan(PREF, "incident", MOMENTS[name].at)
    assert _fields(p) == [
        ("lookup", PREF.name, None, None, None, None),
        ("phone", PREF.name, PREF.daytime_phone, None, None, None),
        ("post", SITE, None, ABNORMAL_CATEGORY, REPORT_FORM, (PREF.name,)),
    ]
    assert p.reason is None


@pytest.mark.parametrize("name", OFF_HOURS)
def test_agency_incident_off_hours(name: str) -> None:
    """To an agency, incident, off hours: ask the operator, phone the emergency contact, post."""
    p = plan(PREF, "incident", MOMENTS[name].at)
    assert _fields(p) == [
        ("ask_operator", OPERATOR_LABEL, None, None, None, (PREF.name,)),
        ("phone", PREF.name, PREF.emergency_phone, None, None, None),
        ("post", SITE, None, ABNORMAL_CATEGORY, REPORT_FORM, (PREF.name,)),
    ]
    assert p.reason


# --------------------------------------------------------------------------- reasons and output


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("12-29", "12月29日は行政機関の休日です（年末年始）"),
        ("01-03", "1月3日は行政機関の休日です（年末年始）"),
        ("saturday", "6月13日は土曜日です"),
        ("national-holiday", "11月3日は国民の祝日（文化の日）です"),
        ("substitute-holiday", "5月6日は振替休日です"),
        ("kokumin-no-kyujitsu", "9月22日は国民の休日です"),
        ("17:00", "17:00は平日日中時（09:30-17:00）の時間外です"),
    ],
)
def test_off_hours_reason(name: str, reason: str) -> None:
    """An off-hours plan to an agency says in Japanese why the moment is off hours."""
    assert plan(PREF, "incident", MOMENTS[name].at).reason == reason


def test_operator_plan_reason_names_only_the_operator_line() -> None:
    """A plan to the operator after 21:00 names the operator line, not the daytime window."""
    p = plan(None, "incident", MOMENTS["21:00"].at)
    assert p.reason == "21:00は運営主体の代替電話番号の利用可能時間（08:00-21:00）の時間外です"
    assert plan(None, "incident", MOMENTS["17:00"].at).reason is None


def test_checklist_is_numbered_with_reason_line() -> None:
    """The terminal checklist shows the reason line and numbered steps in Japanese."""
    text = render_checklist(plan(PREF, "incident", MOMENTS["12-29"].at), PREF.name)
    lines = text.splitlines()
    assert lines[0] == "サンプル県への連絡手順（2026-12-29 10:00 日本時間）"
    assert lines[1] == "理由: 12月29日は行政機関の休日です（年末年始）"
    numbered = [line for line in lines if line[:1].isdigit()]
    assert [line[:3] for line in numbered] == ["1. ", "2. ", "3. "]
    assert "サンプル県の緊急連絡先を確認する" in numbered[0]
    assert f": {PREF.emergency_phone}" in numbered[1]
    assert f"「{REPORT_FORM}」" in numbered[2]


def test_json_has_exactly_the_issue_shape() -> None:
    """to_json gives at (Japan time), window, operator_line_open, working_day, steps; nulls kept."""
    moment = datetime(2026, 6, 10, 1, 0, tzinfo=UTC)  # 10:00 in Japan
    data = plan(PREF, "incident", moment).to_json()
    assert list(data) == ["at", "window", "operator_line_open", "working_day", "steps"]
    assert data["at"] == "2026-06-10T10:00:00+09:00"
    assert data["window"] == "daytime"
    assert data["operator_line_open"] is True
    assert data["working_day"] is True
    assert isinstance(data["steps"], list)
    assert data["steps"][0] == {
        "action": "lookup",
        "target": PREF.name,
        "number": None,
        "category": None,
        "form": None,
        "named": None,
        "note": data["steps"][0]["note"],
    }
    assert data["steps"][2]["named"] == [PREF.name]


def test_naive_moment_is_japan_time_and_offsets_convert() -> None:
    """A naive 09:30 is Japan time; 00:30 UTC is the same moment; 09:30 UTC is 18:30 JST."""
    naive = plan(PREF, "incident", datetime(2026, 6, 10, 9, 30))
    utc = plan(PREF, "incident", datetime(2026, 6, 10, 0, 30, tzinfo=UTC))
    later = plan(PREF, "incident", datetime(2026, 6, 10, 9, 30, tzinfo=UTC))
    assert naive.at == utc.at == datetime(2026, 6, 10, 9, 30, tzinfo=JST)
    assert naive.window == utc.window == "daytime"
    assert later.window == "off_hours"
    assert later.at.utcoffset() == timedelta(hours=9)


# --------------------------------------------------------------------------- senders, recipients


def test_bad_situation_is_one_line_with_the_fix() -> None:
    """A situation other than incident or normal is refused in one line naming both."""
    with pytest.raises(InvalidInput) as caught:
        plan(PREF, "urgent", MOMENTS["09:30"].at)
    assert "incident or normal" in caught.value.message
    assert "\n" not in caught.value.message


def test_operator_as_organisation_routes_like_none() -> None:
    """Naming the operator's directory entry gives the operator's plan, under its own name."""
    given_org = plan(OPERATOR, "incident", MOMENTS["09:30"].at)
    without = plan(None, "incident", MOMENTS["09:30"].at)
    assert [(s.action, s.number) for s in given_org.steps] == [
        (s.action, s.number) for s in without.steps
    ]
    assert given_org.steps[0].target == OPERATOR.name
    # The seed's numbers win over the directory's sample phone for the operator.
    assert given_org.steps[0].number == NAVI_DIAL


def test_operator_sender_does_not_ask_itself() -> None:
    """The operator contacting an agency off hours phones the emergency contact directly."""
    p = plan(PREF, "incident", MOMENTS["12-29"].at, sender=OPERATOR)
    assert [s.action for s in p.steps] == ["phone", "post"]
    assert p.steps[0].number == PREF.emergency_phone


@pytest.mark.parametrize(
    ("sender", "recipient"), [(CITY, CITY), (OPERATOR, None)], ids=["self", "operator-self"]
)
def test_contacting_oneself_is_refused(
    sender: Organisation, recipient: Organisation | None
) -> None:
    """A sender cannot be its own recipient; the message says to give another --to."""
    with pytest.raises(InvalidInput, match="another --to"):
        plan(recipient, "incident", MOMENTS["09:30"].at, sender=sender)


def test_missing_directory_phone_leaves_number_null() -> None:
    """An agency without an emergency phone in the directory gets a phone step with no number."""
    bare = Organisation(
        id="sample-agency", name="サンプル機関", type=OrgType.MINISTRY, tier=Tier.EXTERNAL
    )
    p = plan(bare, "incident", MOMENTS["saturday"].at)
    assert p.steps[1].action == "phone"
    assert p.steps[1].number is None
    assert "番号が名簿にありません" in render_checklist(p, bare.name)


# --------------------------------------------------------------------------- the site's opening


def test_before_site_opens_inquiry_goes_by_mail() -> None:
    """On 2017-05-30 the inquiry to the operator is an e-mail to the seed's address."""
    p = plan(None, "normal", datetime(2017, 5, 30, 10, 0))
    assert p.steps == (
        ContactStep(
            action="mail",
            target=INQUIRY_MAIL,
            form=INQUIRY_FORM,
            note=RULES.channels["site"].fallback_note,
        ),
    )
    assert p.reason == "情報共有サイトの利用開始（2017年5月31日）前です"


def test_site_opens_on_31_may_2017() -> None:
    """From 2017-05-31 00:00 Japan time the inquiry is posted on the site."""
    p = plan(None, "normal", datetime(2017, 5, 31, 0, 0))
    assert [s.action for s in p.steps] == ["post"]
    assert RULES.channels["site"].available_from == SITE_OPENS


def test_before_site_opens_agency_report_goes_by_mail_phone_kept() -> None:
    """Before the site, an agency incident keeps its phone call; site steps become e-mails."""
    p = plan(PREF, "incident", datetime(2017, 5, 1, 10, 0))
    assert [(s.action, s.target) for s in p.steps] == [
        ("mail", INQUIRY_MAIL),
        ("phone", PREF.name),
        ("mail", INQUIRY_MAIL),
    ]
    assert p.steps[2].form == REPORT_FORM
    assert p.steps[2].named == (PREF.name,)


# --------------------------------------------------------------------------- the data file


def test_bundled_data_carries_the_seed_values() -> None:
    """routing.yaml holds the seed's numbers, categories, forms and windows."""
    assert set(RULES.numbers.values()) == {NAVI_DIAL, OPERATOR_ALTERNATIVE}
    assert set(RULES.categories.values()) == {
        INQUIRY_CATEGORY,
        ABNORMAL_CATEGORY,
        "05.システム障害発生状況",
        "01.情報提供ネットワークシステム運営主体からの周知事項 > 01.重要周知事項",
    }
    assert set(RULES.forms.values()) == {INQUIRY_FORM, REPORT_FORM}
    assert RULES.daytime.span() == "09:30-17:00"
    assert RULES.operator_line.span() == "08:00-21:00"
    assert RULES.extra_closed_days == {}


@pytest.mark.parametrize(
    "literal",
    [NAVI_DIAL, OPERATOR_ALTERNATIVE, "02.FAQ", "06.異常時", INQUIRY_FORM, REPORT_FORM, "renkei"],
)
def test_engine_code_never_spells_domain_values(literal: str) -> None:
    """No number, category, form name or address appears in the engine's Python code."""
    engine = Path(__file__).resolve().parents[2] / "irflow" / "engine"
    for name in ("routing.py", "calendar.py"):
        assert literal not in (engine / name).read_text("utf-8"), name


def _bundled_text() -> str:
    from importlib import resources

    return resources.files("irflow.flows").joinpath("routing.yaml").read_text("utf-8")


def test_extra_closed_days_in_data_close_the_calendar() -> None:
    """An extra closed day written in the data closes that day for routing."""
    text = _bundled_text().replace(
        "extra_closed_days: []",
        "extra_closed_days:\n  - {date: 2026-06-10, reason: 庁舎の計画停電}",
    )
    rules = parse_routing(text, source="custom.yaml")
    p = plan_contact(rules, rules.calendar(), CITY, PREF, "incident", MOMENTS["09:30"].at)
    assert p.working_day is False
    assert p.reason == "6月10日は追加の休業日です（庁舎の計画停電）"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('start: "09:30"', "start: 10:30", "in quotes"),
        ('end: "17:00"', "end: 17:00", "in quotes"),
        ("number: navi_dial\n", "number: navi_dail\n", "numbers has no key 'navi_dail'"),
        ("form: report\n", "form: reprot\n", "forms has no key 'reprot'"),
        (
            "    window: off_hours\n    # 「平日日中時と同様」",
            "    window: daytime\n    #",
            "second rule",
        ),
        (
            "    situation: normal\n    window: any",
            "    situation: normal\n    window: daytime",
            "no rule for to=operator situation=normal window=off_hours",
        ),
        (
            "number_from: daytime_phone\n",
            "number_from: daytime_phone\n        number: navi_dial\n",
            "exactly one",
        ),
        ("version: 1", "version: [", "not valid YAML"),
        ("action: lookup", "action: lokup", "action"),
    ],
    ids=["time", "end", "number", "form", "dup-cell", "missing-cell", "phone", "yaml", "action"],
)
def test_broken_data_is_refused_with_file_and_fix(old: str, new: str, expected: str) -> None:
    """A broken routing file is refused with the file name, a line and what to fix."""
    text = _bundled_text()
    assert old in text
    with pytest.raises(InvalidFlow) as caught:
        parse_routing(text.replace(old, new, 1), source="custom.yaml")
    assert caught.value.message.startswith("custom.yaml")
    assert expected in caught.value.message
    assert "\n" not in caught.value.message


def test_missing_routing_file_names_the_fix(tmp_path: Path) -> None:
    """A routing file path that does not exist is refused with the fix."""
    with pytest.raises(InvalidInput, match="give the path"):
        load_routing(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- properties

REFERENCE = {
    # (working day, daytime window, operator line) -> a moment with those
    (False, False, False): datetime(2026, 6, 13, 10, 0),
    (True, False, False): datetime(2026, 6, 10, 7, 0),
    (True, False, True): datetime(2026, 6, 10, 8, 30),
    (True, True, True): datetime(2026, 6, 10, 10, 0),
}
RECIPIENTS = [None, OPERATOR, PREF]
OFFSETS = [None, JST, UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]

moments = st.datetimes(
    # From the day after the site opens, so that the channel's date plays no part, and
    # in any offset (naive is Japan time).
    min_value=datetime(2017, 6, 1),
    max_value=datetime(2027, 12, 31, 23, 59, 59),
    timezones=st.sampled_from(OFFSETS),
)
recipients = st.sampled_from(RECIPIENTS)
situations = st.sampled_from(["incident", "normal"])


@settings(max_examples=300)
@given(at=moments, recipient=recipients, situation=situations)
def test_plan_depends_only_on_the_three_flags(
    at: datetime, recipient: Organisation | None, situation: str
) -> None:
    """The plan at any moment equals the plan at a reference moment with the same flags."""
    p = plan(recipient, situation, at)
    key = (p.working_day, p.window == "daytime", p.operator_line_open)
    assert shape(p) == shape(plan(recipient, situation, REFERENCE[key]))


@settings(max_examples=300)
@given(at=moments, recipient=recipients)
def test_every_incident_plan_ends_with_a_post_in_06(
    at: datetime, recipient: Organisation | None
) -> None:
    """Once the site is open, every incident plan ends with a post in 06 of the report form."""
    last = plan(recipient, "incident", at).steps[-1]
    assert (last.action, last.category, last.form) == ("post", ABNORMAL_CATEGORY, REPORT_FORM)


@settings(max_examples=300)
@given(
    at=st.datetimes(
        min_value=datetime(2016, 1, 1),
        max_value=datetime(2027, 12, 31, 23, 59, 59),
        timezones=st.sampled_from(OFFSETS),
    ),
    recipient=recipients,
    situation=situations,
)
def test_no_plan_outside_operator_line_offers_the_050_number(
    at: datetime, recipient: Organisation | None, situation: str
) -> None:
    """Outside the operator line window no step of any plan carries the 050 number."""
    p = plan(recipient, situation, at)
    if not p.operator_line_open:
        assert all(s.number != OPERATOR_ALTERNATIVE for s in p.steps)


@settings(max_examples=300)
@given(at=moments, recipient=recipients, situation=situations)
def test_a_week_later_on_working_weekdays_the_plan_is_the_same(
    at: datetime, recipient: Organisation | None, situation: str
) -> None:
    """Moving a moment by a week between non-holiday weekdays never changes the plan."""
    later = at + timedelta(days=7)
    assume(CALENDAR.is_working_day(at) and CALENDAR.is_working_day(later))
    before, after = plan(recipient, situation, at), plan(recipient, situation, later)
    assert shape(before) == shape(after)
    assert before.reason == after.reason
