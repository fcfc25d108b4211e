"""Keeping the aggregate tables up to date: incremental refresh and full rebuild.

Both recompute — never increment — the buckets they touch, from the messages themselves:

* a conversation's facts row is replaced by facts computed from all its messages;
* a local day's buckets (``analytics_day``, ``_lang_day``, ``_voice_day``, ``_query_day``)
  are deleted and counted again from that day's messages.

Recomputing makes every step idempotent (a job that runs twice, or a message seen twice,
changes nothing) and order-independent, so *incremental = rebuild* holds by construction
(tests/analytics check it). The cost is bounded by the size of one day and of the touched
conversations, never by the message table.

What is dirty is read from the database, not from memory, so nothing is lost when a process
dies: :func:`refresh` looks at messages with an id above the workspace's watermark
(``analytics_state.last_message_id``) and recounts their days and conversations. On
PostgreSQL a transaction that took its ids earlier may commit after a later one: among the
:data:`LOOKBACK_IDS` ids below the watermark, those stored (``received_at``) less than
:data:`CONVERSATION_MARGIN` before the previous run started are counted again, which catches
such a late commit without recounting old days on every run. Conversations whose
``updated_at`` moved since the last run (status, department, replies, and the late messages
just mentioned) are recounted as well.
It runs as the job ``analytics.refresh``: queued after every
ingest commit (see :func:`commit_hook`) and every minute by cron, and it writes the buckets and
the new watermark in one transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from allsang.analytics.definitions import (
    MessageFact,
    conversation_facts,
    day_bounds,
    local_day,
    sla_met,
)
from allsang.db import Database
from allsang.db.models import Channel, Conversation, Department, Message, Workspace
from allsang.db.models.analytics import (
    AnalyticsConversation,
    AnalyticsDay,
    AnalyticsLangDay,
    AnalyticsQueryDay,
    AnalyticsState,
    AnalyticsVoiceDay,
)
from allsang.db.types import utcnow
from allsang.ingest.fast import Bulk
from allsang.ingest.pipeline import ChannelRef, CommitHook
from allsang.jobs import enqueue
from allsang.listening import store
from allsang.listening.query import QuerySet, compile_queries
from allsang.routing.hours import ALWAYS_OPEN, BusinessHours, hours_for_department

log = logging.getLogger(__name__)

JOB_KIND = "analytics.refresh"
LOOKBACK_IDS = 2000
STEP = 20_000  # new messages taken per refresh transaction
CONVERSATION_CHUNK = 500
DAY_CHUNK = 7  # days recounted per statement (rebuild)
# Conversation changes are found by ``updated_at``; a little overlap covers clock skew between
# the processes that write them.
CONVERSATION_MARGIN = timedelta(minutes=2)
DAY_TABLES = (AnalyticsDay, AnalyticsLangDay, AnalyticsVoiceDay, AnalyticsQueryDay)


@dataclass(slots=True)
class _Row:
    """The columns of a message a query may look at (see ``store.query_message``)."""

    text: str
    lang: str | None
    sentiment: str | None
    extra: dict[str, Any]
    url: str


class _Context:
    """Per-workspace things a recount needs: zone, business hours, compiled queries."""

    def __init__(
        self, workspace: Workspace, queries: list[QuerySet], hours: dict[int, BusinessHours]
    ) -> None:
        self.workspace_id = workspace.id
        self.zone = ZoneInfo(workspace.timezone or "UTC")
        self.queries = queries
        self._hours = hours

    def hours(self, department_id: int) -> BusinessHours:
        return self._hours.get(department_id, ALWAYS_OPEN)


async def _context(session: AsyncSession, workspace_id: int) -> _Context | None:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        return None
    queries = await store.list_queries(session, workspace_id, active_only=True)
    sets = []
    for fold in (False, True):
        chosen = [(str(q.id), q.query) for q in queries if q.fold is fold]
        if chosen:
            sets.append(compile_queries(chosen, fold=fold))
    hours = {
        department_id: await hours_for_department(session, department_id)
        for department_id in await session.scalars(
            select(Department.id).where(Department.workspace_id == workspace_id)
        )
    }
    return _Context(workspace, sets, hours)


# --- conversations ----------------------------------------------------------------------------


async def recount_conversations(
    session: AsyncSession, ctx: _Context, conversation_ids: Iterable[int], now: datetime
) -> set[date]:
    """Replace the facts rows of these conversations; the local days whose reply/broadcast
    split may have changed with them (the days of their messages)."""
    ids = sorted(set(conversation_ids))
    return await session.run_sync(_recount_conversations, ctx, ids, now)


def _recount_conversations(
    session: Session, ctx: _Context, ids: list[int], now: datetime
) -> set[date]:
    # Synchronous, through run_sync: thousands of rows without an await per row.
    c = Conversation
    bulk = Bulk(session.connection())
    days: set[date] = set()
    stamp = bulk.timestamp(now)
    for start in range(0, len(ids), CONVERSATION_CHUNK):
        chunk = ids[start : start + CONVERSATION_CHUNK]
        conversations = session.execute(
            select(
                c.id,
                c.channel_id,
                func.coalesce(c.department_id, Channel.department_id, 0),
                c.assignee_id,
                c.status,
                c.created_at,
                c.updated_at,
                c.sla_due_at,
                c.sla_breached_at,
            )
            .outerjoin(Channel, Channel.id == c.channel_id)
            .where(c.id.in_(chunk), c.workspace_id == ctx.workspace_id)
        ).all()
        messages: dict[int, list[MessageFact]] = defaultdict(list)
        for row in session.execute(
            select(
                Message.conversation_id,
                Message.direction,
                Message.kind,
                Message.created_at,
                Message.author_person_id,
                Message.text,
                Message.lang,
                Message.sentiment_score,
                Message.extra,
            ).where(Message.conversation_id.in_(chunk))
        ):
            messages[row[0]].append(MessageFact(*row[1:]))
        session.execute(
            delete(AnalyticsConversation).where(AnalyticsConversation.conversation_id.in_(chunk))
        )
        rows = []
        for (
            cid,
            channel,
            department,
            assignee,
            status,
            created,
            updated,
            due,
            breached,
        ) in conversations:
            own = messages.get(cid, [])
            days.update(local_day(m.created_at, ctx.zone) for m in own)
            facts = conversation_facts(own, ctx.hours(department))
            closed = status == "closed"
            began = facts.started_at or created
            resolution = None
            if closed and facts.started_at is not None:
                # The closing instant is the conversation's last change while it is closed.
                resolution = max(0.0, (updated - facts.started_at).total_seconds())
            rows.append(
                (
                    cid,
                    ctx.workspace_id,
                    _stored_day(bulk, local_day(began, ctx.zone)),
                    channel or 0,
                    department,
                    # Whose conversation it is: the assignee, else whoever answered first.
                    assignee or facts.person_id or 0,
                    None if facts.started_at is None else bulk.timestamp(facts.started_at),
                    facts.expects_answer,
                    facts.intent,
                    facts.inbound,
                    facts.outbound,
                    facts.turns,
                    None
                    if facts.first_response_at is None
                    else bulk.timestamp(facts.first_response_at),
                    facts.first_response_seconds,
                    facts.business_seconds,
                    closed,
                    resolution,
                    sla_met(facts.first_response_at, due, breached, now),
                    stamp,
                )
            )
        bulk.insert(AnalyticsConversation.__table__, _FACT_COLUMNS, rows)
    return days


_FACT_COLUMNS = (
    "conversation_id", "workspace_id", "day", "channel_id", "department_id", "person_id",
    "started_at", "expects_answer", "intent", "inbound", "outbound", "turns",
    "first_response_at", "first_response_seconds", "business_seconds", "closed",
    "resolution_seconds", "sla_met", "updated_at",
)  # fmt: skip


# --- days ----------------------------------------------------------------------------------------


def _runs(days: Iterable[date], longest: int) -> list[tuple[date, date]]:
    """Consecutive days grouped into runs of at most ``longest`` days: (first, last)."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and (day - runs[-1][1]).days == 1 and (day - runs[-1][0]).days < longest:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


async def recount_days(session: AsyncSession, ctx: _Context, days: Iterable[date]) -> None:
    """Delete and count again every bucket of these local days. A message of our own is a
    reply when its conversation's facts say the audience wrote first (``started_at`` at or
    before it), otherwise a broadcast; so conversations must be recounted first."""
    await session.run_sync(_recount_days, ctx, sorted(set(days)))


def _recount_days(session: Session, ctx: _Context, days: list[date]) -> None:
    for first, last in _runs(days, DAY_CHUNK):
        start, end = day_bounds(first, last, ctx.zone)
        for table in DAY_TABLES:
            session.execute(
                delete(table).where(
                    table.workspace_id == ctx.workspace_id, table.day.between(first, last)
                )
            )
        _count(session, ctx, start, end)


def _count(session: Session, ctx: _Context, start: datetime, end: datetime) -> None:
    with_text = bool(ctx.queries)
    columns: list[Any] = [
        Message.created_at,
        Message.channel_id,
        Message.direction,
        Message.author_person_id,
        Message.contact_id,
        Message.lang,
        Message.sentiment,
        Message.sentiment_score,
        func.coalesce(Conversation.department_id, Channel.department_id, 0),
        AnalyticsConversation.started_at,
    ]
    if with_text:
        columns += [Message.text, Message.extra, Message.url]
    statement = (
        select(*columns)
        .outerjoin(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(Channel, Channel.id == Message.channel_id)
        .outerjoin(
            AnalyticsConversation,
            AnalyticsConversation.conversation_id == Message.conversation_id,
        )
        .where(
            Message.workspace_id == ctx.workspace_id,
            Message.created_at >= start,
            Message.created_at < end,
        )
    )
    day_rows: dict[tuple[date, int, int, int], list[Any]] = {}
    langs: dict[tuple[date, int, int, str], int] = defaultdict(int)
    voices: dict[tuple[date, int, int, int], int] = defaultdict(int)
    queries: dict[tuple[date, int], list[Any]] = {}
    zone, day_of_hour = ctx.zone, {}
    for row in session.execute(statement):
        created, channel, direction, person, contact, lang, sentiment, score, dept, began = row[:10]
        # Local day of the instant; the hour-level cache saves most zone conversions.
        hour = created.replace(minute=0, second=0, microsecond=0)
        day = day_of_hour.get(hour)
        if day is None:
            day = day_of_hour[hour] = local_day(hour, zone)
        channel = channel or 0
        who = (person or 0) if direction != "inbound" else 0
        key = (day, channel, dept, who)
        counts = day_rows.get(key)
        if counts is None:
            counts = day_rows[key] = [0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0]
        if direction == "inbound":
            counts[0] += 1
            langs[(day, channel, dept, lang or "")] += 1
            if contact:
                voices[(day, channel, dept, contact)] += 1
            _sentiment(counts, 5, sentiment, score)
            if with_text:
                seen = store.query_message(_Row(row[10], lang, sentiment, row[11] or {}, row[12]))  # type: ignore[arg-type]
                for compiled in ctx.queries:
                    for query_id in compiled.match(seen):
                        figures = queries.get((day, int(query_id)))
                        if figures is None:
                            figures = queries[(day, int(query_id))] = [0, 0, 0, 0, 0.0, 0]
                        figures[0] += 1
                        _sentiment(figures, 1, sentiment, score)
        elif direction == "outbound":
            counts[1] += 1
            if began is not None and began <= created:
                counts[2] += 1
            else:
                counts[3] += 1
            langs[(day, channel, dept, lang or "")] += 1
        else:
            counts[4] += 1
    ws = ctx.workspace_id
    bulk = Bulk(session.connection())

    def day(value: date) -> Any:
        return _stored_day(bulk, value)

    bulk.insert(
        AnalyticsDay.__table__,
        _DAY_COLUMNS,
        [(ws, day(d), c, dep, p, *v) for (d, c, dep, p), v in day_rows.items()],
    )
    bulk.insert(
        AnalyticsLangDay.__table__,
        ("workspace_id", "day", "channel_id", "department_id", "lang", "messages"),
        [(ws, day(d), c, dep, lang[:8], n) for (d, c, dep, lang), n in langs.items()],
    )
    bulk.insert(
        AnalyticsVoiceDay.__table__,
        ("workspace_id", "day", "channel_id", "department_id", "contact_id", "messages"),
        [(ws, day(d), c, dep, contact, n) for (d, c, dep, contact), n in voices.items()],
    )
    bulk.insert(
        AnalyticsQueryDay.__table__,
        (
            "workspace_id",
            "day",
            "query_id",
            "messages",
            "positive",
            "neutral",
            "negative",
            "score_sum",
            "scored",
        ),
        [(ws, day(d), q, *v) for (d, q), v in queries.items()],
    )


def _stored_day(bulk: Bulk, value: date) -> Any:
    """A date as the Date column stores it: ISO text on SQLite (as SQLAlchemy writes it, without
    relying on sqlite3's deprecated default adapter), a date on PostgreSQL."""
    return value.isoformat() if bulk.sqlite else value


_DAY_COLUMNS = (
    "workspace_id", "day", "channel_id", "department_id", "person_id", "inbound", "outbound",
    "replies", "broadcasts", "notes", "positive", "neutral", "negative", "score_sum", "scored",
)  # fmt: skip


def _sentiment(counts: list[Any], at: int, label: str | None, score: float | None) -> None:
    """Add one message's sentiment to ``counts[at:at + 5]`` (pos, neu, neg, sum, scored)."""
    if label == "pos":
        counts[at] += 1
    elif label == "neu":
        counts[at + 1] += 1
    elif label == "neg":
        counts[at + 2] += 1
    if score is not None:
        counts[at + 3] += score
        counts[at + 4] += 1


# --- refresh and rebuild ----------------------------------------------------------------------


async def _state(session: AsyncSession, workspace_id: int) -> AnalyticsState:
    state = await session.get(AnalyticsState, workspace_id)
    if state is None:
        state = AnalyticsState(workspace_id=workspace_id, last_message_id=0)
        session.add(state)
        await session.flush()
    return state


async def refresh(db: Database, workspace_id: int, *, now: datetime | None = None) -> int:
    """Bring the workspace's aggregates up to date; the number of new messages read (-1 when
    the workspace had never been counted and was rebuilt instead).

    Each call reads at most :data:`STEP` new messages (and loops until none are left), each
    step in one write transaction together with the watermark it advances to.
    """
    async with db.read() as session:
        known = await session.get(AnalyticsState, workspace_id)
    if known is None:
        # Never counted: everything is new, and a rebuild counts it in bounded transactions.
        await rebuild(db, workspace_id, now=now)
        return -1
    total = 0
    while True:
        # Changes are found by comparing with real instants, whatever ``now`` the caller
        # evaluates SLAs at; taken before reading, so a change made meanwhile is seen again.
        started = utcnow()
        now = now or started
        async with db.write() as session:
            ctx = await _context(session, workspace_id)
            if ctx is None:
                return total
            state = await _state(session, workspace_id)
            rows = list(
                await session.execute(
                    select(
                        Message.id, Message.created_at, Message.conversation_id, Message.received_at
                    )
                    .where(
                        Message.workspace_id == workspace_id,
                        Message.id > max(0, state.last_message_id - LOOKBACK_IDS),
                    )
                    .order_by(Message.id)
                    .limit(STEP + LOOKBACK_IDS)
                )
            )
            seen_at = state.conversations_seen_at
            # Below the watermark only a late commit can be new: a row stored (received_at)
            # shortly before the last run started, but committed after it.
            recent = seen_at - CONVERSATION_MARGIN if seen_at is not None else None
            new = [
                r
                for r in rows
                if r[0] > state.last_message_id or (recent is not None and r[3] >= recent)
            ]
            changed: list[int] = []
            if seen_at is not None:
                changed = list(
                    await session.scalars(
                        select(Conversation.id).where(
                            Conversation.workspace_id == workspace_id,
                            Conversation.updated_at >= seen_at - CONVERSATION_MARGIN,
                        )
                    )
                )
            conversations = {r[2] for r in new if r[2] is not None} | set(changed)
            days = {local_day(r[1], ctx.zone) for r in new}
            days |= await recount_conversations(session, ctx, conversations, now)
            await recount_days(session, ctx, days)
            if rows:
                state.last_message_id = max(state.last_message_id, rows[-1][0])
            state.conversations_seen_at = started
            state.updated_at = started
        total += len(new)
        if len(rows) < STEP + LOOKBACK_IDS:
            return total
        now = None


async def rebuild(db: Database, workspace_id: int, *, now: datetime | None = None) -> None:
    """Throw the workspace's aggregates away and count everything again.

    Runs in several transactions (a day range or a chunk of conversations each) so the write
    lock is never held for long; messages stored meanwhile are above the watermark taken at
    the start and are counted by the next :func:`refresh`.
    """
    started = utcnow()
    now = now or started
    async with db.write() as session:
        for table in (*DAY_TABLES, AnalyticsConversation):
            await session.execute(delete(table).where(table.workspace_id == workspace_id))
        state = await _state(session, workspace_id)
        high = await session.scalar(
            select(func.max(Message.id)).where(Message.workspace_id == workspace_id)
        )
        span = (
            await session.execute(
                select(func.min(Message.created_at), func.max(Message.created_at)).where(
                    Message.workspace_id == workspace_id
                )
            )
        ).one()
        conversation_ids = list(
            await session.scalars(
                select(Conversation.id)
                .where(Conversation.workspace_id == workspace_id)
                .order_by(Conversation.id)
            )
        )
        state.last_message_id = high or 0
        state.conversations_seen_at = started
        state.rebuilt_at = started
    chunk = CONVERSATION_CHUNK * 4
    for start in range(0, len(conversation_ids), chunk):
        async with db.write() as session:
            ctx = await _context(session, workspace_id)
            if ctx is None:
                return
            await recount_conversations(session, ctx, conversation_ids[start : start + chunk], now)
    if span[0] is None:
        return
    async with db.read() as session:
        ctx = await _context(session, workspace_id)
    if ctx is None:
        return
    first, last = local_day(span[0], ctx.zone), local_day(span[1], ctx.zone)
    day = first
    while day <= last:
        until = min(last, day + timedelta(days=DAY_CHUNK - 1))
        async with db.write() as session:
            await recount_days(
                session, ctx, [day + timedelta(days=n) for n in range((until - day).days + 1)]
            )
        day = until + timedelta(days=1)


# --- after ingest -------------------------------------------------------------------------------

# Commits within this many seconds share one refresh job (the idempotency key's time slot).
HOOK_SLOT_SECONDS = 5


def commit_hook(db: Database) -> CommitHook:
    """An ingest ``on_commit`` hook that queues a refresh of the batch's workspace.

    Queuing is cheap (one INSERT … ON CONFLICT DO NOTHING); the counting happens in a worker.
    Should this process die before the hook runs, the batch is still counted: the refresh
    reads from its watermark, and the cron schedule runs it every minute.
    """
    queued: dict[int, int] = {}  # workspace → the slot this hook last queued a refresh for

    async def hook(channel: ChannelRef, message_ids: list[int]) -> None:
        if not message_ids:
            return
        slot = int(utcnow().timestamp()) // HOOK_SLOT_SECONDS
        if queued.get(channel.workspace_id) == slot:
            return  # the same INSERT again would be a no-op, but a write transaction still
        async with db.write() as session:
            await enqueue(
                session,
                JOB_KIND,
                {"workspace_id": channel.workspace_id},
                idempotency_key=f"analytics.refresh:{channel.workspace_id}:{slot}",
                workspace_id=channel.workspace_id,
            )
        queued[channel.workspace_id] = slot

    return hook
