"""Failover with real processes on loopback: two web, two worker and two ingest processes on one
PostgreSQL and one NATS JetStream; one of each is killed with SIGKILL under load.

What must hold afterwards:

* every message the webhook accepted is stored exactly once (a client whose web process died
  sends the batch again to the survivor; the (channel, external id) dedupe absorbs repeats);
* every feed item the channels published is stored exactly once, the dead ingest process's
  channels are polled by the survivor within a minute;
* a live page connected to the killed web process reconnects to the survivor with its
  Last-Event-ID and learns of every conversation that changed, including those changed while it
  was away, and of those changed through the other web process (broadcast across processes);
* the job the killed worker was running (an alert delivery to a slow webhook) is run again by
  the surviving worker once its lease expires, and the alert goes out;
* every post scheduled to Mastodon is on the network exactly once and recorded as published,
  including those the killed worker was sending (the network had taken them, the worker died
  before it heard the answer): the survivor reads the account back instead of posting again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response

from allsang.auth import sessions
from allsang.auth.tokens import create_api_token
from allsang.db import Database
from allsang.db.models import (
    Alert,
    Channel,
    Conversation,
    Job,
    Membership,
    Message,
    Person,
    Workspace,
)
from allsang.db.models.publishing import PostDelivery
from allsang.db.types import utcnow
from allsang.ingest import leases
from allsang.listening.alerts import AlertSettings, raise_alert, store_settings
from allsang.publishing import service
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox
from allsang.settings import Settings
from tests.conftest import ENGINE
from tests.publishing.conftest import Newsroom, create_newsroom
from tests.publishing.fake_mastodon import FakeMastodon

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not ENGINE.startswith("postgres"),
        reason="failover runs in the PostgreSQL pass: it needs PostgreSQL and NATS",
    ),
]

REPOSITORY = Path(__file__).resolve().parents[2]
FEEDS = 4
WEBHOOK_BATCHES = 30
BATCH = 20
HOOK_SECONDS = 60.0
# More than both workers' slots (2 × 4), so some wait in the queue while others are in flight.
POSTS = 12


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class Feeds:
    """RSS feeds on the local HTTP server; items can be added while the processes run. The
    server also takes alert webhooks, slowly, counting them."""

    def __init__(self, server: HTTPServer) -> None:
        self.items: dict[int, list[str]] = {n: [] for n in range(FEEDS)}
        self.lock = threading.Lock()
        self.hooks = 0
        self.released = threading.Event()
        for n in range(FEEDS):
            server.expect_request(f"/feed/{n}.xml").respond_with_handler(self._handler(n))
        server.expect_request("/hook", method="POST").respond_with_handler(self._hook)
        self.url = server.url_for("/feed/")
        self.hook_url = server.url_for("/hook").replace("http://", "json://")

    def _hook(self, request: Request) -> Response:
        with self.lock:
            self.hooks += 1
        # The first delivery hangs until its worker has been killed.
        self.released.wait(HOOK_SECONDS)
        return Response("{}", content_type="application/json")

    def add(self, count: int) -> None:
        with self.lock:
            for n in range(FEEDS):
                start = len(self.items[n])
                self.items[n] += [f"feed{n}-item{i}" for i in range(start, start + count)]

    def all_ids(self) -> set[str]:
        with self.lock:
            return {f"https://example.org/{i}" for items in self.items.values() for i in items}

    def _handler(self, n: int) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            with self.lock:
                items = list(self.items[n])
            entries = "".join(
                f"<item><title>{i}</title><link>https://example.org/{i}</link>"
                f"<guid>https://example.org/{i}</guid><description>Nyhet {i}</description>"
                f"<pubDate>{format_datetime(utcnow())}</pubDate></item>"
                for i in items
            )
            body = (
                '<?xml version="1.0"?><rss version="2.0">'
                f"<channel><title>{n}</title>{entries}</channel></rss>"
            )
            return Response(body, content_type="application/rss+xml")

        return handle


@dataclass
class World:
    workspace_id: int
    token: str
    cookie: str
    channels: list[int]
    alert_id: int


async def _seed(url: str, feeds: Feeds, secrets: SecretBox) -> World:
    db = Database.unpooled(url)
    try:
        async with db.write() as session:
            workspace = Workspace(slug="failover", name="Failover")
            session.add(workspace)
            await session.flush()
            person = Person(email="owner@failover.test", name="Owner")
            session.add(person)
            await session.flush()
            session.add(Membership(workspace_id=workspace.id, person_id=person.id, role="owner"))
            channels = [
                Channel(
                    workspace_id=workspace.id,
                    network="rss",
                    name=f"Feed {n}",
                    config={"url": f"{feeds.url}{n}.xml", "poll_seconds": 0.5},
                )
                for n in range(FEEDS)
            ]
            session.add_all(channels)
            token = await create_api_token(
                session, workspace_id=workspace.id, role="editor", name="load"
            )
            cookie, _row = await sessions.create_session(
                session, person_id=person.id, workspace_id=workspace.id, days=1
            )
            # A job that takes a while: its worker will be killed while it runs.
            alert_settings = AlertSettings(urls=(feeds.hook_url,))
            store_settings(workspace, secrets, alert_settings)
            alert = await raise_alert(
                session, workspace, alert_settings, key="failover", kind="test", title="Failover"
            )
            assert alert is not None
            await session.flush()
            return World(workspace.id, token, cookie, [c.id for c in channels], alert.id)
    finally:
        await db.dispose()


async def _newsroom(settings: Settings, instance: str) -> Newsroom:
    """A second workspace with a Mastodon channel on the fake instance, for publishing only."""
    db = Database.unpooled(settings.sqlalchemy_url)
    try:
        room = await create_newsroom(Runtime(settings, db, SecretBox([settings.secret_keys])))
        async with db.write() as session:
            channel = await session.get(Channel, room.channel_id)
            assert channel is not None
            # Not listened to: the ingest assertions are about the feeds' channels.
            channel.config = {"instance": instance, "listen": False}
        return room
    finally:
        await db.dispose()


def _post_text(number: int) -> str:
    return f"Inlägg {number}: välkommen på öppet hus!"


async def _schedule_posts(url: str, room: Newsroom) -> None:
    """POSTS posts, each to the Mastodon channel, due now."""
    db = Database.unpooled(url)
    try:
        async with db.write() as session:
            editor = room.actor("editor")
            for number in range(POSTS):
                post = await service.create_draft(
                    session, editor, body=_post_text(number), channel_ids=[room.channel_id]
                )
                await service.publish_now(session, editor, post.id)
    finally:
        await db.dispose()


async def _sending(url: str, pid: int) -> set[str]:
    """The idempotency keys of the deliveries the worker with ``pid`` is running."""
    jobs = await _rows(
        url,
        select(Job.payload).where(
            Job.kind == service.DELIVER_JOB,
            Job.status == "running",
            Job.locked_by.like(f"%:{pid}:%"),
        ),
    )
    ids = [payload["delivery_id"] for (payload,) in jobs]
    rows = await _rows(url, select(PostDelivery.idempotency_key).where(PostDelivery.id.in_(ids)))
    return {key for (key,) in rows}


def _settled_deliveries(url: str) -> list[PostDelivery] | None:
    """Every delivery, once all reached a final state and their jobs finished; else ``None``."""
    deliveries = [d for (d,) in asyncio.run(_rows(url, select(PostDelivery)))]
    jobs = asyncio.run(_rows(url, select(Job.status).where(Job.kind == service.DELIVER_JOB)))
    if len(deliveries) != POSTS or len(jobs) != POSTS:
        return None
    final = ("published", "failed", "outcome_unknown")
    if any(d.state not in final for d in deliveries) or any(s != "done" for (s,) in jobs):
        return None
    return deliveries


@dataclass
class LivePage:
    """A browser's EventSource, in a thread: reconnects to the next server with Last-Event-ID."""

    servers: list[str]
    cookie: str
    seen: set[int] = field(default_factory=set)
    reconnects: int = 0
    last_event_id: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    connected: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        server = 0
        while not self.stop.is_set():
            headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
            try:
                with (
                    httpx.Client(
                        base_url=self.servers[server],
                        cookies={sessions.COOKIE_NAME: self.cookie},
                        timeout=httpx.Timeout(5, read=30),
                    ) as client,
                    client.stream("GET", "/inbox/events/list", headers=headers) as r,
                ):
                    r.raise_for_status()
                    self.connected.set()
                    self._read(r.iter_lines())
            except (httpx.HTTPError, OSError):
                pass
            if self.stop.is_set():
                return
            # Like EventSource after `retry:`, but to the other server (the load balancer's job).
            server = (server + 1) % len(self.servers)
            self.reconnects += 1
            time.sleep(0.5)

    def _read(self, lines: Iterator[str]) -> None:
        import json

        for line in lines:
            if self.stop.is_set():
                return
            if line.startswith("id:"):
                self.last_event_id = line[3:].strip()
            elif line.startswith("data:"):
                data: dict[str, Any] = json.loads(line[5:])
                if isinstance(data.get("conversation"), int):
                    self.seen.add(data["conversation"])


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "allsang", *command],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _post(servers: list[str], token: str, batch: list[dict[str, Any]]) -> None:
    """Send a batch; when a web process is gone, send it again to the next one."""
    for attempt in range(20):
        server = servers[attempt % len(servers)]
        try:
            response = httpx.post(
                f"{server}/api/v1/messages",
                json=batch,
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
        except httpx.HTTPError:
            continue
        if response.status_code < 300:
            return
        assert response.status_code >= 500, response.text
    raise AssertionError("no web process took the batch")


async def _rows(url: str, statement: Any) -> list[Any]:
    db = Database.unpooled(url)
    try:
        async with db.read() as session:
            return list(await session.execute(statement))
    finally:
        await db.dispose()


def _scalar(url: str, statement: Any) -> Any:
    return asyncio.run(_count(url, statement))


async def _count(url: str, statement: Any) -> Any:
    db = Database.unpooled(url)
    try:
        async with db.read() as session:
            return await session.scalar(statement)
    finally:
        await db.dispose()


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    # Threaded: the slow alert webhook must not hold up the feeds (or the retried webhook).
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_killing_one_process_of_each_kind_loses_and_duplicates_nothing(
    settings: Settings, threaded_server: HTTPServer, tmp_path: Path
) -> None:
    url = settings.sqlalchemy_url
    feeds = Feeds(threaded_server)
    feeds.add(5)
    world = asyncio.run(_seed(url, feeds, SecretBox([settings.secret_keys])))
    mastodon = FakeMastodon(threaded_server)

    def hold_the_answer() -> None:
        # The post is on the network, but its worker hears so only after the kill.
        feeds.released.wait(HOOK_SECONDS)

    mastodon.on_accepted = hold_the_answer
    room = asyncio.run(_newsroom(settings, mastodon.url))
    unique = uuid.uuid4().hex[:10]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALLSANG_")},
        "ALLSANG_DATA_DIR": str(tmp_path / "data"),
        "ALLSANG_DATABASE_URL": settings.database_url,
        "ALLSANG_SECRET_KEYS": settings.secret_keys,
        "ALLSANG_BROADCAST_URL": settings.database_url,
        "ALLSANG_STREAM_URL": f"nats://127.0.0.1:4222?stream=FAIL_{unique}&subject=fail.{unique}",
        "ALLSANG_INGEST_RESCAN_SECONDS": "1",
        "ALLSANG_FETCH_ALLOW_PRIVATE_NETWORKS": "true",
        "ALLSANG_WORKER_POLL_SECONDS": "0.2",
        "ALLSANG_JOB_LEASE_SECONDS": "6",
        "ALLSANG_LOG_LEVEL": "warning",
        "PYTHONPATH": os.pathsep.join([str(REPOSITORY / "src"), str(REPOSITORY)]),
    }
    ports = [_free_port(), _free_port()]
    servers = [f"http://127.0.0.1:{port}" for port in ports]
    processes: dict[str, subprocess.Popen[bytes]] = {}
    page = LivePage(servers=servers, cookie=world.cookie)
    try:
        for n, port in enumerate(ports):
            processes[f"web{n}"] = _start(
                ["web", "--port", str(port)], env, tmp_path / f"web{n}.log"
            )
        for n in range(2):
            processes[f"worker{n}"] = _start(["worker"], env, tmp_path / f"worker{n}.log")
            processes[f"ingest{n}"] = _start(["ingest"], env, tmp_path / f"ingest{n}.log")
        for server in servers:
            _wait(lambda s=server: _healthy(s), f"{server}/healthz", 180)
        reader = threading.Thread(target=page.run, daemon=True)
        reader.start()
        assert page.connected.wait(20)
        # The worker that took the alert's job is the one to kill, while the job runs.
        _wait(lambda: asyncio.run(_running_pid(url)) is not None, "the alert job to run", 30)
        pid = asyncio.run(_running_pid(url))
        victim = next(n for n in ("worker0", "worker1") if processes[n].pid == pid)
        # Posts due now fill both workers' free slots; the victim is sending some when it dies.
        asyncio.run(_schedule_posts(url, room))
        cut_off: set[str] = set()

        def victim_is_sending() -> bool:
            cut_off.update(asyncio.run(_sending(url, pid)) & {r["key"] for r in mastodon.requests})
            return bool(cut_off)

        _wait(victim_is_sending, "the victim to send a post", 30)

        sent = 0
        for number in range(WEBHOOK_BATCHES):
            batch = [
                {
                    "channel": "webhook",
                    "external_id": f"w-{number}-{i}",
                    "author": {"handle": f"person{(number * BATCH + i) % 97}"},
                    "text": f"Fråga {number}-{i}: när öppnar ni?",
                    "created_at": "2026-12-04T10:00:00+01:00",
                    "addressed": True,
                }
                for i in range(BATCH)
            ]
            _post(servers[number % 2 :] + servers[: number % 2], world.token, batch)
            sent += len(batch)
            if number == WEBHOOK_BATCHES // 3:
                # One of each, with no chance to clean up.
                for name in ("web0", "ingest0", victim):
                    processes[name].send_signal(signal.SIGKILL)
                feeds.released.set()
                feeds.add(5)  # published while ingest0's channels have no listener yet

        expected = feeds.all_ids()

        def stored(where: Any) -> int:
            return int(_scalar(url, select(func.count()).select_from(Message).where(where)))

        _wait(lambda: stored(Message.url.in_(expected)) == len(expected), "every feed item", 90)
        assert stored(Message.external_id.like("w-%")) == sent
        distinct = select(func.count(func.distinct(Message.external_id)))
        assert _scalar(url, distinct) == _scalar(url, select(func.count()).select_from(Message))
        held = asyncio.run(_holders(url))
        assert set(held) == set(world.channels)
        assert len(set(held.values())) == 1, "the survivor holds every channel"

        alert_jobs = select(Job.status, Job.attempts).where(Job.kind == "listening.alert")

        def jobs_done() -> bool:
            return all(status == "done" for status, _ in asyncio.run(_rows(url, alert_jobs)))

        _wait(jobs_done, "the killed worker's job to run again elsewhere", 60)
        assert max(attempts for _, attempts in asyncio.run(_rows(url, alert_jobs))) >= 2
        # Other alarms of the workspace (bus factor, say) may have joined it in a summary.
        status = _scalar(url, select(Alert.status).where(Alert.id == world.alert_id))
        assert status in ("sent", "summarised")
        assert feeds.hooks >= 2  # the first delivery was cut off with its worker

        # No post published twice, none silently lost. Mastodon keeps an Idempotency-Key for an
        # hour and can be read back, so the design settles every delivery here as `published`
        # (the survivor finds the victim's posts on the network); `outcome_unknown` with a
        # reason is only for networks that can do neither, so it counts as a failure here.
        settled: list[list[PostDelivery]] = []

        def all_settled() -> bool:
            deliveries = _settled_deliveries(url)
            if deliveries is not None:
                settled.append(deliveries)
            return deliveries is not None

        _wait(all_settled, "every delivery to settle", 60)
        deliveries = settled[-1]
        not_published = [(d.text, d.state, d.unknown_reason, d.last_error) for d in deliveries]
        assert all(d.state == "published" for d in deliveries), not_published
        on_network = Counter(mastodon.texts())
        assert on_network == Counter(_post_text(n) for n in range(POSTS)), on_network
        assert len(mastodon.statuses) == POSTS
        for delivery in deliveries:
            assert delivery.external_id == mastodon.keys[delivery.idempotency_key]
        resumed = [d for d in deliveries if d.idempotency_key in cut_off]
        # Taken over by the survivor, which found them by reading back and did not send again.
        assert resumed and all(d.attempts >= 2 for d in resumed)
        sent_keys = Counter(r["key"] for r in mastodon.requests)
        assert all(sent_keys[d.idempotency_key] == 1 for d in resumed), sent_keys

        conversations = set(asyncio.run(_ids(url, world.workspace_id)))
        _wait(lambda: conversations <= page.seen, "the page to learn of every conversation", 30)
        assert page.reconnects >= 1
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{_tails(tmp_path)}") from None
    finally:
        page.stop.set()
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def _tails(folder: Path) -> str:
    """The end of each process's log, for a failure message."""
    return "\n".join(
        f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        for log in sorted(folder.glob("*.log"))
    )


def _healthy(server: str) -> bool:
    try:
        return httpx.get(f"{server}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def _running_pid(url: str) -> int | None:
    """The pid of the worker running the alert job (worker ids are host:pid:random)."""
    locked_by = await _count(
        url,
        select(Job.locked_by).where(Job.kind == "listening.alert", Job.status == "running"),
    )
    return int(locked_by.split(":")[1]) if locked_by else None


async def _holders(url: str) -> dict[int, str]:
    db = Database.unpooled(url)
    try:
        return await leases.holders(db)
    finally:
        await db.dispose()


async def _ids(url: str, workspace_id: int) -> list[int]:
    db = Database.unpooled(url)
    try:
        async with db.read() as session:
            return list(
                await session.scalars(
                    select(Conversation.id).where(Conversation.workspace_id == workspace_id)
                )
            )
    finally:
        await db.dispose()
