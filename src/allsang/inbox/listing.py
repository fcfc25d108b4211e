"""The inbox list: filters from a query string, newest activity first, keyset paging,
counts per status, unread state per person, and saved views.

A conversation's *activity* is ``last_message_at`` (the newest inbound or outbound message);
the list shows conversations that have at least one message. Language, sentiment and intent
filters match conversations with at least one inbound message in that language, sentiment or
intent; ``q`` searches the full-text index (:mod:`allsang.inbox.search`) and ``query`` runs a
listening query over the inbound messages (:mod:`allsang.inbox.query_filter`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import (
    Select,
    Subquery,
    and_,
    bindparam,
    exists,
    false,
    func,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from allsang.db.models import (
    CONVERSATION_STATUSES,
    Channel,
    Contact,
    Conversation,
    ConversationRead,
    ConversationTag,
    Message,
    Person,
    SavedView,
)
from allsang.inbox import facets, query_filter, search
from allsang.listening.intent import INTENTS

PAGE_SIZE = 50
UNRANKED = -1.0  # below every score: a match outside the scored newest hits
SENTIMENTS = ("pos", "neu", "neg")
SORTS = ("relevance", "date")
MAX_VIEW_NAME = 100
MAX_SEARCH = 500
MAX_QUERY = 4096


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """What the list shows; every field is optional and parsed leniently from a query string
    (an unknown value is dropped rather than failing the page)."""

    status: str = ""
    assignee: str = ""  # "me", "unassigned" or a person id
    department: int | None = None
    channel: int | None = None
    language: str = ""
    sentiment: str = ""
    unanswered: bool = False
    tag: int | None = None
    intent: str = ""
    sla_breached: bool = False
    q: str = ""  # full-text search words and "phrases"
    query: str = ""  # a listening query (may be invalid: list_inbox raises QuerySyntaxError)
    sort: str = ""  # "relevance" (the default with q) or "date"

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> InboxFilter:
        def number(name: str) -> int | None:
            value = params.get(name, "")
            return int(value) if value.isdigit() and len(value) < 18 else None

        status = params.get("status", "")
        assignee = params.get("assignee", "")
        if assignee not in ("me", "unassigned") and not (assignee.isdigit() and len(assignee) < 18):
            assignee = ""
        language = params.get("language", "").strip().lower()
        sentiment = params.get("sentiment", "")
        intent = params.get("intent", "")
        sort = params.get("sort", "")
        q = " ".join(params.get("q", "").split())
        query = params.get("query", "").strip()
        return cls(
            status=status if status in CONVERSATION_STATUSES else "",
            assignee=assignee,
            department=number("department"),
            channel=number("channel"),
            language=language if language.isalpha() and len(language) <= 8 else "",
            sentiment=sentiment if sentiment in SENTIMENTS else "",
            unanswered=params.get("unanswered", "") in ("1", "true", "on"),
            tag=number("tag"),
            intent=intent if intent in INTENTS else "",
            sla_breached=params.get("sla_breached", "") in ("1", "true", "on"),
            q=q if len(q) <= MAX_SEARCH else "",
            query=query if len(query) <= MAX_QUERY else "",
            sort=sort if sort in SORTS else "",
        )

    def query_string(self, **changes: object) -> str:
        """The filter as a query string (what a saved view stores), with ``changes`` applied."""
        current = replace(self, **changes)  # type: ignore[arg-type]
        pairs = []
        for item in fields(current):
            value = getattr(current, item.name)
            if value is True:
                pairs.append((item.name, "1"))
            elif value not in ("", None, False):
                pairs.append((item.name, str(value)))
        return urlencode(pairs)

    @property
    def active(self) -> bool:
        return bool(self.query_string())

    @property
    def by_relevance(self) -> bool:
        return bool(self.q) and self.sort != "date"

    @property
    def uses_index(self) -> bool:
        """Whether the filter reads the search documents (which must be current first:
        :func:`allsang.inbox.search.ensure_current`)."""
        return bool(self.q or self.intent)


@dataclass(frozen=True, slots=True)
class Prepared:
    """The parts of a filter that need work before the list query: the search matches
    (``conversation_id``, ``rank``) for ordering by relevance, the conversations with one of
    the newest :data:`~allsang.inbox.search.CAPPED` matches (for filtering and counting) and
    whether there were more, and the conversations a listening query matched."""

    search: Subquery | None = None
    search_ids: frozenset[int] | None = None
    query_ids: frozenset[int] | None = None
    search_capped: bool = False


async def prepare(
    session: AsyncSession, workspace_id: int, person_id: int | None, f: InboxFilter
) -> Prepared:
    """Raises :class:`~allsang.listening.query.QuerySyntaxError` for an unusable ``query``."""
    found = found_ids = None
    capped = False
    if f.q:
        parts = search.parse_search(f.q)
        dialect = session.bind.dialect.name
        if parts:
            found = search.matches(dialect, workspace_id, parts).subquery("search")
            found_ids, capped = await search.matching_conversations(session, workspace_id, parts)
        else:
            found = (
                select(Conversation.id.label("conversation_id"), func.max(0).label("rank"))
                .where(false())
                .group_by(Conversation.id)
                .subquery("search")
            )
            found_ids = frozenset()
    if not f.query:
        return Prepared(found, found_ids, search_capped=capped)
    compiled = query_filter.compile_filter(f.query)
    candidates = _filtered(
        select(Conversation.id),
        workspace_id,
        person_id,
        f,
        Prepared(found, found_ids),
        with_status=False,
    )
    ids = await query_filter.matching_conversations(session, compiled, candidates)
    return Prepared(found, found_ids, frozenset(ids), capped)


@dataclass(slots=True)
class InboxRow:
    conversation: Conversation
    contact: Contact | None
    channel: Channel | None
    assignee: Person | None
    latest: Message | None
    unread: bool
    tags: list[str] = field(default_factory=list)

    @property
    def first_line(self) -> str:
        text = self.latest.text if self.latest else self.conversation.subject
        return next((line.strip() for line in text.splitlines() if line.strip()), "")


@dataclass(slots=True)
class InboxPage:
    rows: list[InboxRow]
    next_cursor: str | None
    counts: dict[str, int]
    # The search stopped at its newest search.CAPPED hits: the rows are the conversations
    # among them and the counts are lower bounds (shown as "5,000+").
    counts_capped: bool = False


def encode_cursor(at: datetime, conversation_id: int) -> str:
    raw = f"{int(at.timestamp() * 1_000_000)}:{conversation_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    """The (activity, id) a cursor points after, or None for a malformed one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, conversation_id = raw.split(":")
        at = datetime.fromtimestamp(int(micros) / 1_000_000, UTC)
        return at, int(conversation_id)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        return None


def _filtered(
    query: Select[tuple[Conversation]] | Select[tuple[str, int]],
    workspace_id: int,
    person_id: int | None,
    f: InboxFilter,
    prepared: Prepared,
    *,
    with_status: bool = True,
) -> Select:  # type: ignore[type-arg]
    query = query.where(
        Conversation.workspace_id == workspace_id, Conversation.last_message_at.is_not(None)
    )
    if with_status and f.status:
        query = query.where(Conversation.status == f.status)
    if f.assignee == "me":
        query = query.where(Conversation.assignee_id == (person_id or -1))
    elif f.assignee == "unassigned":
        query = query.where(Conversation.assignee_id.is_(None))
    elif f.assignee:
        query = query.where(Conversation.assignee_id == int(f.assignee))
    if f.department is not None:
        query = query.where(Conversation.department_id == f.department)
    if f.channel is not None:
        query = query.where(Conversation.channel_id == f.channel)
    return narrow(query, f, prepared)


def narrow(query: Select, f: InboxFilter, prepared: Prepared) -> Select:  # type: ignore[type-arg]
    """``query`` (a select over conversations) restricted by the filters on a conversation's
    content and state: unanswered, tag, language, sentiment, intent, SLA, search, query.
    The JSON API shares these with the list; ``prepared`` comes from :func:`prepare`."""
    if f.unanswered:
        query = query.where(Conversation.waiting_since.is_not(None))
    if f.tag is not None:
        query = query.where(
            exists().where(
                ConversationTag.conversation_id == Conversation.id, ConversationTag.tag_id == f.tag
            )
        )
    # "Has an inbound message in …" and "… with that intent": facts the triggers keep per
    # conversation (allsang.inbox.facets), one probe each.
    for kind, value in _facets(f):
        if kind != "unanswered":
            query = query.where(facets.has(kind, value))
    if f.sla_breached:
        query = query.where(
            or_(
                Conversation.sla_breached_at.is_not(None),
                Conversation.sla_due_at < datetime.now(UTC),
            )
        )
    # Inlined integers: a big match set must not run into the drivers' parameter limits.
    for name, found in (("search_ids", prepared.search_ids), ("query_ids", prepared.query_ids)):
        if found is not None:
            ids = bindparam(name, sorted(found), expanding=True, literal_execute=True)
            query = query.where(Conversation.id.in_(ids) if found else false())
    return query


def _facets(f: InboxFilter) -> list[facets.Facet]:
    """The filter's conditions that are kept per conversation (see :mod:`allsang.inbox.facets`)."""
    found: list[facets.Facet] = [("unanswered", "")] if f.unanswered else []
    pairs = (("lang", f.language), ("sentiment", f.sentiment), ("intent", f.intent))
    return found + [(kind, value) for kind, value in pairs if value]


async def list_inbox(
    session: AsyncSession,
    workspace_id: int,
    person_id: int | None,
    f: InboxFilter,
    *,
    after: str | None = None,
    limit: int = PAGE_SIZE,
    only: Sequence[int] | None = None,
) -> InboxPage:
    """One page of the inbox, newest activity first (or, searching, the most relevant first),
    after the ``after`` cursor.

    ``only`` restricts the page to those conversation ids (a live update re-renders the rows a
    hint named, through the same filters, so a row that no longer matches disappears).
    Raises :class:`~allsang.listening.query.QuerySyntaxError` for an unusable ``query``."""
    prepared = await prepare(session, workspace_id, person_id, f)
    if f.by_relevance and prepared.search is not None:
        page = await _by_relevance(
            session, workspace_id, person_id, f, prepared, after, limit, only
        )
        page.counts_capped = prepared.search_capped and only is None
        return page
    position = decode_cursor(after) if after else None
    if prepared.search_ids is not None and only is None:
        found, counts = await _page_and_counts(
            session, workspace_id, person_id, f, prepared, None, position=position, limit=limit
        )
        page = await _page(session, person_id, found, limit, counts)
        page.counts_capped = prepared.search_capped
        return page
    query = _filtered(select(Conversation), workspace_id, person_id, f, prepared)
    if only is not None:
        query = query.where(Conversation.id.in_(list(only)))
    if position is not None:
        at, conversation_id = position
        query = query.where(
            or_(
                Conversation.last_message_at < at,
                and_(Conversation.last_message_at == at, Conversation.id < conversation_id),
            )
        )
    query = query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
    conversations = list(await session.scalars(query.limit(limit + 1)))
    counts = (
        await status_counts(session, workspace_id, person_id, f, prepared) if only is None else {}
    )
    return await _page(session, person_id, conversations, limit, counts)


async def _page(
    session: AsyncSession,
    person_id: int | None,
    conversations: list[Conversation],
    limit: int,
    counts: dict[str, int],
) -> InboxPage:
    """The page of newest-first ``conversations`` (``limit + 1`` tell whether there is more)."""
    has_more = len(conversations) > limit
    conversations = conversations[:limit]
    rows = await _rows(session, person_id, conversations)
    last = conversations[-1] if conversations else None
    next_cursor = (
        encode_cursor(last.last_message_at, last.id)
        if has_more and last is not None and last.last_message_at is not None
        else None
    )
    return InboxPage(rows, next_cursor, counts)


async def _by_relevance(
    session: AsyncSession,
    workspace_id: int,
    person_id: int | None,
    f: InboxFilter,
    prepared: Prepared,
    after: str | None,
    limit: int,
    only: Sequence[int] | None,
) -> InboxPage:
    """A page of search results, best first; the cursor is the offset (``r<n>``), since a
    relevance order has no stable key to continue after."""
    search = prepared.search
    assert search is not None
    offset = int(after[1:]) if after and after[:1] == "r" and after[1:].isdigit() else 0
    # Every match is listed; those with one of the newest scored hits (search.matches) first.
    rank = func.coalesce(search.c.rank, UNRANKED)
    if only is not None:
        query = (
            _filtered(select(Conversation), workspace_id, person_id, f, prepared)
            .where(Conversation.id.in_(list(only)))
            .outerjoin(search, search.c.conversation_id == Conversation.id)
            .order_by(rank.desc(), Conversation.last_message_at.desc(), Conversation.id.desc())
            .offset(offset)
            .limit(limit + 1)
        )
        conversations = list(await session.scalars(query))
        counts: dict[str, int] = {}
    else:
        conversations, counts = await _page_and_counts(
            session, workspace_id, person_id, f, prepared, search, offset=offset, limit=limit
        )
    next_cursor = f"r{offset + limit}" if len(conversations) > limit else None
    conversations = conversations[:limit]
    rows = await _rows(session, person_id, conversations)
    return InboxPage(rows, next_cursor, counts)


async def _page_and_counts(
    session: AsyncSession,
    workspace_id: int,
    person_id: int | None,
    f: InboxFilter,
    prepared: Prepared,
    search: Subquery | None,
    *,
    offset: int = 0,
    position: tuple[datetime, int] | None = None,
    limit: int,
) -> tuple[list[Conversation], dict[str, int]]:
    """A page of a search (``limit + 1`` conversations, most relevant first when ``search``
    gives the ranks, else newest first after ``position``) and its status counts from one
    statement: the matches under the other filters are materialised once and both read
    them, so the full-text match (the cost of a common word) runs once."""
    columns: list[Any] = [Conversation.id, Conversation.status, Conversation.last_message_at]
    query = _filtered(select(*columns), workspace_id, person_id, f, prepared, with_status=False)
    if search is not None:
        query = query.add_columns(func.coalesce(search.c.rank, UNRANKED).label("rank"))
        query = query.outerjoin(search, search.c.conversation_id == Conversation.id)
    matched = query.cte("matched").prefix_with("MATERIALIZED")
    order = [matched.c.last_message_at.desc(), matched.c.id.desc()]
    if search is not None:
        order.insert(0, matched.c.rank.desc())
    # The sort keys come back with the page (rather than a row_number(), which would sort
    # every match rather than keep the best ones).
    keys = [matched.c.rank if search is not None else null(), matched.c.last_message_at]
    page = select(matched.c.id, *keys)
    if f.status:
        page = page.where(matched.c.status == f.status)
    if position is not None:
        at, after_id = position
        page = page.where(
            or_(
                matched.c.last_message_at < at,
                and_(matched.c.last_message_at == at, matched.c.id < after_id),
            )
        )
    paged = page.order_by(*order).offset(offset).limit(limit + 1).subquery("page")
    both = union_all(
        select(*paged.c, null().label("status"), null().label("n")),
        select(null(), null(), null(), matched.c.status, func.count()).group_by(matched.c.status),
    )
    ordered: list[tuple[Any, Any, int]] = []
    counts = dict.fromkeys(CONVERSATION_STATUSES, 0)
    for conversation_id, rank, at, status, n in (await session.execute(both)).all():
        if conversation_id is None:
            counts[status] = n
        else:
            ordered.append((rank or 0, at, conversation_id))
    ordered.sort(reverse=True)  # the order of the page's ORDER BY, all keys descending
    places = {conversation_id: place for place, (_, _, conversation_id) in enumerate(ordered)}
    found = await session.scalars(select(Conversation).where(Conversation.id.in_(places)))
    return sorted(found, key=lambda c: places[c.id]), counts


async def status_counts(
    session: AsyncSession,
    workspace_id: int,
    person_id: int | None,
    f: InboxFilter,
    prepared: Prepared | None = None,
) -> dict[str, int]:
    """Conversations per status under every filter except the status itself: read from the
    kept counts when the filter is at most one fact (:func:`allsang.inbox.facets.single`),
    else counted."""
    if prepared is None:
        prepared = await prepare(session, workspace_id, person_id, f)
    narrowed = bool(
        f.assignee
        or f.department is not None
        or f.channel is not None
        or f.tag is not None
        or f.sla_breached
        or prepared.search_ids is not None
        or prepared.query_ids is not None
    )
    facet = facets.single(_facets(f), narrowed)
    if facet is not None:
        return await facets.counts(session, workspace_id, facet)
    query = _filtered(
        select(Conversation.status, func.count()),
        workspace_id,
        person_id,
        f,
        prepared,
        with_status=False,
    ).group_by(Conversation.status)
    found = {status: count for status, count in (await session.execute(query)).all()}
    return {status: found.get(status, 0) for status in CONVERSATION_STATUSES}


async def _rows(
    session: AsyncSession, person_id: int | None, conversations: list[Conversation]
) -> list[InboxRow]:
    if not conversations:
        return []
    ids = [c.id for c in conversations]
    # Contact, channel, assignee and newest inbound message in one round trip: on a busy
    # server each round trip costs more than these look-ups do.
    inbound = aliased(Message)
    newest = (
        select(func.max(inbound.id))
        .where(inbound.conversation_id == Conversation.id, inbound.direction == "inbound")
        .correlate(Conversation)
        .scalar_subquery()
    )
    details = await session.execute(
        select(Conversation.id, Contact, Channel, Person, Message)
        .outerjoin(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(Channel, Channel.id == Conversation.channel_id)
        .outerjoin(Person, Person.id == Conversation.assignee_id)
        .outerjoin(Message, Message.id == newest)
        .where(Conversation.id.in_(ids))
    )
    found = {row[0]: row[1:] for row in details.all()}
    read: dict[int, datetime] = {}
    if person_id is not None:
        result = await session.execute(
            select(ConversationRead.conversation_id, ConversationRead.read_at).where(
                ConversationRead.person_id == person_id, ConversationRead.conversation_id.in_(ids)
            )
        )
        read = {cid: at for cid, at in result.all()}
    tags = await tag_names(session, ids)
    return [
        InboxRow(
            conversation=c,
            contact=found[c.id][0],
            channel=found[c.id][1],
            assignee=found[c.id][2],
            latest=found[c.id][3],
            unread=c.id not in read
            or (c.last_message_at is not None and c.last_message_at > read[c.id]),
            tags=tags.get(c.id, []),
        )
        for c in conversations
    ]


async def tag_names(session: AsyncSession, conversation_ids: Sequence[int]) -> dict[int, list[str]]:
    from allsang.db.models import Tag

    result = await session.execute(
        select(ConversationTag.conversation_id, Tag.name)
        .join(Tag, Tag.id == ConversationTag.tag_id)
        .where(ConversationTag.conversation_id.in_(list(conversation_ids)))
        .order_by(Tag.name)
    )
    found: dict[int, list[str]] = {}
    for conversation_id, name in result.all():
        found.setdefault(conversation_id, []).append(name)
    return found


# Saved views ----------------------------------------------------------------------------------


class InvalidView(ValueError):
    """The name is empty, too long, or taken by another of the person's views."""


async def saved_views(session: AsyncSession, workspace_id: int, person_id: int) -> list[SavedView]:
    result = await session.scalars(
        select(SavedView)
        .where(SavedView.workspace_id == workspace_id, SavedView.person_id == person_id)
        .order_by(SavedView.name)
    )
    return list(result)


async def save_view(
    session: AsyncSession, workspace_id: int, person_id: int, name: str, f: InboxFilter
) -> SavedView:
    """Save (or overwrite the filter of) the person's view called ``name``."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_VIEW_NAME:
        raise InvalidView(name)
    existing = await session.scalar(
        select(SavedView).where(
            SavedView.workspace_id == workspace_id,
            SavedView.person_id == person_id,
            SavedView.name == name,
        )
    )
    if existing is not None:
        existing.query = f.query_string()
        return existing
    view = SavedView(
        workspace_id=workspace_id, person_id=person_id, name=name, query=f.query_string()
    )
    session.add(view)
    await session.flush()
    return view


async def delete_view(
    session: AsyncSession, workspace_id: int, person_id: int, view_id: int
) -> bool:
    view = await session.get(SavedView, view_id)
    if view is None or view.workspace_id != workspace_id or view.person_id != person_id:
        return False
    await session.delete(view)
    return True
