"""What the site shows besides cases: the directory (データ検索), contact routing
(連絡方法) for the caller's organisation, and the site's posts it may read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import JSONResponse

from irflow.clock import parse_moment
from irflow.engine.views import org_json, post_json
from irflow.service import schemas
from irflow.service.auth import EngineDep, Reader
from irflow.service.cases import READ

router = APIRouter(prefix=schemas.API, tags=["directory"])


@router.get("/orgs", responses={200: {"model": list[schemas.OrgOut]}, **READ})
def search(
    me: Reader,
    engine: EngineDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Name, id or code.")],
    exact: Annotated[bool, Query(description="Names equal to q (default: start with).")] = False,
) -> JSONResponse:
    """Organisations whose name, id or code starts with ``q`` (or equals it); [] if none."""
    return JSONResponse([org_json(o) for o in engine.search_organisations(q, exact=exact)])


@router.get("/route", responses={200: {"model": schemas.PlanOut}, **READ})
def route(
    me: Reader,
    engine: EngineDep,
    to: Annotated[
        str, Query(min_length=1, max_length=200, description="The recipient, or operator.")
    ],
    situation: Annotated[str, Query(max_length=50, description="incident or normal.")],
    at: Annotated[
        str | None, Query(max_length=50, description="ISO 8601; no offset: Japan time.")
    ] = None,
) -> JSONResponse:
    """How the caller's organisation reaches ``to`` at ``at`` (default now)."""
    moment = parse_moment(at) if at else None
    return JSONResponse(engine.route(me.org_id, to, situation, moment).to_json())


@router.get("/posts", responses={200: {"model": list[schemas.PostOut]}, **READ})
def posts(me: Reader, engine: EngineDep) -> JSONResponse:
    """The site posts the caller's organisation may read: its own, those naming it,
    notices to every agency."""
    return JSONResponse([post_json(p) for p in engine.posts(me.org_id)])


@router.get("/posts/{post_id}", responses={200: {"model": schemas.PostFull}, **READ})
def post(
    post_id: Annotated[str, Path(max_length=100)], me: Reader, engine: EngineDep
) -> JSONResponse:
    """One post the caller's organisation may read, with its body and attachment."""
    for p in engine.posts(me.org_id):
        if p.id == post_id:
            return JSONResponse(post_json(p, body=True))
    raise HTTPException(404, f"no post {post_id!r} that your organisation may read")
