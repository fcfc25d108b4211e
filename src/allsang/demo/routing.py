"""Demo routing: rules by intent and sentiment, customer service's business hours (matching its
rota) and SLA targets, so new demo conversations arrive routed and with due times."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Department, Workspace
from allsang.db.models.routing import DepartmentHours, RoutingRule, SlaTarget

# (name, conditions, department, priority, round-robin)
RULES = (
    ("Press requests", {"intents": ["press"]}, "Communications", "high", False),
    ("Job applications", {"intents": ["job"]}, "HR", None, False),
    ("Sales leads", {"intents": ["sales_lead"]}, "Sales", None, True),
    ("Complaints", {"intents": ["complaint"]}, "Customer service", "high", True),
    ("Everything else", {}, "Customer service", None, True),
)
WEEKLY = {
    **{str(day): [["08:00", "20:00"]] for day in range(5)},
    **{str(day): [["10:00", "14:00"]] for day in (5, 6)},
}
CLOSED = ["2026-12-24", "2026-12-25", "2026-12-26", "2027-01-01"]
# (priority, first response, next response) in business minutes.
TARGETS = (("", 60, 120), ("high", 30, 60), ("urgent", 15, 30))


async def seed_routing(
    session: AsyncSession, workspace: Workspace, departments: dict[str, Department]
) -> None:
    """Add the rules, hours and targets once (left alone when the workspace has rules)."""
    await session.flush()
    if await session.scalar(
        select(RoutingRule.id).where(RoutingRule.workspace_id == workspace.id).limit(1)
    ):
        return
    for position, (name, conditions, department, priority, round_robin) in enumerate(
        RULES, start=1
    ):
        session.add(
            RoutingRule(
                workspace_id=workspace.id,
                position=position,
                name=name,
                conditions=conditions,
                department_id=departments[department].id,
                round_robin=round_robin,
                priority=priority,
            )
        )
    service = departments["Customer service"].id
    if not await session.scalar(
        select(DepartmentHours.id).where(DepartmentHours.department_id == service)
    ):
        session.add(
            DepartmentHours(
                department_id=service,
                timezone=workspace.timezone,
                weekly=WEEKLY,
                closed_dates=CLOSED,
            )
        )
    for priority, first, following in TARGETS:
        session.add(
            SlaTarget(
                department_id=service,
                priority=priority,
                first_response_minutes=first,
                next_response_minutes=following,
            )
        )
