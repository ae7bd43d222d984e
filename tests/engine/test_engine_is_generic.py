"""The engine is generic: its code spells no phrase, number, organisation or tier of the domain.

Every string token of every module under ``irflow/engine`` is read with ``tokenize``;
docstrings (module, class, function and attribute docstrings: any statement that is a
bare string) and comments are skipped, because they may mention the domain. A string
offends when it holds Japanese text, a phone number, a site category number ("06."),
or when it is a tier name, an organisation type or an organisation id of the bundled
directory (read from ``irflow/flows/organisations.csv`` and ``tiers.yaml``, so a new
organisation, type or tier is checked too).
"""

from __future__ import annotations

import ast
import csv
import io
import re
import tokenize
from functools import cache
from pathlib import Path

import yaml

ENGINE = Path(__file__).resolve().parents[2] / "irflow" / "engine"
DIRECTORY = ENGINE.parent / "flows" / "organisations.csv"
TIERS_FILE = ENGINE.parent / "flows" / "tiers.yaml"

JAPANESE = re.compile(
    "["
    "\u3000-\u303f"  # CJK symbols and punctuation (、。「」)
    "\u3040-\u309f"  # hiragana
    "\u30a0-\u30ff"  # katakana
    "\u3400-\u4dbf\u4e00-\u9fff"  # kanji
    "\uff00-\uffef"  # full-width forms (（）：)
    "\u2460-\u24ff"  # circled numbers (① of the seed's steps)
    "]"
)
PHONE = re.compile(r"(?<!\d)\d{2,4}-\d{2,4}-\d{3,4}(?!\d)")
SITE_CATEGORY = re.compile(r"(?<![\w.])\d{2}\.(?!\d)")
TIERS = frozenset({"reporter", "coordinator", "operator"})


@cache
def _directory() -> tuple[frozenset[str], frozenset[str]]:
    """The ids and the organisation types of the bundled directory (and of tiers.yaml)."""
    with DIRECTORY.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    declared = yaml.safe_load(TIERS_FILE.read_text("utf-8"))["types"]
    return frozenset(r["id"] for r in rows), frozenset(r["type"] for r in rows) | set(declared)


@cache
def _tiers() -> frozenset[str]:
    """The tier names: the seed's three, and every tier tiers.yaml declares."""
    return TIERS | set(yaml.safe_load(TIERS_FILE.read_text("utf-8"))["tiers"])


def _docstring_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where each statement that is a bare string starts and ends (line, column)."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
            spans.append(((node.lineno, node.col_offset), end))
    return spans


def _value(token: str) -> str:
    """The text of a string token: its value, or its source for an f-string."""
    try:
        value = ast.literal_eval(token)
    except ValueError:  # an f-string: its literal parts are in its source
        return token
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _problem(text: str, ids: frozenset[str], types: frozenset[str]) -> str | None:
    if JAPANESE.search(text):
        return "Japanese text"
    if PHONE.search(text):
        return "a phone number"
    if SITE_CATEGORY.search(text):
        return "a site category number"
    if text in _tiers():
        return "a tier name"
    if text in types:
        return "an organisation type"
    if text in ids or any(_spells_id(text, org) for org in ids):
        return "an organisation id"
    return None


def _spells_id(text: str, org: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(org)}(?![\w-])", text) is not None


def offences(path: Path, shown: str | None = None) -> list[str]:
    """``file:line: what`` for every offending string token of ``path``.

    ``shown`` is the file's name in the lines; by default its path from the repository.
    """
    source = path.read_text("utf-8")
    spans = _docstring_spans(source)
    ids, types = _directory()
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.STRING:
            continue
        if any(start <= token.start and token.end <= end for start, end in spans):
            continue
        problem = _problem(_value(token.string), ids, types)
        if problem is not None:
            where = shown or path.relative_to(ENGINE.parent.parent).as_posix()
            found.append(f"{where}:{token.start[0]}: {problem}: {token.string}")
    return found


def _modules() -> list[Path]:
    return sorted(ENGINE.rglob("*.py"))


def _report(paths: list[Path]) -> str:
    lines = [line for path in paths for line in offences(path)]
    return "\n".join(lines)


def test_no_module_of_the_engine_spells_the_domain() -> None:
    """No string of irflow/engine outside docstrings holds a phrase, number, organisation, tier."""
    report = _report(_modules())
    assert not report, "the engine spells the domain; move these to data or templates:\n" + report


def test_the_scan_finds_each_kind_of_literal(tmp_path: Path) -> None:
    """The scan catches each kind of literal in code and skips docstrings and comments."""
    module = tmp_path / "sample.py"
    module.write_text(
        '"""Module docstring: 情報共有サイト, 0570-00-1515, operator."""\n'
        "# a comment: 問合せ票\n"
        "class Sample:\n"
        '    """Class docstring: 06.異常時."""\n'
        "    limit = 1\n"
        '    """Attribute docstring: mic-mynumber."""\n'
        'PHRASE = "問合せ票"\n'
        'NUMBER = "0570-00-1515"\n'
        'CATEGORY = "06.abnormal"\n'
        'TIER = "operator"\n'
        'KIND = "municipality"\n'
        'WHO = f"ask {who} of mic-mynumber"\n'
        'FINE = "operator_line_open"\n',
        encoding="utf-8",
    )
    found = offences(module, "sample.py")
    assert [line.split(": ", 2)[:2] for line in found] == [
        ["sample.py:7", "Japanese text"],
        ["sample.py:8", "a phone number"],
        ["sample.py:9", "a site category number"],
        ["sample.py:10", "a tier name"],
        ["sample.py:11", "an organisation type"],
        ["sample.py:12", "an organisation id"],
    ]
