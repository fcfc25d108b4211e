"""``allsang bench wall``: delay from an ingested message's commit to its delivery on screens.

One uvicorn server (one process, a scratch SQLite file) serves a wall with automatic
moderation; 200 SSE clients (50 with ``--quick``) hold ``/walls/{id}/events`` open. Messages
are ingested one at a time, in the server's event loop, through the real pipeline with the
wall's commit hook (``service.commit_hook``) on the process's Broadcast. The clock starts in
the first commit hook (right after the commit) and stops when a client has parsed the event;
every client's delay for every message is one sample.

Baseline, from the same run: the delay of a bare ``asyncio.Queue`` fan-out to the same number
of in-process consumers — the floor of handing a hint to 200 waiting tasks.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.migrate import upgrade
from allsang.db.models import Channel, Workspace
from allsang.ingest.pipeline import ChannelRef, Pipeline
from allsang.live import open_broadcast
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox, generate_key
from allsang.settings import Settings
from allsang.wall import service


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _seed(db: Database) -> tuple[int, str, ChannelRef]:
    async with db.write() as session:
        workspace = Workspace(slug="bench", name="Bench")
        session.add(workspace)
        await session.flush()
        channel = Channel(workspace_id=workspace.id, network="webhook", name="Bench")
        session.add(channel)
        await session.flush()
        wall = await service.create_wall(
            session, workspace.id, service.WallFields(name="Bench", moderation="auto")
        )
        await service.set_sources(session, wall, [service.Source("hashtag", hashtag="bench")])
        token = await service.rotate_token(session, wall)
        return wall.id, token, ChannelRef(channel.id, workspace.id, "webhook")


async def _client(
    url: str, ready: asyncio.Event, arrivals: dict[int, list[float]], count: int
) -> None:
    seen = 0
    async with (
        httpx.AsyncClient(timeout=None) as client,
        client.stream("GET", url) as response,
    ):
        ready.set()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and "Bench message " in line:
                number = int(line.split("Bench message ", 1)[1].split(" ", 1)[0])
                arrivals.setdefault(number, []).append(time.monotonic())
                seen += 1
                if seen == count:
                    return


async def _queue_baseline(clients: int, messages: int) -> list[float]:
    queues = [asyncio.Queue[float]() for _ in range(clients)]
    delays: list[float] = []

    async def consume(queue: asyncio.Queue[float]) -> None:
        for _ in range(messages):
            sent = await queue.get()
            delays.append(time.monotonic() - sent)

    tasks = [asyncio.create_task(consume(q)) for q in queues]
    for _ in range(messages):
        now = time.monotonic()
        for queue in queues:
            queue.put_nowait(now)
        await asyncio.sleep(0.05)
    await asyncio.gather(*tasks)
    return delays


def run(quick: bool) -> dict[str, Any]:
    clients = 50 if quick else 200
    messages = 20 if quick else 50
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        key = generate_key()
        settings = Settings(database_url=url, secret_keys=key, data_dir=Path(folder))

        async def prepare() -> tuple[int, str, ChannelRef]:
            scratch = Database(settings.sqlalchemy_url)
            try:
                await upgrade(scratch)
                return await _seed(scratch)
            finally:
                await scratch.dispose()

        wall_id, token, channel = asyncio.run(prepare())
        # This engine is used only inside the server's event loop (engines belong to a loop).
        db = Database(settings.sqlalchemy_url)
        runtime = Runtime(settings=settings, db=db, secrets=SecretBox([key]))

        from allsang.web.app import create_app

        server = uvicorn.Server(
            uvicorn.Config(
                create_app(runtime),
                host="127.0.0.1",
                port=0,
                log_level="warning",
                timeout_graceful_shutdown=1,
            )
        )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),))
        thread.start()
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        events_url = f"http://127.0.0.1:{port}/walls/{wall_id}/events?token={token}"
        committed: dict[int, float] = {}

        async def stamp(_channel: ChannelRef, ids: list[int]) -> None:
            committed[len(committed)] = time.monotonic()

        async def ingest(number: int) -> None:
            pipeline = Pipeline(
                db,
                on_commit=[
                    stamp,
                    service.commit_hook(db, open_broadcast(settings.broadcast_url)),
                ],
            )
            payload = {
                "channel": "webhook",
                "external_id": f"bench-{number}",
                "author": {"handle": f"author{number % 7}"},
                "text": f"Bench message {number} #bench",
                "created_at": "2026-11-22T09:00:00+00:00",
            }
            await pipeline.ingest(channel, [RawItem(payload)])

        async def drive() -> dict[int, list[float]]:
            arrivals: dict[int, list[float]] = {}
            readies = [asyncio.Event() for _ in range(clients)]
            tasks = [
                asyncio.create_task(_client(events_url, ready, arrivals, messages))
                for ready in readies
            ]
            await asyncio.gather(*(ready.wait() for ready in readies))
            await asyncio.sleep(1.0)  # every stream is inside its loop
            for number in range(messages):
                asyncio.run_coroutine_threadsafe(ingest(number), loop).result()
                await asyncio.sleep(0.2)
            await asyncio.wait_for(asyncio.gather(*tasks), 60)
            return arrivals

        try:
            arrivals = asyncio.run(drive())
        finally:
            server.should_exit = True
            thread.join(10)
            loop.run_until_complete(db.dispose())
            # Streams the shutdown cut off leave their connection clean-ups behind.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()
    delays = [
        (arrival - committed[number]) * 1000
        for number, times in arrivals.items()
        for arrival in times
    ]
    baseline = [d * 1000 for d in asyncio.run(_queue_baseline(clients, messages))]
    return {
        "metrics": {
            "clients": clients,
            "messages": messages,
            "deliveries": len(delays),
            "delay_p50_ms": round(statistics.median(delays), 1),
            "delay_p99_ms": round(_percentile(delays, 0.99), 1),
            "delay_max_ms": round(max(delays), 1),
        },
        "baseline": {
            "queue_fanout_p50_ms": round(statistics.median(baseline), 2),
            "queue_fanout_p99_ms": round(_percentile(baseline, 0.99), 2),
        },
        "notes": ["Target: p99 under 500 ms with 200 clients (issue 6)."],
    }
