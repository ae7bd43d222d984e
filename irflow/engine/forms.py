"""Forms and mail bodies, rendered from jinja2 templates.

This module is generic: it knows no ministry, no form layout and no wording. The
text lives in ``irflow/templates/``; this module gives the templates their data
(one plain dataclass per kind of template), formats moments in Japan time and
checks the templates before anybody reads what they produce.

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

jinja2 is imported lazily, so importing this module costs no more than its dataclasses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar, get_args

from irflow.clock import as_aware, to_jst
from irflow.errors import InvalidInput, NotFound, TemplateFieldError

if TYPE_CHECKING:
    from jinja2 import BaseLoader, Environment, Template

Format: TypeAlias = Literal["md", "html"]
Part: TypeAlias = Literal["occurrence", "completion"]

FORMATS: tuple[Format, ...] = get_args(Format)
PARTS: tuple[Part, ...] = get_args(Part)

TEMPLATE_PACKAGE = "irflow"
TEMPLATE_FOLDER = "templates"

_SUBJECT_HEADER = "Subject:"

_C = TypeVar("_C")


# --------------------------------------------------------------------------- contexts


@dataclass(frozen=True, kw_only=True, slots=True)
class StepRecord:
    """One step done on a case, as the report's timeline shows it."""

    title: str
    tier: str
    """The tier code of the step: reporter, coordinator or operator."""
    done_by: str
    """The name of the organisation that did it."""
    done_at: datetime
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentReportContext:
    """The data of the form 事象発生報告書兼完了報告書 for one case."""

    case_id: int
    title: str
    kinds: Sequence[str]
    """Kind codes of the case (e.g. system_failure); the template words them."""
    reporter: str
    """The organisation where the event happened (市区町村等)."""
    coordinator: str
    """The coordinating prefecture or J-LIS of the case."""
    operator: str
    occurred_at: datetime
    detected_at: datetime
    summary: str
    impact: str
    response_status: str
    """対応状況: what is being done (occurrence part) or what was done (completion part)."""
    contact_person: str
    part: Part = "occurrence"
    recovered_at: datetime | None = None
    """Required for the completion part; never shown on the occurrence part."""
    reporting_agency: str | None = None
    """報告機関: the organisation sending this form; None means the reporter."""
    reported_at: datetime | None = None
    steps: Sequence[StepRecord] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class InquiryHop:
    """One tier an inquiry reached: the receiver's name, added to the form."""

    receiver: str
    received_at: datetime
    escalated_at: datetime | None = None
    """When this receiver passed the inquiry up to the next tier; None if it did not."""
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class InquiryFormContext:
    """The data of the inquiry form 問合せ票 for one inquiry."""

    inquiry_id: int
    title: str
    asker: str
    asked_at: datetime
    body: str
    faq_checked: bool
    asker_contact: str = ""
    hops: Sequence[InquiryHop] = ()
    """Receivers in the order the inquiry reached them."""
    answer: str | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportMailContext:
    """A report (the form, one part) reaching the next tier."""

    case_id: int
    title: str
    kinds: Sequence[str]
    sender: str
    recipient: str
    step_title: str
    """The step whose report this is (e.g. 状況確認、報告)."""
    part: Part
    reported_at: datetime
    summary: str
    url: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class EscalationMailContext:
    """An overdue step: one rung of its escalation ladder fired."""

    case_id: int
    title: str
    step_title: str
    step_tier: str
    owner: str
    """The organisation that owns the overdue step (whom to phone)."""
    recipient: str
    open_since: datetime
    deadline: datetime
    rung: int
    """1-based position of the rung on the ladder."""
    rung_count: int
    rung_action: str
    """The rung's action code (remind, notify, mark_overdue, ...); the template words it."""
    fired_at: datetime
    contact_checklist: str = ""
    """Pre-rendered contact plan for phoning ``owner`` (routing.render_checklist)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AnnouncementMailContext:
    """The operator's announcement (情報連携に係る状況の周知) to every organisation."""

    title: str
    body: str
    sender: str
    recipient: str
    announced_at: datetime
    case_id: int | None = None
    url: str | None = None


INQUIRY_ACTIONS = ("ask", "escalate", "answer", "relay", "follow_up", "close")
"""The hops of an inquiry a notice can tell of (``InquiryMailContext.action``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class InquiryMailContext:
    """One hop of an inquiry (問合せ): asked, escalated, answered, relayed, followed up, closed.

    The mail tells ``recipient`` what ``sender`` did; the inquiry form travels with it
    as an attachment, rendered from ``form``.
    """

    inquiry_id: int
    title: str
    action: str
    """What happened at this hop: ask, escalate, answer, relay, follow_up or close;
    the template words it (an unknown code is shown as ``action_title``)."""
    action_title: str
    """The engine's name of the action (e.g. エスカレーション)."""
    sender: str
    """The organisation that acted."""
    recipient: str
    """The organisation this notice is for."""
    at: datetime
    note: str | None = None
    """What the sender wrote with the action, if anything."""
    form: InquiryFormContext
    """The inquiry form 問合せ票 as it stands after this hop (attached to the notice)."""


MailContext: TypeAlias = (
    ReportMailContext | EscalationMailContext | AnnouncementMailContext | InquiryMailContext
)
Context: TypeAlias = IncidentReportContext | InquiryFormContext | MailContext


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """A mail ready for a notifier: one-line subject and a body ending in a newline."""

    subject: str
    body: str


# --------------------------------------------------------------------------- formatting


def format_jst(moment: datetime) -> str:
    """A moment in Japan time, as the forms write it.

    >>> format_jst(datetime(2026, 12, 1, 0, 40, tzinfo=UTC))
    '2026年12月1日 09:40'
    """
    local = to_jst(moment)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def _md_text(text: object) -> str:
    """Text with raw HTML disarmed for Markdown renderers (``<`` becomes ``\\<``).

    Markdown output is not HTML-escaped (it is read as text, Japanese and all); the
    backslash only stops a renderer from taking ``<script>`` in data for markup.
    """
    return str(text).replace("<", "\\<")


def _md_cell(text: object) -> str:
    """Text fit for one Markdown table cell: no line breaks, no column bars, no raw HTML."""
    return _md_text(" ".join(str(text).split())).replace("|", "\\|")


def _md_quote(text: object) -> str:
    """Free text as a Markdown block quote, so its lines cannot become headings or lists."""
    lines = _md_text(text).strip("\n").splitlines() or [""]
    return "\n".join(f"> {line}".rstrip() for line in lines)


def _oneline(text: object) -> str:
    """Text on one line (for subjects)."""
    return " ".join(str(text).split())


class _UnguardedNone(Exception):
    """A template printed or formatted an optional field that is None."""


def _finalize(value: object) -> object:
    if value is None:
        raise _UnguardedNone("it prints a field that is None")
    return value


def _jst_filter(moment: object) -> str:
    if not isinstance(moment, datetime):
        raise _UnguardedNone(f"it formats {moment!r} with |jst, which takes a moment")
    return format_jst(moment)


# --------------------------------------------------------------------------- stored contexts


def inquiry_form_from_json(data: Mapping[str, Any]) -> InquiryFormContext:
    """The ``InquiryFormContext`` stored as JSON (moments as ISO 8601 strings).

    A moment without an offset is Japan time, as everywhere in irflow.

    Raises ``InvalidInput`` naming the field that is missing or not a moment.
    """
    where = f"inquiry form {data.get('inquiry_id', '?')}"
    hops = data.get("hops") or ()
    if not isinstance(hops, Sequence) or isinstance(hops, str):
        raise InvalidInput(f"{where}: hops must be a list of receivers, not {hops!r}")
    values = dict(data)
    values.update(
        asked_at=_moment_of(data, "asked_at", where),
        answered_at=_moment_of(data, "answered_at", where, optional=True),
        hops=tuple(_hop_from_json(hop, f"{where}, hop {n}") for n, hop in enumerate(hops, 1)),
    )
    return _build(InquiryFormContext, values, where)


def inquiry_mail_from_json(data: Mapping[str, Any]) -> InquiryMailContext:
    """The ``InquiryMailContext`` stored as JSON by the engine, its form included."""
    where = f"inquiry notice {data.get('inquiry_id', '?')}"
    form = data.get("form")
    if not isinstance(form, Mapping):
        raise InvalidInput(f"{where}: the inquiry form (form) is missing")
    values = dict(data)
    values.update(at=_moment_of(data, "at", where), form=inquiry_form_from_json(form))
    return _build(InquiryMailContext, values, where)


def _hop_from_json(data: object, where: str) -> InquiryHop:
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{where}: a hop is an object with receiver and received_at")
    values = dict(data)
    values.update(
        received_at=_moment_of(data, "received_at", where),
        escalated_at=_moment_of(data, "escalated_at", where, optional=True),
    )
    if values.get("note") is None:
        values.pop("note", None)
    return _build(InquiryHop, values, where)


def _moment_of(
    data: Mapping[str, Any], key: str, where: str, *, optional: bool = False
) -> datetime | None:
    value = data.get(key)
    if value is None:
        if optional:
            return None
        raise InvalidInput(f"{where}: {key} is missing; give an ISO 8601 moment")
    if isinstance(value, datetime):
        return as_aware(value)
    try:
        return as_aware(datetime.fromisoformat(str(value)))
    except ValueError:
        raise InvalidInput(
            f"{where}: {key} {value!r} is not an ISO 8601 moment (e.g. 2026-11-30T10:00:00+09:00)"
        ) from None


def _build(context: type[_C], values: dict[str, Any], where: str) -> _C:
    try:
        return context(**values)
    except TypeError as error:  # a field missing, or one the context does not have
        listed = ", ".join(_field_names(context))
        raise InvalidInput(
            f"{where}: {error}; the fields of {context.__name__} are: {listed}"
        ) from None


# --------------------------------------------------------------------------- environment


def build_environment(loader: BaseLoader | None = None) -> Environment:
    """A jinja2 environment over ``loader`` (default: the bundled templates), unchecked.

    Autoescape is on for ``*.html.j2`` (and ``.htm.j2``/``.xml.j2``) and off for the
    Markdown and mail templates; undefined names raise (``StrictUndefined``).
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=loader if loader is not None else PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_FOLDER),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html.j2", "htm.j2", "xml.j2", "html"),
            disabled_extensions=(),
            default_for_string=True,
            default=False,
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
        auto_reload=False,
    )
    env.filters["jst"] = _jst_filter
    env.filters["md_cell"] = _md_cell
    env.filters["md_quote"] = _md_quote
    env.filters["oneline"] = _oneline
    return env


def load_environment(loader: BaseLoader | None = None) -> Environment:
    """``build_environment(loader)``, then ``check_templates`` on it: ready to render."""
    env = build_environment(loader)
    check_templates(env)
    return env


@cache
def default_environment() -> Environment:
    """The bundled templates, checked once per process."""
    return load_environment()


# --------------------------------------------------------------------------- rendering


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
    family = _family_of(name)
    if not family.mail:
        raise InvalidInput(f"template {name!r} is not a mail template; mail templates: {_MAILS}")
    if not isinstance(ctx, family.context):
        raise InvalidInput(
            f"template {name!r} takes a {family.context.__name__}, not a {type(ctx).__name__}"
        )
    return _split_mail(name, _render_named(name, ctx, env))


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
    return _render(template, name, ctx)


def _render(template: Template, name: str, ctx: Context) -> str:
    from jinja2 import TemplateError, UndefinedError

    try:
        return template.render(_variables(ctx))
    except UndefinedError as error:
        detail = error.message or str(error)
        raise TemplateFieldError(
            name, _missing_name(detail), detail, _field_names(type(ctx))
        ) from None
    except _UnguardedNone as error:
        raise InvalidInput(
            f"template {name!r} fails: {error}; guard optional fields with "
            "'{% if field is not none %}'"
        ) from None
    except TemplateError as error:
        raise InvalidInput(f"template {name!r} fails: {error}") from None
    except Exception as error:  # a filter or test broke on the data: still the template's fault
        raise InvalidInput(f"template {name!r} fails: {type(error).__name__}: {error}") from error


def _variables(ctx: Context) -> dict[str, Any]:
    return {f.name: getattr(ctx, f.name) for f in fields(ctx)}


def _field_names(context: type) -> list[str]:
    return [f.name for f in fields(context)]


_MISSING_PATTERNS = (
    re.compile(r"has no attribute '([^']+)'"),
    re.compile(r"'([^']+)' is undefined"),
    re.compile(r"no element '?([^']+?)'?$"),
)


def _missing_name(detail: str) -> str:
    for pattern in _MISSING_PATTERNS:
        found = pattern.search(detail)
        if found:
            return found.group(1)
    return "?"


def _split_mail(name: str, text: str) -> RenderedMail:
    head, blank, body = text.lstrip("\n").partition("\n\n")
    if not blank or not head.startswith(_SUBJECT_HEADER):
        raise InvalidInput(
            f"mail template {name!r} must begin with a line 'Subject: ...' "
            "followed by a blank line, then the body"
        )
    subject = _oneline(head[len(_SUBJECT_HEADER) :])
    if not subject:
        raise InvalidInput(f"mail template {name!r} produced an empty subject")
    return RenderedMail(subject=subject, body=body.strip("\n") + "\n")


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True, slots=True)
class _Family:
    context: type
    samples: Callable[[], tuple[Context, ...]]
    mail: bool
    formats: tuple[str, ...]


def _family_of(name: str) -> _Family:
    family = _FAMILIES.get(name.split(".", 1)[0])
    if family is None:
        raise InvalidInput(
            f"template {name!r} has no context: a template's name starts with one of "
            f"{', '.join(_FAMILIES)} (partials start with '_')"
        )
    return family


def check_templates(env: Environment | None = None) -> None:
    """Parse and render every template with complete sample contexts; raise if one is broken.

    ``env`` defaults to an unchecked environment over the bundled templates. Raises
    ``TemplateFieldError`` (an ``InvalidInput``) naming the template and the missing
    field, or ``InvalidInput`` for a syntax error, a missing template or a mail
    template without its subject line.
    """
    from jinja2 import TemplateSyntaxError, meta

    env = env if env is not None else build_environment()
    if env.loader is None:
        raise InvalidInput("the template environment has no loader")
    names = sorted(env.list_templates(filter_func=lambda n: n.endswith(".j2")))
    missing = [name for name in _required_templates() if name not in names]
    if missing:
        raise InvalidInput(f"templates missing from the template folder: {', '.join(missing)}")
    known = set(env.globals)
    for name in names:
        family = None if name.rsplit("/", 1)[-1].startswith("_") else _family_of(name)
        available = _field_names(family.context) if family else []
        owner = family.context.__name__ if family else "a partial (it sees its macro arguments)"
        source, _, _ = env.loader.get_source(env, name)
        try:
            ast = env.parse(source, name)
        except TemplateSyntaxError as error:
            raise InvalidInput(f"template {name!r} line {error.lineno}: {error.message}") from None
        unknown = sorted(meta.find_undeclared_variables(ast) - known - set(available))
        if unknown:
            detail = f"{owner} has no field {unknown[0]!r}"
            raise TemplateFieldError(name, unknown[0], detail, available)
        if family is None:
            continue
        template = env.get_template(name)
        for sample in family.samples():
            text = _render(template, name, sample)
            if family.mail:
                _split_mail(name, text)


def _required_templates() -> list[str]:
    return [f"{prefix}.{fmt}.j2" for prefix, family in _FAMILIES.items() for fmt in family.formats]


# --------------------------------------------------------------------------- samples
# Complete sample contexts for check_templates: every optional field both set and
# unset, both parts of the report. Sample names only (サンプル市, example.invalid).

_T0 = datetime(2026, 12, 1, 0, 10, tzinfo=UTC)  # 2026年12月1日 09:10 in Japan


def _at(minutes: int) -> datetime:
    return _T0 + timedelta(minutes=minutes)


def _sample_steps() -> tuple[StepRecord, ...]:
    return (
        StepRecord(title="異常発生を検知", tier="reporter", done_by="サンプル市", done_at=_at(0)),
        StepRecord(
            title="状況確認、報告",
            tier="reporter",
            done_by="サンプル市",
            done_at=_at(20),
            note="電話で一報済み",
        ),
        StepRecord(
            title="状況確認、報告", tier="coordinator", done_by="サンプル県", done_at=_at(45)
        ),
    )


def _incident_samples() -> tuple[Context, ...]:
    full = IncidentReportContext(
        case_id=1,
        title="サンプル市 中間サーバー接続障害",
        kinds=("system_failure", "security_incident", "unknown_kind"),
        reporter="サンプル市",
        coordinator="サンプル県",
        operator="サンプル運営主体",
        occurred_at=_at(0),
        detected_at=_at(5),
        summary="情報照会がタイムアウトする。\n原因を調査中。",
        impact="サンプル市の情報照会業務",
        response_status="回線事業者に確認中",
        contact_person="サンプル市 情報政策課 担当（it@example.invalid）",
        part="completion",
        recovered_at=_at(180),
        reporting_agency="サンプル県",
        reported_at=_at(200),
        steps=_sample_steps(),
    )
    sparse = IncidentReportContext(
        case_id=2,
        title="サンプル",
        kinds=(),
        reporter="サンプル市",
        coordinator="サンプル県",
        operator="サンプル運営主体",
        occurred_at=_at(0),
        detected_at=_at(0),
        summary="",
        impact="",
        response_status="",
        contact_person="",
    )
    occurrence_with_recovery = replace(full, part="occurrence")
    return (full, sparse, occurrence_with_recovery)


def _inquiry_samples() -> tuple[Context, ...]:
    return _inquiry_forms()


def _inquiry_forms() -> tuple[InquiryFormContext, InquiryFormContext]:
    """An inquiry answered after two escalations, and one just asked."""
    answered = InquiryFormContext(
        inquiry_id=1,
        title="副本登録の手順について",
        asker="サンプル市",
        asked_at=_at(0),
        body="手順を確認したい。\n二行目。",
        faq_checked=True,
        asker_contact="サンプル市 担当（it@example.invalid）",
        hops=(
            InquiryHop(receiver="サンプル県", received_at=_at(10), escalated_at=_at(60)),
            InquiryHop(
                receiver="サンプル機構", received_at=_at(61), escalated_at=_at(90), note="確認中"
            ),
            InquiryHop(receiver="サンプル運営主体", received_at=_at(91)),
        ),
        answer="手順書のとおり。",
        answered_by="サンプル運営主体",
        answered_at=_at(300),
    )
    open_ = InquiryFormContext(
        inquiry_id=2,
        title="サンプル",
        asker="サンプル県",
        asked_at=_at(0),
        body="",
        faq_checked=False,
    )
    return (answered, open_)


def _report_mail_samples() -> tuple[Context, ...]:
    base = ReportMailContext(
        case_id=1,
        title="サンプル市 中間サーバー接続障害",
        kinds=("system_failure",),
        sender="サンプル市",
        recipient="サンプル県",
        step_title="状況確認、報告",
        part="occurrence",
        reported_at=_at(20),
        summary="情報照会がタイムアウトする。",
        url="https://site.example.invalid/posts/1",
    )
    return (base, replace(base, part="completion", url=None, kinds=(), summary=""))


def _escalation_mail_samples() -> tuple[Context, ...]:
    base = EscalationMailContext(
        case_id=1,
        title="サンプル市 中間サーバー接続障害",
        step_title="状況確認、報告",
        step_tier="reporter",
        owner="サンプル市",
        recipient="サンプル県",
        open_since=_at(0),
        deadline=_at(30),
        rung=2,
        rung_count=3,
        rung_action="notify",
        fired_at=_at(60),
        contact_checklist="サンプル市への連絡手順\n1. サンプル市に電話する（000-0000-0000）",
    )
    return (base, replace(base, rung=1, rung_action="unknown_action", contact_checklist=""))


def _announcement_mail_samples() -> tuple[Context, ...]:
    base = AnnouncementMailContext(
        title="サンプル市における情報連携の停止と復旧",
        body="情報連携は復旧しました。\n詳細は掲載記事を確認してください。",
        sender="サンプル運営主体",
        recipient="サンプル町",
        announced_at=_at(400),
        case_id=1,
        url="https://site.example.invalid/posts/2",
    )
    return (base, replace(base, case_id=None, url=None))


def _inquiry_mail_samples() -> tuple[Context, ...]:
    answered, open_ = _inquiry_forms()
    words = ("問合せ", "エスカレーション", "回答", "回答の中継", "追加の質問", "完了")
    titles = dict(zip(INQUIRY_ACTIONS, words, strict=True))
    base = InquiryMailContext(
        inquiry_id=1,
        title="副本登録の手順について",
        action="escalate",
        action_title=titles["escalate"],
        sender="サンプル県",
        recipient="サンプル機構",
        at=_at(60),
        note="サンプル県では回答できないため。",
        form=answered,
    )
    every_action = tuple(
        replace(base, action=action, action_title=title, note=None if n % 2 else base.note)
        for n, (action, title) in enumerate(titles.items())
    )
    unknown = replace(base, action="unknown_action", action_title="サンプル処置", note="")
    unanswered = replace(
        base,
        inquiry_id=2,
        title="サンプル",
        action="ask",
        action_title=titles["ask"],
        note=None,
        form=open_,
    )
    return (*every_action, unknown, unanswered)


_FAMILIES: Mapping[str, _Family] = {
    "incident_report": _Family(IncidentReportContext, _incident_samples, False, FORMATS),
    "inquiry_form": _Family(InquiryFormContext, _inquiry_samples, False, FORMATS),
    "mail_report": _Family(ReportMailContext, _report_mail_samples, True, ("txt",)),
    "mail_escalation": _Family(EscalationMailContext, _escalation_mail_samples, True, ("txt",)),
    "mail_announcement": _Family(
        AnnouncementMailContext, _announcement_mail_samples, True, ("txt",)
    ),
    "mail_inquiry": _Family(InquiryMailContext, _inquiry_mail_samples, True, ("txt",)),
}
_MAILS = ", ".join(name for name, family in _FAMILIES.items() if family.mail)
