"""Broadcast adapters: in-process queues, PostgreSQL ``LISTEN``/``NOTIFY``, Redis pub/sub and
NATS subjects.

See the package docstring for the contract. Both adapters deliver to local subscribers through
bounded queues; a subscriber that falls more than :data:`QUEUE_HINTS` hints behind loses the
oldest ones (it re-reads the database anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

log = logging.getLogger(__name__)

MAX_HINT_BYTES = 1000
MAX_TOPIC_CHARS = 63
QUEUE_HINTS = 256
# One PostgreSQL channel for every topic: LISTEN once per process, route topics locally.
PG_CHANNEL = "allsang_live"
RECONNECT_SECONDS = 1.0
# nats-py would otherwise retry an unreachable server for minutes (60 x 2 s) inside a publish;
# one quick retry, then our own reconnect loop (listener) or a lost hint (publisher).
NATS_OPTIONS: dict[str, Any] = {
    "max_reconnect_attempts": 1,
    "reconnect_time_wait": 0.1,
    "connect_timeout": 2,
}

Hint = dict[str, Any]


class Broadcast(Protocol):
    """The port. ``subscribe`` returns a :class:`Subscription` (use it with ``async with``)."""

    async def publish(self, topic: str, hint: Hint) -> None: ...

    def subscribe(self, topic: str) -> Subscription: ...

    async def close(self) -> None: ...


def _check(topic: str, hint: Hint) -> str:
    if not topic or len(topic) > MAX_TOPIC_CHARS:
        raise ValueError(f"a topic has 1 to {MAX_TOPIC_CHARS} characters: {topic!r}")
    encoded = json.dumps(hint, separators=(",", ":"))
    if len(encoded.encode()) > MAX_HINT_BYTES:
        raise ValueError(f"a hint is at most {MAX_HINT_BYTES} bytes; re-read the database instead")
    return encoded


class _Fanout:
    """Local subscribers per topic, each with a bounded queue that drops its oldest hint."""

    def __init__(self) -> None:
        self.queues: dict[str, set[asyncio.Queue[Hint]]] = {}

    def add(self, topic: str) -> asyncio.Queue[Hint]:
        queue: asyncio.Queue[Hint] = asyncio.Queue(QUEUE_HINTS)
        self.queues.setdefault(topic, set()).add(queue)
        return queue

    def remove(self, topic: str, queue: asyncio.Queue[Hint]) -> None:
        subscribers = self.queues.get(topic)
        if subscribers is not None:
            subscribers.discard(queue)
            if not subscribers:
                del self.queues[topic]

    def deliver(self, topic: str, hint: Hint) -> None:
        for queue in self.queues.get(topic, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(dict(hint))


class Subscription:
    """Hints of one topic, from the moment ``async with`` (or the first ``anext``) returns.

    Leaving the ``async with`` block (or ``aclose()``) unsubscribes.
    """

    def __init__(self, owner: _Subscribable, topic: str) -> None:
        self._owner = owner
        self._topic = topic
        self._queue: asyncio.Queue[Hint] | None = None

    async def open(self) -> Subscription:
        if self._queue is None:
            await self._owner.ready()
            self._queue = self._owner.fanout.add(self._topic)
        return self

    async def aclose(self) -> None:
        if self._queue is not None:
            self._owner.fanout.remove(self._topic, self._queue)
            self._queue = None

    async def __aenter__(self) -> Subscription:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[Hint]:
        return self

    async def __anext__(self) -> Hint:
        await self.open()
        assert self._queue is not None
        return await self._queue.get()


class _Subscribable(Protocol):
    fanout: _Fanout

    async def ready(self) -> None: ...


class InProcessBroadcast:
    """Subscribers in this process only: ``allsang serve`` and the tests."""

    def __init__(self) -> None:
        self.fanout = _Fanout()

    async def ready(self) -> None:
        return None

    async def publish(self, topic: str, hint: Hint) -> None:
        _check(topic, hint)
        self.fanout.deliver(topic, hint)

    def subscribe(self, topic: str) -> Subscription:
        return Subscription(self, topic)

    async def close(self) -> None:
        self.fanout.queues.clear()


class _RemoteBroadcast:
    """A broadcast through a server: one listening connection per process feeds local subscribers.

    The listening connection is opened with the first subscription and reopened after a
    failure (hints sent meanwhile are lost, as the contract allows). Publishing uses its own
    connection, so a publish never waits behind the listener. Adapters implement ``_listen_once``
    (connect, subscribe, call ``self._listening.set()``, then feed ``_dispatch`` until the
    connection ends), ``_send`` and ``_drop_publisher``.
    """

    kind = "broadcast"

    def __init__(self) -> None:
        self.fanout = _Fanout()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._publish_lock = asyncio.Lock()

    async def ready(self) -> None:
        if self._listener is None or self._listener.done():
            self._listening.clear()
            self._listener = asyncio.create_task(self._listen(), name=f"{self.kind}-listen")
        await self._listening.wait()

    async def _listen(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s listening connection lost (%s); reconnecting", self.kind, exc)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen_once(self) -> None:
        raise NotImplementedError

    def _dispatch(self, payload: str | bytes) -> None:
        try:
            message = json.loads(payload)
            self.fanout.deliver(str(message["t"]), dict(message["h"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed broadcast payload")

    async def publish(self, topic: str, hint: Hint) -> None:
        encoded = _check(topic, hint)
        payload = f'{{"t":{json.dumps(topic)},"h":{encoded}}}'
        async with self._publish_lock:
            try:
                await self._send(payload)
            except Exception as exc:
                log.warning("%s publish failed (%s); the hint is lost", self.kind, exc)
                with contextlib.suppress(Exception):
                    await self._drop_publisher()

    async def _send(self, payload: str) -> None:
        raise NotImplementedError

    async def _drop_publisher(self) -> None:
        raise NotImplementedError

    def subscribe(self, topic: str) -> Subscription:
        return Subscription(self, topic)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        async with self._publish_lock:
            with contextlib.suppress(Exception):
                await self._drop_publisher()
        self.fanout.queues.clear()


class PostgresBroadcast(_RemoteBroadcast):
    """``NOTIFY`` on publish; ``LISTEN`` on one dedicated psycopg connection per process."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = _libpq_url(url)
        self._publisher: Any = None

    async def _listen_once(self) -> None:
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute(f"LISTEN {PG_CHANNEL}")
            self._listening.set()
            async for notify in conn.notifies():
                self._dispatch(notify.payload)

    async def _send(self, payload: str) -> None:
        import psycopg

        if self._publisher is None or self._publisher.closed:
            self._publisher = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        await self._publisher.execute("SELECT pg_notify(%s, %s)", (PG_CHANNEL, payload))

    async def _drop_publisher(self) -> None:
        if self._publisher is not None:
            publisher, self._publisher = self._publisher, None
            await publisher.close()


class RedisBroadcast(_RemoteBroadcast):
    """Redis pub/sub: ``redis://host:6379/0`` (``?channel=`` names the channel; default
    ``allsang_live``, so several installations can share one Redis)."""

    kind = "redis"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url, self.channel = _pop_query(url, "channel", PG_CHANNEL)
        self._publisher: Any = None

    async def _listen_once(self) -> None:
        import redis.asyncio as redis

        client = redis.Redis.from_url(self.url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(self.channel)
                self._listening.set()
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._dispatch(message["data"])
        finally:
            await client.aclose()

    async def _send(self, payload: str) -> None:
        import redis.asyncio as redis

        if self._publisher is None:
            self._publisher = redis.Redis.from_url(self.url)
        await self._publisher.publish(self.channel, payload)

    async def _drop_publisher(self) -> None:
        if self._publisher is not None:
            publisher, self._publisher = self._publisher, None
            await publisher.aclose()


class NatsBroadcast(_RemoteBroadcast):
    """Core NATS subjects: ``nats://host:4222`` (``?subject=`` names the subject; default
    ``allsang.live``). Plain pub/sub, not JetStream: hints are allowed to be lost."""

    kind = "nats"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url, self.subject = _pop_query(url, "subject", "allsang.live")
        self._publisher: Any = None

    async def _listen_once(self) -> None:
        import nats

        client = await nats.connect(self.url, error_cb=_quiet, **NATS_OPTIONS)
        try:
            subscription = await client.subscribe(self.subject)
            await client.flush()
            self._listening.set()
            async for message in subscription.messages:
                self._dispatch(message.data)
        finally:
            await client.close()

    async def _send(self, payload: str) -> None:
        import nats

        if self._publisher is None or self._publisher.is_closed:
            self._publisher = await nats.connect(self.url, error_cb=_quiet, **NATS_OPTIONS)
        await self._publisher.publish(self.subject, payload.encode())
        await self._publisher.flush()

    async def _drop_publisher(self) -> None:
        if self._publisher is not None:
            publisher, self._publisher = self._publisher, None
            await publisher.close()


async def _quiet(exc: Exception) -> None:
    """nats-py logs every failed attempt with a traceback; our callers log once instead."""


def _pop_query(url: str, name: str, default: str) -> tuple[str, str]:
    """Split our own query parameter off a server URL (the client libraries reject it)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    value = next((v for k, v in query if k == name), default)
    rest = urlencode([(k, v) for k, v in query if k != name])
    return urlunsplit(parts._replace(query=rest)), value


def _libpq_url(url: str) -> str:
    """psycopg wants a plain libpq URL; accept the SQLAlchemy spellings people copy too."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg_async://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


# Broadcasts hold asyncio objects, so there is one per event loop (and URL).
_instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Broadcast]] = (
    weakref.WeakKeyDictionary()
)


def open_broadcast(url: str) -> Broadcast:
    """This process's broadcast for ``url`` (the ``broadcast_url`` setting), created once.

    Everything in one process (web, worker, ingest) must share it, or in-process hints would not
    reach the web's subscribers; hence a per-loop registry rather than a constructor call.
    """
    per_loop = _instances.setdefault(asyncio.get_running_loop(), {})
    found = per_loop.get(url)
    if found is None:
        if not url:
            found = InProcessBroadcast()
        elif url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            found = PostgresBroadcast(url)
        elif url.startswith(("redis://", "rediss://", "unix://")):
            found = RedisBroadcast(url)
        elif url.startswith(("nats://", "tls://")):
            found = NatsBroadcast(url)
        else:
            from allsang.errors import ConfigurationError

            raise ConfigurationError(
                "broadcast_url must be empty or a postgresql://, redis:// or nats:// URL, "
                f"not {url!r}"
            )
        per_loop[url] = found
    return found


async def close_broadcasts() -> None:
    """Close this loop's broadcasts (at shutdown)."""
    per_loop = _instances.pop(asyncio.get_running_loop(), {})
    for broadcast in per_loop.values():
        await broadcast.close()
