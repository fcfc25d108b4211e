"""The SLA sweep (cron, every minute): keep due times current and announce breaches.

Each run, per batch of conversations:

1. due times that no longer apply (the conversation was answered, closed or snoozed) are
   cleared, and waiting conversations in a department with targets that have no due time yet
   (a person moved them there, or a reply just went out) get one;
2. conversations whose due time has passed get ``sla_breached_at`` (the due time) and an
   ``sla_breach`` notification to the assignee and to the department's people on duty, plus
   one workspace alert (``kind`` ``sla_breach``) through the alert channel when one is set up.

Every step is idempotent: a breach is marked, notified and alerted once, in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Conversation, Notification, Workspace
from allsang.db.models.routing import SlaTarget
from allsang.db.types import utcnow
from allsang.jobs import JobContext, cron, handler
from allsang.listening.alerts import load_settings, raise_alert
from allsang.routing import sla
from allsang.routing.roundrobin import eligible
from allsang.secretbox import SecretBox

JOB_KIND = "routing.sla"
BATCH = 500
NOTIFICATION_KIND = "sla_breach"

cron("* * * * *", JOB_KIND, name="routing.sla")


@handler(JOB_KIND)
async def sla_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await sweep(ctx.runtime.db, ctx.runtime.secrets)


async def sweep(db: Any, secrets: SecretBox | None, now: datetime | None = None) -> int:
    """Run one sweep; the number of breaches found."""
    now = now or utcnow()
    after = 0
    while True:
        async with db.write() as session:
            last = await _refresh_batch(session, after)
        if last is None:
            break
        after = last
    breaches = 0
    while True:
        async with db.write() as session:
            found = await _breach_batch(session, secrets, now)
        breaches += found
        if found < BATCH:
            return breaches


async def _refresh_batch(session: AsyncSession, after: int) -> int | None:
    """Fix up to BATCH conversations with a stale due time and an id above ``after``; the
    last id looked at (None when there were none)."""
    stale = or_(
        and_(
            Conversation.sla_due_at.is_not(None),
            or_(
                Conversation.waiting_since.is_(None),
                Conversation.status.not_in(sla.WAITING_STATUSES),
            ),
        ),
        and_(
            Conversation.sla_due_at.is_(None),
            Conversation.waiting_since.is_not(None),
            Conversation.status.in_(sla.WAITING_STATUSES),
            Conversation.department_id.in_(select(SlaTarget.department_id)),
        ),
    )
    candidates = list(
        await session.scalars(
            select(Conversation)
            .where(stale, Conversation.id > after)
            .order_by(Conversation.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    for conversation in candidates:
        await sla.refresh(session, conversation)
    return candidates[-1].id if candidates else None


async def _breach_batch(session: AsyncSession, secrets: SecretBox | None, now: datetime) -> int:
    due = list(
        await session.scalars(
            select(Conversation)
            .where(
                Conversation.sla_due_at <= now,
                Conversation.sla_breached_at.is_(None),
                Conversation.waiting_since.is_not(None),
                Conversation.status.in_(sla.WAITING_STATUSES),
            )
            .order_by(Conversation.sla_due_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    for conversation in due:
        conversation.sla_breached_at = conversation.sla_due_at
        recipients: set[int] = set()
        if conversation.assignee_id is not None:
            recipients.add(conversation.assignee_id)
        if conversation.department_id is not None:
            recipients.update(await eligible(session, conversation.department_id, now))
        for person_id in sorted(recipients):
            session.add(
                Notification(
                    workspace_id=conversation.workspace_id,
                    person_id=person_id,
                    kind=NOTIFICATION_KIND,
                    conversation_id=conversation.id,
                    created_at=now,
                )
            )
        if secrets is not None:
            due_text = f"{conversation.sla_due_at:%Y-%m-%d %H:%M}"
            workspace = await session.get(Workspace, conversation.workspace_id)
            assert workspace is not None
            await raise_alert(
                session,
                workspace,
                load_settings(workspace, secrets),
                key=f"sla:{conversation.id}:{due_text}",
                kind=NOTIFICATION_KIND,
                title=f"SLA breached: {conversation.subject[:200]}",
                body=f"Conversation {conversation.id} was due at {due_text} (UTC).",
                data={"conversation_id": conversation.id},
                now=now,
            )
    return len(due)
