"""The top-level commands: irflow init, verify and route."""

from __future__ import annotations

import json

from tests.cli.runs import Run


def test_init_twice_says_nothing_changed(irflow: Run) -> None:
    """A second `irflow init` changes nothing and says so."""
    assert irflow("init").code == 0
    second = irflow("init", "--json")
    assert second.json() == {
        "database": second.json()["database"],  # type: ignore[index]
        "migrated": False,
        "organisations_added": 0,
        "changed": False,
    }


def test_route_json_outside_hours(irflow: Run) -> None:
    """`irflow route --json` on 29 December gives an off-hours plan without the 050 line."""
    assert irflow("init").code == 0
    plan = irflow(
        "route",
        "--from",
        "sanjo",
        "--to",
        "operator",
        "--situation",
        "incident",
        "--at",
        "2026-12-29T10:00",
        "--json",
    ).json()
    assert isinstance(plan, dict)
    assert plan["working_day"] is False
    assert plan["window"] == "off_hours"
    assert plan["operator_line_open"] is False
    assert "050-3786-7382" not in json.dumps(plan)
    assert plan["steps"][-1]["category"] == "06.異常時における連絡等"
