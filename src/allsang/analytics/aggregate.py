"""Keeping the aggregate tables up to date: incremental refresh and full rebuild.

Both recompute — never increment — the buckets they touch, from the messages themselves:

* a conversation's facts row is replaced by facts computed from all its messages;
* a local day's buckets (``analytics_day``, ``_channel_day``, ``_lang_day``, ``_voice_day``,
  ``_query_day``) are deleted and counted again from that day's messages, and its
  ``analytics_response`` rows from the facts of the conversations counted on that day;
* the 7-, 28- and 112-day blocks holding a recounted day are replaced by the sums of the level
  below them (see :mod:`allsang.analytics.blocks`).

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
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from allsang.analytics import blocks
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
    RESPONSE_ROW,
    AnalyticsChannelDay,
    AnalyticsConversation,
    AnalyticsDay,
    AnalyticsLangDay,
    AnalyticsQueryDay,
    AnalyticsResponse,
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
DAY_TABLES = (
    AnalyticsDay,
    AnalyticsChannelDay,
    AnalyticsLangDay,
    AnalyticsVoiceDay,
    AnalyticsQueryDay,
    AnalyticsResponse,
)
# Per week, the voices of each channel and department kept: enough for the ten top voices of
# a long period without keeping every contact of every week (see docs/metrics.md).
VOICES_KEPT = 25


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
    """Replace the facts rows of these conversations; the local days whose figures may have
    changed with them: the days of their messages (the reply/broadcast split) and the days
    the conversations were and are counted on (``analytics_response``)."""
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
        days.update(
            session.scalars(
                select(AnalyticsConversation.day).where(
                    AnalyticsConversation.conversation_id.in_(chunk)
                )
            )
        )
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
            days.add(local_day(began, ctx.zone))
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
            where = [table.workspace_id == ctx.workspace_id, table.day.between(first, last)]
            if hasattr(table, "span"):
                where.append(table.span == 1)  # the blocks are replaced by _roll_up below
            session.execute(delete(table).where(*where))
        _count(session, ctx, start, end)
        _count_responses(session, ctx, first, last)
    _roll_up(session, ctx, days)


def _count_responses(session: Session, ctx: _Context, first: date, last: date) -> None:
    """The day rows of ``analytics_response`` from the facts of the conversations counted
    on these days (so conversations must be recounted first)."""
    c = AnalyticsConversation
    figures: dict[tuple[date, int, int, int], _Response] = {}
    for (
        day,
        channel,
        department,
        person,
        expects,
        answered,
        turns,
        intent,
        met,
        first_s,
        res,
    ) in session.execute(
        select(
            c.day,
            c.channel_id,
            c.department_id,
            c.person_id,
            c.expects_answer,
            c.first_response_at.is_not(None),
            c.turns,
            c.intent,
            c.sla_met,
            c.business_seconds,
            c.resolution_seconds,
        ).where(c.workspace_id == ctx.workspace_id, c.day.between(first, last))
    ):
        key = (day, channel, department, person)
        counts = figures.get(key)
        if counts is None:
            counts = figures[key] = _Response()
        counts.add(
            expects=bool(expects),
            answered=bool(answered),
            turns=turns,
            intent=intent,
            met=met,
            first=first_s,
            resolution=res,
        )
    bulk = Bulk(session.connection())
    bulk.insert(
        AnalyticsResponse.__table__,
        _RESPONSE_COLUMNS,
        [
            (ctx.workspace_id, 1, _stored_day(bulk, d), ch, dep, p, *r.row())
            for (d, ch, dep, p), r in figures.items()
        ],
    )


_RESPONSE_COLUMNS = ("workspace_id", "span", "day", *(column.key for column in RESPONSE_ROW))


@dataclass(slots=True)
class _Response:
    """The figures of one ``analytics_response`` row while they are counted."""

    counts: list[int] = field(default_factory=lambda: [0] * 7)
    first: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    resolution: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add(
        self,
        *,
        expects: bool,
        answered: bool,
        turns: int,
        intent: str,
        met: bool | None,
        first: float | None,
        resolution: float | None,
    ) -> None:
        counts = self.counts
        counts[0] += 1
        counts[1] += expects
        counts[2] += expects and answered
        counts[3] += turns >= 2
        counts[4] += not answered and intent in ("question", "complaint")
        counts[5] += met is True
        counts[6] += met is not None
        if first is not None:
            self.first[blocks.bucket(first)] += 1
        if resolution is not None:
            self.resolution[blocks.bucket(resolution)] += 1

    def merge(self, counts: Iterable[int], first: bytes, resolution: bytes) -> None:
        for n, value in enumerate(counts):
            self.counts[n] += value
        for histogram, blob in ((self.first, first), (self.resolution, resolution)):
            for k, n in blocks.decode(blob).items():
                histogram[k] += n

    def row(self) -> tuple[Any, ...]:
        return (*self.counts, blocks.encode(self.first), blocks.encode(self.resolution))


# --- blocks of 7, 28 and 112 days ----------------------------------------------------------------

# Summed per block: the dimensions and the counted columns of analytics_day.
_DAY_DIMENSIONS = ("channel_id", "department_id", "person_id")
_DAY_SUMS = (
    "inbound", "outbound", "replies", "broadcasts", "notes", "positive", "neutral", "negative",
    "score_sum", "scored",
)  # fmt: skip


def _roll_up(session: Session, ctx: _Context, days: Iterable[date]) -> None:
    """Recount the 7-, 28- and 112-day blocks holding these days from the rows one level down
    (days for a week, weeks for 28 days, those for 112): like the days, a block is replaced,
    not updated."""
    days = list(days)
    for span, below in ((7, 1), (28, 7), (112, 28)):
        for start in blocks.touched_blocks(days, span):
            for table in (AnalyticsDay, AnalyticsResponse, AnalyticsVoiceDay):
                session.execute(
                    delete(table).where(
                        table.workspace_id == ctx.workspace_id,
                        table.span == span,
                        table.day == start,
                    )
                )
            _roll_up_days(session, ctx.workspace_id, span, start, below)
            _roll_up_responses(session, ctx.workspace_id, span, start, below)
            if span == 7:
                _roll_up_voices(session, ctx.workspace_id, start)


def _roll_up_days(session: Session, workspace_id: int, span: int, start: date, below: int) -> None:
    d = AnalyticsDay
    dims = [getattr(d, name) for name in _DAY_DIMENSIONS]
    session.execute(
        insert(d).from_select(
            ["workspace_id", "span", "day", *_DAY_DIMENSIONS, *_DAY_SUMS],
            select(
                d.workspace_id,
                literal(span),
                literal(start, Date),
                *dims,
                *(func.sum(getattr(d, name)) for name in _DAY_SUMS),
            )
            .where(
                d.workspace_id == workspace_id,
                d.span == below,
                d.day.between(start, start + timedelta(days=span - 1)),
            )
            .group_by(d.workspace_id, *dims),
        )
    )


def _roll_up_responses(
    session: Session, workspace_id: int, span: int, start: date, below: int
) -> None:
    r = AnalyticsResponse
    figures: dict[tuple[int, int, int], _Response] = defaultdict(_Response)
    for row in session.execute(
        select(*RESPONSE_ROW).where(
            r.workspace_id == workspace_id,
            r.span == below,
            r.day.between(start, start + timedelta(days=span - 1)),
        )
    ):
        figures[row[:3]].merge(row[3:10], row[10], row[11])
    bulk = Bulk(session.connection())
    bulk.insert(
        r.__table__,
        _RESPONSE_COLUMNS,
        [
            (workspace_id, span, _stored_day(bulk, start), *key, *figures[key].row())
            for key in figures
        ],
    )


def _roll_up_voices(session: Session, workspace_id: int, start: date) -> None:
    """A week's most active voices (:data:`VOICES_KEPT` per channel and department)."""
    v = AnalyticsVoiceDay
    total = func.sum(v.messages)
    ranked: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for channel, department, contact, n in session.execute(
        select(v.channel_id, v.department_id, v.contact_id, total)
        .where(
            v.workspace_id == workspace_id,
            v.span == 1,
            v.day.between(start, start + timedelta(days=6)),
        )
        .group_by(v.channel_id, v.department_id, v.contact_id)
    ):
        ranked[(channel, department)].append((-int(n), contact))
    bulk = Bulk(session.connection())
    day = _stored_day(bulk, start)
    bulk.insert(
        v.__table__,
        ("workspace_id", "span", "day", "channel_id", "department_id", "contact_id", "messages"),
        [
            (workspace_id, 7, day, channel, department, contact, -negative)
            for (channel, department), voices in ranked.items()
            for negative, contact in sorted(voices)[:VOICES_KEPT]
        ],
    )


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
    # The per-day charts of long periods read these, one row per day and channel instead of
    # one per day, channel and person.
    channel_rows: dict[tuple[date, int, int], list[Any]] = {}
    for (d, c, dep, _person), v in day_rows.items():
        figures = channel_rows.setdefault((d, c, dep), [0, 0, 0, 0, 0, 0, 0.0, 0])
        for n, value in enumerate((v[0], v[2], v[3], *v[5:])):
            figures[n] += value
    bulk.insert(
        AnalyticsChannelDay.__table__,
        ("workspace_id", "day", "channel_id", "department_id", *_CHANNEL_SUMS),
        [(ws, day(d), c, dep, *v) for (d, c, dep), v in channel_rows.items()],
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


_CHANNEL_SUMS = (
    "inbound", "replies", "broadcasts", "positive", "neutral", "negative", "score_sum", "scored",
)  # fmt: skip


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
    async with db.read() as session:
        ctx = await _context(session, workspace_id)
        # A conversation without messages is still counted, on the day it was created.
        counted = (
            await session.execute(
                select(
                    func.min(AnalyticsConversation.day), func.max(AnalyticsConversation.day)
                ).where(AnalyticsConversation.workspace_id == workspace_id)
            )
        ).one()
    if ctx is None:
        return
    ends = [local_day(at, ctx.zone) for at in span if at is not None]
    ends += [day for day in counted if day is not None]
    if not ends:
        return
    first, last = min(ends), max(ends)
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
