"""A channel whose login stopped working tells people, through an alert, never silently."""

from __future__ import annotations

from sqlalchemy import select

from allsang.db.models import Alert, Channel, Job, Workspace
from allsang.ingest import health
from allsang.jobs import Worker
from allsang.jobs.worker import load_handler_modules
from allsang.runtime import Runtime


async def _channel(runtime: Runtime) -> int:
    async with runtime.db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        channel = Channel(workspace_id=workspace.id, network="mastodon", name="@acme")
        session.add(channel)
        await session.flush()
        return channel.id


async def _run_jobs(runtime: Runtime) -> None:
    assert "allsang.ingest.jobs" in load_handler_modules()
    worker = Worker(runtime)
    while await worker.run_once():
        pass


async def test_an_expired_login_raises_an_alert_for_the_workspace(runtime: Runtime) -> None:
    channel_id = await _channel(runtime)
    await health.mark_reconnect_needed(runtime.db, channel_id, "The access token was revoked")
    await _run_jobs(runtime)
    async with runtime.db.read() as session:
        alerts = list(await session.scalars(select(Alert)))
        failed = list(await session.scalars(select(Job).where(Job.status == "dead")))
    assert failed == []
    assert [(a.kind, a.data) for a in alerts] == [
        ("channel.reconnect_needed", {"channel_id": channel_id})
    ]
    assert "Reconnect @acme" in alerts[0].title
    assert alerts[0].body == "The access token was revoked"


async def test_no_alert_when_the_channel_was_reconnected_meanwhile(runtime: Runtime) -> None:
    channel_id = await _channel(runtime)
    await health.mark_reconnect_needed(runtime.db, channel_id, "revoked")
    async with runtime.db.write() as session:
        channel = await session.get(Channel, channel_id)
        assert channel is not None
        channel.state = "active"
    await _run_jobs(runtime)
    async with runtime.db.read() as session:
        assert list(await session.scalars(select(Alert))) == []
