"""iCalendar feeds: secret revocable URLs, valid RFC 5545 that parses back, planned zones."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar
from sqlalchemy import select

from allsang.db import Database
from allsang.db.models.calendar import CalendarFeed
from allsang.publishing import calendar, ical
from allsang.publishing.calendar import ItemFields
from tests.publishing.test_calendar import add_post, press_release, seed

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


async def test_a_campaign_feed_parses_back_with_the_planned_zone(db: Database) -> None:
    seeded = await seed(db)
    post_id = await add_post(db, seeded, datetime(2026, 4, 2, 8, 0, tzinfo=UTC))
    async with db.write() as session:
        item = await calendar.create_item(
            session,
            seeded.actor("editor"),
            press_release(seeded, datetime(2026, 3, 27, 9), ends_local=datetime(2026, 3, 27, 10)),
        )
        await calendar.create_item(
            session,
            seeded.actor("editor"),
            ItemFields(
                kind="event",
                title="Kulturnatten",
                starts_local=datetime(2026, 4, 25),
                timezone="Europe/Stockholm",
                all_day=True,
                campaign_id=seeded.campaign_id,
            ),
        )
        token, _feed = await ical.create_feed(
            session, seeded.actor("viewer"), "campaign", seeded.campaign_id
        )
    async with db.read() as session:
        resolved = await ical.resolve_feed(session, token)
        assert resolved is not None
        body = await ical.feed_ics(session, resolved, now=NOW)
    parsed = Calendar.from_ical(body)
    events = {str(e["uid"]): e for e in parsed.walk("VEVENT")}
    assert set(events) == {
        f"post-{post_id}@kommun.allsang",
        f"item-{item.id}@kommun.allsang",
        f"item-{item.id + 1}@kommun.allsang",
    }
    release = events[f"item-{item.id}@kommun.allsang"]
    start = release.decoded("dtstart")
    # Planned as 09:00 Stockholm winter time: the feed says so, with the zone's rules.
    assert release["dtstart"].params["TZID"] == "Europe/Stockholm"
    assert (start.replace(tzinfo=None), start.astimezone(UTC)) == (
        datetime(2026, 3, 27, 9, 0),
        datetime(2026, 3, 27, 8, 0, tzinfo=UTC),
    )
    assert {str(tz["tzid"]) for tz in parsed.walk("VTIMEZONE")} == {"Europe/Stockholm"}
    assert str(events[f"item-{item.id + 1}@kommun.allsang"].decoded("dtstart")) == "2026-04-25"
    assert events[f"post-{post_id}@kommun.allsang"].decoded("dtstamp") == NOW
    assert str(parsed["version"]) == "2.0" and parsed["prodid"]
    async with db.read() as session:
        stored = await session.scalar(select(CalendarFeed.token_hash))
    assert stored == ical.hash_token(token) and token not in stored


async def test_a_revoked_feed_no_longer_resolves(db: Database) -> None:
    seeded = await seed(db)
    async with db.write() as session:
        token, feed = await ical.create_feed(
            session, seeded.actor("contributor"), "person", seeded.people["contributor"]
        )
    async with db.write() as session:
        await ical.revoke_feed(session, seeded.actor("contributor"), feed.id)
    async with db.read() as session:
        assert await ical.resolve_feed(session, token) is None
        assert await ical.resolve_feed(session, "cal_guess") is None


async def test_a_person_feed_holds_what_the_person_owns(db: Database) -> None:
    seeded = await seed(db)
    post_id = await add_post(db, seeded, datetime(2026, 4, 2, 8, 0, tzinfo=UTC))
    async with db.write() as session:
        await calendar.create_item(
            session, seeded.actor("editor"), press_release(seeded, datetime(2026, 4, 2, 9))
        )
        token, _feed = await ical.create_feed(
            session, seeded.actor("contributor"), "person", seeded.people["contributor"]
        )
    async with db.read() as session:
        feed = await ical.resolve_feed(session, token)
        assert feed is not None
        parsed = Calendar.from_ical(await ical.feed_ics(session, feed, now=NOW))
    assert [str(e["uid"]) for e in parsed.walk("VEVENT")] == [f"post-{post_id}@kommun.allsang"]
