"""The templates are checked when loaded: a missing or unguarded field fails there."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader

from irflow.engine.forms import check_templates, load_environment
from irflow.errors import InvalidInput, TemplateFieldError


def overriding_loader(folder: Path) -> ChoiceLoader:
    """Templates in ``folder`` first, the bundled ones for the rest."""
    return ChoiceLoader([FileSystemLoader(folder), PackageLoader("irflow", "templates")])


@pytest.mark.parametrize(
    ("template", "bad_line", "field"),
    [
        ("incident_report.md.j2", "{{ summmary }}", "summmary"),
        # A branch no sample reaches is still checked: top-level names are checked statically.
        (
            "incident_report.md.j2",
            '{% if part == "never" %}{{ recoverd_at }}{% endif %}',
            "recoverd_at",
        ),
        (
            "incident_report.html.j2",
            "{% for step in steps %}{{ step.notee }}{% endfor %}",
            "notee",
        ),
        ("mail_inquiry.txt.j2", "{{ recipent }}", "recipent"),
        # A nested field is checked by rendering the sample contexts.
        ("mail_inquiry.txt.j2", "{{ form.askr }}", "askr"),
    ],
)
def test_misspelled_field_fails_at_check_time(
    tmp_path: Path, template: str, bad_line: str, field: str
) -> None:
    """A template that refers to a missing field raises when loaded, naming template and field."""
    (tmp_path / template).write_text(f"# 報告書\n{bad_line}\n", encoding="utf-8")
    with pytest.raises(TemplateFieldError) as caught:
        load_environment(overriding_loader(tmp_path))
    assert caught.value.template == template
    assert caught.value.field == field
    assert template in str(caught.value)
    assert field in str(caught.value)


def test_mail_template_without_subject_fails_at_check_time(tmp_path: Path) -> None:
    """A mail template that does not start with its Subject line is rejected when loaded."""
    (tmp_path / "mail_report.txt.j2").write_text("{{ title }} の報告\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"mail_report\.txt\.j2.*Subject"):
        load_environment(overriding_loader(tmp_path))


def test_bundled_templates_pass_the_check() -> None:
    """Every bundled template renders with the complete sample contexts."""
    check_templates()


def test_unguarded_optional_field_fails_at_check_time(tmp_path: Path) -> None:
    """A template that prints an optional field without guarding its None fails when loaded."""
    (tmp_path / "inquiry_form.md.j2").write_text("回答: {{ answered_by }}\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"inquiry_form\.md\.j2.*None"):
        load_environment(overriding_loader(tmp_path))
