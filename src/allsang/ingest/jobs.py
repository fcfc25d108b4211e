"""Ingest jobs: telling people that a channel needs reconnecting (``channel.reconnect_needed``).

The coordinator queues the job in the transaction that marks the channel; the handler turns it
into an alert, shown in the app and sent through the workspace's Apprise targets, so a revoked
token is never a silent stop. The worker imports this module to register the handler.
"""

from __future__ import annotations

from typing import Any

from allsang.db.models import Channel, Workspace
from allsang.ingest.health import RECONNECT_JOB
from allsang.jobs import JobContext, handler
from allsang.listening import alerts


@handler(RECONNECT_JOB)
async def reconnect_needed_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    runtime = ctx.runtime
    async with runtime.db.write() as session:
        channel = await session.get(Channel, int(payload["channel_id"]))
        if channel is None or channel.state != "reconnect_needed":
            return  # deleted or reconnected in the meantime: nothing to say
        workspace = await session.get(Workspace, channel.workspace_id)
        if workspace is None:
            return
        await alerts.raise_alert(
            session,
            workspace,
            alerts.load_settings(workspace, runtime.secrets),
            key=f"channel:{channel.id}:reconnect",
            kind=RECONNECT_JOB,
            title=f"Reconnect {channel.name}: {channel.network} no longer accepts its login"[:300],
            body=str(payload.get("error") or channel.last_error or ""),
            data={"channel_id": channel.id},
        )
