"""The form 事象発生報告書兼完了報告書, filled from a case's record.

Which step fills which field is data (the flow's ``report_fields``); the wording is
in the templates. A field whose step is not done yet is left visibly blank, with the
blank of ``irflow/templates/phrases.yaml`` (section ``reports``).
"""

from __future__ import annotations

from datetime import datetime

from irflow.engine import forms
from irflow.engine.flow import Flow
from irflow.engine.phrases import PhraseBook
from irflow.engine.views import CaseView

_WORDING = PhraseBook("reports", {"blank": ()})


def incident_report_context(
    view: CaseView,
    flow: Flow,
    names: dict[str, str],
    *,
    part: forms.Part,
    contact_person: str | None = None,
) -> forms.IncidentReportContext:
    steps = {s.id: s for s in view.steps}
    notes = {e.step: e.note for e in view.timeline if e.action == "step_completed" and e.step}
    sources: dict[str, str] = {str(k): v for k, v in flow.spec.report_fields.items()}
    blank = _WORDING["blank"]

    def moment(field: str) -> datetime | None:
        step = steps.get(sources.get(field, ""))
        return datetime.fromisoformat(step.done_at) if step and step.done_at else None

    def note(field: str) -> str:
        return notes.get(sources.get(field, "")) or blank

    done = [s for s in view.steps if s.done_at]
    done.sort(key=lambda s: s.done_at or "")
    return forms.IncidentReportContext(
        case_id=view.id,
        title=view.title,
        kinds=view.kinds,
        reporter=view.reporter.name,
        coordinator=view.coordinator.name,
        operator=view.operator.name,
        occurred_at=view.opened_at,
        detected_at=moment("detected_at") or view.opened_at,
        summary=notes.get(sources.get("detected_at", "")) or view.title,
        impact=note("impact"),
        response_status=note("response_status"),
        contact_person=contact_person or blank,
        part=part,
        recovered_at=moment("recovered_at"),
        steps=[
            forms.StepRecord(
                title=s.title,
                tier=s.tier,
                done_by=names.get(s.done_by or "", s.done_by or ""),
                done_at=datetime.fromisoformat(s.done_at or ""),
                note=notes.get(s.id) or "",
            )
            for s in done
        ],
    )
