"""One contract for every Broadcast adapter: in-process, PostgreSQL LISTEN/NOTIFY (on the test
engine's server, else 127.0.0.1:5432), Redis pub/sub and NATS subjects on this machine's servers
(``scripts/test`` starts them where they are missing)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from allsang.errors import ConfigurationError
from allsang.live import (
    Broadcast,
    InProcessBroadcast,
    NatsBroadcast,
    PostgresBroadcast,
    RedisBroadcast,
    close_broadcasts,
    open_broadcast,
)
from tests.conftest import ENGINE

PG_URL = (
    ENGINE if ENGINE.startswith("postgres") else "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"

REMOTE: dict[str, Callable[[], Broadcast]] = {
    "postgresql": lambda: PostgresBroadcast(PG_URL),
    "redis": lambda: RedisBroadcast(f"{REDIS_URL}?channel=allsang_test"),
    "nats": lambda: NatsBroadcast(f"{NATS_URL}?subject=allsang.test"),
}


@pytest.fixture(params=["in-process", *REMOTE])
async def broadcast(request: pytest.FixtureRequest) -> AsyncIterator[Broadcast]:
    adapter = InProcessBroadcast() if request.param == "in-process" else REMOTE[request.param]()
    yield adapter
    await adapter.close()


def topic() -> str:
    # PostgreSQL adapters of parallel runs share one server: keep topics apart.
    return f"workspace:{uuid.uuid4().hex[:12]}"


async def next_hint(hints: AsyncIterator[dict[str, object]]) -> dict[str, object]:
    return await asyncio.wait_for(anext(hints), 5)


async def test_a_subscriber_receives_the_hints_published_after_it_subscribed(
    broadcast: Broadcast,
) -> None:
    name = topic()
    await broadcast.publish(name, {"conversation": 1, "seq": 1})
    async with broadcast.subscribe(name) as hints:
        await broadcast.publish(name, {"conversation": 2, "seq": 2})
        await broadcast.publish(name, {"conversation": 3, "seq": 3})
        assert await next_hint(hints) == {"conversation": 2, "seq": 2}
        assert await next_hint(hints) == {"conversation": 3, "seq": 3}


async def test_every_subscriber_of_a_topic_gets_each_hint_and_other_topics_get_none(
    broadcast: Broadcast,
) -> None:
    name, other = topic(), topic()
    async with (
        broadcast.subscribe(name) as first,
        broadcast.subscribe(name) as second,
        broadcast.subscribe(other) as elsewhere,
    ):
        await broadcast.publish(name, {"conversation": 5, "seq": 9})
        await broadcast.publish(other, {"conversation": 6, "seq": 1})
        assert await next_hint(first) == {"conversation": 5, "seq": 9}
        assert await next_hint(second) == {"conversation": 5, "seq": 9}
        assert await next_hint(elsewhere) == {"conversation": 6, "seq": 1}


async def test_leaving_the_subscription_stops_delivery_and_publishing_to_nobody_is_fine(
    broadcast: Broadcast,
) -> None:
    name = topic()
    subscription = broadcast.subscribe(name)
    async with subscription:
        pass
    await broadcast.publish(name, {"conversation": 1, "seq": 1})
    async with broadcast.subscribe(name) as hints:
        await broadcast.publish(name, {"conversation": 2, "seq": 2})
        # The first hint may still be in flight on PostgreSQL; the contract allows it either way.
        first = await next_hint(hints)
        if first["seq"] == 1:
            first = await next_hint(hints)
        assert first == {"conversation": 2, "seq": 2}


async def test_large_hints_and_bad_topics_are_refused_before_they_are_sent(
    broadcast: Broadcast,
) -> None:
    with pytest.raises(ValueError, match="at most 1000 bytes"):
        await broadcast.publish(topic(), {"text": "x" * 1000})
    with pytest.raises(ValueError, match="topic"):
        await broadcast.publish("", {"conversation": 1})


async def test_a_slow_subscriber_loses_the_oldest_hints_not_the_newest() -> None:
    broadcast = InProcessBroadcast()
    async with broadcast.subscribe("t") as hints:
        for seq in range(300):
            await broadcast.publish("t", {"seq": seq})
        assert (await next_hint(hints))["seq"] == 300 - 256
    await broadcast.close()


@pytest.mark.parametrize("kind", list(REMOTE))
async def test_two_broadcasts_in_different_processes_see_each_other(kind: str) -> None:
    # Two adapters = two processes' connections: the ingest process publishes, the web listens.
    web, ingest = REMOTE[kind](), REMOTE[kind]()
    name = topic()
    try:
        async with web.subscribe(name) as hints:
            await ingest.publish(name, {"conversation": 8, "seq": 80})
            assert await next_hint(hints) == {"conversation": 8, "seq": 80}
    finally:
        await web.close()
        await ingest.close()


async def test_a_server_that_is_away_loses_hints_but_never_fails_the_publisher() -> None:
    # Port 9 (discard) has no Redis or NATS: publish must log, not raise.
    for adapter in (RedisBroadcast("redis://127.0.0.1:9/0"), NatsBroadcast("nats://127.0.0.1:9")):
        await adapter.publish(topic(), {"seq": 1})
        await adapter.close()


async def test_the_setting_chooses_the_adapter_once_per_process() -> None:
    assert isinstance(open_broadcast(""), InProcessBroadcast)
    assert open_broadcast("") is open_broadcast("")
    assert isinstance(open_broadcast(PG_URL), PostgresBroadcast)
    assert isinstance(open_broadcast(REDIS_URL), RedisBroadcast)
    assert isinstance(open_broadcast(NATS_URL), NatsBroadcast)
    with pytest.raises(ConfigurationError, match="broadcast_url"):
        open_broadcast("mqtt://localhost")
    await close_broadcasts()
