"""``allsang bench ingest``: messages per second from the replay connector into the database.

What runs is the real thing: a replay channel, the coordinator's listen loop, the in-process
stream and a pipeline consumer (normalise, validate, dedupe, thread, store with the cursor),
into a scratch SQLite file and a scratch PostgreSQL database (``ALLSANG_BENCH_POSTGRES_URL``,
default ``postgresql://postgres@127.0.0.1:5432/test``; the server must be there), each with
enrichment off and on. The clock runs from the start of ingest until the channel's cursor has
reached the end of the file.

Baseline, measured in the same run: the same rows written with the ``sqlite3`` module alone
(``json.loads`` per line and one ``executemany`` INSERT per 1,000 rows into an identically
indexed table) — the floor of what the pipeline adds.

Peak memory is the process's maximum resident set size (``resource.getrusage``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from allsang.connectors.replay import ReplayConnector
from allsang.db import Database
from allsang.db.migrate import upgrade
from allsang.db.models import Channel, Workspace
from allsang.ingest.coordinator import IngestOptions, Tuning, run_ingest
from allsang.ingest.pipeline import Enricher
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox, generate_key
from allsang.settings import Settings

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
TEXTS = [
    "Hej! När öppnar ni kundtjänsten i morgon? Jag har frågor om min faktura.",
    "Takk for rask hjelp i dag, dere er gode! #kundeservice",
    "Eg har venta på svar i tre dagar no. Kva skjer med bestillinga mi?",
    "Hvornår kommer den nye app-version? Den gamle crasher hele tiden.",
    "Kiitos nopeasta vastauksesta, asia ratkesi heti.",
    "Is there a press contact for the new sustainability report?",
    "Fantastisk service i butikken på Drottninggatan i helgen 👏",
    "Jeg er journalist og vil gerne tale med jeres pressechef om udspillet.",
]


def generate(path: Path, count: int, seed: int = 7) -> None:
    """Normalised messages like a busy channel's: threads, mentions, six languages."""
    rng = random.Random(seed)
    with path.open("w") as handle:
        for n in range(count):
            reply = n > 10 and rng.random() < 0.2
            record = {
                "channel": "mastodon",
                "external_id": f"bench-{n}",
                "url": f"https://social.example/@p{n % 2000}/{n}",
                "kind": "reply" if reply else "post",
                "author": {
                    "handle": f"@person{rng.randrange(2000)}@social.example",
                    "name": f"Person {n % 2000}",
                },
                "text": f"{rng.choice(TEXTS)} ({n})",
                "created_at": f"2026-11-{20 + (n // 86400) % 8:02d}T{(n // 3600) % 24:02d}:"
                f"{(n // 60) % 60:02d}:{n % 60:02d}+01:00",
                "in_reply_to": f"bench-{n - rng.randrange(1, 10)}" if reply else None,
                "addressed": rng.random() < 0.1,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _enricher() -> tuple[Enricher, str]:
    try:
        from allsang.listening.enrich import ListeningEnricher

        return ListeningEnricher(), "enrichment: the listening engine's ListeningEnricher"
    except Exception as exc:  # not there yet, or its model is not: measure language id alone
        from allsang.ingest.pipeline import Enrichment
        from allsang.listening.langid import detect

        def language(messages: Any) -> list[Enrichment]:
            return [Enrichment(lang=detect(m.text).lang) for m in messages]

        return language, (
            "enrichment: a stand-in doing language identification only (the listening "
            f"enricher is unavailable: {type(exc).__name__}: {exc})"
        )


async def _ingest(url: str, data: Path, count: int, enrichers: list[Enricher]) -> float:
    db = Database(url)
    try:
        await upgrade(db)
        async with db.write() as session:
            workspace = Workspace(slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench")
            session.add(workspace)
            await session.flush()
            channel = Channel(
                workspace_id=workspace.id,
                network="replay",
                name="Bench",
                config={"path": str(data), "batch_size": 2000, "poll_seconds": 3600},
            )
            session.add(channel)
            await session.flush()
        key = generate_key()
        settings = Settings(database_url=url, secret_keys=key, data_dir=data.parent)
        runtime = Runtime(settings=settings, db=db, secrets=SecretBox([key]))
        stop = asyncio.Event()
        stored = 0
        finished = 0.0

        async def count_commits(_: Any, ids: list[int]) -> None:
            nonlocal stored, finished
            stored += len(ids)
            if stored >= count and not stop.is_set():
                # The last batch and its cursor are committed: the clock stops here, not
                # after the shutdown that follows (the consumer's fetch wait, closing).
                finished = time.perf_counter()
                stop.set()

        options = IngestOptions(
            enrichers=enrichers,
            on_commit=[count_commits],
            tuning=Tuning(rescan_seconds=3600),
            connector_class=lambda _: ReplayConnector,
        )
        started = time.perf_counter()
        await run_ingest(runtime, stop, options)
        return finished - started
    finally:
        await db.dispose()


def _baseline(data: Path, folder: Path) -> float:
    connection = sqlite3.connect(folder / "baseline.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE message (id INTEGER PRIMARY KEY, workspace_id INT, channel_id INT, "
        "conversation_id INT, contact_id INT, direction TEXT, kind TEXT, external_id TEXT, "
        "in_reply_to TEXT, url TEXT, text TEXT, lang TEXT, extra TEXT, created_at TEXT, "
        "received_at TEXT, UNIQUE (channel_id, external_id))"
    )
    connection.execute("CREATE INDEX ix_1 ON message (conversation_id, created_at)")
    connection.execute("CREATE INDEX ix_2 ON message (workspace_id, created_at)")
    sql = "INSERT OR IGNORE INTO message VALUES (NULL" + ", ?" * 14 + ")"
    started = time.perf_counter()
    rows = []
    with data.open("rb") as handle:
        for line in handle:
            m = json.loads(line)
            rows.append(
                (1, 1, None, 1, "inbound", m["kind"], m["external_id"], m["in_reply_to"],
                 m["url"], m["text"], None, json.dumps({"author": m["author"]}),
                 m["created_at"], m["created_at"])
            )  # fmt: skip
            if len(rows) == 1000:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(sql, rows)
                connection.execute("COMMIT")
                rows = []
    if rows:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(sql, rows)
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


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


def run(quick: bool) -> dict[str, Any]:
    count = 20_000 if quick else 100_000
    enricher, enricher_note = _enricher()
    metrics: dict[str, Any] = {"messages": count}
    notes = [enricher_note]
    with tempfile.TemporaryDirectory(prefix="allsang-bench-") as tmp:
        folder = Path(tmp)
        data = folder / "messages.jsonl"
        generate(data, count)
        baseline = {"sqlite3_executemany_messages_per_s": round(count / _baseline(data, folder))}

        for enrich in (False, True):
            # Enrichment is CPU-bound: a smaller sample keeps the full run reasonable.
            n = count if not enrich else count // 4
            sample = data if not enrich else folder / "enrich.jsonl"
            if enrich:
                generate(sample, n)
            label = "on" if enrich else "off"
            url = f"sqlite+aiosqlite:///{folder / f'bench-{label}.db'}"
            seconds = asyncio.run(_ingest(url, sample, n, [enricher] if enrich else []))
            metrics[f"sqlite_enrichment_{label}_messages_per_s"] = round(n / seconds)

        admin = os.environ.get("ALLSANG_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
        name = f"allsang_bench_{uuid.uuid4().hex[:8]}"
        from sqlalchemy.engine import make_url

        from allsang.db.urls import async_url

        try:
            asyncio.run(_postgres_scratch(admin, True, name))
        except Exception as exc:
            notes.append(f"PostgreSQL skipped: cannot create a scratch database at {admin}: {exc}")
        else:
            url = make_url(async_url(admin)).set(database=name).render_as_string(False)
            try:
                for enrich in (False, True):
                    n = count if not enrich else count // 4
                    sample = data if not enrich else folder / "enrich.jsonl"
                    label = "on" if enrich else "off"
                    seconds = asyncio.run(_ingest(url, sample, n, [enricher] if enrich else []))
                    metrics[f"postgresql_enrichment_{label}_messages_per_s"] = round(n / seconds)
            finally:
                asyncio.run(_postgres_scratch(admin, False, name))
        metrics["peak_memory_mb"] = _peak_mb()
    notes.append(
        f"{count} messages with enrichment off, {count // 4} with it on; target: at least "
        "20,000 messages/s into SQLite with enrichment off on 2 cores"
    )
    return {"metrics": metrics, "baseline": baseline, "notes": notes}
