"""Channel leases: ingest processes share the channels, and take over a dead one's."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from allsang.ingest import leases
from allsang.ingest.coordinator import Coordinator
from allsang.ingest.stream import EmbeddedStream
from allsang.runtime import Runtime
from tests.ingest.test_coordinator import FAST, Scripted, add_channel, eventually, lookup

TTL = timedelta(seconds=30)


async def _channels(runtime: Runtime, n: int) -> list[int]:
    return [await add_channel(runtime) for _ in range(n)]


async def test_two_processes_split_the_channels_and_never_hold_one_twice(
    runtime: Runtime,
) -> None:
    channels = await _channels(runtime, 5)
    first = await leases.balance(runtime.db, "first", channels, TTL)
    assert first == set(channels)  # alone, it takes everything

    second = await leases.balance(runtime.db, "second", channels, TTL)
    assert second == set()  # everything is held; it waits for the first to give some back
    first = await leases.balance(runtime.db, "first", channels, TTL)
    second = await leases.balance(runtime.db, "second", channels, TTL)
    assert first.isdisjoint(second)
    assert first | second == set(channels)
    assert sorted([len(first), len(second)]) == [2, 3]
    assert await leases.holders(runtime.db) == {
        **dict.fromkeys(first, "first"),
        **dict.fromkeys(second, "second"),
    }


async def test_a_process_that_stops_renewing_loses_its_channels_to_the_others(
    runtime: Runtime,
) -> None:
    channels = await _channels(runtime, 4)
    short = timedelta(milliseconds=300)
    await leases.balance(runtime.db, "dies", channels, short)
    assert await leases.balance(runtime.db, "survives", channels, short) == set()
    await asyncio.sleep(0.4)  # the lease's expiry is the point of this test
    assert await leases.balance(runtime.db, "survives", channels, short) == set(channels)


async def test_channels_that_stop_listening_are_let_go_and_a_clean_stop_releases_all(
    runtime: Runtime,
) -> None:
    channels = await _channels(runtime, 3)
    await leases.balance(runtime.db, "one", channels, TTL)
    assert await leases.balance(runtime.db, "one", channels[:1], TTL) == {channels[0]}
    assert await leases.holders(runtime.db) == {channels[0]: "one"}
    await leases.release(runtime.db, "one")
    assert await leases.holders(runtime.db) == {}


async def test_two_coordinators_run_each_channel_once_and_one_takes_over_when_the_other_dies(
    runtime: Runtime,
) -> None:
    cls = type("LeaseScripted", (Scripted,), {"script": [], "calls": [], "contexts": []})
    channels = await _channels(runtime, 4)
    stream = EmbeddedStream(capacity=64)
    await stream.start()
    coordinators = [
        Coordinator(runtime, stream, tuning=FAST, connector_class=lookup(cls)) for _ in range(2)
    ]
    stops = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(c.run(s)) for c, s in zip(coordinators, stops, strict=True)]

    def split() -> tuple[set[int], set[int]]:
        a, b = ({i for i, r in c.running.items() if not r.task.done()} for c in coordinators)
        return a, b

    async def shared_fairly() -> bool:
        a, b = split()
        assert a.isdisjoint(b), (a, b)
        return a | b == set(channels) and len(a) == len(b) == 2

    try:
        await eventually(shared_fairly, 20)
        # SIGKILL, as far as the database can tell: the loop stops, the leases stay behind.
        tasks[0].cancel()
        await asyncio.gather(tasks[0], return_exceptions=True)
        coordinators[0].running.clear()

        async def taken_over() -> bool:
            return split()[1] == set(channels)

        await eventually(taken_over, FAST.lease().total_seconds() + 10)
    finally:
        stops[1].set()
        await asyncio.wait_for(tasks[1], 10)
        await stream.close()
