import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from allsang.db import Database
from allsang.db.models import Channel, Message, Workspace
from allsang.settings import Settings


async def _workspace_and_channel(db: Database) -> tuple[int, int]:
    async with db.write() as session:
        ws = Workspace(slug="acme", name="Acme")
        session.add(ws)
        await session.flush()
        channel = Channel(workspace_id=ws.id, network="mastodon", name="@acme")
        session.add(channel)
        await session.flush()
        return ws.id, channel.id


async def test_it_stores_instants_as_utc_and_reads_them_back_aware(db: Database) -> None:
    ws_id, channel_id = await _workspace_and_channel(db)
    oslo = datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    async with db.write() as session:
        session.add(
            Message(
                workspace_id=ws_id,
                channel_id=channel_id,
                direction="inbound",
                external_id="1",
                created_at=oslo,
            )
        )
    async with db.read() as session:
        stored = (await session.execute(select(Message.created_at))).scalar_one()
    assert stored == oslo
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)


async def test_it_refuses_naive_datetimes(db: Database) -> None:
    ws_id, channel_id = await _workspace_and_channel(db)
    with pytest.raises(Exception, match="naive datetime"):
        async with db.write() as session:
            session.add(
                Message(
                    workspace_id=ws_id,
                    channel_id=channel_id,
                    direction="inbound",
                    external_id="1",
                    created_at=datetime(2026, 1, 1),
                )
            )


async def test_it_keeps_messages_unique_per_channel_and_external_id(db: Database) -> None:
    ws_id, channel_id = await _workspace_and_channel(db)
    async with db.write() as session:
        session.add(
            Message(
                workspace_id=ws_id,
                channel_id=channel_id,
                direction="inbound",
                external_id="42",
                created_at=datetime.now(UTC),
            )
        )
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            session.add(
                Message(
                    workspace_id=ws_id,
                    channel_id=channel_id,
                    direction="inbound",
                    external_id="42",
                    created_at=datetime.now(UTC),
                )
            )
    async with db.read() as session:
        count = len((await session.execute(select(Message.id))).all())
    assert count == 1


async def test_a_failed_write_rolls_back_everything_in_it(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            session.add(Workspace(slug="gone", name="Gone"))
            await session.flush()
            raise RuntimeError("boom")
    async with db.read() as session:
        assert (await session.execute(select(Workspace))).first() is None


async def test_dispose_cancels_background_work_and_rolls_its_transaction_back(
    settings: Settings,
) -> None:
    db = Database(settings.sqlalchemy_url)
    inside = asyncio.Event()

    async def slow_write() -> None:
        async with db.write() as session:
            session.add(Workspace(slug="half-done", name="Half done"))
            await session.flush()
            inside.set()
            await asyncio.sleep(3600)

    task = db.background(slow_write(), name="slow")
    await inside.wait()
    await db.dispose()

    assert task.cancelled()
    again = Database(settings.sqlalchemy_url)
    try:
        async with again.read() as session:
            assert await session.scalar(select(Workspace.id)) is None
    finally:
        await again.dispose()
