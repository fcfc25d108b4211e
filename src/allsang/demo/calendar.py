"""Demo editorial calendar: a campaign with a press release, a newsletter, an event and an
internal news item around today, so the calendar and its feeds show something real."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Department, Person, Workspace
from allsang.db.models.calendar import CalendarItem
from allsang.db.models.publishing import Campaign
from allsang.db.types import utcnow
from allsang.publishing.timing import to_local, to_utc

CAMPAIGN = "Nordlys autumn timetable"
# (days from today, local time or None for all day, kind, title, status, department, owner)
ITEMS = (
    (
        -3,
        time(9, 0),
        "internal_news",
        "New timetable: what changes for staff",
        "done",
        "Communications",
        "astrid@demo.allsang.test",
    ),
    (
        2,
        time(8, 30),
        "press_release",
        "Press release: the autumn timetable",
        "ready",
        "Communications",
        "astrid@demo.allsang.test",
    ),
    (
        4,
        time(7, 0),
        "newsletter",
        "Newsletter: five things in the new timetable",
        "in_progress",
        "Marketing",
        "mikkel@demo.allsang.test",
    ),
    (
        9,
        None,
        "event",
        "Open day at the central station",
        "planned",
        "Marketing",
        "mikkel@demo.allsang.test",
    ),
    (
        12,
        time(10, 0),
        "web_article",
        "Web: questions and answers on the timetable",
        "idea",
        "Customer service",
        "ingrid@demo.allsang.test",
    ),
)


async def seed_calendar(
    session: AsyncSession, workspace: Workspace, departments: dict[str, Department]
) -> None:
    """Add the campaign and its items once (left alone when the workspace has any item)."""
    if await session.scalar(
        select(CalendarItem.id).where(CalendarItem.workspace_id == workspace.id).limit(1)
    ):
        return
    campaign = await session.scalar(
        select(Campaign).where(Campaign.workspace_id == workspace.id, Campaign.name == CAMPAIGN)
    )
    if campaign is None:
        campaign = Campaign(workspace_id=workspace.id, name=CAMPAIGN)
        session.add(campaign)
        await session.flush()
    owners = {
        p.email: p.id
        for p in await session.scalars(
            select(Person).where(Person.email.in_({row[6] for row in ITEMS}))
        )
    }
    zone = workspace.timezone
    today = to_local(utcnow(), zone).date()
    for offset, at, kind, title, status, department, owner in ITEMS:
        day = today + timedelta(days=offset)
        start = to_utc(datetime.combine(day, at or time()), zone, on_gap="later", on_fold="earlier")
        end = (
            to_utc(
                datetime.combine(day + timedelta(days=1), time()),
                zone,
                on_gap="later",
                on_fold="earlier",
            )
            if at is None
            else None
        )
        session.add(
            CalendarItem(
                workspace_id=workspace.id,
                kind=kind,
                title=title,
                status=status,
                starts_at=start,
                ends_at=end,
                all_day=at is None,
                timezone=zone,
                owner_id=owners.get(owner),
                created_by_id=owners.get(owner),
                department_id=departments[department].id if department in departments else None,
                campaign_id=campaign.id,
            )
        )
