"""The JSON API for messages: the webhook connector (``POST /api/v1/messages``), listing
what is stored (``GET /api/v1/messages``, ``/conversations``, ``/conversations/{id}``), and the
team inbox's changes to a conversation (``PUT …/assignment``, ``PUT …/status``, ``POST …/notes``,
``POST …/replies``; see :mod:`allsang.inbox`).

Listing is newest first with keyset paging: each page's ``next`` is an opaque cursor to pass
as ``before`` for the following page (stable while new rows arrive, unlike an offset). Every
query is filtered by the token's workspace.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, func, or_, select
from starlette.responses import Response

from allsang import channels
from allsang.connectors.base import RawItem
from allsang.db.models import Channel, Contact, Conversation, Message
from allsang.inbox import actions, listing, replies, search
from allsang.inbox.search import ensure_current as ensure_search_current
from allsang.ingest.message import NormalisedMessage
from allsang.ingest.pipeline import IngestResult
from allsang.listening.query import QuerySyntaxError
from allsang.live import open_broadcast, publish_conversations
from allsang.web.errors import problem
from allsang.web.routes.api import BODY_ERRORS, MAX_ID, Problem
from allsang.web.viewer import Viewer, require, runtime_of

router = APIRouter(tags=["messages"])

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_ITEMS = 1000
MAX_PAGE = 200

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid bearer token"},
    403: {"model": Problem, "description": "The token's role does not allow this"},
    422: {"model": Problem, "description": "Invalid parameters"},
}


# Webhook --------------------------------------------------------------------------------------


class IngestSummary(BaseModel):
    """Where the posted items went: stored, already stored, or kept in quarantine."""

    accepted: int = Field(description="New messages stored")
    duplicates: int = Field(description="Items already stored (same channel and external_id)")
    quarantined: int = Field(description="Invalid items, kept with the reason for people to see")


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` inlined, to embed in the OpenAPI document."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


_MESSAGE_SCHEMA = _inline_refs(NormalisedMessage.model_json_schema())
_WEBHOOK_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "One normalised message (SPEC §4) or a list of at most 1,000; at most 5 MB. "
            "Fields beyond the contract are kept. An invalid item does not fail the request: "
            "it is quarantined with the reason and counted."
        ),
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _MESSAGE_SCHEMA,
                        {"type": "array", "items": _MESSAGE_SCHEMA, "maxItems": MAX_ITEMS},
                    ]
                }
            }
        },
    }
}


async def _read_body(request: Request) -> bytes | Response:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            return _too_large()
    return bytes(body)


def _too_large() -> Response:
    return problem(413, f"The body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB.")


@router.post(
    "/messages",
    openapi_extra=_WEBHOOK_BODY,
    responses={
        **_ERRORS,
        400: {"model": Problem, "description": "The body is not JSON"},
        413: {"model": Problem, "description": "Over 5 MB or over 1,000 items"},
    },
)
async def ingest_messages(
    request: Request, viewer: Annotated[Viewer, Depends(require("message.ingest"))]
) -> IngestSummary:
    """Ingest one normalised message or a list, through the same pipeline as every connector.

    Messages land in the workspace's channel ``"<network> (webhook)"`` for their ``channel``
    field, created on first use. Re-posting a message is harmless: it counts as a duplicate.
    """
    body = await _read_body(request)
    if isinstance(body, Response):
        return body  # type: ignore[return-value]
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return problem(400, f"The body is not valid JSON: {exc}")  # type: ignore[return-value]
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        return problem(  # type: ignore[return-value]
            422, "Send one message (a JSON object) or a list of messages."
        )
    if len(payload) > MAX_ITEMS:
        return problem(  # type: ignore[return-value]
            413, f"At most {MAX_ITEMS} messages per request; send the rest in another."
        )
    runtime = runtime_of(request)
    groups: dict[str, list[RawItem]] = {}
    for item in payload:
        groups.setdefault(channels.webhook_network(item), []).append(
            RawItem(item, source="webhook")
        )
    refs = await channels.webhook_channels(runtime, viewer.actor, set(groups))
    pipeline = await channels.ingest_pipeline(runtime)
    total = IngestResult()
    for network, items in groups.items():
        total.add(await pipeline.ingest(refs[network], items, channels.webhook_normalise))
    return IngestSummary(**total.summary())


# Listing --------------------------------------------------------------------------------------


class AuthorOut(BaseModel):
    handle: str
    name: str = ""
    url: str = ""


class MessageOut(BaseModel):
    id: int
    channel: str | None = Field(description="The network (as in the normalised message)")
    channel_id: int | None
    conversation_id: int | None
    external_id: str | None
    url: str
    kind: str
    direction: str
    author: AuthorOut | None
    text: str
    created_at: datetime
    received_at: datetime
    in_reply_to: str | None
    lang: str | None
    sentiment: str | None
    sentiment_score: float | None
    extra: dict[str, Any]


class MessagePage(BaseModel):
    items: list[MessageOut]
    next: str | None = Field(description="Pass as `before` for the next (older) page")


class ConversationOut(BaseModel):
    id: int
    channel: str | None
    channel_id: int | None
    subject: str
    status: str
    priority: str
    assignee_id: int | None
    department_id: int | None
    contact: AuthorOut | None
    messages: int = Field(description="How many messages it holds")
    last_message_at: datetime | None
    waiting_since: datetime | None
    first_reply_at: datetime | None
    created_at: datetime


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next: str | None = Field(description="Pass as `before` for the next (older) page")
    search_capped: bool = Field(
        default=False,
        description=f"With `q`: more documents match than a search reads (the newest "
        f"{search.CAPPED:,}), so these pages hold only the conversations among those; refine "
        "the search for older ones",
    )


class ConversationDetail(ConversationOut):
    thread: list[MessageOut] = Field(description="Its messages, oldest first")


class _BadCursor(ValueError):
    pass


def _encode_cursor(at: datetime, row_id: int) -> str:
    raw = f"{at.astimezone(UTC).isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _sep, row_id = raw.partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise _BadCursor(cursor)
        return moment, int(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _BadCursor(cursor) from exc


def _bad_cursor() -> Response:
    return problem(
        422,
        "The request has invalid or missing fields.",
        errors=[{"loc": ["query", "before"], "msg": "not a cursor from a previous page"}],
    )


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


Kind = Literal["post", "reply", "comment", "dm", "review", "article", "email"]
Direction = Literal["inbound", "outbound", "note"]
Status = Literal["new", "open", "pending", "snoozed", "closed"]
NetworkFilter = Annotated[
    str | None,
    Query(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$",
        description="Only this network (the `channel` of the normalised message)",
    ),
]
ChannelIdFilter = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Only this channel (its id)")
]
Since = Annotated[
    datetime | None, Query(description="Created at or after this instant (ISO 8601; UTC if bare)")
]
Until = Annotated[datetime | None, Query(description="Created before this instant")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE, description="How many items at most")]
Before = Annotated[
    str | None, Query(max_length=200, description="The `next` cursor of the previous page")
]


def _message_out(message: Message, network: str | None) -> MessageOut:
    extra = dict(message.extra or {})
    author = extra.pop("author", None)
    return MessageOut(
        id=message.id,
        channel=network,
        channel_id=message.channel_id,
        conversation_id=message.conversation_id,
        external_id=message.external_id,
        url=message.url,
        kind=message.kind,
        direction=message.direction,
        author=AuthorOut(
            handle=str(author["handle"]),
            name=str(author.get("name") or ""),
            url=str(author.get("url") or ""),
        )
        if isinstance(author, dict) and author.get("handle")
        else None,
        text=message.text,
        created_at=message.created_at,
        received_at=message.received_at,
        in_reply_to=message.in_reply_to,
        lang=message.lang,
        sentiment=message.sentiment,
        sentiment_score=message.sentiment_score,
        extra=extra,
    )


@router.get("/messages", responses=_ERRORS)  # type: ignore[arg-type]
async def list_messages(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("message.view"))],
    channel: NetworkFilter = None,
    channel_id: ChannelIdFilter = None,
    kind: Annotated[Kind | None, Query(description="Only this kind")] = None,
    direction: Annotated[Direction | None, Query(description="Only this direction")] = None,
    lang: Annotated[
        str | None, Query(pattern=r"^[a-z]{2,3}$", description="Only this language (ISO 639)")
    ] = None,
    conversation_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this conversation")
    ] = None,
    since: Since = None,
    until: Until = None,
    limit: PageSize = 50,
    before: Before = None,
) -> MessagePage:
    """Stored messages, newest first (by `created_at`, then id)."""
    statement: Select[Any] = (
        select(Message, Channel.network)
        .outerjoin(Channel, Channel.id == Message.channel_id)
        .where(Message.workspace_id == viewer.actor.workspace_id)
    )
    if channel is not None:
        statement = statement.where(Channel.network == channel)
    for column, value in (
        (Message.channel_id, channel_id),
        (Message.kind, kind),
        (Message.direction, direction),
        (Message.lang, lang),
        (Message.conversation_id, conversation_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if since is not None:
        statement = statement.where(Message.created_at >= _aware(since))
    if until is not None:
        statement = statement.where(Message.created_at < _aware(until))
    if before is not None:
        try:
            at, row_id = _decode_cursor(before)
        except _BadCursor:
            return _bad_cursor()  # type: ignore[return-value]
        statement = statement.where(
            or_(Message.created_at < at, and_(Message.created_at == at, Message.id < row_id))
        )
    statement = statement.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1)
    async with runtime_of(request).db.read() as session:
        rows = list(await session.execute(statement))
    items = [_message_out(message, network) for message, network in rows[:limit]]
    last = rows[limit - 1][0] if len(rows) > limit else None
    return MessagePage(items=items, next=_encode_cursor(last.created_at, last.id) if last else None)


_activity = func.coalesce(Conversation.last_message_at, Conversation.created_at)


def _conversations_query(workspace_id: int | None) -> Select[Any]:
    count = (
        select(func.count(Message.id))
        .where(Message.conversation_id == Conversation.id)
        .correlate(Conversation)
        .scalar_subquery()
    )
    return (
        select(Conversation, Channel.network, Contact, count, _activity)
        .outerjoin(Channel, Channel.id == Conversation.channel_id)
        .outerjoin(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.workspace_id == workspace_id)
    )


def _conversation_out(
    conversation: Conversation, network: str | None, contact: Contact | None, count: int
) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "channel": network,
        "channel_id": conversation.channel_id,
        "subject": conversation.subject,
        "status": conversation.status,
        "priority": conversation.priority,
        "assignee_id": conversation.assignee_id,
        "department_id": conversation.department_id,
        "contact": AuthorOut(handle=contact.handle, name=contact.name, url=contact.url)
        if contact
        else None,
        "messages": int(count or 0),
        "last_message_at": conversation.last_message_at,
        "waiting_since": conversation.waiting_since,
        "first_reply_at": conversation.first_reply_at,
        "created_at": conversation.created_at,
    }


_LIST_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    400: {"model": Problem, "description": "The `query` is not valid (`column` says where)"},
}
Intent = Literal["question", "complaint", "praise", "sales_lead", "job", "press"]


@router.get("/conversations", responses=_LIST_ERRORS)  # type: ignore[arg-type]
async def list_conversations(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.view"))],
    status: Annotated[Status | None, Query(description="Only this status")] = None,
    assignee_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only assigned to this person")
    ] = None,
    department_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this department's")
    ] = None,
    channel: NetworkFilter = None,
    channel_id: ChannelIdFilter = None,
    since: Annotated[
        datetime | None, Query(description="Last message at or after this instant")
    ] = None,
    until: Annotated[datetime | None, Query(description="Last message before this instant")] = None,
    q: Annotated[
        str | None,
        Query(max_length=500, description='Full-text search: words and "phrases", all must match'),
    ] = None,
    language: Annotated[
        str | None, Query(max_length=8, description="An inbound message in this language")
    ] = None,
    sentiment: Annotated[
        Literal["pos", "neu", "neg"] | None,
        Query(description="An inbound message with this sentiment"),
    ] = None,
    intent: Annotated[
        Intent | None, Query(description="An inbound message with this intent")
    ] = None,
    tag_id: Annotated[int | None, Query(ge=1, description="Tagged with this tag")] = None,
    unanswered: Annotated[bool, Query(description="Only those waiting for a reply")] = False,
    sla_breached: Annotated[
        bool, Query(description="Only those whose response target was missed")
    ] = False,
    query: Annotated[
        str | None,
        Query(max_length=4096, description="A listening query run on the inbound messages"),
    ] = None,
    limit: PageSize = 50,
    before: Before = None,
) -> ConversationPage:
    """Conversations, the most recently active first (by the last message, then id).

    The content filters are those of the inbox list (see docs/inbox.md); an invalid ``query``
    is a 400 problem whose ``column`` (1-based) says where the query goes wrong."""
    workspace_id = viewer.actor.workspace_id
    f = listing.InboxFilter.from_query(
        {
            "q": q or "",
            "language": language or "",
            "sentiment": sentiment or "",
            "intent": intent or "",
            "tag": str(tag_id or ""),
            "unanswered": "1" if unanswered else "",
            "sla_breached": "1" if sla_breached else "",
            "query": query or "",
        }
    )
    statement = _conversations_query(workspace_id)
    if channel is not None:
        statement = statement.where(Channel.network == channel)
    for column, value in (
        (Conversation.status, status),
        (Conversation.assignee_id, assignee_id),
        (Conversation.department_id, department_id),
        (Conversation.channel_id, channel_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if since is not None:
        statement = statement.where(_activity >= _aware(since))
    if until is not None:
        statement = statement.where(_activity < _aware(until))
    if before is not None:
        try:
            at, row_id = _decode_cursor(before)
        except _BadCursor:
            return _bad_cursor()  # type: ignore[return-value]
        statement = statement.where(
            or_(_activity < at, and_(_activity == at, Conversation.id < row_id))
        )
    statement = statement.order_by(_activity.desc(), Conversation.id.desc()).limit(limit + 1)
    if f.uses_index:
        await ensure_search_current(runtime_of(request).db)
    async with runtime_of(request).db.read() as session:
        try:
            prepared = await listing.prepare(session, workspace_id or -1, None, f)
        except QuerySyntaxError as exc:
            return problem(  # type: ignore[return-value]
                400, f"The query cannot be used: {exc.reason}", column=exc.column
            )
        statement = listing.narrow(statement, f, prepared)
        rows = list(await session.execute(statement))
    items = [
        ConversationOut(**_conversation_out(conversation, network, contact, count))
        for conversation, network, contact, count, _at in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        conversation, *_rest, at = rows[limit - 1]
        next_cursor = _encode_cursor(_aware(at) or conversation.created_at, conversation.id)
    return ConversationPage(items=items, next=next_cursor, search_capped=prepared.search_capped)


@router.get(
    "/conversations/{conversation_id}",
    responses={**_ERRORS, 404: {"model": Problem, "description": "No such conversation"}},
)
async def get_conversation(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.view"))],
    conversation_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> ConversationDetail:
    """One conversation with its messages, oldest first."""
    async with runtime_of(request).db.read() as session:
        row = (
            await session.execute(
                _conversations_query(viewer.actor.workspace_id).where(
                    Conversation.id == conversation_id
                )
            )
        ).first()
        if row is None:
            return problem(404, "There is no such conversation.")  # type: ignore[return-value]
        conversation, network, contact, count, _at = row
        messages = list(
            await session.execute(
                select(Message, Channel.network)
                .outerjoin(Channel, Channel.id == Message.channel_id)
                .where(
                    Message.conversation_id == conversation.id,
                    Message.workspace_id == viewer.actor.workspace_id,
                )
                .order_by(Message.created_at, Message.id)
            )
        )
    return ConversationDetail(
        **_conversation_out(conversation, network, contact, count),
        thread=[_message_out(message, net) for message, net in messages],
    )


# Changing a conversation (the team inbox) -----------------------------------------------------


class AssignmentIn(BaseModel):
    assignee_id: int | None = Field(
        ge=1, le=MAX_ID, description="A member of the workspace; null unassigns"
    )


class StatusIn(BaseModel):
    status: Status
    priority: Literal["low", "normal", "high", "urgent"] | None = Field(
        default=None, description="Also change the priority"
    )


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)


_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    **BODY_ERRORS,
    404: {"model": Problem, "description": "No such conversation (or person)"},
}


async def _current(request: Request, viewer: Viewer, conversation_id: int) -> ConversationOut:
    async with runtime_of(request).db.read() as session:
        row = (
            await session.execute(
                _conversations_query(viewer.actor.workspace_id).where(
                    Conversation.id == conversation_id
                )
            )
        ).first()
    assert row is not None
    conversation, network, contact, count, _at = row
    return ConversationOut(**_conversation_out(conversation, network, contact, count))


async def _announce(request: Request, conversation: Conversation) -> None:
    broadcast = open_broadcast(runtime_of(request).settings.broadcast_url)
    await publish_conversations(broadcast, [conversation])


@router.put("/conversations/{conversation_id}/assignment", responses=_CHANGE_ERRORS)  # type: ignore[arg-type]
async def put_assignment(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.manage"))],
    conversation_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: AssignmentIn,
) -> ConversationOut:
    """Assign the conversation (a new one becomes open); audited as ``conversation.assign``."""
    workspace_id = viewer.actor.workspace_id or -1
    async with runtime_of(request).db.write() as session:
        try:
            conversation = await actions.load(session, workspace_id, conversation_id)
            await actions.assign(session, viewer.actor, conversation, body.assignee_id)
        except actions.NotFound:
            return problem(404, "There is no such conversation or person.")  # type: ignore[return-value]
    await _announce(request, conversation)
    return await _current(request, viewer, conversation_id)


@router.put("/conversations/{conversation_id}/status", responses=_CHANGE_ERRORS)  # type: ignore[arg-type]
async def put_status(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.manage"))],
    conversation_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: StatusIn,
) -> ConversationOut:
    """Set the status (and optionally the priority); each change is audited."""
    workspace_id = viewer.actor.workspace_id or -1
    async with runtime_of(request).db.write() as session:
        try:
            conversation = await actions.load(session, workspace_id, conversation_id)
        except actions.NotFound:
            return problem(404, "There is no such conversation.")  # type: ignore[return-value]
        await actions.set_field(session, viewer.actor, conversation, "status", body.status)
        if body.priority is not None:
            await actions.set_field(session, viewer.actor, conversation, "priority", body.priority)
    await _announce(request, conversation)
    return await _current(request, viewer, conversation_id)


@router.post("/conversations/{conversation_id}/notes", status_code=201, responses=_CHANGE_ERRORS)  # type: ignore[arg-type]
async def post_note(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.manage"))],
    conversation_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: TextIn,
) -> MessageOut:
    """Add an internal note (direction ``note``); ``@name`` mentions notify members whose
    e-mail address starts with ``name@``."""
    workspace_id = viewer.actor.workspace_id or -1
    async with runtime_of(request).db.write() as session:
        try:
            conversation = await actions.load(session, workspace_id, conversation_id)
            note = await actions.add_note(session, viewer.actor, conversation, body.text)
        except actions.NotFound:
            return problem(404, "There is no such conversation.")  # type: ignore[return-value]
        except actions.InvalidChange:
            return problem(422, "A note needs text.")  # type: ignore[return-value]
    await _announce(request, conversation)
    return _message_out(note, None)


@router.post(
    "/conversations/{conversation_id}/replies",
    status_code=201,
    responses={
        **_CHANGE_ERRORS,
        502: {"model": Problem, "description": "The network refused or could not be reached"},
    },
)  # type: ignore[arg-type]
async def post_reply(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.reply"))],
    conversation_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: TextIn,
) -> MessageOut:
    """Reply through the conversation's channel to its newest inbound message. The reply is
    stored (direction ``outbound``) only once the network accepted it; ``first_reply_at`` is
    set and ``waiting_since`` cleared. A refusal stores nothing and answers 422 (nothing to
    reply to, too long for the network — counted as the network counts, see
    ``allsang.connectors.limits`` —, or the workspace holds this person's replies for an
    editor's approval) or 502 (the network's error, in ``detail``)."""
    runtime = runtime_of(request)
    workspace_id = viewer.actor.workspace_id or -1
    try:
        target = await replies.reply_target(runtime, workspace_id, conversation_id)
        # An API client has no page that was opened at some time: no collision check.
        message = await replies.send_reply(
            runtime, viewer.actor, workspace_id, conversation_id, body.text, force=True
        )
    except actions.NotFound:
        return problem(404, "There is no such conversation.")  # type: ignore[return-value]
    except replies.ReplyFailed as exc:
        status = 502 if isinstance(exc.__cause__, Exception) else 422
        return problem(status, str(exc))  # type: ignore[return-value]
    async with runtime.db.read() as session:
        conversation = await actions.load(session, workspace_id, conversation_id)
    await _announce(request, conversation)
    return _message_out(message, target.channel.network)
