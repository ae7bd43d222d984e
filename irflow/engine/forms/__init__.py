"""Forms and mail bodies, rendered from jinja2 templates.

This package is generic: it knows no ministry, no form layout and no wording. The
text lives in ``irflow/templates/``; the package gives the templates their data
(one plain dataclass per kind of template, ``contexts``), formats moments in Japan
time and renders (``environment``, ``rendering``), reads stored contexts back
(``stored``) and checks the templates before anybody reads what they produce
(``checks``, with the sample contexts of ``irflow/templates/samples.yaml``). Callers
import every name from ``irflow.engine.forms``.

Templates and their contexts (the family of a template is its name up to the first
dot; every field of the context is a top-level template variable):

=========================  ===========================  ==========================
template                   context                      rendered by
=========================  ===========================  ==========================
incident_report.md.j2      IncidentReportContext        render_incident_report
incident_report.html.j2    IncidentReportContext        render_incident_report
inquiry_form.md.j2         InquiryFormContext           render_inquiry_form
inquiry_form.html.j2       InquiryFormContext           render_inquiry_form
mail_report.txt.j2         ReportMailContext            render_mail
mail_escalation.txt.j2     EscalationMailContext        render_mail
mail_announcement.txt.j2   AnnouncementMailContext      render_mail
mail_inquiry.txt.j2        InquiryMailContext           render_mail
=========================  ===========================  ==========================

An inquiry's mail carries its form: ``InquiryMailContext.form`` is the
``InquiryFormContext`` that the outbox renders with ``render_inquiry_form`` and
attaches (問合せ票.md). Stored contexts are JSON; ``inquiry_form_from_json`` and
``inquiry_mail_from_json`` read them back (moments as ISO 8601 strings).

Templates whose name starts with ``_`` are partials (labels, macros) that the others
import; they are parsed and checked but not rendered on their own.

Mail templates produce a header block, a blank line, then the body; the header block
is one ``Subject: ...`` line (folded lines are joined). ``render_mail`` splits them
into ``RenderedMail(subject, body)``.

A template that refers to a missing field fails when the templates are loaded, not
in front of the recipient: ``check_templates`` (run once by the cached default
environment, and by ``load_environment`` for an injected loader) parses every
template, compares the variables it reads with its context's fields, then renders it
under ``StrictUndefined`` with several complete sample contexts (optional fields set
and unset, both parts of the report), so a misspelled attribute in any branch the
samples reach raises ``TemplateFieldError`` naming the template and the field. A
template must also never print ``None``: optional fields are guarded in the template.

jinja2 is imported lazily, so importing this package costs no more than its dataclasses.
"""

from irflow.engine.forms.checks import check_templates, default_environment, load_environment
from irflow.engine.forms.contexts import (
    FORMATS,
    INQUIRY_ACTIONS,
    PARTS,
    AnnouncementMailContext,
    Context,
    EscalationMailContext,
    Format,
    IncidentReportContext,
    InquiryFormContext,
    InquiryHop,
    InquiryMailContext,
    MailContext,
    Part,
    RenderedMail,
    ReportMailContext,
    StepRecord,
)
from irflow.engine.forms.environment import build_environment, format_jst
from irflow.engine.forms.rendering import render_incident_report, render_inquiry_form, render_mail
from irflow.engine.forms.stored import inquiry_form_from_json, inquiry_mail_from_json

__all__ = [
    "FORMATS",
    "INQUIRY_ACTIONS",
    "PARTS",
    "AnnouncementMailContext",
    "Context",
    "EscalationMailContext",
    "Format",
    "IncidentReportContext",
    "InquiryFormContext",
    "InquiryHop",
    "InquiryMailContext",
    "MailContext",
    "Part",
    "RenderedMail",
    "ReportMailContext",
    "StepRecord",
    "build_environment",
    "check_templates",
    "default_environment",
    "format_jst",
    "inquiry_form_from_json",
    "inquiry_mail_from_json",
    "load_environment",
    "render_incident_report",
    "render_inquiry_form",
    "render_mail",
]
