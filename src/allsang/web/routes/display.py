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
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Header, Query, Request
from jinja2 import Template
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import FileResponse, Response, StreamingResponse

from allsang import i18n
from allsang.authz import Actor, Forbidden, authorize
from allsang.db import Database
from allsang.db.models import Wall, Workspace
from allsang.live import Broadcast, open_broadcast
from allsang.wall import media, service
from allsang.web.errors import PageError
from allsang.web.templating import render
from allsang.web.viewer import Viewer, get_viewer, runtime_of

router = APIRouter(prefix="/walls")
log = logging.getLogger(__name__)

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


class InvalidScreen:
    """A display token was given that opens nothing (revoked, rotated away, or the wall was
    deleted) and no member session can see the wall: the screen says so instead of asking a
    TV to log in."""

    def __init__(self, wall_id: int) -> None:
        self.wall_id = wall_id


def token_cookie(wall_id: int) -> str:
    """The cookie that carries a screen's display token to the images on its page (path
    ``/walls/<id>``, HttpOnly, SameSite=Strict), so image addresses carry no token."""
    return f"allsang_wall_{wall_id}"


def display_access() -> Callable[..., Awaitable[Display | InvalidScreen]]:
    """Resolve the display token (query, else the screen's cookie) or the session for the wall
    in the path. A token that opens nothing gives :class:`InvalidScreen` unless a member who
    may see the wall is logged in; anonymous visitors without a token get the login redirect,
    other workspaces a 403."""

    async def dependency(
        request: Request,
        wall_id: int,
        token: Annotated[str, Query(max_length=100)] = "",
    ) -> Display | InvalidScreen:
        runtime = runtime_of(request)
        token = token or request.cookies.get(token_cookie(wall_id), "")[:100]
        home: Workspace | None = None
        if token:
            async with runtime.db.read() as session:
                wall = await service.resolve_display(session, wall_id, token)
                workspace = await session.get(Workspace, wall.workspace_id) if wall else None
                if wall is None:
                    # Speak the wall's language on the "no longer valid" page, if it exists.
                    gone = await session.get(Wall, wall_id)
                    home = await session.get(Workspace, gone.workspace_id) if gone else None
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
            member = await get_viewer(request)
            try:
                authorize(member.actor, "wall.display")
            except Forbidden:
                if home is not None:
                    i18n.set_locale(home.locale, home.timezone)
                return InvalidScreen(wall_id)
        viewer = await get_viewer(request)
        authorize(viewer.actor, "wall.display")
        async with runtime.db.read() as session:
            wall = await service.get_wall(session, viewer.actor.workspace_id or 0, wall_id)
        if wall is None:
            raise PageError(404, i18n.gettext("There is no such wall."))
        return Display(viewer, wall, "")

    dependency.action = "wall.display"  # type: ignore[attr-defined]
    return dependency


DisplayDep = Annotated[Display | InvalidScreen, Depends(display_access())]


def invalid_page(request: Request, invalid: InvalidScreen) -> Response:
    """The page a kiosk shows for a token that opens nothing (410 Gone: it will not come
    back; an administrator has to make a new screen address)."""
    response = render(request, "walls/invalid.html", {}, status_code=410)
    response.delete_cookie(token_cookie(invalid.wall_id), path=f"/walls/{invalid.wall_id}")
    return response


def qr_svg(url: str) -> Markup:
    """The QR code as inline SVG (segno writes only geometry, no script or style)."""
    return Markup(segno.make(url, error="m").svg_inline(scale=4, dark="#000", omitsize=True))


def logo_src(wall: Wall) -> str | None:
    """The logo's address on this server; its version changes with the logo (so the
    screen's cached copy is replaced), or None without a logo."""
    if not wall.logo_url:
        return None
    return f"/walls/{wall.id}/logo?v={media.key_of(wall.logo_url)[:12]}"


def _token_query(display: Display) -> str:
    return f"?token={display.token}" if display.token else ""


@router.get("/{wall_id}")
async def screen(request: Request, display: DisplayDep) -> Response:
    if isinstance(display, InvalidScreen):
        return invalid_page(request, display)
    wall = display.wall
    runtime = runtime_of(request)
    await service.catch_up(runtime.db, wall.id, open_broadcast(runtime.settings.broadcast_url))
    async with runtime.db.read() as session:
        pinned = await service.cards(session, wall.id, ("pinned",), MAX_ITEMS)
        shown = await service.cards(session, wall.id, ("approved",), MAX_ITEMS - len(pinned))
        after = await service.last_seq(session, wall.id)
    response = render(
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
            "logo_src": logo_src(wall),
        },
    )
    if display.token:
        response.set_cookie(
            token_cookie(wall.id),
            display.token,
            max_age=400 * 24 * 3600,
            path=f"/walls/{wall.id}",
            httponly=True,
            samesite="strict",
            secure=runtime.settings.secure_cookies,
        )
    return response


@router.get("/{wall_id}/theme.css")
async def theme(request: Request, display: DisplayDep) -> Response:
    if isinstance(display, InvalidScreen):
        return Response("", status_code=410, media_type="text/css")
    # Colours were validated as #rrggbb when saved, so they cannot break out of the rule.
    wall = display.wall
    css = (
        f".wall-screen{{--wall-bg:{wall.background};--wall-fg:{wall.foreground};"
        f"--wall-accent:{wall.accent}}}\n"
    )
    return Response(css, media_type="text/css", headers={"cache-control": "no-store"})


# Served images run nothing and load nothing, even when opened on their own.
MEDIA_CSP = "default-src 'none'; sandbox"


def _image_response(found: media.Cached) -> Response:
    return FileResponse(
        found.path,
        media_type=found.content_type,
        headers={
            "cache-control": "private, max-age=86400",
            "content-security-policy": MEDIA_CSP,
            "cross-origin-resource-policy": "same-origin",
        },
    )


async def _cached_image(request: Request, source: str, max_bytes: int) -> Response:
    runtime = runtime_of(request)
    try:
        found = await media.cached(
            runtime.db,
            runtime.settings.data_dir,
            source,
            max_bytes=max_bytes,
            allow_private_networks=runtime.settings.fetch_allow_private_networks,
        )
    except media.Unavailable:
        return Response(status_code=404, headers={"cache-control": "private, max-age=600"})
    return _image_response(found)


@router.get("/{wall_id}/media/{message_id}/{index}")
async def post_image(
    request: Request, display: DisplayDep, message_id: int, index: int
) -> Response:
    """Image ``index`` of a post on this wall, through the cache. A screen (display token)
    sees only posts that are on screen; members also see the queue's."""
    if isinstance(display, InvalidScreen):
        return Response(status_code=410)
    states = ("approved", "pinned") if display.token else service.ITEM_STATES
    async with runtime_of(request).db.read() as session:
        extra = await service.shown_message_extra(session, display.wall.id, message_id, states)
    images = media.post_images(extra) if extra is not None else ()
    if not 0 <= index < len(images):
        return Response(status_code=404)
    return await _cached_image(request, images[index].url, media.MAX_IMAGE_BYTES)


@router.get("/{wall_id}/logo")
async def logo(request: Request, display: DisplayDep) -> Response:
    """The screen's logo (fetched from its address, or uploaded)."""
    if isinstance(display, InvalidScreen):
        return Response(status_code=410)
    if not display.wall.logo_url:
        return Response(status_code=404)
    return await _cached_image(request, display.wall.logo_url, media.MAX_LOGO_BYTES)


def _sse(kind: str, seq: int | None, data: str) -> str:
    lines = [f"event: {kind}"]
    if seq is not None:
        lines.append(f"id: {seq}")
    lines.extend(f"data: {line}" for line in (data.splitlines() or [""]))
    return "\n".join(lines) + "\n\n"


async def _frames(
    session: AsyncSession, template: Template, wall_id: int, after: int
) -> list[tuple[int, str]]:
    """SSE frames for the wall's events after ``after`` (at most one batch)."""
    batch = await service.events_after(session, wall_id, after)
    frames = []
    for event in batch:
        card = None
        if event.kind in ("add", "pin"):
            card = await service.card_for(session, wall_id, event.message_id)
        if card is None:
            frame = _sse("remove", event.seq, str(event.message_id))
        else:
            html = template.render(card=card, pinned=event.kind == "pin", wall_id=wall_id)
            frame = _sse(event.kind, event.seq, html)
        frames.append((event.seq, frame))
    return frames


class _Feed:
    """One per open wall per process: looks for new posts, reads and renders the wall's new
    events once, and hands the frames to every open stream of that wall (so 200 screens cost
    one query loop, not 200). Ends when its last stream leaves."""

    def __init__(self, db: Database, broadcast: Broadcast, template: Template, wall_id: int):
        self.db = db
        self.broadcast = broadcast
        self.template = template
        self.wall_id = wall_id
        self.streams: set[asyncio.Queue[tuple[int, str] | None]] = set()
        self.last = 0
        self.token_hash: str | None = None
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    def join(self) -> asyncio.Queue[tuple[int, str] | None]:
        queue: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()
        self.streams.add(queue)
        return queue

    def leave(self, queue: asyncio.Queue[tuple[int, str] | None]) -> None:
        self.streams.discard(queue)

    async def _tick(self) -> bool:
        await service.catch_up(self.db, self.wall_id, self.broadcast)
        async with self.db.read() as session:
            wall = await session.get(Wall, self.wall_id)
            token_hash = wall.display_token_hash if wall else None
            if not self.ready.is_set():
                self.last = await service.last_seq(session, self.wall_id)
                frames = []
            else:
                frames = await _frames(session, self.template, self.wall_id, self.last)
        changed = token_hash != self.token_hash
        self.token_hash = token_hash
        self.ready.set()
        for seq, frame in frames:
            self.last = seq
            for queue in self.streams:
                queue.put_nowait((seq, frame))
        if changed:
            for queue in self.streams:
                queue.put_nowait(None)  # "check your token"
        return bool(frames)

    async def _run(self) -> None:
        try:
            async with self.broadcast.subscribe(service.wall_topic(self.wall_id)) as hints:
                while self.streams:
                    try:
                        if await self._tick():
                            continue
                    except Exception:
                        log.exception("wall %s feed failed; retrying", self.wall_id)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(anext(hints), POLL_SECONDS)
        finally:
            # Checked and removed without an await in between, so a stream that joins from
            # now on finds no feed and starts a new one.
            if _FEEDS.get(self.wall_id) is self:
                del _FEEDS[self.wall_id]
            self.ready.set()  # streams still waiting see the feed is gone and end


_FEEDS: dict[int, _Feed] = {}


def _feed(request: Request, wall_id: int) -> _Feed:
    feed = _FEEDS.get(wall_id)
    if feed is None or feed.task.done():
        runtime = runtime_of(request)
        feed = _Feed(
            runtime.db,
            open_broadcast(runtime.settings.broadcast_url),
            request.app.state.templates.get_template("walls/_card.html"),
            wall_id,
        )
        _FEEDS[wall_id] = feed
    return feed


@router.get("/{wall_id}/events")
async def events(
    request: Request,
    display: DisplayDep,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    if isinstance(display, InvalidScreen):
        # A 200 with the one event, so an open page's EventSource delivers it (an error
        # status would only make it retry) and the page can say the screen is no longer valid.
        return StreamingResponse(
            iter([_sse("revoked", None, "")]),
            media_type="text/event-stream",
            headers={"cache-control": "no-store"},
        )
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after
    digest = display.token_digest
    feed = _feed(request, display.wall.id)
    queue = feed.join()

    async def stream() -> AsyncIterator[str]:
        try:
            yield f"retry: {RETRY_MILLISECONDS}\n\n"
            await feed.ready.wait()
            # Catch up from the database; the feed's queue holds what came meanwhile.
            last = start
            while True:
                async with feed.db.read() as session:
                    frames = await _frames(session, feed.template, feed.wall_id, last)
                for seq, frame in frames:
                    yield frame
                    last = seq
                if len(frames) < service.EVENTS_BATCH:
                    break
            while True:
                if digest and feed.token_hash != digest:
                    yield _sse("revoked", None, "")
                    return
                if feed.task.done():
                    return  # the feed failed (say, the Broadcast's connection): reconnect
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if item is not None and item[0] > last:
                    last = item[0]
                    yield item[1]
        finally:
            feed.leave(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
