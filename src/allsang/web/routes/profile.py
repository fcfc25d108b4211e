"""The person's own profile: name, language, time zone, password and sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from allsang import audit, i18n
from allsang.auth import sessions
from allsang.auth.passwords import MIN_PASSWORD_LENGTH, hash_password_async, verify_password
from allsang.db.models import Person
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.templating import render
from allsang.web.timezones import TIMEZONES
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter()


def _person(viewer: Viewer) -> Person:
    if viewer.person is None:
        raise PageError(404, i18n.gettext("Only people have a profile; API tokens do not."))
    return viewer.person


async def _profile_page(
    request: Request,
    viewer: Viewer,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    person = _person(viewer)
    async with runtime_of(request).db.read() as session:
        live = await sessions.live_sessions(session, person.id)
    return render(
        request,
        "profile.html",
        {
            "person": person,
            "sessions": live,
            "current_session_id": viewer.session_id,
            "timezones": TIMEZONES,
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/profile")
async def profile_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("profile.view"))]
) -> Response:
    return await _profile_page(request, viewer)


@router.post("/profile")
async def update_profile(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("profile.update"))],
    name: Annotated[str, Form()] = "",
    locale: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    person = _person(viewer)
    name = name.strip()
    errors: dict[str, str] = {}
    if not name or len(name) > 200:
        errors["name"] = i18n.gettext("Enter a name of at most 200 characters.")
    if locale and i18n.normalize_locale(locale) != locale:
        errors["locale"] = i18n.gettext("Choose one of the languages in the list.")
    if timezone and not i18n.valid_timezone(timezone):
        errors["timezone"] = i18n.gettext("Choose one of the time zones in the list.")
    if errors:
        return await _profile_page(request, viewer, errors=errors, status_code=422)
    async with runtime_of(request).db.write() as session:
        stored = await session.get(Person, person.id)
        assert stored is not None
        changes = {
            field: value
            for field, value in (
                ("name", name),
                ("locale", locale or None),
                ("timezone", timezone or None),
            )
            if getattr(stored, field) != value
        }
        for field, value in changes.items():
            setattr(stored, field, value)
        if changes:
            audit.record(
                session,
                viewer.actor,
                "profile.update",
                "person",
                person.id,
                ip=client_ip(request),
                **changes,
            )
    return redirect("/profile", ok="saved")


@router.post("/profile/password")
async def change_password(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("profile.update"))],
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    person = _person(viewer)
    errors: dict[str, str] = {}
    if not await verify_password(current_password, person.password_hash):
        errors["current_password"] = i18n.gettext("That is not your current password.")
    elif len(new_password) < MIN_PASSWORD_LENGTH:
        errors["new_password"] = i18n.ngettext(
            "Use at least %(num)d character.",
            "Use at least %(num)d characters.",
            MIN_PASSWORD_LENGTH,
        ) % {"num": MIN_PASSWORD_LENGTH}
    elif new_password != confirm_password:
        errors["confirm_password"] = i18n.gettext("The two new passwords differ.")
    if errors:
        return await _profile_page(request, viewer, errors=errors, status_code=422)
    new_hash = await hash_password_async(new_password)
    async with runtime_of(request).db.write() as session:
        stored = await session.get(Person, person.id)
        assert stored is not None
        stored.password_hash = new_hash
        # Whoever might know the old password loses every session but this one.
        ended = await sessions.revoke_all_sessions(
            session, person_id=person.id, except_id=viewer.session_id
        )
        audit.record(
            session,
            viewer.actor,
            "profile.password_change",
            "person",
            person.id,
            ip=client_ip(request),
            sessions_revoked=ended,
        )
    return redirect("/profile", ok="password")


@router.post("/profile/sessions/{session_id}/revoke")
async def revoke_session(
    request: Request,
    session_id: int,
    viewer: Annotated[Viewer, Depends(require("profile.update"))],
) -> Response:
    person = _person(viewer)
    async with runtime_of(request).db.write() as session:
        revoked = await sessions.revoke_session(session, session_id=session_id, person_id=person.id)
        if revoked:
            audit.record(
                session,
                viewer.actor,
                "session.revoke",
                "login_session",
                session_id,
                ip=client_ip(request),
            )
    if not revoked:
        raise PageError(404, i18n.gettext("That session does not exist or has already ended."))
    if session_id == viewer.session_id:
        response = redirect("/login")
        response.delete_cookie(sessions.COOKIE_NAME, path="/")
        return response
    if request.headers.get("hx-request") == "true":
        # htmx swaps the table row for this empty answer: the row disappears.
        return Response(status_code=200)
    return redirect("/profile", ok="revoked")
