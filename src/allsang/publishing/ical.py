"""iCalendar (RFC 5545) feeds of the editorial calendar for a person, a department or a
campaign, behind a secret URL.

* :func:`create_feed` returns the token once; only its SHA-256 is stored, so a leaked
  database does not leak subscriptions. :func:`revoke_feed` ends a feed for good.
* :func:`resolve_feed` takes the token from the URL and returns the live feed or ``None``.
* :func:`render` writes one VEVENT per calendar entry. Timed entries carry ``DTSTART;TZID=…``
  in the zone they were planned in, with the matching VTIMEZONE (so subscribers see the
  planned wall-clock time across daylight saving time); all-day items are ``VALUE=DATE``;
  ``DTSTAMP`` is UTC as the RFC requires. A person's feed holds what they own (their posts
  and items); a department's or campaign's feed what belongs to it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor, authorize
from allsang.db.models import Department, Person, Workspace
from allsang.db.models.calendar import FEED_SCOPES, CalendarFeed
from allsang.db.models.publishing import Campaign
from allsang.db.types import utcnow
from allsang.publishing.calendar import CalendarFilter, Entry, entries
from allsang.publishing.states import NotFound
from allsang.publishing.timing import to_local

TOKEN_PREFIX = "cal_"
# How much of the calendar a feed carries: recent history and the year ahead.
PAST = timedelta(days=92)
FUTURE = timedelta(days=366)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _scope_name(session: AsyncSession, workspace_id: int, scope: str, scope_id: int) -> str:
    model = {"person": Person, "department": Department, "campaign": Campaign}[scope]
    row = await session.get(model, scope_id)
    if row is None:
        raise NotFound(f"no such {scope}")
    if scope != "person" and row.workspace_id != workspace_id:
        raise NotFound(f"no such {scope}")
    return str(row.name)


async def create_feed(
    session: AsyncSession, actor: Actor, scope: str, scope_id: int
) -> tuple[str, CalendarFeed]:
    """A new feed (``calendar.feed``; only one's own person feed). Returns the token."""
    authorize(actor, "calendar.feed")
    if scope not in FEED_SCOPES:
        raise NotFound(f"no such feed scope {scope!r}")
    if scope == "person" and scope_id != actor.person_id:
        raise NotFound("a person feed is made by that person")
    assert actor.workspace_id is not None
    await _scope_name(session, actor.workspace_id, scope, scope_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    feed = CalendarFeed(
        workspace_id=actor.workspace_id,
        created_by_id=actor.person_id,
        scope=scope,
        scope_id=scope_id,
        token_hash=hash_token(token),
        prefix=token[:12],
    )
    session.add(feed)
    await session.flush()
    audit.record(session, actor, "calendar.feed_created", "calendar_feed", feed.id, scope=scope)
    return token, feed


async def my_feeds(session: AsyncSession, actor: Actor) -> list[CalendarFeed]:
    """The live feeds the actor made."""
    authorize(actor, "calendar.feed")
    return list(
        (
            await session.scalars(
                select(CalendarFeed)
                .where(
                    CalendarFeed.workspace_id == actor.workspace_id,
                    CalendarFeed.created_by_id == actor.person_id,
                    CalendarFeed.revoked_at.is_(None),
                )
                .order_by(CalendarFeed.id)
            )
        ).all()
    )


async def revoke_feed(session: AsyncSession, actor: Actor, feed_id: int) -> None:
    """End a feed: its URL answers 404 from now on (its creator, or ``calendar.manage``)."""
    feed = await session.get(CalendarFeed, feed_id)
    if feed is None or feed.workspace_id != actor.workspace_id or feed.revoked_at is not None:
        raise NotFound("no such feed")
    own = actor.person_id is not None and feed.created_by_id == actor.person_id
    authorize(actor, "calendar.feed" if own else "calendar.manage", feed)
    feed.revoked_at = utcnow()
    audit.record(session, actor, "calendar.feed_revoked", "calendar_feed", feed.id)


async def resolve_feed(session: AsyncSession, token: str) -> CalendarFeed | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    feed = await session.scalar(
        select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token))
    )
    if feed is None or feed.revoked_at is not None:
        return None
    return feed


def feed_actor(feed: CalendarFeed) -> Actor:
    """Reading a feed reads the calendar as a viewer of the feed's workspace."""
    return Actor(
        kind="token",
        label=f"calendar feed {feed.prefix}",
        workspace_id=feed.workspace_id,
        role="viewer",
        person_id=feed.created_by_id,
    )


async def feed_ics(
    session: AsyncSession, feed: CalendarFeed, *, now: datetime | None = None
) -> bytes:
    """The feed's calendar as ``text/calendar`` bytes."""
    now = now or utcnow()
    workspace = await session.get(Workspace, feed.workspace_id)
    assert workspace is not None
    name = await _scope_name(session, feed.workspace_id, feed.scope, feed.scope_id)
    filters = {
        "person": CalendarFilter(owner_id=feed.scope_id),
        "department": CalendarFilter(department_id=feed.scope_id),
        "campaign": CalendarFilter(campaign_id=feed.scope_id),
    }[feed.scope]
    found = await entries(session, feed_actor(feed), now - PAST, now + FUTURE, filters)
    return render(found, name=f"{workspace.name}: {name}", domain=workspace.slug, now=now)


def _uid(entry: Entry, domain: str) -> str:
    # A recurring post has one event per occurrence, each with its own UID.
    suffix = f"-{entry.starts_at:%Y%m%dT%H%M%SZ}" if entry.recurring else ""
    return f"{entry.ref}{suffix}@{domain}.allsang"


def render(found: list[Entry], *, name: str, domain: str, now: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Allsang//Editorial calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for entry in found:
        event = Event()
        event.add("uid", _uid(entry, domain))
        event.add("dtstamp", now)
        label = "Post" if entry.is_post else entry.kind.replace("_", " ").capitalize()
        event.add("summary", f"{label}: {entry.title}")
        event.add("categories", [label])
        event.add("status", "CANCELLED" if entry.status == "cancelled" else "CONFIRMED")
        event.add("x-allsang-status", entry.status)
        if entry.all_day:
            event.add("dtstart", to_local(entry.starts_at, entry.timezone).date())
            if entry.ends_at:
                event.add("dtend", to_local(entry.ends_at, entry.timezone).date())
        else:
            # The planned zone, so subscribers' clients follow its daylight saving time.
            event.add("dtstart", _zoned(entry.starts_at, entry.timezone))
            if entry.ends_at:
                event.add("dtend", _zoned(entry.ends_at, entry.timezone))
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def _zoned(instant: datetime, timezone: str) -> datetime:
    if timezone == "UTC":
        return instant
    return instant.astimezone(ZoneInfo(timezone))
