"""One contract for every Stream adapter: embedded and NATS JetStream (on 127.0.0.1:4222)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

from allsang.connectors.base import Batch, RawItem
from allsang.db import Database
from allsang.db.models import Channel, Message, QuarantinedItem
from allsang.ingest.message import NormalisedMessage
from allsang.ingest.pipeline import ChannelRef, Enrichment, Pipeline, normalised_json
from allsang.ingest.stream import (
    EmbeddedStream,
    JetStreamConfig,
    JetStreamStream,
    Stream,
    consume,
    open_stream,
)

NATS_URL = "nats://127.0.0.1:4222"
ACK_WAIT = 0.5


def _jetstream(ack_wait: float = ACK_WAIT) -> JetStreamStream:
    unique = uuid.uuid4().hex[:10]
    return JetStreamStream(
        JetStreamConfig(
            servers=NATS_URL,
            stream=f"TEST_{unique}",
            subject=f"test.{unique}",
            consumer="ingest",
            ack_wait=ack_wait,
        )
    )


@pytest.fixture(params=["embedded", "jetstream"])
async def stream(request: pytest.FixtureRequest) -> AsyncIterator[Stream]:
    adapter: Stream = (
        EmbeddedStream(8, ack_wait=ACK_WAIT) if request.param == "embedded" else _jetstream()
    )
    await adapter.start()
    yield adapter
    if isinstance(adapter, JetStreamStream):
        await adapter.delete()
    await adapter.close()


REF = ChannelRef(id=7, workspace_id=3, network="replay")


def message(external_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "channel": "replay",
        "external_id": external_id,
        "author": {"handle": "@kari@example.social"},
        "text": f"message {external_id}",
        "created_at": "2026-11-20T10:00:00+01:00",
        **fields,
    }


async def test_a_published_batch_arrives_with_its_items_and_cursor(stream: Stream) -> None:
    items = [
        RawItem(message("1"), source="a"),
        RawItem('{"text": "a string"}'),
        RawItem(b"\xff\xfe not utf-8", source="b"),
    ]
    await stream.publish(REF, Batch(items=items, cursor={"line": 3}))
    [delivery] = await stream.fetch(10, 2.0)
    assert delivery.channel == REF
    assert delivery.items == items
    assert delivery.cursor == {"line": 3}
    assert delivery.attempt == 1
    await delivery.ack()


async def test_batches_of_one_channel_arrive_in_order(stream: Stream) -> None:
    for n in range(5):
        await stream.publish(REF, Batch(items=[RawItem(message(str(n)))], cursor={"line": n}))
    seen: list[Any] = []
    while len(seen) < 5:
        deliveries = await stream.fetch(10, 2.0)
        assert deliveries
        for delivery in deliveries:
            seen.append(delivery.cursor["line"])
            await delivery.ack()
    assert seen == [0, 1, 2, 3, 4]


async def test_an_acknowledged_batch_is_not_delivered_again(stream: Stream) -> None:
    await stream.publish(REF, Batch(items=[RawItem(message("1"))], cursor={"line": 1}))
    [delivery] = await stream.fetch(10, 2.0)
    await delivery.ack()
    assert await stream.fetch(10, ACK_WAIT * 3) == []
    assert await stream.drained(1.0)


async def test_an_unacknowledged_batch_is_delivered_again_after_ack_wait(stream: Stream) -> None:
    await stream.publish(REF, Batch(items=[RawItem(message("1"))], cursor={"line": 1}))
    [first] = await stream.fetch(10, 2.0)
    assert not await stream.drained(0.1)
    [again] = await stream.fetch(10, ACK_WAIT * 6)
    assert again.attempt == 2
    assert again.items == first.items and again.cursor == first.cursor
    await again.ack()
    assert await stream.drained(2.0)


async def test_a_nakd_batch_is_delivered_again_after_its_delay(stream: Stream) -> None:
    await stream.publish(REF, Batch(items=[RawItem(message("1"))]))
    [first] = await stream.fetch(10, 2.0)
    await first.nak(0.2)
    [again] = await stream.fetch(10, 3.0)
    assert again.attempt == 2
    await again.ack()


async def test_fetch_gives_up_after_its_timeout_when_nothing_is_there(stream: Stream) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await stream.fetch(10, 0.3) == []
    assert 0.2 <= loop.time() - started < 2.0


async def _count(db: Database, model: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _cursor(db: Database, channel_id: int) -> dict[str, Any]:
    async with db.read() as session:
        return (await session.get_one(Channel, channel_id)).cursor


async def _run_consumer_until_drained(stream: Stream, pipeline: Pipeline, lookup: Any) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(consume(stream, pipeline, lookup, stop, fetch_wait=0.1))
    try:
        assert await stream.drained(10.0)
    finally:
        stop.set()
        await task


async def _json_normaliser(_: ChannelRef) -> Any:
    return normalised_json


async def test_the_consumer_stores_batches_and_acknowledges_them_after_the_commit(
    stream: Stream, db: Database, channel: ChannelRef
) -> None:
    pipeline = Pipeline(db)
    await stream.publish(
        channel, Batch(items=[RawItem(message("1")), RawItem(b"{broken")], cursor={"line": 2})
    )
    await stream.publish(channel, Batch(items=[RawItem(message("2"))], cursor={"line": 3}))
    await _run_consumer_until_drained(stream, pipeline, _json_normaliser)
    assert await _count(db, Message) == 2
    assert await _count(db, QuarantinedItem) == 1
    # A durable stream lets the producer save the cursor; otherwise it rides with the batch.
    assert await _cursor(db, channel.id) == ({} if stream.durable else {"line": 3})


class FailsOnce:
    """An enricher that breaks the first transaction, like a database that went away."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, messages: Sequence[NormalisedMessage]) -> Sequence[Enrichment]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("the database went away")
        return [Enrichment() for _ in messages]


async def test_a_batch_that_fails_to_store_comes_back_and_is_stored_once(
    stream: Stream, db: Database, channel: ChannelRef
) -> None:
    enricher = FailsOnce()
    pipeline = Pipeline(db, enrichers=[enricher])
    await stream.publish(channel, Batch(items=[RawItem(message("1")), RawItem(message("2"))]))
    stop = asyncio.Event()
    task = asyncio.create_task(
        consume(stream, pipeline, _json_normaliser, stop, fetch_wait=0.1, retry_delay=0.1)
    )
    try:
        assert await stream.drained(5.0)
    finally:
        stop.set()
        await task
    assert enricher.calls == 2
    assert await _count(db, Message) == 2


async def test_batches_of_a_channel_that_is_gone_are_dropped(
    stream: Stream, db: Database, channel: ChannelRef
) -> None:
    async def gone(_: ChannelRef) -> None:
        return None

    await stream.publish(channel, Batch(items=[RawItem(message("1"))]))
    stop = asyncio.Event()
    task = asyncio.create_task(consume(stream, Pipeline(db), gone, stop, fetch_wait=0.1))
    try:
        assert await stream.drained(5.0)
    finally:
        stop.set()
        await task
    assert await _count(db, Message) == 0


async def test_publish_waits_while_the_embedded_stream_is_full() -> None:
    stream = EmbeddedStream(2)
    await stream.publish(REF, Batch(items=[]))
    await stream.publish(REF, Batch(items=[]))
    third = asyncio.create_task(stream.publish(REF, Batch(items=[], cursor={"line": 3})))
    await asyncio.sleep(0.1)
    assert not third.done()
    [first] = await stream.fetch(1, 1.0)
    await asyncio.sleep(0.05)
    assert not third.done(), "a delivered batch still counts until it is acknowledged"
    await first.ack()
    await asyncio.wait_for(third, 1.0)


async def test_jetstream_keeps_unacknowledged_batches_for_the_next_consumer_process() -> None:
    first = _jetstream(ack_wait=30.0)
    await first.start()
    try:
        await first.publish(REF, Batch(items=[RawItem(message("1"))], cursor={"line": 1}))
        [delivery] = await first.fetch(1, 2.0)
        assert delivery.attempt == 1
        await first.close()  # dies without acknowledging

        second = JetStreamStream(first.config)
        await second.start()
        try:
            await second.publish(REF, Batch(items=[RawItem(message("2"))], cursor={"line": 2}))
            [fresh] = await second.fetch(1, 2.0)
            assert fresh.cursor == {"line": 2}
            await fresh.ack()
        finally:
            await second.close()
    finally:
        cleanup = JetStreamStream(first.config)
        await cleanup.start()
        await cleanup.delete()
        await cleanup.close()


async def test_jetstream_splits_big_batches_and_stands_in_for_an_oversize_item(
    db: Database, channel: ChannelRef
) -> None:
    stream = _jetstream()
    await stream.start()
    try:
        big = "x" * 400_000
        items = [RawItem(message(str(n), padding=big)) for n in range(4)]
        items.append(RawItem(message("huge", padding="y" * 2_000_000), source="huge"))
        await stream.publish(channel, Batch(items=items, cursor={"line": 5}))
        deliveries = []
        while sum(len(d.items) for d in deliveries) < 5:
            fetched = await stream.fetch(10, 2.0)
            assert fetched
            deliveries += fetched
        assert len(deliveries) > 1
        assert [d.cursor for d in deliveries][-1] == {"line": 5}
        assert all(d.cursor is None for d in deliveries[:-1])
        for delivery in deliveries:
            await delivery.nak()

        stop = asyncio.Event()
        task = asyncio.create_task(
            consume(stream, Pipeline(db), _json_normaliser, stop, fetch_wait=0.1)
        )
        try:
            assert await stream.drained(10.0)
        finally:
            stop.set()
            await task
        assert await _count(db, Message) == 4
        async with db.read() as session:
            [quarantined] = list(await session.scalars(select(QuarantinedItem)))
        assert "larger than the stream's message limit" in quarantined.reason
        assert quarantined.source == "huge"
    finally:
        await stream.delete()
        await stream.close()


def test_the_stream_url_chooses_the_adapter() -> None:
    assert isinstance(open_stream(""), EmbeddedStream)
    jetstream = open_stream("nats://127.0.0.1:4222?stream=S&subject=s.x&ack_wait=5")
    assert isinstance(jetstream, JetStreamStream)
    assert jetstream.config == JetStreamConfig(
        servers="nats://127.0.0.1:4222", stream="S", subject="s.x", consumer="ingest", ack_wait=5
    )


def test_an_unknown_stream_url_is_a_configuration_error() -> None:
    from allsang.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="kafka"):
        open_stream("kafka://broker:9092")
    with pytest.raises(ConfigurationError, match="unknown option"):
        open_stream("nats://127.0.0.1:4222?streem=S")


class FailsFirstBatch:
    """A normaliser lookup that fails the first time, like a database that went away."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, _: ChannelRef) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("the database went away")
        return normalised_json


async def test_a_failed_batchs_cursor_is_not_overtaken_by_a_later_batch_of_its_channel(
    db: Database, channel: ChannelRef
) -> None:
    # In-process only: a durable stream's producer saves cursors, the consumer never does.
    stream = EmbeddedStream(8, ack_wait=30.0)
    await stream.publish(channel, Batch(items=[RawItem(message("1"))], cursor={"line": 1}))
    await stream.publish(channel, Batch(items=[RawItem(message("2"))], cursor={"line": 2}))
    committed = asyncio.Event()

    async def on_commit(_: ChannelRef, ids: list[int]) -> None:
        committed.set()

    stop = asyncio.Event()
    task = asyncio.create_task(
        consume(
            stream, Pipeline(db, on_commit=[on_commit]), FailsFirstBatch(), stop,
            fetch_limit=1, fetch_wait=0.05, retry_delay=1.0,
        )
    )  # fmt: skip
    try:
        await asyncio.wait_for(committed.wait(), 5.0)  # the second batch; the first waits
        assert await _count(db, Message) == 1
        # Line 2 covers line 1, which is not stored: a crash now must replay both.
        assert await _cursor(db, channel.id) == {}
        assert await stream.drained(5.0)
    finally:
        stop.set()
        await task
    assert await _count(db, Message) == 2
    assert await _cursor(db, channel.id) == {"line": 1}
