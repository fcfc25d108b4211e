"""The coordinator: listen loops per channel, typed errors, health, channels coming and going."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import func, select

from allsang.connectors.base import (
    AuthExpired,
    Batch,
    Capability,
    ChannelContext,
    PermanentError,
    RateLimited,
    RawItem,
    TransientError,
)
from allsang.connectors.replay import ReplayConnector
from allsang.db import Database
from allsang.db.models import AuditEvent, Channel, Job, Message, Workspace
from allsang.ingest.coordinator import IngestOptions, Tuning, backoff, run_ingest
from allsang.ingest.message import NormalisedMessage
from allsang.ingest.pipeline import normalised_json
from allsang.runtime import Runtime

FAST = Tuning(
    rescan_seconds=0.05,
    backoff_base=0.02,
    backoff_cap=0.1,
    failing_retry=0.2,
    default_poll_seconds=0.05,
)


def message(external_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "channel": "fake",
        "external_id": external_id,
        "author": {"handle": "@kari@example.social"},
        "text": f"message {external_id}",
        "created_at": "2026-11-20T10:00:00+01:00",
        **fields,
    }


class Scripted:
    """A connector whose listen calls follow a script: a list of batches, or an error."""

    network: ClassVar[str] = "fake"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.LISTEN})
    script: ClassVar[list[Any]] = []
    calls: ClassVar[list[tuple[float, int, dict[str, Any]]]] = []
    contexts: ClassVar[list[ChannelContext]] = []
    poll_seconds = 0.05
    token_expires_at: datetime | None = None

    def __init__(self, context: ChannelContext) -> None:
        self.context = context
        self.contexts.append(context)

    async def listen(self, cursor: dict[str, Any]) -> AsyncIterator[Batch]:
        self.calls.append((time.monotonic(), self.context.channel_id, dict(cursor)))
        step = self.script.pop(0) if self.script else []
        if isinstance(step, BaseException):
            raise step
        for batch in step:
            yield batch

    def normalise(self, raw: RawItem) -> NormalisedMessage | None:
        return normalised_json(raw)


@pytest.fixture
def scripted() -> type[Scripted]:
    return type("ScriptedForTest", (Scripted,), {"script": [], "calls": [], "contexts": []})


def lookup(cls: type[Any]) -> Callable[[str], type[Any]]:
    classes = {"fake": cls, "replay": ReplayConnector}

    def connector_class(network: str) -> type[Any]:
        return classes[network]

    return connector_class


async def add_channel(
    runtime: Runtime,
    network: str = "fake",
    *,
    slug: str = "acme",
    config: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
    cursor: dict[str, Any] | None = None,
    state: str = "active",
) -> int:
    async with runtime.db.write() as session:
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == slug))
        if workspace is None:
            workspace = Workspace(slug=slug, name=slug.title())
            session.add(workspace)
            await session.flush()
        row = Channel(
            workspace_id=workspace.id,
            network=network,
            name=f"{network} of {slug}",
            config=config or {},
            cursor=cursor or {},
            state=state,
            credentials=(
                runtime.secrets.seal(json.dumps(credentials).encode()) if credentials else None
            ),
        )
        session.add(row)
        await session.flush()
        return row.id


async def channel_row(db: Database, channel_id: int) -> Channel:
    async with db.read() as session:
        return await session.get_one(Channel, channel_id)


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.read() as session:
        statement = select(func.count()).select_from(model)
        for condition in where:
            statement = statement.where(condition)
        return int(await session.scalar(statement) or 0)


class Running:
    def __init__(self, runtime: Runtime, cls: type[Any]) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            run_ingest(
                runtime,
                self.stop,
                IngestOptions(tuning=FAST, connector_class=lookup(cls), drain_seconds=5),
            )
        )

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)


@pytest.fixture
async def running(
    runtime: Runtime, scripted: type[Scripted]
) -> AsyncIterator[Callable[[], Running]]:
    started: list[Running] = []

    def start() -> Running:
        started.append(Running(runtime, scripted))
        return started[-1]

    yield start
    for run in started:
        await run.close()


async def eventually(check: Callable[[], Any], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {seconds} s: {check.__name__}")
        await asyncio.sleep(0.02)


def write_jsonl(path: Path, count_: int, prefix: str = "m") -> Path:
    with path.open("w") as handle:
        for n in range(count_):
            handle.write(json.dumps(message(f"{prefix}{n}", channel="replay")) + "\n")
    return path


async def test_it_runs_every_active_channel_of_every_workspace_and_stores_what_they_hear(
    runtime: Runtime, running: Callable[[], Running], tmp_path: Path
) -> None:
    first = await add_channel(
        runtime, "replay", slug="acme", config={"path": str(write_jsonl(tmp_path / "a", 30))}
    )
    second = await add_channel(
        runtime, "replay", slug="other", config={"path": str(write_jsonl(tmp_path / "b", 20))}
    )
    paused = await add_channel(
        runtime,
        "replay",
        slug="acme",
        config={"path": str(write_jsonl(tmp_path / "c", 5))},
        state="paused",
    )
    running()

    async def stored() -> bool:
        return await count(runtime.db, Message) == 50

    await eventually(stored)
    assert await count(runtime.db, Message, Message.channel_id == first) == 30
    assert await count(runtime.db, Message, Message.channel_id == second) == 20
    assert await count(runtime.db, Message, Message.channel_id == paused) == 0
    assert (await channel_row(runtime.db, first)).cursor == {"line": 30, "loop": 0}
    assert (await channel_row(runtime.db, first)).last_success_at is not None


async def test_it_resumes_a_channel_from_its_saved_cursor_with_decrypted_credentials(
    runtime: Runtime, running: Callable[[], Running], scripted: type[Scripted]
) -> None:
    channel_id = await add_channel(
        runtime, cursor={"since": "41"}, credentials={"token": "s3cret"}, config={"x": 1}
    )
    scripted.script = [[Batch([RawItem(message("42"))], cursor={"since": "42"})], []]
    running()

    async def polled_twice() -> bool:
        return len(scripted.calls) >= 2

    await eventually(polled_twice)
    assert [c[2] for c in scripted.calls[:2]] == [{"since": "41"}, {"since": "42"}]
    context = scripted.contexts[0]
    assert context.channel_id == channel_id
    assert context.credentials == {"token": "s3cret"}
    assert context.config == {"x": 1}


async def test_a_polling_connector_is_called_again_after_its_poll_interval(
    runtime: Runtime, running: Callable[[], Running], scripted: type[Scripted]
) -> None:
    await add_channel(runtime)
    running()

    async def polled_thrice() -> bool:
        return len(scripted.calls) >= 3

    await eventually(polled_thrice)
    gaps = [b[0] - a[0] for a, b in zip(scripted.calls, scripted.calls[1:], strict=False)]
    assert all(gap >= Scripted.poll_seconds * 0.9 for gap in gaps)


async def test_transient_errors_are_recorded_and_retried_with_backoff(
    runtime: Runtime, running: Callable[[], Running], scripted: type[Scripted]
) -> None:
    channel_id = await add_channel(runtime)
    scripted.script = [
        TransientError("503 from the server"),
        TransientError("timed out"),
        [Batch([RawItem(message("1"))], cursor={"since": "1"})],
    ]
    running()

    async def stored() -> bool:
        return await count(runtime.db, Message) == 1

    await eventually(stored)
    row = await channel_row(runtime.db, channel_id)
    assert row.state == "active"
    assert row.last_error == "timed out"
    assert row.last_error_at is not None


async def test_a_rate_limit_is_waited_out_for_its_retry_after(
    runtime: Runtime, running: Callable[[], Running], scripted: type[Scripted]
) -> None:
    channel_id = await add_channel(runtime)
    scripted.script = [RateLimited("429 Too Many Requests", retry_after=0.4), []]
    running()

    async def retried() -> bool:
        return len(scripted.calls) >= 2

    await eventually(retried)
    assert scripted.calls[1][0] - scripted.calls[0][0] >= 0.38
    row = await channel_row(runtime.db, channel_id)
    assert row.state == "active"
    assert row.last_error is not None and "429" in row.last_error


async def test_an_expired_token_asks_a_person_to_reconnect_and_never_stops_silently(
    runtime: Runtime, running: Callable[[], Running], scripted: type[Scripted]
) -> None:
    channel_id = await add_channel(runtime)
    scripted.script = [AuthExpired("the access token was revoked")]
    running()

    async def reconnect_needed() -> bool:
        return (await channel_row(runtime.db, channel_id)).state == "reconnect_needed"

    await eventually(reconnect_needed)
    row = await channel_row(runtime.db, channel_id)
    assert row.last_error == "the access token was revoked"
    async with runtime.db.read() as session:
        event = await session.scalar(select(AuditEvent))
        job = await session.scalar(select(Job))
    assert event is not None and event.action == "channel.reconnect_needed"
    assert event.resource_id == str(channel_id) and event.actor == "ingest"
    assert job is not None and job.kind == "channel.reconnect_needed"
    assert job.payload["channel_id"] == channel_id
    await asyncio.sleep(0.3)
    assert len(scripted.calls) == 1, "a channel that needs reconnecting is not polled"

    # A person reconnects: the channel is active again and its loop starts.
    async with runtime.db.write() as session:
        (await session.get_one(Channel, channel_id)).state = "active"

    async def polled_again() -> bool:
        return len(scripted.calls) >= 2

    await eventually(polled_again)


async def test_a_permanent_error_marks_the_channel_failing_and_it_is_retried_rarely(
    runtime: Runtime, running: Callable[[], Running], scripted: type[Scripted]
) -> None:
    channel_id = await add_channel(runtime)
    scripted.script = [PermanentError("404: the hashtag does not exist"), []]
    running()

    async def failing() -> bool:
        return (await channel_row(runtime.db, channel_id)).state == "failing"

    await eventually(failing)
    assert (await channel_row(runtime.db, channel_id)).last_error == (
        "404: the hashtag does not exist"
    )

    async def recovered() -> bool:
        return (await channel_row(runtime.db, channel_id)).state == "active"

    await eventually(recovered)
    assert scripted.calls[1][0] - scripted.calls[0][0] >= FAST.failing_retry * 0.9


async def test_a_connector_that_cannot_be_built_is_reported_in_the_channel_health(
    runtime: Runtime, running: Callable[[], Running]
) -> None:
    channel_id = await add_channel(runtime, "replay", config={})
    running()

    async def failing() -> bool:
        return (await channel_row(runtime.db, channel_id)).state == "failing"

    await eventually(failing)
    assert "needs a `path`" in str((await channel_row(runtime.db, channel_id)).last_error)


async def test_it_picks_up_channels_added_paused_and_changed_while_running(
    runtime: Runtime, running: Callable[[], Running], scripted: type[Scripted]
) -> None:
    running()
    await asyncio.sleep(0.1)
    assert scripted.calls == []
    channel_id = await add_channel(runtime)

    async def started() -> bool:
        return len(scripted.calls) >= 1

    await eventually(started)
    async with runtime.db.write() as session:
        (await session.get_one(Channel, channel_id)).state = "paused"
    await asyncio.sleep(0.2)
    calls = len(scripted.calls)
    await asyncio.sleep(0.3)
    assert len(scripted.calls) == calls, "a paused channel is not polled"

    async with runtime.db.write() as session:
        row = await session.get_one(Channel, channel_id)
        row.state = "active"
        row.config = {"hashtags": ["allsang"]}

    async def restarted_with_the_new_config() -> bool:
        return bool(scripted.contexts) and scripted.contexts[-1].config == {"hashtags": ["allsang"]}

    await eventually(restarted_with_the_new_config)


async def test_channels_that_do_not_listen_are_left_alone(
    runtime: Runtime, running: Callable[[], Running], scripted: type[Scripted]
) -> None:
    await add_channel(runtime, config={"listen": False})
    running()
    await asyncio.sleep(0.3)
    assert scripted.calls == []


async def test_the_token_expiry_a_connector_reports_is_recorded(
    runtime: Runtime, running: Callable[[], Running], scripted: type[Scripted]
) -> None:
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    scripted.token_expires_at = expires
    channel_id = await add_channel(runtime)
    running()

    async def recorded() -> bool:
        return (await channel_row(runtime.db, channel_id)).token_expires_at == expires

    await eventually(recorded)


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap() -> None:
    tuning = Tuning(backoff_base=1.0, backoff_cap=900.0)
    assert [backoff(n, tuning, rand=lambda: 1.0) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(3, tuning, rand=lambda: 0.0) == 2
    assert backoff(50, tuning, rand=lambda: 1.0) == 900
    assert timedelta(seconds=backoff(50, tuning)) <= timedelta(minutes=15)
