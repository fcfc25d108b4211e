"""The screen a TV shows: ``GET /walls/{wall_id}?token=…`` and its SSE stream
``GET /walls/{wall_id}/events`` (SPEC §4).

Access is the wall's display token (role ``display``, no login; the token may also come in the
stream's query) or a logged-in member's session (the live preview on the admin pages).

The stream contract: every event is one row of the wall's event log, with its ``seq`` as the
SSE ``id``. ``add`` and ``pin`` carry the post as a server-rendered, escaped HTML fragment;
``remove`` carries the message id; ``revoked`` tells the screen its token no longer works,
after which the stream ends. The stream starts after the ``Last-Event-ID`` header (a native
reconnect) or the ``after`` query parameter (the page's initial state), re-checks the token and
the log after each Broadcast hint on the wall's topic (:func:`service.wall_topic`) or every
:data:`POLL_SECONDS`, and sends a comment every :data:`KEEPALIVE_SECONDS` so proxies keep the
connection open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Header, Query, Request
from markupsafe import Markup
from starlette.responses import Response, StreamingResponse

from allsang import i18n
from allsang.authz import Actor, authorize
from allsang.db.models import Wall, Workspace
from allsang.live import open_broadcast
from allsang.wall import service
from allsang.web.errors import PageError
from allsang.web.templating import render
from allsang.web.viewer import Viewer, get_viewer, runtime_of

router = APIRouter(prefix="/walls")

MAX_ITEMS = 30  # posts on a screen at once; the client keeps the DOM to this size too
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
RETRY_MILLISECONDS = 2000


class Display:
    """The wall being shown and who is looking (a display token or a member)."""

    def __init__(self, viewer: Viewer, wall: Wall, token: str) -> None:
        self.viewer = viewer
        self.wall = wall
        self.token = token

    @property
    def token_digest(self) -> str | None:
        return service.token_digest(self.token) if self.token else None


def display_access() -> Callable[..., Awaitable[Display]]:
    """Resolve the display token (or the session) for the wall in the path; anonymous
    visitors and wrong tokens get the login redirect, other workspaces a 403."""

    async def dependency(
        request: Request,
        wall_id: int,
        token: Annotated[str, Query(max_length=100)] = "",
    ) -> Display:
        runtime = runtime_of(request)
        if token:
            async with runtime.db.read() as session:
                wall = await service.resolve_display(session, wall_id, token)
                workspace = await session.get(Workspace, wall.workspace_id) if wall else None
            if wall is not None and workspace is not None:
                actor = Actor(
                    kind="display",
                    label=f"wall {wall.id}",
                    workspace_id=wall.workspace_id,
                    role="display",
                )
                viewer = Viewer(actor=actor, workspace=workspace)
                request.state.viewer = viewer
                i18n.set_locale(workspace.locale, workspace.timezone)
                authorize(actor, "wall.display", wall)
                return Display(viewer, wall, token)
        viewer = await get_viewer(request)
        authorize(viewer.actor, "wall.display")
        async with runtime.db.read() as session:
            wall = await service.get_wall(session, viewer.actor.workspace_id or 0, wall_id)
        if wall is None:
            raise PageError(404, i18n.gettext("There is no such wall."))
        return Display(viewer, wall, "")

    dependency.action = "wall.display"  # type: ignore[attr-defined]
    return dependency


DisplayDep = Annotated[Display, Depends(display_access())]


def qr_svg(url: str) -> Markup:
    """The QR code as inline SVG (segno writes only geometry, no script or style)."""
    return Markup(segno.make(url, error="m").svg_inline(scale=4, dark="#000", omitsize=True))


def _token_query(display: Display) -> str:
    return f"?token={display.token}" if display.token else ""


@router.get("/{wall_id}")
async def screen(request: Request, display: DisplayDep) -> Response:
    wall = display.wall
    runtime = runtime_of(request)
    await service.catch_up(runtime.db, wall.id, open_broadcast(runtime.settings.broadcast_url))
    async with runtime.db.read() as session:
        pinned = await service.cards(session, wall.id, ("pinned",), MAX_ITEMS)
        shown = await service.cards(session, wall.id, ("approved",), MAX_ITEMS - len(pinned))
        after = await service.last_seq(session, wall.id)
    return render(
        request,
        "walls/screen.html",
        {
            "wall": wall,
            "pins": pinned,
            "cards": shown,
            "after": after,
            "max_items": MAX_ITEMS,
            "token_query": _token_query(display),
            "qr": qr_svg(wall.event_url) if wall.event_url else None,
        },
    )


@router.get("/{wall_id}/theme.css")
async def theme(request: Request, display: DisplayDep) -> Response:
    # Colours were validated as #rrggbb when saved, so they cannot break out of the rule.
    wall = display.wall
    css = (
        f".wall-screen{{--wall-bg:{wall.background};--wall-fg:{wall.foreground};"
        f"--wall-accent:{wall.accent}}}\n"
    )
    return Response(css, media_type="text/css", headers={"cache-control": "no-store"})


def _sse(kind: str, seq: int | None, data: str) -> str:
    lines = [f"event: {kind}"]
    if seq is not None:
        lines.append(f"id: {seq}")
    lines.extend(f"data: {line}" for line in (data.splitlines() or [""]))
    return "\n".join(lines) + "\n\n"


@router.get("/{wall_id}/events")
async def events(
    request: Request,
    display: DisplayDep,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after
    runtime = runtime_of(request)
    templates = request.app.state.templates
    card_template = templates.get_template("walls/_card.html")
    wall_id = display.wall.id
    digest = display.token_digest

    broadcast = open_broadcast(runtime.settings.broadcast_url)

    async def stream() -> AsyncIterator[str]:
        last = start
        idle = 0.0
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        async with broadcast.subscribe(service.wall_topic(wall_id)) as hints:
            while True:
                await service.catch_up(runtime.db, wall_id, broadcast)
                async with runtime.db.read() as session:
                    wall = await session.get(Wall, wall_id)
                    if wall is None or (digest and wall.display_token_hash != digest):
                        yield _sse("revoked", None, "")
                        return
                    batch = await service.events_after(session, wall_id, last)
                    cards = {
                        e.message_id: await service.card_for(session, wall_id, e.message_id)
                        for e in batch
                        if e.kind in ("add", "pin")
                    }
                for event in batch:
                    card = cards.get(event.message_id)
                    if event.kind == "remove" or card is None:
                        data = str(event.message_id)
                        kind = "remove" if event.kind == "remove" else event.kind
                    else:
                        data = card_template.render(card=card, pinned=event.kind == "pin")
                        kind = event.kind
                    yield _sse(kind, event.seq, data)
                    last = event.seq
                if batch:
                    idle = 0.0
                    continue
                try:
                    await asyncio.wait_for(anext(hints), POLL_SECONDS)
                except TimeoutError:
                    idle += POLL_SECONDS
                    if idle >= KEEPALIVE_SECONDS:
                        idle = 0.0
                        yield ": keepalive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
