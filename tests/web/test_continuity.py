"""Continuity pages: rota, out of office, bus factor, reconnectors and their warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from allsang.db.models import Channel, Conversation, Department, Message, Notification
from allsang.db.models.continuity import DutyShift
from allsang.runtime import Runtime
from tests.inbox.seed import seed
from tests.web.conftest import ClientFactory, World


async def department(runtime: Runtime, world: World) -> int:
    async with runtime.db.write() as session:
        row = Department(workspace_id=world.workspace.id, name="Kundtjänst")
        session.add(row)
        await session.flush()
        return row.id


def local(at: datetime) -> str:
    """A datetime-local form value in the world's time zone (Europe/Oslo)."""
    return at.astimezone(ZoneInfo("Europe/Oslo")).strftime("%Y-%m-%dT%H:%M")


async def test_an_editor_adds_a_shift_and_everyone_sees_who_is_on_duty_now(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    department_id = await department(runtime, world)
    editor, viewer = await client_as("editor"), await client_as("viewer")
    now = datetime.now(UTC).astimezone(ZoneInfo("Europe/Oslo"))
    response = await editor.post(
        f"/continuity/rota/{department_id}/shifts",
        data={
            "person_id": str(world.people["contributor"].id),
            "weekday": str(now.weekday()),
            "start": "00:00",
            "end": "24:00",
        },
    )
    assert response.status_code == 303
    page = await viewer.get(f"/continuity/rota/{department_id}")
    assert page.status_code == 200
    on_duty = page.text.split('id="on-duty"')[1].split("</p>")[0]
    assert "Contributor Person" in on_duty
    overview = await viewer.get("/continuity/rota")
    assert "Contributor Person" in overview.text
    refused = await viewer.post(
        f"/continuity/rota/{department_id}/shifts",
        data={"person_id": "1", "weekday": "0", "start": "09:00", "end": "17:00"},
    )
    assert refused.status_code == 403
    bad = await editor.post(
        f"/continuity/rota/{department_id}/shifts",
        data={"person_id": str(world.people["viewer"].id), "weekday": "0", "start": "9", "end": ""},
    )
    assert bad.status_code == 422
    async with runtime.db.read() as session:
        assert len(list(await session.scalars(select(DutyShift)))) == 1


async def test_going_away_hands_conversations_to_the_deputy_and_coming_back_returns_them(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    seeded = await seed(runtime.db, world.workspace.id)
    contributor_id, editor_id = world.people["contributor"].id, world.people["editor"].id
    conversation_id = seeded.conversations[0].id
    async with runtime.db.write() as session:
        row = await session.get(Conversation, conversation_id)
        assert row is not None
        row.assignee_id, row.status = contributor_id, "open"
    contributor, editor = await client_as("contributor"), await client_as("editor")
    response = await contributor.post(
        "/continuity/away",
        data={
            "deputy_id": str(editor_id),
            "starts": "",
            "ends": local(datetime.now(UTC) + timedelta(days=3)),
            "note": "Semester",
        },
    )
    assert response.status_code == 303, response.text
    mine = await editor.get("/inbox?assignee=me")
    assert f'data-conversation="{conversation_id}"' in mine.text
    badge = await editor.get("/inbox/notifications/badge")
    assert "Contributor Person is away: handed over to you" in badge.text
    page = await contributor.get("/continuity/away")
    absence_id = page.text.split('action="/continuity/away/')[1].split("/")[0]
    back = await contributor.post(f"/continuity/away/{absence_id}/end")
    assert back.status_code == 303
    async with runtime.db.read() as session:
        row = await session.get(Conversation, conversation_id)
        notified = await session.scalar(
            select(Notification.id).where(Notification.kind == "handover")
        )
    assert row is not None and row.assignee_id == contributor_id
    assert notified is not None


async def test_after_coming_back_a_person_sees_what_the_deputy_kept(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    seeded = await seed(runtime.db, world.workspace.id)
    contributor_id, editor_id = world.people["contributor"].id, world.people["editor"].id
    answered = seeded.conversations[1]
    async with runtime.db.write() as session:
        row = await session.get(Conversation, answered.id)
        assert row is not None
        row.assignee_id, row.status, row.subject = contributor_id, "open", "Försenad leverans"
    contributor = await client_as("contributor")
    await contributor.post(
        "/continuity/away",
        data={"deputy_id": str(editor_id), "ends": local(datetime.now(UTC) + timedelta(days=1))},
    )
    async with runtime.db.write() as session:
        session.add(
            Message(
                workspace_id=world.workspace.id,
                conversation_id=answered.id,
                author_person_id=editor_id,
                direction="note",
                kind="comment",
                text="Jag tar den här.",
            )
        )
    page = await contributor.get("/continuity/away")
    assert 'id="kept"' not in page.text
    absence_id = page.text.split('action="/continuity/away/')[1].split("/")[0]
    await contributor.post(f"/continuity/away/{absence_id}/end")
    kept = (await contributor.get("/continuity/away")).text.split('id="kept"')[1].split("</ul>")[0]
    assert f'href="/inbox/{answered.id}"' in kept
    assert "Försenad leverans" in kept and "Editor Person" in kept


async def test_an_absence_without_a_deputy_or_ending_before_it_starts_is_refused(
    client_as: ClientFactory, world: World
) -> None:
    contributor = await client_as("contributor")
    soon = datetime.now(UTC) + timedelta(days=2)
    missing = await contributor.post("/continuity/away", data={"ends": local(soon)})
    assert missing.status_code == 422
    backwards = await contributor.post(
        "/continuity/away",
        data={
            "deputy_id": str(world.people["editor"].id),
            "starts": local(soon),
            "ends": local(soon - timedelta(days=1)),
        },
    )
    assert backwards.status_code == 422
    assert "The absence must end after it starts." in backwards.text
    # Only admins may set someone else's absence; viewers none at all.
    other = await contributor.post(
        "/continuity/away",
        data={
            "person_id": str(world.people["editor"].id),
            "deputy_id": str(world.people["admin"].id),
            "ends": local(soon),
        },
    )
    assert other.status_code == 403
    viewer = await client_as("viewer")
    assert (await viewer.post("/continuity/away", data={"ends": local(soon)})).status_code == 403


async def test_a_channel_warns_until_two_people_who_can_reconnect_are_named(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    async with runtime.db.write() as session:
        channel = Channel(workspace_id=world.workspace.id, network="rss", name="Pressmeddelanden")
        session.add(channel)
        await session.flush()
        channel_id = channel.id
    admin, viewer = await client_as("admin"), await client_as("viewer")
    home = await admin.get("/")
    assert 'hx-get="/continuity/warnings"' in home.text
    assert "Pressmeddelanden" in (await admin.get("/continuity/warnings")).text
    assert "Pressmeddelanden" not in (await viewer.get("/continuity/warnings")).text
    single = await viewer.get(f"/continuity/warnings?channel={channel_id}")
    assert "Only 0 people can reconnect this channel" in single.text
    detail = await viewer.get(f"/channels/{channel_id}")
    assert f'hx-get="/continuity/warnings?channel={channel_id}"' in detail.text
    for role in ("admin", "editor"):
        added = await admin.post(
            f"/continuity/channels/{channel_id}/reconnectors",
            data={"person_id": str(world.people[role].id)},
        )
        assert added.status_code == 303
    refused = await admin.post(
        f"/continuity/channels/{channel_id}/reconnectors",
        data={"person_id": str(world.people["viewer"].id)},
    )
    assert refused.status_code == 422
    assert "Pressmeddelanden" not in (await admin.get("/continuity/warnings")).text
    page = await viewer.get(f"/continuity/channels/{channel_id}")
    assert "Admin Person" in page.text and "Editor Person" in page.text
    assert (
        await viewer.post(
            f"/continuity/channels/{channel_id}/reconnectors/{world.people['admin'].id}/delete"
        )
    ).status_code == 403


async def test_the_bus_factor_page_lists_channels_and_admins_set_the_silence_alarm(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    await seed(runtime.db, world.workspace.id)
    await department(runtime, world)
    viewer, admin = await client_as("viewer"), await client_as("admin")
    page = await viewer.get("/continuity/bus-factor")
    assert page.status_code == 200
    assert "Acme on Mastodon" in page.text and "Kundtjänst" in page.text
    assert 'name="silent_days"' not in page.text
    # A department without a channel is not alarmed about; the lone channel is.
    channels, departments = page.text.split('id="bus-departments"')
    assert "fewer than two people" in channels and "fewer than two people" not in departments
    assert (
        await viewer.post("/continuity/bus-factor/settings", data={"silent_days": "3"})
    ).status_code == 403
    assert (
        await admin.post("/continuity/bus-factor/settings", data={"silent_days": "0"})
    ).status_code == 422
    saved = await admin.post("/continuity/bus-factor/settings", data={"silent_days": "3"})
    assert saved.status_code == 303
    assert 'value="3"' in (await admin.get("/continuity/bus-factor")).text
