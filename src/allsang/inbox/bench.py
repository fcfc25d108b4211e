"""``allsang bench inbox``: latency of the inbox list, its filters and full-text search.

Seeds a scratch database with generated conversations (Swedish, Norwegian, Danish, Finnish and
English customer messages, a third of a conversation's worth of replies), builds the search
index through the same queue the triggers fill (reporting its rate), then times each inbox
view through :func:`allsang.inbox.listing.list_inbox` — the page's own query, status counts
and row details — and reports p50/p95 in milliseconds beside the baseline measured in the
same run on the same database: ``SELECT … FROM message ORDER BY id DESC LIMIT 50``.

SQLite always; PostgreSQL too when given a server URL (``--database-url`` or
``ALLSANG_BENCH_POSTGRES_URL``), in a scratch database created and dropped there.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from allsang.db import Database
from allsang.db.migrate import upgrade
from allsang.db.models import Channel, Contact, Conversation, Message, Workspace
from allsang.inbox import listing, search
from allsang.inbox.listing import InboxFilter
from allsang.ingest.fast import Bulk

WORDS = {
    "sv": "hej jag har beställt en vara men leveransen kom aldrig fram kan ni hjälpa mig med "
    "fakturan och returen tack för snabb hjälp paketet är försenat igen varför dröjer "
    "leveranser så länge kundtjänst svarar inte mina frågor om priset på abonnemanget",
    "nb": "hei jeg har bestilt en vare men pakken kom aldri frem kan dere hjelpe meg med "
    "fakturaen og returen takk for rask hjelp bestillingen er forsinket igjen hvorfor tar "
    "leveringen så lang tid kundeservice svarer ikke på spørsmålene om prisen",
    "da": "hej jeg har bestilt en vare men pakken kom aldrig frem kan I hjælpe mig med "
    "fakturaen og returneringen tak for hurtig hjælp leveringen er forsinket igen hvorfor "
    "tager det så lang tid kundeservice svarer ikke på mine spørgsmål om prisen",
    "fi": "hei tilasin tuotteen mutta paketti ei koskaan tullut voitteko auttaa laskun ja "
    "palautuksen kanssa kiitos nopeasta avusta toimitus on taas myöhässä miksi kestää "
    "niin kauan asiakaspalvelu ei vastaa kysymyksiini hinnasta",
    "en": "hi i ordered an item but the delivery never arrived can you help me with the "
    "invoice and the return thanks for the quick help the parcel is late again why do "
    "deliveries take so long customer service does not answer my questions about the price",
}
LANGS = ("sv", "sv", "sv", "nb", "nb", "da", "fi", "en", "en")
STATUSES = ("new", "open", "open", "pending", "closed", "closed", "closed")
SENTIMENTS = ("pos", "neu", "neu", "neg")
CHUNK = 20_000  # rows per write transaction while seeding

# (name, filter) pairs timed on every engine; "rare" words occur in a handful of messages.
VIEWS: list[tuple[str, dict[str, str]]] = [
    ("list_all", {}),
    ("list_open", {"status": "open"}),
    ("list_unanswered", {"unanswered": "1"}),
    ("filter_language_sv", {"language": "sv"}),
    ("filter_sentiment_neg_open", {"sentiment": "neg", "status": "open"}),
    ("filter_intent_complaint", {"intent": "complaint"}),
    ("search_common_word", {"q": "leveranser"}),
    ("search_rare_word", {"q": "ordernummer4711"}),
    ("search_phrase", {"q": '"kom aldrig fram"'}),
    ("search_two_words_by_date", {"q": "faktura retur", "sort": "date"}),
    ("search_with_status_open", {"q": "paketti", "status": "open"}),
]


def _message_text(rng: random.Random, lang: str, n: int) -> str:
    words = WORDS[lang].split()
    picked = rng.sample(words, k=min(len(words), rng.randint(6, 18)))
    if n % 2000 == 0:
        picked.append("ordernummer4711")
    picked.append(f"#{rng.randint(1, 50_000)}")
    return " ".join(picked).capitalize()


async def _seed(db: Database, messages: int) -> int:
    """Workspace, channel, contacts, conversations (three for every ten messages) and
    messages, through bulk DBAPI statements (so the triggers of migrations 0006 and 0015 fire
    as they do for ingest); the workspace id."""
    rng = random.Random(7)
    conversations = max(1, messages * 3 // 10)
    contacts = max(1, conversations // 4)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.write() as session:
        workspace = Workspace(slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench")
        session.add(workspace)
        await session.flush()
        channel = Channel(workspace_id=workspace.id, network="mastodon", name="Bench")
        session.add(channel)
        await session.flush()
        workspace_id, channel_id = workspace.id, channel.id

    def people(sync_session: Any) -> list[int]:
        bulk = Bulk(sync_session.connection())
        now, profile = bulk.timestamp(start), bulk.json({})
        rows = [
            (workspace_id, "mastodon", f"person{n}@social.example", f"Person {n}", profile, now)
            for n in range(contacts)
        ]
        columns = ("workspace_id", "network", "handle", "name", "profile", "created_at")
        ids = dict(bulk.insert(Contact.__table__, columns, rows, returning=("handle", "id")))
        return [ids[row[2]] for row in rows]

    def threads(sync_session: Any, first: int, last: int) -> list[int]:
        bulk = Bulk(sync_session.connection())
        rows = []
        for n in range(first, last):
            at = bulk.timestamp(start + timedelta(seconds=n * 60))
            status = rng.choice(STATUSES)
            waiting = at if status in ("new", "open") else None
            contact = contact_ids[n % len(contact_ids)]
            rows.append((workspace_id, channel_id, contact, f"root:{n}", "", status, waiting, at))
        columns = (
            "workspace_id", "channel_id", "contact_id", "thread_key", "subject", "status",
            "waiting_since", "last_message_at",
        )  # fmt: skip
        ids = dict(
            bulk.insert(Conversation.__table__, columns, rows, returning=("thread_key", "id"))
        )
        return [ids[row[3]] for row in rows]

    def posts(sync_session: Any, first: int, last: int) -> None:
        bulk = Bulk(sync_session.connection())
        extra = bulk.json({})
        rows = []
        for n in range(first, last):
            lang = LANGS[n % len(LANGS)]
            inbound = n < conversations or rng.random() < 0.6
            rows.append(
                (
                    workspace_id,
                    channel_id,
                    conversation_ids[n % conversations],
                    contact_ids[(n % conversations) % len(contact_ids)],
                    "inbound" if inbound else "outbound",
                    str(n),
                    _message_text(rng, lang, n),
                    lang,
                    rng.choice(SENTIMENTS) if inbound else None,
                    extra,
                    bulk.timestamp(start + timedelta(seconds=n)),
                )
            )
        columns = (
            "workspace_id", "channel_id", "conversation_id", "contact_id", "direction",
            "external_id", "text", "lang", "sentiment", "extra", "created_at",
        )  # fmt: skip
        bulk.insert(Message.__table__, columns, rows)

    async with db.write() as session:
        contact_ids = await session.run_sync(people)
    conversation_ids: list[int] = []
    for first in range(0, conversations, CHUNK):
        async with db.write() as session:
            last = min(first + CHUNK, conversations)
            conversation_ids += await session.run_sync(threads, first, last)
    for first in range(0, messages, CHUNK):
        async with db.write() as session:
            await session.run_sync(posts, first, min(first + CHUNK, messages))
    return workspace_id


async def _timed(runs: int, call: Callable[[], Awaitable[object]]) -> dict[str, float]:
    for _ in range(2):  # warm caches and statement preparation
        await call()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {
        "p50": round(statistics.median(samples), 2),
        "p95": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 2),
    }


async def _measure(url: str, messages: int, runs: int, label: str) -> dict[str, Any]:
    db = Database(url)
    out: dict[str, Any] = {}
    try:
        await upgrade(db)
        began = time.perf_counter()
        workspace_id = await _seed(db, messages)
        out[f"{label}_seed_s"] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        queued = await search.catch_up_all(db)
        seconds = time.perf_counter() - began
        out[f"{label}_index_rows_per_s"] = round(queued / seconds)
        if db.dialect == "postgresql":
            # Outside a transaction: statistics gathered inside one that is never committed
            # are rolled back. VACUUM too, as autovacuum would have after such a load.
            async with db.writer.connect() as connection:
                auto = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(text("VACUUM ANALYZE"))
        else:
            async with db.write() as session:
                await session.execute(text("ANALYZE"))

        async def baseline() -> None:
            async with db.read() as session:
                await session.execute(
                    text("SELECT id, conversation_id, text FROM message ORDER BY id DESC LIMIT 50")
                )

        base = await _timed(runs, baseline)
        out[f"{label}_baseline_ms"] = base
        for name, params in VIEWS:
            f = InboxFilter.from_query(params)
            pages: list[listing.InboxPage] = []

            async def view(f: InboxFilter = f, pages: list[listing.InboxPage] = pages) -> None:
                async with db.read() as session:
                    pages.append(await listing.list_inbox(session, workspace_id, None, f))

            timing: dict[str, Any] = await _timed(runs, view)
            timing["p95_vs_baseline"] = round(timing["p95"] / max(base["p95"], 0.001), 1)
            if f.q:  # whether the search stopped at its newest search.CAPPED hits
                timing["capped"] = pages[-1].counts_capped
            out[f"{label}_{name}_ms"] = timing
    finally:
        await db.dispose()
    return out


async def _postgres_scratch(admin_url: str, create: bool, name: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(
    quick: bool, database_url: str | None = None, messages: int | None = None
) -> dict[str, Any]:
    messages = messages or (20_000 if quick else 1_000_000)
    runs = 10 if quick else 30
    notes = [
        f"{messages:,} messages in {messages * 3 // 10:,} conversations; each view is the inbox "
        "page's own work (list, status counts, row details), p50/p95 over "
        f"{runs} runs after 2 warm-ups",
        "target (issue 5): p95 under 50 ms for views and under 150 ms for search",
    ]
    metrics: dict[str, Any] = {"messages": messages}
    baseline: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="allsang-bench-inbox-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'inbox.db'}"
        found = asyncio.run(_measure(url, messages, runs, "sqlite"))
    baseline["sqlite_baseline_ms"] = found.pop("sqlite_baseline_ms")
    metrics.update(found)
    admin = database_url or os.environ.get("ALLSANG_BENCH_POSTGRES_URL")
    if not admin:
        notes.append("PostgreSQL skipped: give --database-url postgresql://… to include it")
        return {"metrics": metrics, "baseline": baseline, "notes": notes}
    from sqlalchemy.engine import make_url

    from allsang.db.urls import async_url

    name = f"allsang_bench_{uuid.uuid4().hex[:8]}"
    plain = make_url(admin).set(drivername="postgresql").render_as_string(False)
    try:
        asyncio.run(_postgres_scratch(plain, True, name))
    except Exception as exc:
        notes.append(f"PostgreSQL skipped: cannot create a scratch database at {admin}: {exc}")
        return {"metrics": metrics, "baseline": baseline, "notes": notes}
    try:
        scratch = make_url(async_url(admin)).set(database=name).render_as_string(False)
        found = asyncio.run(_measure(scratch, messages, runs, "postgresql"))
        baseline["postgresql_baseline_ms"] = found.pop("postgresql_baseline_ms")
        metrics.update(found)
    finally:
        asyncio.run(_postgres_scratch(plain, False, name))
    return {"metrics": metrics, "baseline": baseline, "notes": notes}
