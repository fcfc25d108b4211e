"""The figures of the analytics page, the exports and the e-mailed reports.

Every figure is read from the aggregate tables (see :mod:`allsang.analytics.aggregate`), never
from ``message``: a period is read as whole 112-, 28- and 7-day blocks plus single days at its
ends (:func:`allsang.analytics.blocks.cover`), so the rows read are bounded by the dimensions
and the number of blocks, not by messages or conversations; percentiles come from the summed
histograms of ``analytics_response``. Definitions: docs/metrics.md.

A :class:`Report` is a list of :class:`Table` objects — the page draws a chart from each table
that has a chart and shows the table under it, and the exports write the same tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from babel.dates import get_day_names
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.analytics import blocks
from allsang.analytics.definitions import day_bounds, dialogue_score, gini, ratio
from allsang.db.models import (
    Alert,
    Channel,
    Contact,
    Department,
    ListeningQuery,
    Person,
    Workspace,
)
from allsang.db.models.analytics import (
    RESPONSE_ROW,
    AnalyticsChannelDay,
    AnalyticsDay,
    AnalyticsLangDay,
    AnalyticsQueryDay,
    AnalyticsResponse,
    AnalyticsVoiceDay,
)
from allsang.db.models.publishing import Post, PostDelivery
from allsang.i18n import N_, current_locale
from allsang.i18n import gettext as _

TOP_VOICES = 10
BEST_TIMES = 10  # weekday-and-hour slots listed, best first
SPIKE_KINDS = ("query_spike", "term_spike")


@dataclass(frozen=True, slots=True)
class Filters:
    """The period (local days, both inclusive) and the optional channel, department, person."""

    first: date
    last: date
    channel_id: int | None = None
    department_id: int | None = None
    person_id: int | None = None

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str  # untranslated (N_); translated when shown
    kind: str = "int"  # int, float, percent, seconds, text, date


@dataclass(slots=True)
class Table:
    """One table of figures; ``chart`` is ``line`` or ``bar`` (x = first column, one series per
    other numeric column) or None for a table without a chart."""

    key: str
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    chart: str | None = None
    series: list[str] = field(default_factory=list)  # column keys charted; [] = every number
    marks: list[str] = field(default_factory=list)  # x values to mark (spikes)


@dataclass(slots=True)
class Report:
    filters: Filters
    headline: dict[str, Any]
    tables: list[Table]

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def _days(
    table: Any,
    workspace_id: int,
    f: Filters,
    *,
    person: bool = True,
    spans: tuple[int, ...] | None = blocks.SPANS,
) -> list[Any]:
    """The rows of the period and filters: whole blocks of ``spans`` (for tables with a
    ``span`` column) and single days, or every day (``spans`` None, tables without one)."""
    if spans is None:
        where = [table.workspace_id == workspace_id, table.day.between(f.first, f.last)]
    else:
        # Each term names the whole index prefix, so that SQLite searches the index once per
        # run (with the workspace outside the OR it scanned the workspace's rows).
        where = [
            or_(
                *(
                    and_(
                        table.workspace_id == workspace_id,
                        table.span == span,
                        table.day.between(a, b),
                    )
                    for span, a, b in blocks.cover(f.first, f.last, spans)
                )
            )
        ]
    if f.channel_id:
        where.append(table.channel_id == f.channel_id)
    if f.department_id:
        where.append(table.department_id == f.department_id)
    if person and f.person_id:
        where.append(table.person_id == f.person_id)
    return where


_DIALOGUE_COLUMNS = [
    Column("name", N_("Name"), "text"),
    Column("score", N_("Dialogue score"), "float"),
    Column("conversations", N_("Conversations")),
    Column("expecting", N_("Expecting an answer")),
    Column("reply_rate", N_("Reply rate"), "percent"),
    Column("p50", N_("First response, median"), "seconds"),
    Column("p90", N_("First response, p90"), "seconds"),
    Column("two_turns", N_("Two or more turns"), "percent"),
    Column("unanswered", N_("Unanswered questions and complaints")),
    Column("replies", N_("Replies")),
    Column("broadcasts", N_("Broadcasts")),
    Column("reply_share", N_("Replies per broadcast"), "float"),
    Column("resolution", N_("Resolution, median"), "seconds"),
    Column("sla", N_("SLA met"), "percent"),
]


DIMENSIONS = ("channel_id", "department_id", "person_id")


async def _plain_rows(session: AsyncSession, statement: Select[Any]) -> list[Any]:
    """The rows of a statement of plain columns (numbers, bytes) as DBAPI tuples.

    A year's ``analytics_response`` rows are thousands, each with two histograms; building
    SQLAlchemy rows for them cost as much as the query itself (measured with ``allsang bench
    analytics``), so they go through the driver's cursor. Dates among the parameters are bound
    as the Date column stores them.
    """

    def run(sync_session: Any) -> list[Any]:
        connection = sync_session.connection()
        compiled = statement.compile(
            dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
        )
        params = compiled.construct_params()
        sqlite = connection.dialect.name == "sqlite"
        for name, value in params.items():
            if sqlite and isinstance(value, date):
                params[name] = value.isoformat()
        args: Any = (
            tuple(params[name] for name in compiled.positiontup or ())
            if compiled.positional
            else params
        )
        cursor = connection.connection.cursor()
        try:
            cursor.execute(str(compiled), args)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    return await session.run_sync(run)


async def _dialogue(
    session: AsyncSession, workspace_id: int, f: Filters, names: dict[str, dict[int, str]]
) -> dict[str, list[list[Any]]]:
    """Dialogue and response rows for the total (key ``""``) and grouped by each of
    :data:`DIMENSIONS`: the period's ``analytics_response`` rows (counts and time histograms)
    and its replies and broadcasts, summed per dimension in Python."""
    r = AnalyticsResponse
    rows = await _plain_rows(
        session,
        select(*RESPONSE_ROW).where(*_days(r, workspace_id, f)),
    )
    d = AnalyticsDay
    sent = list(
        await session.execute(
            select(
                d.channel_id,
                d.department_id,
                d.person_id,
                func.sum(d.replies),
                func.sum(d.broadcasts),
            )
            .where(*_days(d, workspace_id, f))
            .group_by(d.channel_id, d.department_id, d.person_id)
        )
    )
    # Vectorised: a year is thousands of rows, each summed into four groupings.
    keys = np.array([row[:3] for row in rows], dtype=np.int64).reshape(-1, 3)
    counts = np.array([row[3:10] for row in rows], dtype=np.int64).reshape(-1, 7)
    first = blocks.Histograms([row[10] for row in rows])
    resolution = blocks.Histograms([row[11] for row in rows])
    out: dict[str, list[list[Any]]] = {}
    for position, dimension in enumerate(("", *DIMENSIONS)):
        column = keys[:, position - 1] if dimension else np.zeros(len(rows), dtype=np.int64)
        found, group = np.unique(column, return_inverse=True)
        size = len(found)
        sums = np.zeros((size, 7), dtype=np.int64)
        np.add.at(sums, group, counts)
        times, closed = first.sum_by(group, size), resolution.sum_by(group, size)
        index = {int(k): g for g, k in enumerate(found)}
        posted: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for row in sent:
            pair = posted[int(row[position - 1] or 0) if dimension else 0]
            pair[0] += int(row[3] or 0)
            pair[1] += int(row[4] or 0)
        labels = names.get(dimension, {})
        table = []
        for k in sorted(set(index) | set(posted), key=lambda k: (labels.get(k, "~"), k)):
            if dimension == "person_id" and k == 0:
                continue  # nobody's: unassigned and unanswered, or answered by another tool
            g = index.get(k)
            total, expecting, answered, two, unanswered, met, known = (
                sums[g].tolist() if g is not None else [0] * 7
            )
            replies, broadcasts = posted.get(k, [0, 0])
            reply_rate = ratio(answered, expecting)
            two_share = ratio(two, total)
            own_times = times[g] if g is not None else blocks.EMPTY
            own_closed = closed[g] if g is not None else blocks.EMPTY
            table.append(
                [
                    labels.get(k, _("None")) if dimension else _("All"),
                    dialogue_score(reply_rate, two_share, ratio(replies, replies + broadcasts)),
                    total,
                    expecting,
                    reply_rate,
                    blocks.percentile(own_times, 0.5),
                    blocks.percentile(own_times, 0.9),
                    two_share,
                    unanswered,
                    replies,
                    broadcasts,
                    round(replies / broadcasts, 2) if broadcasts else None,
                    blocks.percentile(own_closed, 0.5),
                    ratio(met, known),
                ]
            )
        out[dimension] = table
    return out


async def _names(session: AsyncSession, workspace_id: int) -> dict[str, dict[int, str]]:
    channels = dict(
        (
            await session.execute(
                select(Channel.id, Channel.name).where(Channel.workspace_id == workspace_id)
            )
        ).all()  # type: ignore[arg-type]
    )
    departments = dict(
        (
            await session.execute(
                select(Department.id, Department.name).where(
                    Department.workspace_id == workspace_id
                )
            )
        ).all()  # type: ignore[arg-type]
    )
    # Everyone who ever wrote appears in some 112-day block: far fewer rows than the days.
    people_ids = select(AnalyticsDay.person_id).where(
        AnalyticsDay.workspace_id == workspace_id,
        AnalyticsDay.span == 112,
        AnalyticsDay.person_id != 0,
    )
    people = dict(
        (
            await session.execute(select(Person.id, Person.name).where(Person.id.in_(people_ids)))
        ).all()  # type: ignore[arg-type]
    )
    return {"channel_id": channels, "department_id": departments, "person_id": people}


async def build_report(session: AsyncSession, workspace_id: int, f: Filters) -> Report:
    """Every table of the analytics page for the period and filters."""
    names = await _names(session, workspace_id)
    tables: list[Table] = []
    dialogue = await _dialogue(session, workspace_id, f, names)
    total = dialogue[""]
    headline = dict(zip([c.key for c in _DIALOGUE_COLUMNS], total[0], strict=True)) if total else {}
    for key, title, dimension in (
        ("dialogue_channel", N_("Dialogue by channel"), "channel_id"),
        ("dialogue_department", N_("Dialogue by department"), "department_id"),
        ("response_person", N_("Response by person"), "person_id"),
    ):
        tables.append(
            Table(
                key,
                title,
                list(_DIALOGUE_COLUMNS),
                dialogue[dimension],
                chart="bar",
                series=["score"],
            )
        )
    tables.append(await _daily(session, workspace_id, f))
    tables.append(await _sentiment(session, workspace_id, f))
    tables.extend(await _listening(session, workspace_id, f))
    tables.append(await _voices(session, workspace_id, f))
    tables.append(await _languages(session, workspace_id, f))
    tables.extend(await _publishing(session, workspace_id, f, names))
    tables.extend(await _engagement(session, workspace_id, f, names))
    tables.extend(await _spread(session, workspace_id, f, names))
    return Report(f, headline, tables)


async def _daily(session: AsyncSession, workspace_id: int, f: Filters) -> Table:
    # Per channel and day unless a person is chosen: a twentieth of the rows over a year.
    d: Any = AnalyticsDay if f.person_id else AnalyticsChannelDay
    spans = (1,) if f.person_id else None
    figures = {
        row[0]: row[1:]
        for row in await session.execute(
            select(d.day, func.sum(d.inbound), func.sum(d.replies), func.sum(d.broadcasts))
            .where(*_days(d, workspace_id, f, person=bool(f.person_id), spans=spans))
            .group_by(d.day)
        )
    }
    return Table(
        "volume",
        N_("Messages per day"),
        [
            Column("day", N_("Day"), "date"),
            Column("inbound", N_("From the audience")),
            Column("replies", N_("Replies")),
            Column("broadcasts", N_("Broadcasts")),
        ],
        [[day, *(int(v or 0) for v in figures.get(day, (0, 0, 0)))] for day in f.days],
        chart="line",
    )


async def _sentiment(session: AsyncSession, workspace_id: int, f: Filters) -> Table:
    d = AnalyticsChannelDay
    figures = {
        row[0]: row[1:]
        for row in await session.execute(
            select(
                d.day,
                func.sum(d.positive),
                func.sum(d.neutral),
                func.sum(d.negative),
                func.sum(d.score_sum),
                func.sum(d.scored),
            )
            .where(*_days(d, workspace_id, f, person=False, spans=None))
            .group_by(d.day)
        )
    }
    rows = []
    for day in f.days:
        pos, neu, neg, total, scored = figures.get(day, (0, 0, 0, 0.0, 0))
        mean = round(float(total) / int(scored), 3) if scored else None
        rows.append([day, int(pos or 0), int(neu or 0), int(neg or 0), mean])
    return Table(
        "sentiment",
        N_("Sentiment of the audience per day"),
        [
            Column("day", N_("Day"), "date"),
            Column("positive", N_("Positive")),
            Column("neutral", N_("Neutral")),
            Column("negative", N_("Negative")),
            Column("mean", N_("Mean sentiment (−1…1)"), "float"),
        ],
        rows,
        chart="line",
        series=["positive", "neutral", "negative"],
    )


async def _listening(session: AsyncSession, workspace_id: int, f: Filters) -> list[Table]:
    q = AnalyticsQueryDay
    queries = dict(
        (
            await session.execute(
                select(ListeningQuery.id, ListeningQuery.name)
                .where(ListeningQuery.workspace_id == workspace_id)
                .order_by(ListeningQuery.name)
            )
        ).all()  # type: ignore[arg-type]
    )
    counts: dict[tuple[date, int], int] = {}
    totals: dict[int, int] = defaultdict(int)
    for day, query_id, n in await session.execute(
        select(q.day, q.query_id, func.sum(q.messages))
        .where(q.workspace_id == workspace_id, q.day.between(f.first, f.last))
        .group_by(q.day, q.query_id)
    ):
        counts[(day, query_id)] = int(n or 0)
        totals[query_id] += int(n or 0)
    shown = [qid for qid in queries if totals.get(qid)] or list(queries)[:5]
    spikes = await session.scalars(
        select(Alert.created_at).where(
            Alert.workspace_id == workspace_id,
            Alert.kind.in_(SPIKE_KINDS),
        )
    )
    marks = sorted({at.date().isoformat() for at in spikes if f.first <= at.date() <= f.last})
    volume = Table(
        "listening",
        N_("Listening: matches per query and day"),
        [Column("day", N_("Day"), "date")]
        + [Column(f"q{qid}", queries[qid], "int") for qid in shown],
        [[day, *(counts.get((day, qid), 0) for qid in shown)] for day in f.days] if shown else [],
        chart="line",
        marks=marks,
    )
    grand = sum(totals.values())
    share = Table(
        "share_of_voice",
        N_("Share of voice between queries"),
        [
            Column("query", N_("Query"), "text"),
            Column("messages", N_("Matches")),
            Column("share", N_("Share of voice"), "percent"),
        ],
        [
            [queries.get(qid, str(qid)), n, ratio(n, grand)]
            for qid, n in sorted(totals.items(), key=lambda kv: -kv[1])
        ],
        chart="bar",
        series=["share"],
    )
    return [volume, share]


async def _voices(session: AsyncSession, workspace_id: int, f: Filters) -> Table:
    v = AnalyticsVoiceDay
    top = list(
        await session.execute(
            select(v.contact_id, func.sum(v.messages).label("n"))
            .where(*_days(v, workspace_id, f, person=False, spans=(7, 1)))
            .group_by(v.contact_id)
            .order_by(func.sum(v.messages).desc(), v.contact_id)
            .limit(TOP_VOICES)
        )
    )
    contacts = {
        c.id: c
        for c in await session.scalars(
            select(Contact).where(Contact.id.in_([row[0] for row in top]))
        )
    }
    rows = []
    for contact_id, n in top:
        contact = contacts.get(contact_id)
        handle = contact.handle if contact else str(contact_id)
        name = (contact.name or handle) if contact else handle
        rows.append([name, handle, contact.network if contact else "", int(n or 0)])
    return Table(
        "voices",
        N_("Top voices in the audience"),
        [
            Column("name", N_("Name"), "text"),
            Column("handle", N_("Handle"), "text"),
            Column("network", N_("Network"), "text"),
            Column("messages", N_("Messages")),
        ],
        rows,
    )


async def _languages(session: AsyncSession, workspace_id: int, f: Filters) -> Table:
    lg = AnalyticsLangDay
    counts = list(
        await session.execute(
            select(lg.lang, func.sum(lg.messages))
            .where(*_days(lg, workspace_id, f, person=False, spans=None))
            .group_by(lg.lang)
            .order_by(func.sum(lg.messages).desc(), lg.lang)
        )
    )
    grand = sum(int(n or 0) for _lang, n in counts)
    return Table(
        "languages",
        N_("Languages"),
        [
            Column("lang", N_("Language"), "text"),
            Column("messages", N_("Messages")),
            Column("share", N_("Share"), "percent"),
        ],
        [[lang or "?", int(n or 0), ratio(int(n or 0), grand)] for lang, n in counts],
        chart="bar",
        series=["messages"],
    )


async def _zone(session: AsyncSession, workspace_id: int) -> ZoneInfo:
    workspace = await session.get(Workspace, workspace_id)
    return ZoneInfo(workspace.timezone if workspace and workspace.timezone else "UTC")


def _published(workspace_id: int, f: Filters, zone: ZoneInfo) -> list[Any]:
    """The deliveries the publishing module published in the period (local days in ``zone``),
    with the filters: the post's department (else the channel's) and the post's author. Joins
    ``Post`` and ``Channel``."""
    start, end = day_bounds(f.first, f.last, zone)
    delivered = PostDelivery.published_at
    where = [PostDelivery.workspace_id == workspace_id, delivered >= start, delivered < end]
    if f.channel_id:
        where.append(PostDelivery.channel_id == f.channel_id)
    if f.department_id:
        where.append(_post_department() == f.department_id)
    if f.person_id:
        where.append(Post.author_id == f.person_id)
    return where


def _post_department() -> Any:
    return func.coalesce(Post.department_id, Channel.department_id, 0)


async def _publishing(
    session: AsyncSession, workspace_id: int, f: Filters, names: dict[str, dict[int, str]]
) -> list[Table]:
    """Our broadcasts and replies per channel and department (aggregates), and the posts the
    publishing module delivered in the period (its ``post_delivery`` rows: one per post and
    channel, few enough to count directly)."""
    d = AnalyticsDay
    department = _post_department()
    published_where = _published(workspace_id, f, await _zone(session, workspace_id))
    tables = []
    for key, title, dimension in (
        ("posts_channel", N_("Posts per channel"), "channel_id"),
        ("posts_department", N_("Posts per department"), "department_id"),
    ):
        column = getattr(d, dimension)
        figures: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        for k, b, r in await session.execute(
            select(column, func.sum(d.broadcasts), func.sum(d.replies))
            .where(*_days(d, workspace_id, f))
            .group_by(column)
        ):
            figures[k or 0][0] += int(b or 0)
            figures[k or 0][1] += int(r or 0)
        group = PostDelivery.channel_id if dimension == "channel_id" else department
        for k, n in await session.execute(
            select(group, func.count())
            .select_from(PostDelivery)
            .join(Post, Post.id == PostDelivery.post_id)
            .join(Channel, Channel.id == PostDelivery.channel_id)
            .where(*published_where)
            .group_by(group)
        ):
            figures[k or 0][2] += int(n or 0)
        rows = [
            [names[dimension].get(k, _("None")), *v]
            for k, v in sorted(figures.items(), key=lambda kv: names[dimension].get(kv[0], ""))
            if any(v)
        ]
        tables.append(
            Table(
                key,
                title,
                [
                    Column("name", N_("Name"), "text"),
                    Column("broadcasts", N_("Broadcasts")),
                    Column("replies", N_("Replies")),
                    Column("published", N_("Published through Allsang")),
                ],
                rows,
                chart="bar",
            )
        )
    return tables


async def _engagement(
    session: AsyncSession, workspace_id: int, f: Filters, names: dict[str, dict[int, str]]
) -> list[Table]:
    """Engagement the networks reported for the posts published in the period (read back by
    the publishing module, ``post_delivery.likes``/``reposts``/``replies``; deliveries never
    read back are left out): per channel, and per local weekday and hour of publishing — the
    best times to post. Posts are few, so their deliveries are read one by one."""
    zone = await _zone(session, workspace_id)
    delivery = PostDelivery
    per_channel: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    per_slot: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for channel, published, likes, reposts, replies in await session.execute(
        select(
            delivery.channel_id,
            delivery.published_at,
            delivery.likes,
            delivery.reposts,
            delivery.replies,
        )
        .join(Post, Post.id == delivery.post_id)
        .join(Channel, Channel.id == delivery.channel_id)
        .where(*_published(workspace_id, f, zone), delivery.engagement_at.is_not(None))
    ):
        counts = (likes or 0, reposts or 0, replies or 0)
        figures = per_channel[channel]
        figures[0] += 1
        for n, value in enumerate(counts, start=1):
            figures[n] += value
        local = published.astimezone(zone)
        slot = per_slot[(local.weekday(), local.hour)]
        slot[0] += 1
        slot[1] += sum(counts)
    channels = names["channel_id"]
    by_channel = Table(
        "engagement_channel",
        N_("Engagement per channel"),
        [
            Column("name", N_("Name"), "text"),
            Column("posts", N_("Posts")),
            Column("likes", N_("Likes")),
            Column("reposts", N_("Reposts")),
            Column("replies", N_("Replies")),
            Column("per_post", N_("Engagement per post"), "float"),
        ],
        [
            [channels.get(k, _("None")), *v, round(sum(v[1:]) / v[0], 2)]
            for k, v in sorted(per_channel.items(), key=lambda kv: channels.get(kv[0], ""))
        ],
        chart="bar",
        series=["per_post"],
    )
    days = get_day_names("wide", locale=current_locale())
    best = sorted(per_slot.items(), key=lambda kv: (-kv[1][1] / kv[1][0], -kv[1][0], kv[0]))
    by_time = Table(
        "best_times",
        N_("Best times to post"),
        [
            Column("slot", N_("Weekday and hour"), "text"),
            Column("posts", N_("Posts")),
            Column("per_post", N_("Engagement per post"), "float"),
        ],
        [
            [f"{days[weekday]} {hour:02d}:00", n, round(total / n, 2)]
            for (weekday, hour), (n, total) in best[:BEST_TIMES]
        ],
        chart="bar",
        series=["per_post"],
    )
    return [by_channel, by_time]


async def _spread(
    session: AsyncSession, workspace_id: int, f: Filters, names: dict[str, dict[int, str]]
) -> list[Table]:
    d = AnalyticsDay
    active = d.outbound + d.notes
    tables = []
    for key, title, dimension in (
        ("spread_channel", N_("Contributor spread per channel"), "channel_id"),
        ("spread_department", N_("Contributor spread per department"), "department_id"),
    ):
        column = getattr(d, dimension)
        per: dict[int, list[int]] = defaultdict(list)
        for k, _person, n in await session.execute(
            select(column, d.person_id, func.sum(active))
            .where(*_days(d, workspace_id, f, person=False), d.person_id != 0)
            .group_by(column, d.person_id)
        ):
            if n:
                per[k].append(int(n))
        rows = [
            [
                names[dimension].get(k, _("None")),
                len(counts),
                ratio(max(counts), sum(counts)),
                gini(counts),
            ]
            for k, counts in sorted(per.items(), key=lambda kv: names[dimension].get(kv[0], ""))
        ]
        columns = _spread_columns("name", N_("Name"), "text")
        tables.append(Table(key, title, columns, rows, "bar", series=["people"]))
    weekly: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    # Whole weeks (blocks of 7 start on Mondays) and the days of the partial ones at the ends.
    for day, person, n in await session.execute(
        select(d.day, d.person_id, func.sum(active))
        .where(*_days(d, workspace_id, f, person=False, spans=(7, 1)), d.person_id != 0)
        .group_by(d.day, d.person_id)
    ):
        if n:
            weekly[day - timedelta(days=day.weekday())][person] += int(n)
    first_week = f.first - timedelta(days=f.first.weekday())
    weeks = []
    week = first_week
    while week <= f.last:
        weeks.append(week)
        week += timedelta(days=7)
    trend_rows = []
    for week in weeks:
        counts = list(weekly.get(week, {}).values())
        trend_rows.append(
            [week, len(counts), ratio(max(counts), sum(counts)) if counts else None, gini(counts)]
        )
    columns = _spread_columns("week", N_("Week"), "date")
    tables.append(
        Table(
            "spread_trend",
            N_("Contributor spread per week"),
            columns,
            trend_rows,
            "line",
            series=["people"],
        )
    )
    return tables


def _spread_columns(key: str, label: str, kind: str) -> list[Column]:
    return [
        Column(key, label, kind),
        Column("people", N_("People active")),
        Column("top_share", N_("Share of the most active person"), "percent"),
        Column("gini", N_("Gini coefficient"), "float"),
    ]


def headline_items(report: Report) -> Sequence[tuple[str, Any, str]]:
    """The figures shown above the charts: (label, value, kind)."""
    h = report.headline
    return [
        (N_("Dialogue score"), h.get("score"), "float"),
        (N_("Reply rate"), h.get("reply_rate"), "percent"),
        (N_("First response, median"), h.get("p50"), "seconds"),
        (N_("First response, p90"), h.get("p90"), "seconds"),
        (N_("Two or more turns"), h.get("two_turns"), "percent"),
        (N_("Unanswered questions and complaints"), h.get("unanswered"), "int"),
        (N_("Replies per broadcast"), h.get("reply_share"), "float"),
    ]
