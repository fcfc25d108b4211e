"""Team: people (invite, roles, deactivation) and departments (and who is in them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from allsang import audit, i18n
from allsang.auth import sessions
from allsang.auth.passwords import MIN_PASSWORD_LENGTH, hash_password_async
from allsang.authz import ROLE_NAMES, authorize
from allsang.db.models import Department, DepartmentMember, Membership, Person, Workspace
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.templating import render
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter(prefix="/team")


# People ------------------------------------------------------------------------------------


async def _members(session: AsyncSession, workspace_id: int) -> list[tuple[Membership, Person]]:
    rows = await session.execute(
        select(Membership, Person)
        .join(Person, Person.id == Membership.person_id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(func.lower(Person.name), Person.id)
    )
    return [(membership, person) for membership, person in rows]


async def _departments_by_person(session: AsyncSession, workspace_id: int) -> dict[int, list[str]]:
    rows = await session.execute(
        select(DepartmentMember.person_id, Department.name)
        .join(Department, Department.id == DepartmentMember.department_id)
        .where(Department.workspace_id == workspace_id)
        .order_by(Department.name)
    )
    names: dict[int, list[str]] = {}
    for person_id, name in rows:
        names.setdefault(person_id, []).append(name)
    return names


async def _people_page(
    request: Request,
    viewer: Viewer,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    async with runtime_of(request).db.read() as session:
        members = await _members(session, workspace_id)
        departments = await _departments_by_person(session, workspace_id)
    return render(
        request,
        "people.html",
        {
            "members": members,
            "departments": departments,
            "error": error,
            "form": form or {"role": "contributor"},
            "section": "team",
        },
        status_code=status_code,
    )


async def _membership(session: AsyncSession, workspace_id: int, person_id: int) -> Membership:
    membership = await session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.person_id == person_id
        )
    )
    if membership is None:
        raise PageError(404, i18n.gettext("That person is not in this workspace."))
    return membership


async def _lock_owners(session: AsyncSession, workspace_id: int) -> int:
    """Lock the workspace row (PostgreSQL; SQLite writers are serial anyway) and count its
    active owners, so two admins cannot each remove one of the last two owners at once."""
    await session.execute(
        select(Workspace.id).where(Workspace.id == workspace_id).with_for_update()
    )
    count = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .join(Person, Person.id == Membership.person_id)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.role == "owner",
            Person.is_active.is_(True),
        )
    )
    return int(count or 0)


LAST_OWNER = i18n.N_("A workspace needs at least one active owner. Make someone else owner first.")


@router.get("/people")
async def people_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("person.view"))]
) -> Response:
    return await _people_page(request, viewer)


@router.post("/people")
async def create_person(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("person.manage"))],
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    email = email.strip().lower()
    name = name.strip()
    form = {"email": email, "name": name, "role": role}
    error = ""
    if "@" not in email or len(email) > 320 or " " in email:
        error = i18n.gettext("Enter a valid e-mail address.")
    elif not name or len(name) > 200:
        error = i18n.gettext("Enter a name of at most 200 characters.")
    elif role not in ROLE_NAMES:
        error = i18n.gettext("Choose one of the roles in the list.")
    if error:
        return await _people_page(request, viewer, error=error, form=form, status_code=422)
    if role == "owner":
        authorize(viewer.actor, "owner.manage")
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None

    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        existing = await session.scalar(select(Person).where(func.lower(Person.email) == email))
    password_hash = None
    if existing is None:
        if len(password) < MIN_PASSWORD_LENGTH:
            error = i18n.ngettext(
                "The first password needs at least %(num)d character.",
                "The first password needs at least %(num)d characters.",
                MIN_PASSWORD_LENGTH,
            ) % {"num": MIN_PASSWORD_LENGTH}
            return await _people_page(request, viewer, error=error, form=form, status_code=422)
        # Hash before opening the write transaction: it takes a while and holds no lock.
        password_hash = await hash_password_async(password)

    async with runtime.db.write() as session:
        person = await session.scalar(select(Person).where(func.lower(Person.email) == email))
        if person is None:
            person = Person(email=email, name=name, password_hash=password_hash)
            session.add(person)
            await session.flush()
        elif await session.scalar(
            select(Membership.id).where(
                Membership.workspace_id == workspace_id, Membership.person_id == person.id
            )
        ):
            error = i18n.gettext("%(email)s is already in this workspace.") % {"email": email}
        if not error:
            session.add(Membership(workspace_id=workspace_id, person_id=person.id, role=role))
            audit.record(
                session,
                viewer.actor,
                "person.create",
                "person",
                person.id,
                ip=client_ip(request),
                email=email,
                role=role,
            )
    if error:
        return await _people_page(request, viewer, error=error, form=form, status_code=409)
    return redirect("/team/people", ok="created")


@router.post("/people/{person_id}/role")
async def change_role(
    request: Request,
    person_id: int,
    viewer: Annotated[Viewer, Depends(require("person.manage"))],
    role: Annotated[str, Form()] = "",
) -> Response:
    if role not in ROLE_NAMES:
        return await _people_page(
            request,
            viewer,
            error=i18n.gettext("Choose one of the roles in the list."),
            status_code=422,
        )
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    error = ""
    async with runtime_of(request).db.write() as session:
        membership = await _membership(session, workspace_id, person_id)
        old = membership.role
        if "owner" in (old, role) and old != role:
            authorize(viewer.actor, "owner.manage", membership)
            if old == "owner" and await _lock_owners(session, workspace_id) <= 1:
                error = i18n.gettext(LAST_OWNER)
        if not error and old != role:
            membership.role = role
            audit.record(
                session,
                viewer.actor,
                "person.role_change",
                "person",
                person_id,
                ip=client_ip(request),
                old=old,
                new=role,
            )
    if error:
        return await _people_page(request, viewer, error=error, status_code=409)
    return redirect("/team/people", ok="saved")


@router.post("/people/{person_id}/deactivate")
async def deactivate_person(
    request: Request,
    person_id: int,
    viewer: Annotated[Viewer, Depends(require("person.manage"))],
) -> Response:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    error = ""
    async with runtime_of(request).db.write() as session:
        membership = await _membership(session, workspace_id, person_id)
        person = await session.get(Person, person_id)
        assert person is not None
        if person_id == viewer.actor.person_id:
            error = i18n.gettext("You cannot deactivate yourself.")
        elif membership.role == "owner":
            authorize(viewer.actor, "owner.manage", membership)
            if person.is_active and await _lock_owners(session, workspace_id) <= 1:
                error = i18n.gettext(LAST_OWNER)
        if not error and person.is_active:
            person.is_active = False
            ended = await sessions.revoke_all_sessions(session, person_id=person_id)
            audit.record(
                session,
                viewer.actor,
                "person.deactivate",
                "person",
                person_id,
                ip=client_ip(request),
                sessions_revoked=ended,
            )
    if error:
        return await _people_page(request, viewer, error=error, status_code=409)
    return redirect("/team/people", ok="saved")


@router.post("/people/{person_id}/reactivate")
async def reactivate_person(
    request: Request,
    person_id: int,
    viewer: Annotated[Viewer, Depends(require("person.manage"))],
) -> Response:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    async with runtime_of(request).db.write() as session:
        membership = await _membership(session, workspace_id, person_id)
        if membership.role == "owner":
            authorize(viewer.actor, "owner.manage", membership)
        person = await session.get(Person, person_id)
        assert person is not None
        if not person.is_active:
            person.is_active = True
            audit.record(
                session,
                viewer.actor,
                "person.reactivate",
                "person",
                person_id,
                ip=client_ip(request),
            )
    return redirect("/team/people", ok="saved")


# Departments -------------------------------------------------------------------------------


async def _department(session: AsyncSession, workspace_id: int, department_id: int) -> Department:
    department = await session.scalar(
        select(Department).where(
            Department.id == department_id, Department.workspace_id == workspace_id
        )
    )
    if department is None:
        raise PageError(404, i18n.gettext("That department does not exist."))
    return department


async def _name_taken(
    session: AsyncSession, workspace_id: int, name: str, except_id: int | None = None
) -> bool:
    query = select(Department.id).where(
        Department.workspace_id == workspace_id, func.lower(Department.name) == name.lower()
    )
    if except_id is not None:
        query = query.where(Department.id != except_id)
    return await session.scalar(query) is not None


def _department_name_error(name: str) -> str:
    if not name or len(name) > 200:
        return i18n.gettext("Enter a name of at most 200 characters.")
    return ""


async def _departments_page(
    request: Request,
    viewer: Viewer,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    workspace_id = viewer.actor.workspace_id
    async with runtime_of(request).db.read() as session:
        rows = await session.execute(
            select(Department, func.count(DepartmentMember.id))
            .outerjoin(DepartmentMember, DepartmentMember.department_id == Department.id)
            .where(Department.workspace_id == workspace_id)
            .group_by(Department.id)
            .order_by(func.lower(Department.name))
        )
        departments = list(rows)
    return render(
        request,
        "departments.html",
        {"departments": departments, "error": error, "form": form or {}, "section": "team"},
        status_code=status_code,
    )


@router.get("/departments")
async def departments_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("department.view"))]
) -> Response:
    return await _departments_page(request, viewer)


@router.post("/departments")
async def create_department(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("department.manage"))],
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    name, description = name.strip(), description.strip()
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    error = _department_name_error(name)
    form = {"name": name, "description": description}
    if error:
        return await _departments_page(request, viewer, error=error, form=form, status_code=422)
    async with runtime_of(request).db.write() as session:
        if await _name_taken(session, workspace_id, name):
            error = i18n.gettext("There is already a department with that name.")
        else:
            department = Department(workspace_id=workspace_id, name=name, description=description)
            session.add(department)
            await session.flush()
            audit.record(
                session,
                viewer.actor,
                "department.create",
                "department",
                department.id,
                ip=client_ip(request),
                name=name,
            )
    if error:
        return await _departments_page(request, viewer, error=error, form=form, status_code=409)
    return redirect("/team/departments", ok="created")


async def _department_page(
    request: Request,
    viewer: Viewer,
    department_id: int,
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    async with runtime_of(request).db.read() as session:
        department = await _department(session, workspace_id, department_id)
        member_rows = await session.scalars(
            select(Person)
            .join(DepartmentMember, DepartmentMember.person_id == Person.id)
            .where(DepartmentMember.department_id == department.id)
            .order_by(func.lower(Person.name))
        )
        members = list(member_rows)
        member_ids = {person.id for person in members}
        candidates = [
            person
            for _membership, person in await _members(session, workspace_id)
            if person.id not in member_ids and person.is_active
        ]
    return render(
        request,
        "department.html",
        {
            "department": department,
            "members": members,
            "candidates": candidates,
            "error": error,
            "section": "team",
        },
        status_code=status_code,
    )


@router.get("/departments/{department_id}")
async def department_page(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("department.view"))],
) -> Response:
    return await _department_page(request, viewer, department_id)


@router.post("/departments/{department_id}/rename")
async def rename_department(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("department.manage"))],
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    name, description = name.strip(), description.strip()
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    error = _department_name_error(name)
    if not error:
        async with runtime_of(request).db.write() as session:
            department = await _department(session, workspace_id, department_id)
            if await _name_taken(session, workspace_id, name, except_id=department.id):
                error = i18n.gettext("There is already a department with that name.")
            elif (department.name, department.description) != (name, description):
                audit.record(
                    session,
                    viewer.actor,
                    "department.update",
                    "department",
                    department.id,
                    ip=client_ip(request),
                    old_name=department.name,
                    name=name,
                    description=description,
                )
                department.name, department.description = name, description
    if error:
        return await _department_page(request, viewer, department_id, error=error, status_code=409)
    return redirect(f"/team/departments/{department_id}", ok="saved")


@router.post("/departments/{department_id}/delete")
async def delete_department(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("department.manage"))],
) -> Response:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    async with runtime_of(request).db.write() as session:
        department = await _department(session, workspace_id, department_id)
        audit.record(
            session,
            viewer.actor,
            "department.delete",
            "department",
            department.id,
            ip=client_ip(request),
            name=department.name,
        )
        await session.delete(department)
    return redirect("/team/departments", ok="deleted")


@router.post("/departments/{department_id}/members")
async def add_department_member(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("department.manage"))],
    person_id: Annotated[int | None, Form()] = None,
) -> Response:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    if person_id is None:
        return await _department_page(
            request,
            viewer,
            department_id,
            error=i18n.gettext("Choose a person."),
            status_code=422,
        )
    async with runtime_of(request).db.write() as session:
        department = await _department(session, workspace_id, department_id)
        await _membership(session, workspace_id, person_id)
        already = await session.scalar(
            select(DepartmentMember.id).where(
                DepartmentMember.department_id == department.id,
                DepartmentMember.person_id == person_id,
            )
        )
        if already is None:
            session.add(DepartmentMember(department_id=department.id, person_id=person_id))
            audit.record(
                session,
                viewer.actor,
                "department.member_add",
                "department",
                department.id,
                ip=client_ip(request),
                person_id=person_id,
            )
    return redirect(f"/team/departments/{department_id}", ok="saved")


@router.post("/departments/{department_id}/members/{person_id}/remove")
async def remove_department_member(
    request: Request,
    department_id: int,
    person_id: int,
    viewer: Annotated[Viewer, Depends(require("department.manage"))],
) -> Response:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    async with runtime_of(request).db.write() as session:
        department = await _department(session, workspace_id, department_id)
        member = await session.scalar(
            select(DepartmentMember).where(
                DepartmentMember.department_id == department.id,
                DepartmentMember.person_id == person_id,
            )
        )
        if member is not None:
            await session.delete(member)
            audit.record(
                session,
                viewer.actor,
                "department.member_remove",
                "department",
                department.id,
                ip=client_ip(request),
                person_id=person_id,
            )
    return redirect(f"/team/departments/{department_id}", ok="saved")
