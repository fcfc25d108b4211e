"""The dead-man alarm: an alert when the publishing queue stops draining.

First, deliveries left ``publishing`` by a dead-lettered job (its worker died on the last
attempt) become ``outcome_unknown`` for a person to decide. Then a delivery is *stuck* when it
is ``scheduled`` and was due more than ``stall`` ago, or has been ``publishing`` without any
change for that long. A workspace with stuck deliveries has an open
:class:`PublishingIncident`; the alert is raised when the incident opens — once per incident,
however long it lasts — and the incident closes when nothing is stuck any more, so the next
stall alerts again.

The check runs as a cron job on the same job queue, so it fires when publishing stalls while
workers run (a hung network call, a handler failing in a loop, a stuck lease, a queue too long
for the workers). When no worker runs at all nothing checks; ``job_counts()["overdue"]`` on the
admin page and the process supervisor cover that case (see docs/publishing.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.db.models import Job, Workspace
from allsang.db.models.publishing import Post, PostDelivery, PublishingIncident
from allsang.db.types import utcnow
from allsang.listening.alerts import load_settings, raise_alert
from allsang.publishing.engine import PUBLISHER
from allsang.publishing.service import job_key, refresh_status
from allsang.runtime import Runtime

ALERT_KIND = "publishing_stalled"


def _stuck(now: datetime, stall: timedelta) -> ColumnElement[bool]:
    return or_(
        and_(PostDelivery.state == "scheduled", PostDelivery.due_at < now - stall),
        and_(PostDelivery.state == "publishing", PostDelivery.updated_at < now - stall),
    )


async def stuck_by_workspace(
    session: AsyncSession, now: datetime, stall: timedelta
) -> dict[int, tuple[int, datetime]]:
    """Workspace id → (number of stuck deliveries, oldest due time)."""
    rows = await session.execute(
        select(PostDelivery.workspace_id, func.count(), func.min(PostDelivery.due_at))
        .where(_stuck(now, stall))
        .group_by(PostDelivery.workspace_id)
    )
    return {ws: (count, oldest) for ws, count, oldest in rows.all()}


async def settle_abandoned(session: AsyncSession, now: datetime, stall: timedelta) -> int:
    """Deliveries left ``publishing`` by a job that was dead-lettered (its worker died on the
    last attempt) become ``outcome_unknown``, so a person can decide; returns how many."""
    rows = (
        await session.scalars(
            select(PostDelivery).where(
                PostDelivery.state == "publishing", PostDelivery.updated_at < now - stall
            )
        )
    ).all()
    settled = 0
    for delivery in rows:
        job_status = await session.scalar(
            select(Job.status).where(Job.idempotency_key == job_key(delivery))
        )
        if job_status != "dead":
            continue
        delivery.state = "outcome_unknown"
        delivery.unknown_reason = (
            "the publishing job stopped while the post was being sent "
            "(its worker died or hung on the last attempt)"
        )
        delivery.updated_at = now
        audit.record(
            session,
            PUBLISHER,
            "delivery.outcome_unknown",
            "post_delivery",
            delivery.id,
            workspace_id=delivery.workspace_id,
            reason=delivery.unknown_reason,
        )
        post = await session.get(Post, delivery.post_id)
        if post is not None:
            await refresh_status(session, PUBLISHER, post)
        settled += 1
    return settled


async def check(runtime: Runtime, *, now: datetime | None = None) -> list[PublishingIncident]:
    """Settle deliveries whose job died, open incidents (and raise their alert) for workspaces
    whose deliveries are stuck, close the incidents of workspaces that drained. Returns the
    incidents opened now."""
    now = now or utcnow()
    stall = timedelta(minutes=runtime.settings.publishing_stall_minutes)
    opened: list[PublishingIncident] = []
    async with runtime.db.write() as session:
        await settle_abandoned(session, now, stall)
        stuck = await stuck_by_workspace(session, now, stall)
        open_incidents = {
            i.workspace_id: i
            for i in (
                await session.scalars(
                    select(PublishingIncident).where(PublishingIncident.closed_at.is_(None))
                )
            ).all()
        }
        for workspace_id, incident in open_incidents.items():
            if workspace_id not in stuck:
                incident.closed_at = now
        for workspace_id, (count, oldest) in stuck.items():
            if workspace_id in open_incidents:
                open_incidents[workspace_id].data = {"stuck": count}
                continue
            workspace = await session.get(Workspace, workspace_id)
            if workspace is None:
                continue
            incident = PublishingIncident(
                workspace_id=workspace_id,
                opened_at=now,
                oldest_due_at=oldest,
                data={"stuck": count},
            )
            session.add(incident)
            await session.flush()
            minutes = int((now - oldest).total_seconds() // 60)
            alert = await raise_alert(
                session,
                workspace,
                load_settings(workspace, runtime.secrets),
                key=f"publishing.stalled:{incident.id}",
                kind=ALERT_KIND,
                title="Publishing has stalled",
                body=(
                    f"{count} scheduled post(s) have not gone out; the oldest was due "
                    f"{minutes} minutes ago. Check that a worker is running and the channels "
                    "are connected."
                ),
                data={"incident_id": incident.id, "stuck": count},
                now=now,
            )
            incident.alert_id = alert.id if alert is not None else None
            opened.append(incident)
    return opened
