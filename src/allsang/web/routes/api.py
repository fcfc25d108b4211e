"""The JSON API (``/api/v1``): bearer tokens, problem-JSON errors, described by OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select

from allsang.db.models import Department, DepartmentMember, Membership, Person
from allsang.web.viewer import Viewer, require, runtime_of

router = APIRouter(tags=["workspace"])


class Problem(BaseModel):
    """An RFC 9457 problem: every error of this API has this shape."""

    type: str
    title: str
    status: int
    detail: str


# Ids are 64-bit integers on both engines; a larger one is a 422, not a driver overflow (500).
MAX_ID = 2**63 - 1

_ERRORS = {
    401: {"model": Problem, "description": "No valid bearer token"},
    403: {"model": Problem, "description": "The token's role does not allow this"},
    422: {"model": Problem, "description": "Invalid parameters"},
}
# Operations with a JSON body: a body that cannot be parsed at all is a 400 (FastAPI's own).
BODY_ERRORS = {400: {"model": Problem, "description": "The body could not be parsed"}}


class Me(BaseModel):
    kind: str
    label: str
    role: str | None
    workspace_id: int | None
    workspace_name: str | None
    person_id: int | None


class PersonOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    is_active: bool
    created_at: datetime


class DepartmentOut(BaseModel):
    id: int
    name: str
    description: str
    members: int


Limit = Annotated[int, Query(ge=1, le=500, description="How many items at most")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="How many items to skip")]


@router.get("/me", responses=_ERRORS)  # type: ignore[arg-type]
async def me(viewer: Annotated[Viewer, Depends(require("profile.view"))]) -> Me:
    """Who the token (or session) stands for."""
    return Me(
        kind=viewer.actor.kind,
        label=viewer.actor.label,
        role=viewer.actor.role,
        workspace_id=viewer.actor.workspace_id,
        workspace_name=viewer.workspace.name if viewer.workspace else None,
        person_id=viewer.actor.person_id,
    )


@router.get("/people", responses=_ERRORS)  # type: ignore[arg-type]
async def people(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("person.view"))],
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[PersonOut]:
    """The workspace's people with their roles, by name."""
    async with runtime_of(request).db.read() as session:
        rows = await session.execute(
            select(Person, Membership.role)
            .join(Membership, Membership.person_id == Person.id)
            .where(Membership.workspace_id == viewer.actor.workspace_id)
            .order_by(func.lower(Person.name), Person.id)
            .limit(limit)
            .offset(offset)
        )
        return [
            PersonOut(
                id=person.id,
                email=person.email,
                name=person.name,
                role=role,
                is_active=person.is_active,
                created_at=person.created_at,
            )
            for person, role in rows
        ]


@router.get("/departments", responses=_ERRORS)  # type: ignore[arg-type]
async def departments(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("department.view"))],
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[DepartmentOut]:
    """The workspace's departments with how many people are in each."""
    async with runtime_of(request).db.read() as session:
        rows = await session.execute(
            select(Department, func.count(DepartmentMember.id))
            .outerjoin(DepartmentMember, DepartmentMember.department_id == Department.id)
            .where(Department.workspace_id == viewer.actor.workspace_id)
            .group_by(Department.id)
            .order_by(func.lower(Department.name), Department.id)
            .limit(limit)
            .offset(offset)
        )
        return [
            DepartmentOut(
                id=department.id,
                name=department.name,
                description=department.description,
                members=count,
            )
            for department, count in rows
        ]
