"""Who is asking: resolved once per request, from an API bearer token or the session cookie.

Every endpoint depends on :func:`require` with the action it performs, so authorisation happens
before the request body is even read, and the route-walking test can prove no route forgot it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request

from allsang import i18n
from allsang.auth import sessions, tokens
from allsang.authz import ANONYMOUS, Actor, authorize, can
from allsang.db.models import Person, Workspace
from allsang.runtime import Runtime

LANGUAGE_COOKIE = "allsang_lang"


@dataclass(frozen=True, slots=True)
class Viewer:
    actor: Actor
    person: Person | None = None
    workspace: Workspace | None = None
    session_id: int | None = None

    def can(self, action: str) -> bool:
        return can(self.actor, action)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def bearer_token(request: Request) -> str | None:
    scheme, _sep, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


async def _resolve(request: Request) -> Viewer:
    runtime = runtime_of(request)
    token = bearer_token(request)
    if token is not None:
        # A bearer header is authoritative: a bad token is anonymous even with a cookie.
        async with runtime.db.read() as session:
            found = await tokens.resolve_api_token(session, token)
            workspace = await session.get(Workspace, found[0].workspace_id) if found else None
        if found is None or workspace is None:
            return Viewer(actor=ANONYMOUS)
        actor, row = found
        if tokens.needs_last_used_update(row):
            async with runtime.db.write() as session:
                await tokens.touch_api_token(session, row.id)
        return Viewer(actor=actor, workspace=workspace)
    cookie = request.cookies.get(sessions.COOKIE_NAME)
    if not cookie:
        return Viewer(actor=ANONYMOUS)
    async with runtime.db.read() as session:
        identity = await sessions.resolve_session(session, cookie)
    if identity is None:
        return Viewer(actor=ANONYMOUS)
    if sessions.needs_last_seen_update(identity.session):
        async with runtime.db.write() as session:
            await sessions.touch_session(session, identity.session.id)
    return Viewer(
        actor=identity.actor,
        person=identity.person,
        workspace=identity.workspace,
        session_id=identity.session.id,
    )


def choose_locale(request: Request, viewer: Viewer) -> str:
    """The person's choice, else the workspace default, else the browser's, else the server's."""
    candidates = [
        viewer.person.locale if viewer.person else None,
        None if viewer.person else request.cookies.get(LANGUAGE_COOKIE),
        viewer.workspace.locale if viewer.workspace else None,
        i18n.negotiate_accept_language(request.headers.get("accept-language")),
    ]
    for candidate in candidates:
        locale = i18n.normalize_locale(candidate)
        if locale:
            return locale
    return runtime_of(request).settings.default_locale


def choose_timezone(request: Request, viewer: Viewer) -> str:
    if viewer.person and viewer.person.timezone:
        return viewer.person.timezone
    if viewer.workspace:
        return viewer.workspace.timezone
    return runtime_of(request).settings.timezone


def apply_locale(request: Request, viewer: Viewer) -> None:
    i18n.set_locale(choose_locale(request, viewer), choose_timezone(request, viewer))


async def get_viewer(request: Request) -> Viewer:
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    if viewer is None:
        viewer = await _resolve(request)
        request.state.viewer = viewer
        apply_locale(request, viewer)
    return viewer


def require(action: str) -> Callable[[Viewer], Awaitable[Viewer]]:
    """A dependency that authorises ``action`` in the viewer's workspace and returns the viewer.

    Checks against a particular row happen in the endpoint once the row is loaded (rows are
    always loaded filtered by the viewer's workspace as well)."""

    async def dependency(viewer: Viewer = Depends(get_viewer)) -> Viewer:
        authorize(viewer.actor, action)
        return viewer

    dependency.action = action  # type: ignore[attr-defined]
    return dependency


async def public(viewer: Viewer = Depends(get_viewer)) -> Viewer:
    """For the few pages anybody may see (the login page, the language switch)."""
    return viewer
