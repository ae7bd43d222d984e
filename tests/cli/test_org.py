"""`irflow org`: search the directory and import it, from the command line."""

from __future__ import annotations

from pathlib import Path

from tests.cli.runs import Run


def test_org_search_without_a_match_exits_3_with_json_too(irflow: Run) -> None:
    """No match is exit 3 either way: a hint on stderr, or [] for scripts."""
    assert irflow("init").code == 0
    plain = irflow("org", "search", "該当なしのサンプル", "--exact")
    assert (plain.code, plain.out) == (3, "")
    assert "try without --exact" in plain.err
    scripted = irflow("org", "search", "該当なしのサンプル", "--json")
    assert (scripted.code, scripted.json(), scripted.err) == (3, [], "")


def test_org_import_refuses_a_bad_check_digit_and_writes_nothing(
    irflow: Run, tmp_path: Path
) -> None:
    """`org import` refuses a wrong check digit naming the line, and adds nothing."""
    assert irflow("init").code == 0
    csv = tmp_path / "dir.csv"
    csv.write_text(
        "id,name,type,tier,prefecture,code\n"
        "sample-town,サンプル町,municipality,reporter,pref-niigata,159990\n"
        "sample-city,サンプル市,municipality,reporter,pref-niigata,152048\n",
        "utf-8",
    )
    result = irflow("org", "import", str(csv))
    assert result.code == 2
    assert ":2:" in result.err
    assert irflow("org", "search", "サンプル", "--json").json() == []
    csv.write_text(
        "id,name,type,tier,prefecture,code\n"
        "sample-city,サンプル市,municipality,reporter,pref-niigata,152048\n",
        "utf-8",
    )
    assert irflow("org", "import", str(csv)).code == 0
    assert [o["id"] for o in irflow("org", "search", "サンプル", "--json").json()] == [  # type: ignore[union-attr]
        "sample-city"
    ]
