"""Logging in and out, and the language switch (which works before logging in too)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import func, select
from starlette.responses import RedirectResponse, Response

from allsang import audit, i18n
from allsang.auth import ratelimit, sessions
from allsang.auth.passwords import verify_password
from allsang.db.models import Person
from allsang.db.types import utcnow
from allsang.web.routes import redirect, safe_next
from allsang.web.templating import render
from allsang.web.viewer import (
    LANGUAGE_COOKIE,
    Viewer,
    client_ip,
    public,
    require,
    runtime_of,
)

router = APIRouter()


def _login_page(
    request: Request, *, next_url: str, email: str = "", error: str = "", status_code: int = 200
) -> Response:
    return render(
        request,
        "login.html",
        {"next": next_url, "email": email, "error": error},
        status_code=status_code,
    )


@router.get("/login")
async def login_page(
    request: Request, viewer: Annotated[Viewer, Depends(public)], next: str = "/"
) -> Response:
    if viewer.person is not None:
        return redirect(safe_next(next))
    return _login_page(request, next_url=safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    viewer: Annotated[Viewer, Depends(public)],
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    runtime = runtime_of(request)
    settings = runtime.settings
    email = email.strip().lower()
    next_url = safe_next(next)
    ip = client_ip(request)
    keys = ratelimit.attempt_keys(email, ip)

    async with runtime.db.read() as session:
        limited = await ratelimit.is_limited(session, keys, settings.login_attempts_per_minute)
        person = (
            None
            if limited
            else await session.scalar(select(Person).where(func.lower(Person.email) == email))
        )
        membership = (
            await sessions.first_membership(session, person.id) if person is not None else None
        )
    if limited:
        return _login_page(
            request,
            next_url=next_url,
            email=email,
            error=i18n.gettext("Too many failed attempts. Wait a minute and try again."),
            status_code=429,
        )

    usable = person is not None and person.is_active and membership is not None
    stored_hash = person.password_hash if usable and person is not None else None
    if not email or not password or not await verify_password(password, stored_hash):
        async with runtime.db.write() as session:
            await ratelimit.record_failure(session, keys)
        return _login_page(
            request,
            next_url=next_url,
            email=email,
            error=i18n.gettext("Wrong e-mail address or password."),
            status_code=400,
        )
    assert person is not None and membership is not None

    old_cookie = request.cookies.get(sessions.COOKIE_NAME)
    async with runtime.db.write() as session:
        await ratelimit.clear_failures(session, email)
        if old_cookie:
            # Rotate: whatever session this browser had before is ended, never reused.
            previous = await sessions.resolve_session(session, old_cookie)
            if previous is not None:
                await sessions.revoke_session(
                    session, session_id=previous.session.id, person_id=previous.person.id
                )
        token, login_session = await sessions.create_session(
            session,
            person_id=person.id,
            workspace_id=membership.workspace_id,
            days=settings.session_days,
            user_agent=request.headers.get("user-agent", ""),
            ip=ip,
        )
        stored = await session.get(Person, person.id)
        assert stored is not None
        stored.last_login_at = utcnow()
        audit.record(
            session,
            sessions.person_actor(stored, membership.workspace_id, membership.role),
            "session.login",
            "login_session",
            login_session.id,
            ip=ip,
        )
    response = redirect(next_url)
    response.set_cookie(
        sessions.COOKIE_NAME,
        token,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    return response


@router.post("/logout")
async def logout(
    request: Request, viewer: Annotated[Viewer, Depends(require("profile.view"))]
) -> Response:
    if viewer.session_id is None or viewer.person is None:
        # An API token has no session to end.
        return redirect("/login")
    async with runtime_of(request).db.write() as session:
        await sessions.revoke_session(
            session, session_id=viewer.session_id, person_id=viewer.person.id
        )
        audit.record(
            session,
            viewer.actor,
            "session.logout",
            "login_session",
            viewer.session_id,
            ip=client_ip(request),
        )
    response = redirect("/login")
    response.delete_cookie(sessions.COOKIE_NAME, path="/")
    return response


@router.post("/language")
async def switch_language(
    request: Request,
    viewer: Annotated[Viewer, Depends(public)],
    locale: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> RedirectResponse:
    """Anybody may switch; for a logged-in person the choice is saved on their profile."""
    chosen = i18n.normalize_locale(locale) or runtime_of(request).settings.default_locale
    if viewer.person is not None:
        async with runtime_of(request).db.write() as session:
            person = await session.get(Person, viewer.person.id)
            assert person is not None
            if person.locale != chosen:
                audit.record(
                    session,
                    viewer.actor,
                    "profile.update",
                    "person",
                    person.id,
                    ip=client_ip(request),
                    locale=chosen,
                )
                person.locale = chosen
    response = redirect(safe_next(next))
    response.set_cookie(
        LANGUAGE_COOKIE,
        chosen,
        max_age=365 * 86400,
        samesite="lax",
        secure=runtime_of(request).settings.secure_cookies,
        httponly=True,
        path="/",
    )
    return response
