"""Rendering the forms and the mails: the functions the engine and the faces call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from irflow.engine.forms.checks import default_environment
from irflow.engine.forms.contexts import (
    FORMATS,
    MAILS,
    PARTS,
    Context,
    Format,
    IncidentReportContext,
    InquiryFormContext,
    MailContext,
    RenderedMail,
    family_of,
)
from irflow.engine.forms.environment import render_template, split_mail
from irflow.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from jinja2 import Environment


def render_incident_report(
    ctx: IncidentReportContext, *, format: Format, env: Environment | None = None
) -> str:
    """The form 事象発生報告書兼完了報告書 for ``ctx.part``, as Markdown or HTML."""
    _check_format(format)
    if ctx.part not in PARTS:
        raise InvalidInput(f"part {ctx.part!r} is unknown; use one of {', '.join(PARTS)}")
    if ctx.part == "completion" and ctx.recovered_at is None:
        raise InvalidInput(
            f"case {ctx.case_id}: the completion part needs the time of recovery (recovered_at)"
        )
    return _render_named(f"incident_report.{format}.j2", ctx, env)


def render_inquiry_form(
    ctx: InquiryFormContext, *, format: Format, env: Environment | None = None
) -> str:
    """The inquiry form 問合せ票, as Markdown or HTML."""
    _check_format(format)
    if ctx.answer is not None and (ctx.answered_by is None or ctx.answered_at is None):
        raise InvalidInput(
            f"inquiry {ctx.inquiry_id}: an answer needs who answered (answered_by) "
            "and when (answered_at)"
        )
    return _render_named(f"inquiry_form.{format}.j2", ctx, env)


def render_mail(
    template_name: str, ctx: MailContext, *, env: Environment | None = None
) -> RenderedMail:
    """A mail from ``template_name`` (``mail_report`` or ``mail_report.txt.j2``)."""
    name = template_name if template_name.endswith(".j2") else f"{template_name}.txt.j2"
    family = family_of(name)
    if not family.mail:
        raise InvalidInput(f"template {name!r} is not a mail template; mail templates: {MAILS}")
    if not isinstance(ctx, family.context):
        raise InvalidInput(
            f"template {name!r} takes a {family.context.__name__}, not a {type(ctx).__name__}"
        )
    return split_mail(name, _render_named(name, ctx, env))


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise InvalidInput(f"format {format!r} is unknown; use one of {', '.join(FORMATS)}")


def _render_named(name: str, ctx: Context, env: Environment | None) -> str:
    from jinja2 import TemplateNotFound

    env = env if env is not None else default_environment()
    try:
        template = env.get_template(name)
    except TemplateNotFound:
        raise NotFound(f"template {name!r} is not in the template folder") from None
    return render_template(template, name, ctx)
