"""The Stream port: the seam between *receiving* (connector listen loops) and *storing*
(pipeline consumers).

Contract:

* ``publish(channel, batch)`` hands over a batch of raw items with its cursor and returns once
  the stream holds it. It **waits** while the stream is full (backpressure reaches the
  connector, which simply reads more slowly).
* ``fetch(limit, max_wait)`` gives up to ``limit`` :class:`Delivery` objects (fewer, or none
  after ``max_wait`` seconds). A consumer stores each one with :meth:`Pipeline.ingest` and calls
  :meth:`Delivery.ack` only **after** the commit; :meth:`Delivery.nak` asks for it again.
* A delivery that is neither acknowledged within ``ack_wait`` seconds nor nak'd is delivered
  again (at-least-once). The pipeline's dedupe on (channel, external id) turns that into
  exactly-once in the database.
* ``durable`` says whether a published batch survives the process. When it does (JetStream),
  the producer may save the source cursor as soon as ``publish`` returns, and consumers store
  batches without touching the cursor. When it does not (embedded), the cursor travels with
  the batch and is saved by the pipeline in the batch's own transaction: a crash loses the
  queue, and the source replays from the last committed cursor.

Adapters, chosen by :func:`open_stream` from the ``stream_url`` setting: :class:`EmbeddedStream`
(empty URL; an in-process bounded queue) and :class:`JetStreamStream` (``nats://…``; NATS
JetStream with a durable pull consumer, explicit acks and a work-queue stream).

:func:`consume` is the consumer loop both adapters share.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qs, urlsplit

from allsang.connectors.base import Batch, RawItem
from allsang.errors import ConfigurationError
from allsang.ingest.message import InvalidMessage, NormalisedMessage
from allsang.ingest.pipeline import ChannelRef, Normaliser, Pipeline, PreparedBatch

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Delivery:
    """One batch as a consumer receives it; ``attempt`` counts deliveries (1 the first time)."""

    channel: ChannelRef
    items: list[RawItem]
    cursor: dict[str, Any] | None
    attempt: int
    _ack: Callable[[], Awaitable[None]] = field(repr=False)
    _nak: Callable[[float], Awaitable[None]] = field(repr=False)

    async def ack(self) -> None:
        """The batch is committed: never deliver it again."""
        await self._ack()

    async def nak(self, delay: float = 0.0) -> None:
        """The batch could not be stored: deliver it again after ``delay`` seconds."""
        await self._nak(delay)


class Stream(Protocol):
    durable: ClassVar[bool]

    async def start(self) -> None:
        """Connect and create what is missing (idempotent)."""
        ...

    async def publish(self, channel: ChannelRef, batch: Batch) -> None: ...

    async def fetch(self, limit: int, max_wait: float) -> list[Delivery]: ...

    async def drained(self, max_wait: float) -> bool:
        """Wait until every published batch is acknowledged; False after ``max_wait`` seconds."""
        ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------------------------------------
# Embedded adapter


@dataclass(slots=True, eq=False)
class _Entry:
    channel: ChannelRef
    items: list[RawItem]
    cursor: dict[str, Any] | None
    attempt: int = 0
    deadline: float = 0.0


class EmbeddedStream:
    """An in-process bounded queue with acknowledgements.

    ``capacity`` bounds the batches that are queued *or* delivered but not yet acknowledged,
    so a slow database slows the connectors down instead of filling memory.
    """

    durable: ClassVar[bool] = False

    def __init__(self, capacity: int = 16, *, ack_wait: float = 30.0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.ack_wait = ack_wait
        self._pending: collections.deque[_Entry] = collections.deque()
        self._in_flight: set[_Entry] = set()
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        return None

    def _held(self) -> int:
        return len(self._pending) + len(self._in_flight)

    async def publish(self, channel: ChannelRef, batch: Batch) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._held() < self.capacity)
            self._pending.append(_Entry(channel, list(batch.items), batch.cursor))
            self._changed.notify_all()

    def _expire(self, now: float) -> None:
        expired = [e for e in self._in_flight if e.deadline <= now]
        for entry in sorted(expired, key=lambda e: e.deadline, reverse=True):
            self._in_flight.discard(entry)
            self._pending.appendleft(entry)

    async def fetch(self, limit: int, max_wait: float) -> list[Delivery]:
        give_up = time.monotonic() + max_wait
        async with self._changed:
            while True:
                now = time.monotonic()
                self._expire(now)
                if self._pending or now >= give_up:
                    break
                wake = min([give_up, *(e.deadline for e in self._in_flight)])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), max(wake - now, 0.001))
            deliveries = []
            while self._pending and len(deliveries) < limit:
                entry = self._pending.popleft()
                entry.attempt += 1
                entry.deadline = now + self.ack_wait
                self._in_flight.add(entry)
                deliveries.append(self._delivery(entry))
            return deliveries

    def _delivery(self, entry: _Entry) -> Delivery:
        attempt = entry.attempt

        async def ack() -> None:
            async with self._changed:
                if entry.attempt == attempt:
                    self._in_flight.discard(entry)
                    self._changed.notify_all()

        async def nak(delay: float) -> None:
            async with self._changed:
                if entry.attempt != attempt or entry not in self._in_flight:
                    return
                if delay <= 0:
                    self._in_flight.discard(entry)
                    self._pending.appendleft(entry)
                else:
                    # Stays held (so it still counts against capacity) until it is due again.
                    entry.deadline = time.monotonic() + delay
                self._changed.notify_all()

        return Delivery(entry.channel, entry.items, entry.cursor, attempt, ack, nak)

    async def drained(self, max_wait: float) -> bool:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self._held() == 0), max_wait)
            except TimeoutError:
                return False
            return True

    async def close(self) -> None:
        return None


# ---------------------------------------------------------------------------------------------
# NATS JetStream adapter

WIRE_VERSION = 1
# Room for the envelope around the items when a batch is split to fit the server's limit.
_ENVELOPE_SLACK = 1024
OVERSIZE_KEY = "__allsang_oversize__"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _encode_item(item: RawItem) -> dict[str, Any]:
    payload = item.payload
    if isinstance(payload, bytes):
        return {"b64": base64.b64encode(payload).decode("ascii"), "s": item.source}
    if isinstance(payload, str):
        return {"text": payload, "s": item.source}
    return {"json": payload, "s": item.source}


def _decode_item(data: dict[str, Any]) -> RawItem:
    source = str(data.get("s", ""))
    if "b64" in data:
        return RawItem(base64.b64decode(data["b64"]), source)
    if "text" in data:
        return RawItem(str(data["text"]), source)
    return RawItem(data.get("json"), source)


def encode_batch(channel: ChannelRef, items: list[RawItem], cursor: dict[str, Any] | None) -> bytes:
    """The wire form of a batch: JSON; bytes payloads in base64, datetimes as ISO strings."""
    envelope = {
        "v": WIRE_VERSION,
        "channel": {
            "id": channel.id,
            "workspace_id": channel.workspace_id,
            "network": channel.network,
        },
        "cursor": cursor,
        "items": [_encode_item(item) for item in items],
    }
    return json.dumps(envelope, ensure_ascii=False, default=_json_default).encode()


def decode_batch(data: bytes) -> tuple[ChannelRef, list[RawItem], dict[str, Any] | None]:
    envelope = json.loads(data)
    if envelope.get("v") != WIRE_VERSION:
        raise ValueError(f"unknown wire version {envelope.get('v')!r}")
    ch = envelope["channel"]
    channel = ChannelRef(int(ch["id"]), int(ch["workspace_id"]), str(ch["network"]))
    return channel, [_decode_item(i) for i in envelope["items"]], envelope.get("cursor")


def _oversize(item: RawItem, size: int) -> RawItem:
    """Stands in for an item larger than a stream message; the consumer quarantines it."""
    head = _encode_item(item)
    text = json.dumps(head, ensure_ascii=False, default=_json_default)[:65536]
    return RawItem({OVERSIZE_KEY: size, "head": text}, item.source)


def guard_oversize(normalise: Normaliser) -> Normaliser:
    """Wrap a normaliser so stand-ins for oversize items are quarantined with a clear reason."""

    def normalise_or_reject(raw: RawItem) -> NormalisedMessage | None:
        payload = raw.payload
        if isinstance(payload, dict) and OVERSIZE_KEY in payload:
            raise InvalidMessage(
                f"item of {payload[OVERSIZE_KEY]} bytes is larger than the stream's message "
                "limit; its beginning is kept here"
            )
        return normalise(raw)

    return normalise_or_reject


@dataclass(frozen=True, slots=True)
class JetStreamConfig:
    servers: str
    stream: str = "ALLSANG_INGEST"
    subject: str = "allsang.ingest"
    consumer: str = "ingest"
    ack_wait: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> JetStreamConfig:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"stream", "subject", "consumer", "ack_wait"}
        if unknown:
            raise ConfigurationError(
                f"stream_url: unknown option(s) {', '.join(sorted(unknown))}; "
                "known: stream, subject, consumer, ack_wait."
            )
        servers = parts._replace(query="", fragment="").geturl()
        options: dict[str, Any] = {k: v for k, v in query.items() if k != "ack_wait"}
        if "ack_wait" in query:
            try:
                options["ack_wait"] = float(query["ack_wait"])
            except ValueError:
                raise ConfigurationError("stream_url: ack_wait must be in seconds") from None
        return cls(servers=servers, **options)


class JetStreamStream:
    """NATS JetStream: one work-queue stream, one subject per workspace and channel
    (``<subject>.<workspace id>.<channel id>``), one durable pull consumer shared by every
    consumer process. The stream and the consumer are created when missing."""

    durable: ClassVar[bool] = True

    def __init__(self, config: JetStreamConfig) -> None:
        self.config = config
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None

    async def start(self) -> None:
        import nats
        from nats.js.api import (
            AckPolicy,
            ConsumerConfig,
            RetentionPolicy,
            StorageType,
            StreamConfig,
        )
        from nats.js.errors import NotFoundError

        if self._nc is not None:
            return
        try:
            self._nc = await nats.connect(
                self.config.servers, connect_timeout=5, max_reconnect_attempts=-1
            )
        except Exception as exc:
            raise ConfigurationError(
                f"Cannot reach NATS at {self.config.servers} (stream_url): {exc}"
            ) from None
        self._js = self._nc.jetstream()
        try:
            await self._js.stream_info(self.config.stream)
        except NotFoundError:
            await self._js.add_stream(
                StreamConfig(
                    name=self.config.stream,
                    subjects=[f"{self.config.subject}.>"],
                    retention=RetentionPolicy.WORK_QUEUE,
                    storage=StorageType.FILE,
                )
            )
        self._sub = await self._js.pull_subscribe(
            f"{self.config.subject}.>",
            durable=self.config.consumer,
            stream=self.config.stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.config.ack_wait,
                max_deliver=-1,
            ),
        )

    def _subject(self, channel: ChannelRef) -> str:
        return f"{self.config.subject}.{channel.workspace_id}.{channel.id}"

    async def publish(self, channel: ChannelRef, batch: Batch) -> None:
        limit = int(self._nc.max_payload) - _ENVELOPE_SLACK
        for data in self._pieces(channel, list(batch.items), batch.cursor, limit):
            # The PubAck means the server has stored it: this is what makes the batch durable.
            await self._js.publish(self._subject(channel), data, stream=self.config.stream)

    def _pieces(
        self, channel: ChannelRef, items: list[RawItem], cursor: dict[str, Any] | None, limit: int
    ) -> list[bytes]:
        """Split a batch into messages under the server's size limit; only the last piece
        carries the cursor, so a cursor never runs ahead of the items it covers."""
        data = encode_batch(channel, items, cursor)
        if len(data) <= limit:
            return [data]
        if len(items) == 1:
            return [encode_batch(channel, [_oversize(items[0], len(data))], cursor)]
        middle = len(items) // 2
        return self._pieces(channel, items[:middle], None, limit) + self._pieces(
            channel, items[middle:], cursor, limit
        )

    async def fetch(self, limit: int, max_wait: float) -> list[Delivery]:
        from nats.errors import TimeoutError as NatsTimeout

        try:
            messages = await self._sub.fetch(batch=limit, timeout=max_wait)
        except (NatsTimeout, TimeoutError):
            return []
        deliveries = []
        for message in messages:
            try:
                channel, items, cursor = decode_batch(message.data)
            except (ValueError, KeyError, TypeError) as exc:
                # Nothing can ever read it; redelivering it would loop forever.
                log.error("dropping an unreadable stream message on %s: %s", message.subject, exc)
                await message.term()
                continue
            deliveries.append(
                Delivery(
                    channel,
                    items,
                    cursor,
                    int(message.metadata.num_delivered),
                    message.ack,
                    _nak_with(message),
                )
            )
        return deliveries

    async def drained(self, max_wait: float) -> bool:
        give_up = time.monotonic() + max_wait
        while True:
            info = await self._js.consumer_info(self.config.stream, self.config.consumer)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return True
            if time.monotonic() >= give_up:
                return False
            await asyncio.sleep(0.05)

    async def delete(self) -> None:
        """Remove the stream and its consumer (tests and benchmarks)."""
        await self._js.delete_stream(self.config.stream)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = self._js = self._sub = None


def _nak_with(message: Any) -> Callable[[float], Awaitable[None]]:
    async def nak(delay: float) -> None:
        await message.nak(delay=delay if delay > 0 else None)

    return nak


def open_stream(url: str, *, capacity: int = 16) -> Stream:
    """The adapter for the ``stream_url`` setting (not started yet)."""
    if not url:
        return EmbeddedStream(capacity)
    scheme = urlsplit(url).scheme
    if scheme in ("nats", "tls"):
        return JetStreamStream(JetStreamConfig.from_url(url))
    raise ConfigurationError(
        f"stream_url {url!r}: use an empty value (in-process) or nats://host:4222 (JetStream)."
    )


# ---------------------------------------------------------------------------------------------
# The consumer loop

NormaliserLookup = Callable[[ChannelRef], Awaitable[Normaliser | None]]


async def consume(
    stream: Stream,
    pipeline: Pipeline,
    normaliser_for: NormaliserLookup,
    stop: asyncio.Event,
    *,
    fetch_limit: int = 8,
    fetch_wait: float = 0.5,
    retry_delay: float = 5.0,
) -> None:
    """Store delivered batches until ``stop`` is set; acknowledge each only after its commit.

    ``normaliser_for`` gives the channel's normaliser, or ``None`` when the channel no longer
    exists (its batches are then acknowledged and dropped). Consecutive deliveries of one
    channel are stored in one transaction, with the cursor of the last. A batch that fails to
    store is nak'd and comes back after ``retry_delay`` seconds (see :class:`_Failures` for
    what that means for cursors).
    """
    # One group is written while the next is prepared: parsing and validation are CPU work on
    # this thread, while the write mostly waits on the driver's. Groups still commit one after
    # another, in order.
    writing: asyncio.Task[None] | None = None
    failed = _Failures()
    try:
        while not stop.is_set():
            deliveries = await stream.fetch(fetch_limit, fetch_wait)
            for group in _by_channel(deliveries):
                ready = await _prepare_group(pipeline, normaliser_for, group, retry_delay, failed)
                if writing is not None:
                    await writing
                    writing = None
                if ready is not None:
                    writing = asyncio.create_task(
                        _store_group(stream, pipeline, group, ready, retry_delay, failed)
                    )
    finally:
        if writing is not None:
            await writing


class _Failures:
    """Batches nak'd per channel and not stored since (for the in-process stream's cursors).

    The in-process stream carries the source cursor with each batch. After a batch fails, later
    batches of its channel may commit before it comes back; their cursors cover it, so a
    crash in between would resume past a batch never stored. While a channel has such a batch
    outstanding, its groups are stored without a cursor (a restart then replays a little more,
    and the dedupe drops it).
    """

    def __init__(self) -> None:
        self._outstanding: collections.Counter[int] = collections.Counter()

    def nakd(self, group: list[Delivery]) -> None:
        # A retry failing again is still the one batch outstanding.
        self._outstanding[group[0].channel.id] += sum(d.attempt == 1 for d in group)

    def cursor(self, group: list[Delivery]) -> dict[str, Any] | None:
        """The cursor to store with ``group`` if it commits (after the retries it holds)."""
        if self._left_after(group):
            return None
        cursors = [d.cursor for d in group if d.cursor is not None]
        return cursors[-1] if cursors else None

    def stored(self, group: list[Delivery]) -> None:
        self._outstanding[group[0].channel.id] = self._left_after(group)

    def _left_after(self, group: list[Delivery]) -> int:
        retries = sum(d.attempt > 1 for d in group)
        return max(self._outstanding[group[0].channel.id] - retries, 0)


def _by_channel(deliveries: list[Delivery]) -> list[list[Delivery]]:
    groups: list[list[Delivery]] = []
    for delivery in deliveries:
        if groups and groups[-1][0].channel == delivery.channel:
            groups[-1].append(delivery)
        else:
            groups.append([delivery])
    return groups


async def _prepare_group(
    pipeline: Pipeline,
    normaliser_for: NormaliserLookup,
    group: list[Delivery],
    retry_delay: float,
    failed: _Failures,
) -> PreparedBatch | None:
    """The group prepared for storing, or ``None`` when it was dealt with here (dropped with
    its deleted channel, or nak'd for a retry)."""
    channel = group[0].channel
    try:
        normalise = await normaliser_for(channel)
        if normalise is None:
            log.warning("dropping %d batch(es) of deleted channel %s", len(group), channel.id)
        else:
            items = [item for d in group for item in d.items]
            return pipeline.prepare(channel, items, guard_oversize(normalise))
    except Exception:
        log.exception("preparing a batch of channel %s failed; it will be retried", channel.id)
        await _nak(group, retry_delay, failed)
        return None
    for delivery in group:
        await delivery.ack()
    return None


async def _store_group(
    stream: Stream,
    pipeline: Pipeline,
    group: list[Delivery],
    batch: PreparedBatch,
    retry_delay: float,
    failed: _Failures,
) -> None:
    channel = group[0].channel
    try:
        # A durable stream's producer saves the cursor itself, right after publishing.
        cursor = None if stream.durable else failed.cursor(group)
        await pipeline.store(channel, batch, cursor=cursor)
    except Exception:
        log.exception("storing a batch of channel %s failed; it will be retried", channel.id)
        await _nak(group, retry_delay, failed)
        return
    failed.stored(group)
    for delivery in group:
        await delivery.ack()


async def _nak(group: list[Delivery], retry_delay: float, failed: _Failures) -> None:
    failed.nakd(group)
    for delivery in group:
        await delivery.nak(retry_delay)
