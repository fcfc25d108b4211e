"""The editorial calendar: posts and traditional items on one time line, filters, and moving
entries across daylight saving time without breaking the workflow."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select

from allsang.authz import Actor, Forbidden
from allsang.db import Database
from allsang.db.models import AuditEvent, Channel, Department, Membership, Person, Workspace
from allsang.db.models.calendar import CalendarItem
from allsang.db.models.publishing import Campaign, Post, PostVariant
from allsang.publishing import calendar
from allsang.publishing.calendar import CalendarError, CalendarFilter, ItemFields

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


class Seeded:
    def __init__(self) -> None:
        self.workspace_id = 0
        self.people: dict[str, int] = {}
        self.department_id = 0
        self.campaign_id = 0
        self.channel_id = 0

    def actor(self, role: str) -> Actor:
        return Actor(
            kind="person",
            label=role,
            workspace_id=self.workspace_id,
            role=role,
            person_id=self.people[role],
        )


async def seed(db: Database) -> Seeded:
    seeded = Seeded()
    async with db.write() as session:
        workspace = Workspace(slug="kommun", name="Kommunen", timezone="Europe/Stockholm")
        session.add(workspace)
        await session.flush()
        seeded.workspace_id = workspace.id
        for role in ("editor", "contributor", "viewer"):
            person = Person(email=f"{role}@kommun.test", name=role.title())
            session.add(person)
            await session.flush()
            session.add(Membership(workspace_id=workspace.id, person_id=person.id, role=role))
            seeded.people[role] = person.id
        department = Department(workspace_id=workspace.id, name="Kultur")
        session.add(department)
        await session.flush()
        seeded.department_id = department.id
        campaign = Campaign(workspace_id=workspace.id, name="Kulturnatten")
        channel = Channel(workspace_id=workspace.id, network="mastodon", name="Kommunen")
        session.add_all([campaign, channel])
        await session.flush()
        seeded.campaign_id, seeded.channel_id = campaign.id, channel.id
    return seeded


async def add_post(
    db: Database, seeded: Seeded, when: datetime, *, status: str = "draft", campaign: bool = True
) -> int:
    async with db.write() as session:
        post = Post(
            workspace_id=seeded.workspace_id,
            author_id=seeded.people["contributor"],
            department_id=seeded.department_id,
            campaign_id=seeded.campaign_id if campaign else None,
            body="Välkommen till Kulturnatten!",
            status=status,
            scheduled_at=when,
            timezone="Europe/Stockholm",
        )
        session.add(post)
        await session.flush()
        session.add(PostVariant(post_id=post.id, channel_id=seeded.channel_id))
        return post.id


def press_release(seeded: Seeded, local: datetime, **extra: object) -> ItemFields:
    return ItemFields(
        kind="press_release",
        title="Pressmeddelande: Kulturnatten",
        starts_local=local,
        timezone="Europe/Stockholm",
        department_id=seeded.department_id,
        campaign_id=seeded.campaign_id,
        **extra,  # type: ignore[arg-type]
    )


async def test_a_press_release_sits_beside_the_posts_of_its_campaign(db: Database) -> None:
    seeded = await seed(db)
    post_id = await add_post(db, seeded, datetime(2026, 4, 2, 8, 0, tzinfo=UTC))
    await add_post(db, seeded, datetime(2026, 4, 3, 8, 0, tzinfo=UTC), campaign=False)
    async with db.write() as session:
        item = await calendar.create_item(
            session, seeded.actor("contributor"), press_release(seeded, datetime(2026, 4, 2, 9))
        )
    async with db.read() as session:
        found = await calendar.entries(
            session,
            seeded.actor("viewer"),
            datetime(2026, 4, 1, tzinfo=UTC),
            datetime(2026, 5, 1, tzinfo=UTC),
            CalendarFilter(campaign_id=seeded.campaign_id),
        )
    # 09:00 in Stockholm in April is 07:00 UTC: the press release comes first.
    assert [(e.ref, e.starts_at) for e in found] == [
        (f"item-{item.id}", datetime(2026, 4, 2, 7, 0, tzinfo=UTC)),
        (f"post-{post_id}", datetime(2026, 4, 2, 8, 0, tzinfo=UTC)),
    ]
    assert found[1].channel_ids == (seeded.channel_id,)


async def test_a_channel_filter_shows_only_posts_to_that_channel(db: Database) -> None:
    seeded = await seed(db)
    post_id = await add_post(db, seeded, datetime(2026, 4, 2, 8, 0, tzinfo=UTC))
    async with db.write() as session:
        await calendar.create_item(
            session, seeded.actor("editor"), press_release(seeded, datetime(2026, 4, 2, 9))
        )
    async with db.read() as session:
        found = await calendar.entries(
            session,
            seeded.actor("viewer"),
            datetime(2026, 4, 1, tzinfo=UTC),
            datetime(2026, 5, 1, tzinfo=UTC),
            CalendarFilter(channel_id=seeded.channel_id),
        )
        none = await calendar.entries(
            session,
            seeded.actor("viewer"),
            datetime(2026, 4, 1, tzinfo=UTC),
            datetime(2026, 5, 1, tzinfo=UTC),
            CalendarFilter(status="published"),
        )
    assert [e.ref for e in found] == [f"post-{post_id}"]
    assert none == []


@pytest.mark.parametrize(
    "zone_name", ["Europe/Stockholm", "Europe/Oslo", "Europe/Copenhagen", "Europe/Helsinki"]
)
def test_dropping_on_another_day_keeps_the_wall_clock_time_across_the_spring_change(
    zone_name: str,
) -> None:
    # Friday 27 March 2026 09:00 local (winter time) dropped on Monday 30 March (summer time).
    offset_hours = 2 if zone_name == "Europe/Helsinki" else 1
    shown = datetime(2026, 3, 27, 9 - offset_hours, 0, tzinfo=UTC)
    moved = calendar.shifted_instant(shown, date(2026, 3, 30), None, zone_name)
    assert moved == datetime(2026, 3, 30, 9 - offset_hours - 1, 0, tzinfo=UTC)


def test_a_drop_into_the_spring_gap_moves_forward_and_into_the_autumn_fold_takes_the_first() -> (
    None
):
    shown = datetime(2026, 3, 20, 1, 30, tzinfo=UTC)  # 02:30 Stockholm winter time
    assert calendar.shifted_instant(shown, date(2026, 3, 29), None, "Europe/Stockholm") == (
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST: 02:30 does not exist
    )
    assert calendar.shifted_instant(
        shown, date(2026, 10, 25), time(2, 30), "Europe/Stockholm"
    ) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30 (CEST)


async def test_moving_an_item_keeps_its_length_and_is_audited(db: Database) -> None:
    seeded = await seed(db)
    async with db.write() as session:
        item = await calendar.create_item(
            session,
            seeded.actor("contributor"),
            press_release(seeded, datetime(2026, 3, 27, 9), ends_local=datetime(2026, 3, 27, 11)),
        )
    target = calendar.shifted_instant(item.starts_at, date(2026, 3, 30), None, "Europe/Stockholm")
    async with db.write() as session:
        await calendar.move(
            session, seeded.actor("contributor"), f"item-{item.id}", target, now=NOW
        )
    async with db.read() as session:
        moved = await session.get(CalendarItem, item.id)
        assert moved is not None
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert moved.starts_at == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert moved.ends_at == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
    assert "calendar.item_moved" in actions


async def test_a_viewer_cannot_move_and_a_contributor_cannot_move_someone_elses_item(
    db: Database,
) -> None:
    seeded = await seed(db)
    async with db.write() as session:
        item = await calendar.create_item(
            session, seeded.actor("editor"), press_release(seeded, datetime(2026, 4, 2, 9))
        )
    later = datetime(2026, 4, 9, 7, tzinfo=UTC)
    for role in ("viewer", "contributor"):
        with pytest.raises(Forbidden):
            async with db.write() as session:
                await calendar.move(session, seeded.actor(role), f"item-{item.id}", later, now=NOW)


async def test_nothing_moves_into_the_past_or_after_publishing_started(db: Database) -> None:
    seeded = await seed(db)
    draft = await add_post(db, seeded, datetime(2026, 4, 2, 8, tzinfo=UTC))
    published = await add_post(db, seeded, datetime(2026, 4, 2, 8, tzinfo=UTC), status="published")
    with pytest.raises(CalendarError):
        async with db.write() as session:
            await calendar.move(
                session,
                seeded.actor("contributor"),
                f"post-{draft}",
                datetime(2026, 3, 1, tzinfo=UTC),
                now=NOW,
            )
    with pytest.raises(CalendarError):
        async with db.write() as session:
            await calendar.move(
                session,
                seeded.actor("editor"),
                f"post-{published}",
                datetime(2026, 4, 9, tzinfo=UTC),
                now=NOW,
            )


async def test_a_draft_moves_with_its_planned_local_time_and_stays_a_draft(db: Database) -> None:
    seeded = await seed(db)
    post_id = await add_post(db, seeded, datetime(2026, 3, 27, 8, tzinfo=UTC))
    target = calendar.shifted_instant(
        datetime(2026, 3, 27, 8, tzinfo=UTC), date(2026, 3, 31), None, "Europe/Stockholm"
    )
    async with db.write() as session:
        await calendar.move(
            session, seeded.actor("contributor"), f"post-{post_id}", target, now=NOW
        )
    async with db.read() as session:
        post = await session.get(Post, post_id)
        assert post is not None
    assert post.status == "draft"
    assert post.scheduled_at == datetime(2026, 3, 31, 7, tzinfo=UTC)
    assert post.planned_local == "2026-03-31T09:00:00"


async def test_an_all_day_item_is_a_whole_local_day(db: Database) -> None:
    seeded = await seed(db)
    async with db.write() as session:
        item = await calendar.create_item(
            session,
            seeded.actor("editor"),
            ItemFields(
                kind="event",
                title="Kulturnatten",
                starts_local=datetime(2026, 4, 25),
                timezone="Europe/Stockholm",
                all_day=True,
            ),
        )
    assert item.starts_at == datetime(2026, 4, 24, 22, tzinfo=UTC)
    assert item.ends_at == datetime(2026, 4, 25, 22, tzinfo=UTC)
