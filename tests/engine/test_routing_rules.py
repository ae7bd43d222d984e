"""The routing file declares its situations and audiences; the engine only checks them."""

from __future__ import annotations

from datetime import datetime
from importlib import resources

import pytest

from irflow.engine.directory import Organisation, OrgType, Tier
from irflow.engine.routing import bundled_routing, parse_routing, plan_contact
from irflow.errors import InvalidFlow, InvalidInput

CITY = Organisation(
    id="sample-city", name="サンプル市", type=OrgType.MUNICIPALITY, tier=Tier.REPORTER
)
PREF = Organisation(
    id="sample-pref", name="サンプル県", type=OrgType.PREFECTURE, tier=Tier.COORDINATOR
)
WEDNESDAY = datetime(2026, 6, 10, 10, 0)


def _bundled_text() -> str:
    return resources.files("irflow.flows").joinpath("routing.yaml").read_text("utf-8")


def _with_drill() -> str:
    """The bundled file with a third situation, planned as the normal one is."""
    text = _bundled_text().replace(
        "situations: [incident, normal]", "situations: [incident, normal, drill]"
    )
    drill_rules = "\n".join(
        f"  - to: {to}\n    situation: drill\n    window: any\n    steps:\n"
        "      - action: lookup\n        to: recipient\n"
        for to in ("operator", "agency")
    )
    return text.replace("\nrules:\n", f"\nrules:\n{drill_rules}\n", 1)


def test_bundled_situations_are_the_seeds() -> None:
    """The bundled file declares the seed's two situations, incident first."""
    assert bundled_routing().situations == ("incident", "normal")


def test_a_situation_declared_in_data_is_planned() -> None:
    """A situation added to the file is planned by its rules, and named when one is wrong."""
    rules = parse_routing(_with_drill(), source="custom.yaml")
    plan = plan_contact(rules, rules.calendar(), CITY, PREF, "drill", WEDNESDAY)
    assert [(s.action, s.target) for s in plan.steps] == [("lookup", PREF.name)]
    with pytest.raises(InvalidInput) as caught:
        plan_contact(rules, rules.calendar(), CITY, PREF, "urgent", WEDNESDAY)
    assert "use incident, normal or drill (--situation incident|normal|drill)" in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    situation: normal\n    window: any",
            "    situation: routine\n    window: any",
            "situation 'routine' is not in situations (incident, normal)",
        ),
        ("situations: [incident, normal]", "situations: [incident, incident]", "listed twice"),
        ("  - to: operator\n", "  - to: ministry\n", "to 'ministry' is not an audience"),
        (
            "    label: 情報提供ネットワークシステム運営主体\n",
            "",
            "give exactly one audience a `label`",
        ),
        (
            "  agency: {}\n",
            "  agency: {}\n  hub: {types: [operator]}\n",
            "type 'operator' is listed by 'operator' already",
        ),
        ("  agency: {}\n", "  agency: {types: [prefecture]}\n", "exactly one audience lists no"),
        (
            "      - action: ask_operator\n        to: operator\n",
            "      - action: ask_operator\n        to: recipient\n",
            "ask_operator asks the operator: use `to: operator`",
        ),
        ("    types: [operator]\n", "    types: [operater]\n", "(got 'operater')"),
    ],
    ids=[
        "undeclared-situation",
        "twice",
        "unknown-audience",
        "no-label",
        "type-twice",
        "no-catch-all",
        "ask-recipient",
        "type",
    ],
)
def test_broken_situations_and_audiences_are_refused(old: str, new: str, expected: str) -> None:
    """A rule for an undeclared situation or audience, or a broken audience list, is refused."""
    text = _bundled_text()
    assert old in text
    with pytest.raises(InvalidFlow) as caught:
        parse_routing(text.replace(old, new, 1), source="custom.yaml")
    assert caught.value.message.startswith("custom.yaml:")
    assert expected in caught.value.message
