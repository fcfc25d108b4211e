"""``allsang bench analytics``: dashboard p95 over 1,000,000 messages, SQLite and PostgreSQL.

For each engine a scratch database is migrated and seeded by bulk INSERTs (DBAPI cursor, 500
rows a statement) with a year of history: 12 channels in 6 departments, 30 people, 20,000
audience handles, and ``--messages`` messages (default 1,000,000; 50,000 with ``--quick``),
about half of them in conversations. ``allsang analytics rebuild``'s code then counts the
aggregates (its time is reported), and the figure queries the page runs
(:func:`allsang.analytics.figures.build_report`) are timed for a mix of page views — the
default 30 days, 7 and 90 days, a year, and 30 days filtered by channel, department and
person — repeated until at least ``SAMPLES`` timings exist; p50 and p95 are reported for the
mix and for each view.

Baseline, from the same run and the same database: a single-row lookup in the aggregates
(``SELECT count(*) FROM analytics_day WHERE workspace_id = ? AND span = 1 AND day = ?``), the
floor of one round trip through the async session.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from allsang.analytics import aggregate
from allsang.analytics.figures import Filters, build_report
from allsang.db import Database
from allsang.db.migrate import upgrade
from allsang.db.models import (
    Channel,
    Contact,
    Conversation,
    Department,
    Message,
    Person,
    Workspace,
)
from allsang.db.models.analytics import AnalyticsDay
from allsang.ingest.fast import Bulk

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
SAMPLES = 60
CONVERSATION_COLUMNS = (
    "workspace_id", "channel_id", "contact_id", "thread_key", "subject", "status",
    "created_at", "updated_at",
)  # fmt: skip
MESSAGE_COLUMNS = (
    "workspace_id", "channel_id", "conversation_id", "contact_id", "author_person_id",
    "direction", "kind", "external_id", "text", "lang", "sentiment", "sentiment_score", "extra",
    "created_at", "received_at",
)  # fmt: skip
TIMEZONE = "Europe/Stockholm"
TEXTS = (
    ("Hej! När öppnar biblioteket på lördag?", "sv", "neu", 0.0),
    ("Bussen kom aldrig, helt oacceptabelt. Jag är väldigt missnöjd.", "sv", "neg", -0.8),
    ("Tack för en fantastisk konsert igår!", "sv", "pos", 0.9),
    ("Hei, kan dere hjelpe meg med søknaden?", "nb", "neu", 0.0),
    ("Mange tak for hjælpen i dag", "da", "pos", 0.7),
    ("Is the pool open during the holidays?", "en", "neu", 0.1),
    ("Vägarbetet utanför skolan är farligt för barnen", "sv", "neg", -0.5),
    ("Fint väder i parken idag", "sv", "pos", 0.4),
)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _seed(db: Database, messages: int) -> tuple[int, list[int], list[int], list[int]]:
    """A workspace with a year of history; its id and its channel, department, person ids."""
    rng = random.Random(8)
    async with db.write() as session:
        workspace = Workspace(slug="bench", name="Bench", timezone=TIMEZONE)
        session.add(workspace)
        await session.flush()
        departments = [Department(workspace_id=workspace.id, name=f"Dept {n}") for n in range(6)]
        people = [Person(email=f"p{n}@bench.test", name=f"Person {n}") for n in range(30)]
        session.add_all([*departments, *people])
        await session.flush()
        channels = [
            Channel(
                workspace_id=workspace.id,
                network="mastodon",
                name=f"Channel {n}",
                department_id=departments[n % 6].id,
            )
            for n in range(12)
        ]
        session.add_all(channels)
        await session.flush()
        ws, channel_ids = workspace.id, [c.id for c in channels]
        department_ids, person_ids = [d.id for d in departments], [p.id for p in people]

        def insert(sync_session: Any) -> None:
            bulk = Bulk(sync_session.connection())
            now = bulk.timestamp(datetime.now(UTC))
            contact_rows = [
                (ws, "mastodon", f"user{n}", f"User {n}", "", bulk.json({}), now)
                for n in range(20_000)
            ]
            contacts = [
                r[0]
                for r in bulk.insert(
                    Contact.__table__,
                    ("workspace_id", "network", "handle", "name", "url", "profile", "created_at"),
                    contact_rows,
                    returning=("id",),
                )
            ]
            end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            start = end - timedelta(days=365)
            span = (end - start).total_seconds()
            written = 0
            serial = 0
            while written < messages:
                batch_conversations = []
                plans = []
                for _ in range(min(2000, messages - written)):
                    at = start + timedelta(seconds=rng.random() * span)
                    channel = rng.randrange(12)
                    kind = rng.random()
                    if kind < 0.15:  # a broadcast, no conversation
                        plans.append((None, [("outbound", at, channel)]))
                        written += 1
                    elif kind < 0.55:  # a conversation of 1-5 messages
                        steps = []
                        when = at
                        for turn in range(rng.choice((1, 2, 2, 3, 4, 5))):
                            steps.append(
                                ("inbound" if turn % 2 == 0 else "outbound", when, channel)
                            )
                            when += timedelta(minutes=rng.expovariate(1 / 90))
                        plans.append((len(batch_conversations), steps))
                        batch_conversations.append((channel, at))
                        written += len(steps)
                    else:  # a mention or post by the audience, not addressed to us
                        plans.append((None, [("inbound", at, channel)]))
                        written += 1
                conv_rows = [
                    (
                        ws,
                        channel_ids[channel],
                        rng.choice(contacts),
                        f"root:{serial + n}",
                        "",
                        rng.choice(("open", "closed", "closed", "pending")),
                        bulk.timestamp(at),
                        bulk.timestamp(at + timedelta(hours=rng.expovariate(1 / 20))),
                    )
                    for n, (channel, at) in enumerate(batch_conversations)
                ]
                serial += len(conv_rows)
                conv_ids = [
                    r[0]
                    for r in bulk.insert(
                        Conversation.__table__,
                        CONVERSATION_COLUMNS,
                        conv_rows,
                        returning=("id",),
                    )
                ]
                rows = []
                for conversation, steps in plans:
                    cid = conv_ids[conversation] if conversation is not None else None
                    for direction, at, channel in steps:
                        text, lang, label, score = rng.choice(TEXTS)
                        inbound = direction == "inbound"
                        rows.append(
                            (
                                ws,
                                channel_ids[channel],
                                cid,
                                rng.choice(contacts) if inbound else None,
                                None if inbound else rng.choice(person_ids),
                                direction,
                                "comment" if inbound else "reply" if cid else "post",
                                f"e{len(rows)}-{serial}-{rng.random()}",
                                text,
                                lang,
                                label if inbound else None,
                                score if inbound else None,
                                bulk.json({}),
                                bulk.timestamp(at),
                                now,
                            )
                        )
                bulk.insert(
                    Message.__table__,
                    MESSAGE_COLUMNS,
                    rows,
                )

        await session.run_sync(insert)
    return ws, channel_ids, department_ids, person_ids


def _views(
    today: date, channels: list[int], departments: list[int], people: list[int]
) -> dict[str, Filters]:
    last = today
    return {
        "30d": Filters(last - timedelta(days=29), last),
        "7d": Filters(last - timedelta(days=6), last),
        "90d": Filters(last - timedelta(days=89), last),
        "365d": Filters(last - timedelta(days=364), last),
        "30d_channel": Filters(last - timedelta(days=29), last, channel_id=channels[3]),
        "30d_department": Filters(last - timedelta(days=29), last, department_id=departments[2]),
        "30d_person": Filters(last - timedelta(days=29), last, person_id=people[5]),
    }


async def _measure(url: str, messages: int) -> dict[str, float]:
    db = Database(url)
    try:
        await upgrade(db)
        started = time.perf_counter()
        ws, channels, departments, people = await _seed(db, messages)
        seeded = time.perf_counter() - started
        async with db.read() as session:
            stored = await session.scalar(select(func.count()).select_from(Message))
        started = time.perf_counter()
        await aggregate.rebuild(db, ws)
        rebuilt = time.perf_counter() - started
        started = time.perf_counter()
        await aggregate.refresh(db, ws)
        refreshed = time.perf_counter() - started
        today = datetime.now(ZoneInfo(TIMEZONE)).date()
        views = _views(today, channels, departments, people)
        page: list[float] = []
        per_view: dict[str, list[float]] = {name: [] for name in views}
        lookup: list[float] = []
        async with db.read() as session:
            await build_report(session, ws, views["30d"])  # warm the caches once
        while len(page) < SAMPLES:
            for name, view in views.items():
                async with db.read() as session:
                    t0 = time.perf_counter()
                    await build_report(session, ws, view)
                    page.append((time.perf_counter() - t0) * 1000)
                    per_view[name].append(page[-1])
                    t0 = time.perf_counter()
                    await session.scalar(
                        select(func.count())
                        .select_from(AnalyticsDay)
                        .where(
                            AnalyticsDay.workspace_id == ws,
                            AnalyticsDay.span == 1,
                            AnalyticsDay.day == today,
                        )
                    )
                    lookup.append((time.perf_counter() - t0) * 1000)
        return {
            "messages": float(stored or 0),
            "seed_s": round(seeded, 1),
            "rebuild_s": round(rebuilt, 1),
            "refresh_idle_ms": round(refreshed * 1000, 1),
            "page_p50_ms": round(statistics.median(page), 1),
            "page_p95_ms": round(_percentile(page, 0.95), 1),
            "page_max_ms": round(max(page), 1),
            **{
                f"view_{name}_p{q}_ms": round(_percentile(times, q / 100), 1)
                for name, times in per_view.items()
                for q in (50, 95)
            },
            "lookup_p50_ms": round(statistics.median(lookup), 2),
            "lookup_p95_ms": round(_percentile(lookup, 0.95), 2),
        }
    finally:
        await db.dispose()


async def _postgres_scratch(admin_url: str, create: bool, name: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def run(
    quick: bool, messages: int | None = None, database_url: str | None = None
) -> dict[str, Any]:
    """SQLite always; PostgreSQL on the server of ``database_url`` (a scratch database is
    created there and dropped), default ``ALLSANG_BENCH_POSTGRES_URL`` or the local server."""
    count = messages or (50_000 if quick else 1_000_000)
    metrics: dict[str, Any] = {}
    baseline: dict[str, Any] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="allsang-bench-") as tmp:
        result = asyncio.run(_measure(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", count))
        print(f"sqlite: {result}", file=sys.stderr, flush=True)  # a long run's first half
        for key, value in result.items():
            (baseline if key.startswith("lookup") else metrics)[f"sqlite_{key}"] = value
    admin = database_url or os.environ.get("ALLSANG_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    name = f"allsang_bench_{uuid.uuid4().hex[:8]}"
    from sqlalchemy.engine import make_url

    from allsang.db.urls import async_url

    plain = make_url(async_url(admin)).set(drivername="postgresql").render_as_string(False)
    try:
        asyncio.run(_postgres_scratch(plain, True, name))
    except Exception as exc:
        notes.append(f"PostgreSQL skipped: cannot create a scratch database at {admin}: {exc}")
    else:
        url = make_url(async_url(admin)).set(database=name).render_as_string(False)
        try:
            result = asyncio.run(_measure(url, count))
            for key, value in result.items():
                (baseline if key.startswith("lookup") else metrics)[f"postgresql_{key}"] = value
        finally:
            asyncio.run(_postgres_scratch(plain, False, name))
    metrics["peak_memory_mb"] = _peak_mb()
    notes.append(
        f"{count} messages over a year; page = the figure queries of /analytics for 7 views "
        f"(30/7/90/365 days, by channel, department, person), {SAMPLES}+ timings each engine; "
        "target: page p95 < 300 ms"
    )
    return {"metrics": metrics, "baseline": baseline, "notes": notes}
