"""SLA targets: when a response is due, measured in the department's business hours.

* A conversation is *waiting* while the inbox says so (``waiting_since`` set: an inbound
  message nobody has answered yet) and its status is ``new`` or ``open``.
* The pending target is the *first response* target until the conversation has had a reply
  (``first_reply_at``), the *next response* target after that.
* ``sla_due_at`` = ``waiting_since`` + target, counting only the department's open time
  (:mod:`allsang.routing.hours`). A department's target row for the conversation's priority
  overrides its default row (priority ``""``); with no target nothing is due.
* ``sla_breached_at`` is set (to the due time) once the due time has passed while still
  waiting; a reply clears both, and the next inbound message starts the next clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Conversation
from allsang.db.models.routing import SlaTarget
from allsang.routing.hours import BusinessHours, hours_for_department

WAITING_STATUSES = ("new", "open")
DUE_SOON = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Targets:
    first_response_minutes: int | None
    next_response_minutes: int | None


async def targets_for(
    session: AsyncSession, department_id: int | None, priority: str
) -> Targets | None:
    """The department's targets for ``priority`` (falling back to its default row)."""
    if department_id is None:
        return None
    rows = {
        row.priority: row
        for row in await session.scalars(
            select(SlaTarget).where(
                SlaTarget.department_id == department_id, SlaTarget.priority.in_(("", priority))
            )
        )
    }
    row = rows.get(priority) or rows.get("")
    if row is None:
        return None
    return Targets(row.first_response_minutes, row.next_response_minutes)


def due_at(
    conversation: Conversation, targets: Targets | None, hours: BusinessHours
) -> datetime | None:
    """When the pending response of ``conversation`` is due (None: nothing is due)."""
    if (
        targets is None
        or conversation.waiting_since is None
        or conversation.status not in WAITING_STATUSES
    ):
        return None
    minutes = (
        targets.first_response_minutes
        if conversation.first_reply_at is None
        else targets.next_response_minutes
    )
    if minutes is None:
        return None
    try:
        return hours.add_open_seconds(conversation.waiting_since, minutes * 60)
    except ValueError:  # the department never opens: nothing can be due
        return None


async def targets_by_department(
    session: AsyncSession, department_ids: Iterable[int]
) -> dict[int, dict[str, Targets]]:
    """Every target row of the departments: ``{department: {priority: Targets}}``."""
    found: dict[int, dict[str, Targets]] = {}
    for row in await session.scalars(
        select(SlaTarget).where(SlaTarget.department_id.in_(list(department_ids)))
    ):
        found.setdefault(row.department_id, {})[row.priority] = Targets(
            row.first_response_minutes, row.next_response_minutes
        )
    return found


def pick(targets: dict[str, Targets] | None, priority: str) -> Targets | None:
    """The targets for ``priority``, falling back to the department's default row."""
    if not targets:
        return None
    return targets.get(priority) or targets.get("")


def apply_due(conversation: Conversation, due: datetime | None) -> bool:
    """Store a recomputed due time; a changed due time clears the breach mark."""
    if due == conversation.sla_due_at:
        return False
    conversation.sla_due_at = due
    conversation.sla_breached_at = None
    return True


async def refresh(session: AsyncSession, conversation: Conversation) -> bool:
    """Recompute the conversation's due time; a changed due time clears the breach mark.
    True when something changed."""
    targets = await targets_for(session, conversation.department_id, conversation.priority)
    if targets is None:
        return apply_due(conversation, None)
    hours = await hours_for_department(session, conversation.department_id)
    return apply_due(conversation, due_at(conversation, targets, hours))


def state(conversation: Conversation, now: datetime) -> str | None:
    """``breached``, ``due_soon``, ``on_track`` or None (no target): for badges."""
    due = conversation.sla_due_at
    if due is None:
        return None
    if conversation.sla_breached_at is not None or due <= now:
        return "breached"
    if due - now <= DUE_SOON:
        return "due_soon"
    return "on_track"
