"""``/inquiries``: questions up the tiers, answers back down (問合せ), as
``irflow inquiry``. Only the asker and the receivers it reached see an inquiry."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from irflow.engine.facade import Engine
from irflow.engine.rules import no_case
from irflow.engine.views import CaseView, inquiry_json, inquiry_summary_json
from irflow.errors import InvalidInput
from irflow.service import schemas
from irflow.service.auth import EngineDep, Reader, Writer
from irflow.service.cases import (
    READ,
    WRITE,
    After,
    CaseId,
    IfMatch,
    Limit,
    etag,
    expected_version,
    page_response,
)

router = APIRouter(prefix=f"{schemas.API}/inquiries", tags=["inquiries"])

FLOW = "inquiry"
"""The flow of inquiries (irflow/flows/inquiry.yaml), as the command line names it."""

Action = Literal["answer", "escalate", "relay", "follow-up", "close"]


def _inquiry(engine: Engine, case_id: int, org: str) -> CaseView:
    """The inquiry as ``org`` sees it; a case of another flow is not found here."""
    view = engine.case(case_id, viewer=org)
    if view.flow != FLOW:
        raise no_case(case_id)
    return view


def _answer(engine: Engine, view: CaseView, *, status: int = 200) -> JSONResponse:
    flow = engine.flow_version(view.flow, view.flow_version)
    names = {o.id: o.name for o in engine.organisations().values()}
    headers = {"ETag": etag(view.version)}
    if status == 201:
        headers["Location"] = f"{schemas.API}/inquiries/{view.id}"
    return JSONResponse(inquiry_json(view, flow, names), status_code=status, headers=headers)


@router.post("", status_code=201, responses={201: {"model": schemas.InquiryOut}, **WRITE})
def ask(body: schemas.InquiryAsk, me: Writer, engine: EngineDep) -> JSONResponse:
    """Ask a question: it goes to the reception tier of the caller's organisation."""
    done = engine.open_case(
        reporter=me.org_id, title=body.title, kinds=[FLOW], note=body.body,
        confirmed=["faq_checked"] if body.faq_checked else [], view=True,
    )  # fmt: skip
    assert done.view is not None
    return _answer(engine, done.view, status=201)


@router.get("", responses={200: {"model": schemas.InquiryPage}, **READ})
def list_inquiries(
    request: Request,
    me: Reader,
    engine: EngineDep,
    limit: Limit = 50,
    after: After = 0,
    state: Annotated[str | None, Query(max_length=100)] = None,
) -> JSONResponse:
    """The inquiries the caller asked or was reached by, oldest first, a page at a time."""
    page = engine.cases(viewer=me.org_id, flow=FLOW, state=state, limit=limit, after=after)
    return page_response(request, page, [inquiry_summary_json(c, me.org_id) for c in page], limit)


@router.get("/{case_id}", responses={200: {"model": schemas.InquiryOut}, **READ})
def show(case_id: CaseId, me: Reader, engine: EngineDep) -> JSONResponse:
    """The inquiry: its chain and holder, deadlines, timeline and the 問合せ票's fields."""
    return _answer(engine, _inquiry(engine, case_id, me.org_id))


@router.post("/{case_id}/{action}", responses={200: {"model": schemas.InquiryOut}, **WRITE})
def act(
    case_id: CaseId,
    action: Annotated[Action, Path(description="What the caller does.")],
    me: Writer,
    engine: EngineDep,
    body: schemas.InquiryAct | None = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Answer, escalate, relay, follow up or close the inquiry, as its flow allows."""
    body = body or schemas.InquiryAct()
    if body.body is not None and body.note is not None:
        raise InvalidInput("give the text as body or as note, not both")
    _inquiry(engine, case_id, me.org_id)
    done = engine.advance(
        case_id, action.replace("-", "_"), actor=me.org_id,
        note=body.body if body.body is not None else body.note,
        expect_version=expected_version(if_match), of="states", view=True,
    )  # fmt: skip
    assert done.view is not None
    return _answer(engine, done.view)
