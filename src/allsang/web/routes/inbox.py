"""The team inbox pages: the list (``/inbox``), a conversation (``/inbox/{id}``), the changes
people make there, and the live feeds (SSE) that keep both up to date.

Every change is a form POST that redirects back (so it works without JavaScript); htmx and
``static/inbox.js`` make the same requests in place. After each committed change a hint goes
out on the Broadcast port, and every open page re-reads what the hint names.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated

from babel.dates import format_timedelta
from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import select
from starlette.responses import Response, StreamingResponse

from allsang import i18n
from allsang.db.models import (
    CONVERSATION_STATUSES,
    PRIORITIES,
    Channel,
    Contact,
    Conversation,
    Department,
    Message,
    Person,
    Tag,
)
from allsang.inbox import actions, listing, presence, replies, search
from allsang.inbox.listing import InboxFilter
from allsang.inbox.search import ensure_current as ensure_search_current
from allsang.listening.intent import INTENTS
from allsang.listening.query import QuerySyntaxError
from allsang.live import micros, open_broadcast, publish_conversations, workspace_topic
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.routes.inbox_compose import compose_context
from allsang.web.templating import render
from allsang.web.viewer import Viewer, require, runtime_of

router = APIRouter(prefix="/inbox")

KEEPALIVE_SECONDS = 15.0
THREAD_LIMIT = 500
OTHER_CONVERSATIONS = 10


STATUS_LABELS = {
    "new": i18n.N_("New"),
    "open": i18n.N_("Open"),
    "pending": i18n.N_("Pending"),
    "snoozed": i18n.N_("Snoozed"),
    "closed": i18n.N_("Closed"),
}
PRIORITY_LABELS = {
    "low": i18n.N_("Low"),
    "normal": i18n.N_("Normal"),
    "high": i18n.N_("High"),
    "urgent": i18n.N_("Urgent"),
}
SENTIMENT_LABELS = {
    "pos": i18n.N_("Positive"),
    "neu": i18n.N_("Neutral"),
    "neg": i18n.N_("Negative"),
}
INTENT_LABELS = {
    "question": i18n.N_("Question"),
    "complaint": i18n.N_("Complaint"),
    "praise": i18n.N_("Praise"),
    "sales_lead": i18n.N_("Sales lead"),
    "job": i18n.N_("Job"),
    "press": i18n.N_("Press"),
}


def _label(table: dict[str, str]) -> Callable[[str], str]:
    return lambda value: i18n.gettext(table[value]) if value in table else value


def _waited(since: datetime) -> str:
    return format_timedelta(datetime.now(UTC) - since, threshold=1.5, locale=i18n.current_locale())


HELPERS = {
    "status_label": _label(STATUS_LABELS),
    "priority_label": _label(PRIORITY_LABELS),
    "sentiment_label": _label(SENTIMENT_LABELS),
    "intent_label": _label(INTENT_LABELS),
    "waited": _waited,
}


def _workspace_id(viewer: Viewer) -> int:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    return workspace_id


def _filter(request: Request) -> InboxFilter:
    return InboxFilter.from_query(request.query_params)


async def _choices(request: Request, workspace_id: int) -> dict[str, object]:
    """What the filter and change forms offer: people, departments, channels, tags."""
    async with runtime_of(request).db.read() as session:
        people = await actions.members(session, workspace_id)
        departments = list(
            await session.scalars(
                select(Department)
                .where(Department.workspace_id == workspace_id)
                .order_by(Department.name)
            )
        )
        channels = list(
            await session.scalars(
                select(Channel).where(Channel.workspace_id == workspace_id).order_by(Channel.name)
            )
        )
        tags = list(
            await session.scalars(
                select(Tag).where(Tag.workspace_id == workspace_id).order_by(Tag.name)
            )
        )
    return {
        "people": people,
        "departments": departments,
        "channels": channels,
        "tags": tags,
        "statuses": CONVERSATION_STATUSES,
        "priorities": PRIORITIES,
        "sentiments": listing.SENTIMENTS,
        "intents": INTENTS,
    }


# --- the list ---------------------------------------------------------------------------------


@router.get("")
async def inbox_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.view"))],
    after: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    workspace_id = _workspace_id(viewer)
    f = _filter(request)
    if f.uses_index:
        await ensure_search_current(runtime_of(request).db)
    query_error: QuerySyntaxError | None = None
    async with runtime_of(request).db.read() as session:
        try:
            page = await listing.list_inbox(
                session, workspace_id, viewer.actor.person_id, f, after=after or None
            )
        except QuerySyntaxError as exc:
            query_error = exc
            page = listing.InboxPage([], None, dict.fromkeys(CONVERSATION_STATUSES, 0))
        views = (
            await listing.saved_views(session, workspace_id, viewer.actor.person_id)
            if viewer.actor.person_id
            else []
        )
    return render(
        request,
        "inbox/index.html",
        {
            **await _choices(request, workspace_id),
            "page": page,
            "f": f,
            "after": after,
            "views": views,
            "section": "inbox",
            "query_error": query_error,
            "search_cap": search.CAPPED,
            **HELPERS,
        },
        status_code=400 if query_error else 200,
    )


@router.get("/rows")
async def rows_fragment(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.view"))],
    ids: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    """The list rows of these conversations that still match the filters (for live updates)."""
    wanted = [int(part) for part in ids.split(",") if part.isdigit() and len(part) < 18][:50]
    f = _filter(request)
    if f.uses_index:
        await ensure_search_current(runtime_of(request).db)
    async with runtime_of(request).db.read() as session:
        try:
            page = await listing.list_inbox(
                session, _workspace_id(viewer), viewer.actor.person_id, f, only=wanted
            )
        except QuerySyntaxError:
            page = listing.InboxPage([], None, {})
    return render(request, "inbox/_rows.html", {"rows": page.rows, **HELPERS})


@router.post("/views")
async def save_view(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.manage"))],
    name: Annotated[str, Form(max_length=1000)] = "",
    query: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    from urllib.parse import parse_qsl

    f = InboxFilter.from_query(dict(parse_qsl(query)))
    person_id = viewer.actor.person_id
    if person_id is None:
        raise PageError(403, i18n.gettext("Only people can save views."))
    try:
        async with runtime_of(request).db.write() as session:
            await listing.save_view(session, _workspace_id(viewer), person_id, name, f)
    except listing.InvalidView:
        raise PageError(
            422, i18n.gettext("Give the view a name of at most 100 characters.")
        ) from None
    return redirect(f"/inbox?{f.query_string()}", ok="saved")


@router.post("/views/{view_id}/delete")
async def delete_view(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.manage"))],
    view_id: int,
) -> Response:
    async with runtime_of(request).db.write() as session:
        found = await listing.delete_view(
            session, _workspace_id(viewer), viewer.actor.person_id or -1, view_id
        )
    if not found:
        raise PageError(404, i18n.gettext("There is no such view."))
    return redirect("/inbox", ok="deleted")


# --- one conversation -------------------------------------------------------------------------


async def _conversation_context(
    request: Request, viewer: Viewer, conversation_id: int
) -> dict[str, object]:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.read() as session:
        try:
            conversation = await actions.load(session, workspace_id, conversation_id)
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such conversation.")) from None
        contact = (
            await session.get(Contact, conversation.contact_id) if conversation.contact_id else None
        )
        channel = (
            await session.get(Channel, conversation.channel_id) if conversation.channel_id else None
        )
        thread = list(
            await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.created_at, Message.id)
                .limit(THREAD_LIMIT)
            )
        )
        author_ids = {m.author_person_id for m in thread if m.author_person_id}
        authors = {
            p.id: p.name
            for p in await session.scalars(select(Person).where(Person.id.in_(author_ids)))
        }
        others = (
            list(
                await session.scalars(
                    select(Conversation)
                    .where(
                        Conversation.workspace_id == workspace_id,
                        Conversation.contact_id == conversation.contact_id,
                        Conversation.id != conversation.id,
                    )
                    .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
                    .limit(OTHER_CONVERSATIONS)
                )
            )
            if conversation.contact_id
            else []
        )
        tags = (await listing.tag_names(session, [conversation.id])).get(conversation.id, [])
        assignee = (
            await session.get(Person, conversation.assignee_id)
            if conversation.assignee_id
            else None
        )
    return {
        "conversation": conversation,
        "contact": contact,
        "channel": channel,
        "thread": thread,
        "authors": authors,
        "others": others,
        "tags": tags,
        "assignee": assignee,
        "viewers": presence.names(conversation.id, exclude=viewer.actor.person_id),
        "seq": micros(conversation.updated_at),
    }


@router.get("/{conversation_id}")
async def conversation_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.view"))],
    conversation_id: int,
    error: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    context = await _conversation_context(request, viewer, conversation_id)
    if viewer.actor.person_id is not None:
        async with runtime_of(request).db.write() as session:
            conversation = await actions.load(session, _workspace_id(viewer), conversation_id)
            await actions.mark_read(session, viewer.actor.person_id, conversation)
    return render(
        request,
        "inbox/conversation.html",
        {
            **context,
            **await _choices(request, _workspace_id(viewer)),
            **await compose_context(request, viewer, context),
            "reply_error": request.query_params.get("reason", "") if error == "reply" else "",
            "section": "inbox",
            **HELPERS,
        },
    )


@router.get("/{conversation_id}/live")
async def conversation_fragment(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.view"))],
    conversation_id: int,
) -> Response:
    """The parts of the conversation page that change: the thread and the details."""
    context = await _conversation_context(request, viewer, conversation_id)
    return render(
        request,
        "inbox/_live.html",
        {
            **context,
            **await _choices(request, _workspace_id(viewer)),
            **await compose_context(request, viewer, context),
            **HELPERS,
        },
    )


async def _changed(request: Request, conversation: Conversation) -> None:
    broadcast = open_broadcast(runtime_of(request).settings.broadcast_url)
    await publish_conversations(broadcast, [conversation])


def _back(request: Request, conversation_id: int) -> Response:
    if request.headers.get("hx-request"):
        # htmx callers re-read the page parts themselves (the live feed also tells them).
        return Response(status_code=204)
    return redirect(f"/inbox/{conversation_id}", ok="saved")


@router.post("/{conversation_id}/assign")
async def assign(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.manage"))],
    conversation_id: int,
    person: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """``person``: a person id, ``me``, or empty to unassign."""
    target = (
        viewer.actor.person_id if person == "me" else (int(person) if person.isdigit() else None)
    )
    async with runtime_of(request).db.write() as session:
        try:
            conversation = await actions.load(session, _workspace_id(viewer), conversation_id)
            await actions.assign(session, viewer.actor, conversation, target)
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such conversation or person.")) from None
    await _changed(request, conversation)
    return _back(request, conversation_id)


@router.post("/{conversation_id}/set")
async def set_fields(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.manage"))],
    conversation_id: int,
    status: Annotated[str | None, Form(max_length=20)] = None,
    priority: Annotated[str | None, Form(max_length=20)] = None,
    department: Annotated[str | None, Form(max_length=20)] = None,
    tags: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Change any of status, priority, department and tags (fields left out stay as they are)."""
    async with runtime_of(request).db.write() as session:
        try:
            conversation = await actions.load(session, _workspace_id(viewer), conversation_id)
            for name, value in (("status", status), ("priority", priority)):
                if value is not None:
                    await actions.set_field(session, viewer.actor, conversation, name, value)
            if department is not None:
                await actions.set_field(
                    session, viewer.actor, conversation, "department", department
                )
            if tags is not None:
                await actions.set_tags(
                    session, viewer.actor, conversation, actions.parse_tags(tags)
                )
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such conversation.")) from None
        except actions.InvalidChange:
            raise PageError(422, i18n.gettext("That value is not allowed here.")) from None
    await _changed(request, conversation)
    return _back(request, conversation_id)


@router.post("/{conversation_id}/notes")
async def add_note(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.manage"))],
    conversation_id: int,
    text: Annotated[str, Form(max_length=actions.MAX_NOTE * 2)] = "",
) -> Response:
    async with runtime_of(request).db.write() as session:
        try:
            conversation = await actions.load(session, _workspace_id(viewer), conversation_id)
            await actions.add_note(session, viewer.actor, conversation, text)
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such conversation.")) from None
        except actions.InvalidChange:
            raise PageError(
                422, i18n.gettext("Write a note of at most 10,000 characters.")
            ) from None
    await _changed(request, conversation)
    return _back(request, conversation_id)


@router.post("/{conversation_id}/reply")
async def reply(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.reply"))],
    conversation_id: int,
    text: Annotated[str, Form(max_length=replies.MAX_REPLY * 2)] = "",
) -> Response:
    runtime = runtime_of(request)
    try:
        await replies.send_reply(
            runtime, viewer.actor, _workspace_id(viewer), conversation_id, text
        )
    except actions.NotFound:
        raise PageError(404, i18n.gettext("There is no such conversation.")) from None
    except replies.ReplyFailed as exc:
        from urllib.parse import urlencode

        query = urlencode({"error": "reply", "reason": str(exc)[:300]})
        return redirect(f"/inbox/{conversation_id}?{query}")
    async with runtime.db.read() as session:
        conversation = await actions.load(session, _workspace_id(viewer), conversation_id)
    await _changed(request, conversation)
    return redirect(f"/inbox/{conversation_id}", ok="saved")


# --- notifications ----------------------------------------------------------------------------


@router.get("/notifications/badge")
async def notifications_badge(
    request: Request, viewer: Annotated[Viewer, Depends(require("conversation.view"))]
) -> Response:
    """The header's count of unread notifications (loaded by htmx on every page)."""
    items: list[actions.NotificationItem] = []
    if viewer.actor.person_id is not None:
        async with runtime_of(request).db.read() as session:
            items = await actions.unread_notifications(
                session, _workspace_id(viewer), viewer.actor.person_id
            )
    return render(request, "inbox/_badge.html", {"items": items})


# --- live feeds -------------------------------------------------------------------------------


def _last_event(request: Request) -> int | None:
    value = request.headers.get("last-event-id") or request.query_params.get("last_event_id", "")
    return int(value) if value.isdigit() and len(value) < 20 else None


def _event(kind: str, data: dict[str, object], event_id: int | None = None) -> bytes:
    lines = [f"event: {kind}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return ("\n".join(lines) + "\n\n").encode()


async def _since(
    request: Request, workspace_id: int, since: int, conversation_id: int | None
) -> list[Conversation]:
    """What changed after a client's Last-Event-ID (what hints it may have missed)."""
    at = datetime.fromtimestamp(since / 1_000_000, UTC)
    query = select(Conversation).where(
        Conversation.workspace_id == workspace_id, Conversation.updated_at > at
    )
    if conversation_id is not None:
        query = query.where(Conversation.id == conversation_id)
    async with runtime_of(request).db.read() as session:
        rows = await session.scalars(query.order_by(Conversation.updated_at).limit(200))
        return list(rows)


async def _stream(
    request: Request, viewer: Viewer, conversation_id: int | None
) -> AsyncIterator[bytes]:
    workspace_id = _workspace_id(viewer)
    broadcast = open_broadcast(runtime_of(request).settings.broadcast_url)
    person_id = viewer.actor.person_id
    if person_id is not None and viewer.person is not None:
        presence.remember_name(person_id, viewer.person.name)
    async with broadcast.subscribe(workspace_topic(workspace_id)) as hints:
        yield b"retry: 2000\n\n"
        since = _last_event(request)
        if since is not None:
            for conversation in await _since(request, workspace_id, since, conversation_id):
                seq = micros(conversation.updated_at)
                yield _event("conversation", {"conversation": conversation.id}, seq)
        if conversation_id is not None and person_id is not None:
            await presence.arrive(broadcast, workspace_id, conversation_id, person_id)
            yield _event("presence", presence.snapshot(conversation_id, exclude=person_id))
        shown = None
        next_beat = asyncio.get_running_loop().time() + presence.BEAT_SECONDS
        try:
            while True:
                try:
                    hint = await asyncio.wait_for(anext(hints), KEEPALIVE_SECONDS)
                except TimeoutError:
                    hint = None
                if await request.is_disconnected():
                    return
                if hint is None:
                    yield b": keep-alive\n\n"
                elif "viewer" in hint:
                    presence.record(hint)
                elif conversation_id is None or hint.get("conversation") == conversation_id:
                    seq = hint.get("seq")
                    yield _event(
                        "conversation",
                        {"conversation": hint.get("conversation")},
                        seq if isinstance(seq, int) else None,
                    )
                if conversation_id is not None and person_id is not None:
                    if asyncio.get_running_loop().time() >= next_beat:
                        await presence.arrive(broadcast, workspace_id, conversation_id, person_id)
                        next_beat = asyncio.get_running_loop().time() + presence.BEAT_SECONDS
                    now_present = presence.snapshot(conversation_id, exclude=person_id)
                    if now_present != shown:
                        shown = now_present
                        yield _event("presence", now_present)
        finally:
            if conversation_id is not None and person_id is not None:
                await presence.leave(broadcast, workspace_id, conversation_id, person_id)


def _sse(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


@router.get("/events/list")
async def list_events(
    request: Request, viewer: Annotated[Viewer, Depends(require("conversation.view"))]
) -> StreamingResponse:
    """SSE: an event per changed conversation of the workspace (the page re-reads its row)."""
    return _sse(_stream(request, viewer, None))


@router.get("/{conversation_id}/events")
async def conversation_events(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.view"))],
    conversation_id: int,
) -> StreamingResponse:
    """SSE: changes of one conversation, and who else is viewing it."""
    async with runtime_of(request).db.read() as session:
        try:
            await actions.load(session, _workspace_id(viewer), conversation_id)
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such conversation.")) from None
    return _sse(_stream(request, viewer, conversation_id))
