"""``/cases``: the flows of phases and steps (the incident flows), as the command
line's ``irflow case`` commands.

A case's version is its ETag (strong, ``"VERSION"``); ``If-Match`` makes a write
conditional on it, checked in the write's own transaction (the engine's
``expect_version``), so that no update is ever lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from irflow.engine.rules import no_case
from irflow.engine.views import CaseSummary, CaseView
from irflow.errors import InvalidInput
from irflow.service import schemas
from irflow.service.auth import EngineDep, Reader, Writer

router = APIRouter(prefix=f"{schemas.API}/cases", tags=["cases"])

CaseId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The case number.")]
IfMatch = Annotated[
    str | None,
    Header(description='Write only if the case is still at this ETag ("VERSION").'),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="How many on a page.")]
After = Annotated[
    int, Query(ge=0, le=2**31 - 1, description="Start after this number: the last one shown.")
]

WRITE = schemas.problems(401, 403, 404, 409, 412, 413, 422, 429, 503)
READ = schemas.problems(401, 403, 404, 422, 429, 503)


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None, current: int | None = None) -> int | None:
    """The version ``If-Match`` asks for: None for no header or ``*``; a tag that can
    never match (a weak or malformed one) gives -1, which the engine refuses (412)."""
    if if_match is None:
        return None
    tags = [t.strip() for t in if_match.split(",") if t.strip()]
    if "*" in tags:
        return None
    versions = []
    for tag in tags:
        if len(tag) >= 3 and tag[0] == tag[-1] == '"' and tag[1:-1].isdigit():
            versions.append(int(tag[1:-1]))
    if current is not None and current in versions:
        return current
    return versions[0] if len(versions) == 1 else -1


def case_response(view: CaseView, *, status: int = 200, location: bool = False) -> JSONResponse:
    headers = {"ETag": etag(view.version)}
    if location:
        headers["Location"] = f"{schemas.API}/cases/{view.id}"
    return JSONResponse(view.as_json(), status_code=status, headers=headers)


def phase_case(engine: EngineDep, case_id: int, org: str) -> CaseView:
    """The case as ``org`` sees it, if it is a case of a flow of phases: an inquiry
    is not found here, as a number never used (it lives under ``/inquiries``)."""
    view = engine.case(case_id, viewer=org)
    if view.chain:
        raise no_case(case_id)
    return view


def page_response(
    request: Request, page: Sequence[CaseSummary], items: list[Any], limit: int
) -> JSONResponse:
    """A page of a list: its ``items`` (the JSON of ``page``), and the next page's URL
    with the same filters, or None after the last page."""
    following = None
    if page and len(page) == limit:
        query = {k: v for k, v in request.query_params.items() if k != "after"}
        query["after"] = str(page[-1].id)
        following = f"{request.url.path}?{urlencode(query)}"
    return JSONResponse({"items": items, "next": following})


@router.get("", responses={200: {"model": schemas.CasePage}, **READ})
def list_cases(
    request: Request,
    me: Reader,
    engine: EngineDep,
    limit: Limit = 50,
    after: After = 0,
    state: Annotated[str | None, Query(max_length=100)] = None,
    overdue: bool = False,
    flow: Annotated[str | None, Query(max_length=100)] = None,
) -> JSONResponse:
    """The cases the caller's organisation takes part in, oldest first, a page at a time."""
    page = engine.cases(
        viewer=me.org_id, state=state, overdue=overdue, flow=flow, of="phases", limit=limit,
        after=after,
    )  # fmt: skip
    return page_response(request, page, [c.as_json() for c in page], limit)


@router.post("", status_code=201, responses={201: {"model": schemas.CaseOut}, **WRITE})
def open_case(body: schemas.CaseOpen, me: Writer, engine: EngineDep) -> JSONResponse:
    """Open a case: the caller's organisation is its reporter."""
    flow, _version, _kinds = engine.flow_for_kinds(body.kinds)
    if flow.stateful:
        raise InvalidInput(
            f"kinds {', '.join(body.kinds)} select the flow {flow.name!r} of states; "
            "ask an inquiry with POST /api/v1/inquiries"
        )
    done = engine.open_case(
        reporter=me.org_id, title=body.title, kinds=body.kinds, coordinator=body.coordinator,
        view=True,
    )  # fmt: skip
    assert done.view is not None
    return case_response(done.view, status=201, location=True)


@router.get("/{case_id}", responses={200: {"model": schemas.CaseOut}, **READ})
def show_case(case_id: CaseId, me: Reader, engine: EngineDep) -> JSONResponse:
    """Everything about one case: participants, every step's status, deadlines, timeline."""
    return case_response(phase_case(engine, case_id, me.org_id))


@router.post("/{case_id}/steps/{step}", responses={200: {"model": schemas.CaseOut}, **WRITE})
def advance(
    case_id: CaseId,
    step: Annotated[str, Path(max_length=100, description="The step done.")],
    me: Writer,
    engine: EngineDep,
    body: schemas.StepDone | None = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Record that the caller's organisation has done a step of the case."""
    body = body or schemas.StepDone()
    done = engine.advance(
        case_id, step, actor=me.org_id, note=body.note, declare=body.declare,
        expect_version=expected_version(if_match), of="phases", view=True,
    )  # fmt: skip
    assert done.view is not None
    return case_response(done.view)


@router.post("/{case_id}/flags/{flag}", responses={200: {"model": schemas.CaseOut}, **WRITE})
def declare(
    case_id: CaseId,
    flag: Annotated[str, Path(max_length=100, description="The flag declared.")],
    me: Writer,
    engine: EngineDep,
    body: schemas.Note | None = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Declare a flag of the flow on the case, outside any step."""
    body = body or schemas.Note()
    phase_case(engine, case_id, me.org_id)
    done = engine.declare(
        case_id, flag, actor=me.org_id, note=body.note,
        expect_version=expected_version(if_match), view=True,
    )  # fmt: skip
    assert done.view is not None
    return case_response(done.view)


@router.put("/{case_id}/coordinator", responses={200: {"model": schemas.CoordinatorOut}, **WRITE})
def assign(
    case_id: CaseId,
    body: schemas.CoordinatorChange,
    me: Writer,
    engine: EngineDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Hand the coordinator's role to a competent ministry or aggregation agency."""
    phase_case(engine, case_id, me.org_id)
    done = engine.assign_coordinator(
        case_id, coordinator=body.coordinator, actor=me.org_id, note=body.note,
        expect_version=expected_version(if_match),
    )  # fmt: skip
    new = engine.organisation(body.coordinator)
    shape = {"case": case_id, "version": done.version, "coordinator": new.as_ref()}
    return JSONResponse(shape, headers={"ETag": etag(done.version)})


@router.get("/{case_id}/contacts", responses={200: {"model": list[schemas.ContactOut]}, **READ})
def contacts(case_id: CaseId, me: Reader, engine: EngineDep) -> JSONResponse:
    """Whom the caller's open steps call for it to reach now, and how; recorded on the
    timeline, as `irflow case contacts` records it."""
    phase_case(engine, case_id, me.org_id)
    found = engine.contacts(case_id, actor=me.org_id)
    return JSONResponse([c.as_json() for c in found])


@router.get(
    "/{case_id}/report",
    responses={
        200: {"content": {"text/html": {}, "text/markdown": {}}, "description": "The form."},
        **READ,
    },
    response_class=Response,
)
def report(
    case_id: CaseId,
    me: Reader,
    engine: EngineDep,
    part: Literal["occurrence", "completion"] = "occurrence",
    format: Literal["md", "html"] = "md",
) -> Response:
    """The form 事象発生報告書兼完了報告書 of the case, as Markdown or HTML."""
    phase_case(engine, case_id, me.org_id)
    text = engine.report(case_id, viewer=me.org_id, part=part, format=format)
    media = "text/html" if format == "html" else "text/markdown"
    return Response(text, media_type=f"{media}; charset=utf-8")
