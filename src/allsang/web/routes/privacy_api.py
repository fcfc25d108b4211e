"""The privacy part of the JSON API: a contact's data on request, erasure, retention."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from allsang.db.models import Workspace
from allsang.privacy.erase import ContactNotFound, erase_contact, export_contact
from allsang.privacy.retention import Policy, apply_retention
from allsang.web.errors import problem
from allsang.web.routes.api import _ERRORS, BODY_ERRORS, MAX_ID, Problem
from allsang.web.viewer import Viewer, require, runtime_of

router = APIRouter(tags=["privacy"])

_NOT_FOUND = {**_ERRORS, 404: {"model": Problem, "description": "No such contact here"}}


class ErasureOut(BaseModel):
    contact_id: int
    counts: dict[str, int] = Field(description="Rows erased, per kind")


# A century; far larger values overflow the date arithmetic (a 500, found by the API fuzzer).
MAX_RETENTION_DAYS = 36_500


class RetentionIn(BaseModel):
    listening_days: int | None = Field(
        None, ge=1, le=MAX_RETENTION_DAYS, description="Untouched conversations"
    )
    inbox_days: int | None = Field(
        None, ge=1, le=MAX_RETENTION_DAYS, description="Closed conversations"
    )
    audit_days: int | None = Field(None, ge=1, le=MAX_RETENTION_DAYS, description="Audit events")


@router.get("/contacts/{contact_id}/export", responses=_NOT_FOUND)  # type: ignore[arg-type]
async def export(
    contact_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    request: Request,
    viewer: Annotated[Viewer, Depends(require("contact.export"))],
) -> Any:
    """Everything stored about one contact: their profile, conversations and messages."""
    async with runtime_of(request).db.write() as session:
        try:
            data = await export_contact(
                session, viewer.actor, viewer.actor.workspace_id or 0, contact_id
            )
        except ContactNotFound as exc:
            return problem(404, str(exc))
    return JSONResponse(
        data,
        headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}.json"'},
    )


@router.delete("/contacts/{contact_id}", responses=_NOT_FOUND)  # type: ignore[arg-type]
async def erase(
    contact_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    request: Request,
    viewer: Annotated[Viewer, Depends(require("contact.erase"))],
) -> Any:
    """Erase a contact and everything about them; answers with what was erased."""
    async with runtime_of(request).db.write() as session:
        try:
            report = await erase_contact(
                session, viewer.actor, viewer.actor.workspace_id or 0, contact_id
            )
        except ContactNotFound as exc:
            return problem(404, str(exc))
    return ErasureOut(contact_id=report.contact_id, counts=report.counts)


@router.get("/retention", responses=_ERRORS)  # type: ignore[arg-type]
async def get_retention(
    request: Request, viewer: Annotated[Viewer, Depends(require("retention.manage"))]
) -> RetentionIn:
    """The workspace's retention policy, in days (null keeps forever)."""
    async with runtime_of(request).db.read() as session:
        workspace = await session.get_one(Workspace, viewer.actor.workspace_id)
    return RetentionIn(**Policy.of(workspace).as_settings())


@router.put("/retention", responses={**_ERRORS, **BODY_ERRORS})  # type: ignore[arg-type]
async def put_retention(
    body: RetentionIn,
    request: Request,
    viewer: Annotated[Viewer, Depends(require("retention.manage"))],
) -> dict[str, int]:
    """Set the policy; answers with what the next nightly run would delete under it."""
    runtime = runtime_of(request)
    async with runtime.db.write() as session:
        workspace = await session.get_one(Workspace, viewer.actor.workspace_id)
        workspace.settings = {**(workspace.settings or {}), "retention": body.model_dump()}
    return await apply_retention(runtime.db, workspace.id, dry_run=True)
