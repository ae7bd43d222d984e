"""The phrases file: each module's wording is data, checked before a sentence is made."""

from __future__ import annotations

import pytest

from irflow.engine.phrases import PhraseBook
from irflow.errors import InvalidFlow

BOOK = PhraseBook("greeting", {"hello": ("name",), "bye": ()})


def test_a_phrase_is_filled_with_the_values_it_names() -> None:
    """A checked section gives each phrase, and a pattern takes its named values."""
    text = 'greeting:\n  hello: "{name}さん、こんにちは"\n  bye: さようなら\n'
    texts = BOOK.read(text, source="phrases.yaml")
    assert texts == {"hello": "{name}さん、こんにちは", "bye": "さようなら"}
    assert texts["hello"].format(name="サンプル") == "サンプルさん、こんにちは"


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [
        ("other:\n  hello: x\n", "greeting: the section is missing", None),
        ("greeting:\n  hello: x\n", "greeting.bye is missing or not text; add it (plain text)", 1),
        (
            "greeting:\n  hello: x\n  bye: y\n  hi: z\n",
            "greeting.hi is not a phrase irflow uses",
            4,
        ),
        (
            'greeting:\n  hello: "{nmae}"\n  bye: y\n',
            "greeting.hello: {nmae} is not a value of this phrase; it may name {name}",
            2,
        ),
        ("greeting:\n  hello: x\n  bye: '{name}'\n", "it may name none", 3),
        ("greeting:\n  hello: '{name'\n  bye: y\n", "write a brace that is text as {{ or }}", 2),
        ("greeting:\n  hello: [x]\n  bye: y\n", "greeting.hello is missing or not text", 2),
    ],
    ids=["no-section", "missing", "unused", "unknown-value", "no-values", "brace", "not-text"],
)
def test_a_broken_section_is_refused_with_its_line_and_fix(
    text: str, expected: str, line: int | None
) -> None:
    """A section that lacks a phrase, has an extra one or a bad pattern names file and line."""
    with pytest.raises(InvalidFlow) as caught:
        BOOK.read(text, source="custom.yaml")
    assert expected in caught.value.message
    assert caught.value.path == "custom.yaml"
    if line is not None:
        assert caught.value.line == line
