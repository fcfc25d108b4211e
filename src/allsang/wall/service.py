"""Screens, display tokens, evaluation of new messages, the manual queue and the event log.

Contracts:

* Every change a screen must show is one row in ``wall_event`` with the wall's next ``seq``,
  written in the same transaction as the state change (so a screen that replays the log after
  its last ``seq`` sees exactly the committed state). ``add`` puts a post on screen,
  ``remove`` takes it off, ``pin`` keeps it in the pinned place.
* :func:`evaluate` looks at each message once per wall (``wall.cursor_message_id``), in id
  order; a message that matches a source gets a ``wall_item``: ``approved`` (automatic
  moderation, rules passed), ``pending`` (manual moderation, rules passed) or ``rejected``
  (a rule failed, with the rule as the reason).
* Display tokens are ``alw_`` + 43 URL-safe characters; only their SHA-256 is stored. Rotating
  replaces the token (the old one stops at once); revoking leaves the screen without one.
* Callers hold the write transaction and record the audit event; after the commit they
  publish a hint on :func:`wall_topic` through the Broadcast port (:mod:`allsang.live`) so
  open screens, in any process, look again. A lost hint only delays a screen until its poll.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db import Database
from allsang.db.models import (
    Contact,
    ListeningQuery,
    Message,
    Wall,
    WallEvent,
    WallItem,
    WallRule,
    WallSource,
)
from allsang.db.types import utcnow
from allsang.ingest.pipeline import ChannelRef, CommitHook
from allsang.listening.query import compile_queries
from allsang.listening.store import query_message
from allsang.live import Broadcast
from allsang.wall.media import UPLOAD_PREFIX, Image, post_images
from allsang.wall.rules import Post, Rule, check

LAYOUTS = ("grid", "ticker", "spotlight")
MODERATION_MODES = ("auto", "manual")
SOURCE_KINDS = ("query", "hashtag", "channel", "own")
ITEM_STATES = ("pending", "approved", "rejected", "pinned")
TOKEN_PREFIX = "alw_"
BATCH = 500  # messages evaluated per transaction
BACKFILL = 200  # a new screen starts with this many of the newest messages evaluated
_HASHTAG = re.compile(r"#(\w+)")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class InvalidWall(ValueError):
    """A field was refused; ``field`` names it."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True, slots=True)
class Source:
    kind: str
    query_id: int | None = None
    hashtag: str = ""
    channel_id: int | None = None


@dataclass(slots=True)
class WallFields:
    """The settings a person edits; validated by :func:`validate`."""

    name: str
    title: str = ""
    hashtag: str = ""
    event_url: str = ""
    layout: str = "grid"
    background: str = "#10162f"
    foreground: str = "#ffffff"
    accent: str = "#ffcc33"
    logo_url: str = ""
    moderation: str = "manual"


def wall_topic(wall_id: int) -> str:
    """The Broadcast topic whose hints (``{"wall": id}``) wake the wall's open screens."""
    return f"wall:{wall_id}"


async def publish(broadcast: Broadcast, wall_id: int) -> None:
    await broadcast.publish(wall_topic(wall_id), {"wall": wall_id})


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_hashtag(text: str) -> str:
    return text.strip().lstrip("#").casefold()


def validate(fields: WallFields) -> None:
    """Raise :class:`InvalidWall` for the first field that cannot be stored."""
    if not fields.name.strip() or len(fields.name) > 200:
        raise InvalidWall("name")
    if len(fields.title) > 200:
        raise InvalidWall("title")
    if len(fields.hashtag) > 100 or not re.fullmatch(r"#?\w*", fields.hashtag.strip()):
        raise InvalidWall("hashtag")
    if len(fields.event_url) > 2000 or len(fields.logo_url) > 2000:
        raise InvalidWall("event_url" if len(fields.event_url) > 2000 else "logo_url")
    if fields.layout not in LAYOUTS:
        raise InvalidWall("layout")
    if fields.moderation not in MODERATION_MODES:
        raise InvalidWall("moderation")
    for name in ("background", "foreground", "accent"):
        if not _COLOUR.match(getattr(fields, name)):
            raise InvalidWall(name)
    for name in ("event_url", "logo_url"):
        value = getattr(fields, name).strip()
        if name == "logo_url" and re.fullmatch(re.escape(UPLOAD_PREFIX) + "[0-9a-f]{64}", value):
            continue  # an uploaded logo (allsang.wall.media.store_upload)
        if value and not re.match(r"^https?://[^\s]+$", value):
            raise InvalidWall(name)


def _apply(wall: Wall, fields: WallFields) -> None:
    wall.name = fields.name.strip()
    wall.title = fields.title.strip()
    wall.hashtag = normalise_hashtag(fields.hashtag)
    wall.event_url = fields.event_url.strip()
    wall.layout = fields.layout
    wall.background = fields.background.lower()
    wall.foreground = fields.foreground.lower()
    wall.accent = fields.accent.lower()
    wall.logo_url = fields.logo_url.strip()
    wall.moderation = fields.moderation


async def create_wall(session: AsyncSession, workspace_id: int, fields: WallFields) -> Wall:
    """A new screen without a display token; it starts with the newest messages evaluated."""
    validate(fields)
    newest = (
        await session.scalars(
            select(Message.id)
            .where(Message.workspace_id == workspace_id)
            .order_by(Message.id.desc())
            .offset(BACKFILL)
            .limit(1)
        )
    ).first()
    wall = Wall(workspace_id=workspace_id, cursor_message_id=newest or 0)
    _apply(wall, fields)
    session.add(wall)
    await session.flush()
    return wall


async def update_wall(session: AsyncSession, wall: Wall, fields: WallFields) -> None:
    validate(fields)
    _apply(wall, fields)
    await session.flush()


async def get_wall(session: AsyncSession, workspace_id: int, wall_id: int) -> Wall | None:
    wall = await session.get(Wall, wall_id)
    return wall if wall is not None and wall.workspace_id == workspace_id else None


async def list_walls(session: AsyncSession, workspace_id: int) -> list[Wall]:
    rows = await session.scalars(
        select(Wall).where(Wall.workspace_id == workspace_id).order_by(Wall.name)
    )
    return list(rows)


async def sources_of(session: AsyncSession, wall_id: int) -> list[Source]:
    rows = await session.scalars(
        select(WallSource).where(WallSource.wall_id == wall_id).order_by(WallSource.id)
    )
    return [Source(r.kind, r.query_id, r.hashtag, r.channel_id) for r in rows]


async def set_sources(session: AsyncSession, wall: Wall, sources: Sequence[Source]) -> None:
    """Replace the wall's sources. Query and channel ids must be in the wall's workspace."""
    for old in await session.scalars(select(WallSource).where(WallSource.wall_id == wall.id)):
        await session.delete(old)
    for source in sources:
        if source.kind not in SOURCE_KINDS:
            raise InvalidWall("sources")
        session.add(
            WallSource(
                wall_id=wall.id,
                kind=source.kind,
                query_id=source.query_id,
                hashtag=normalise_hashtag(source.hashtag),
                channel_id=source.channel_id,
            )
        )
    await session.flush()


async def rules_of(session: AsyncSession, wall_id: int) -> list[Rule]:
    rows = await session.scalars(
        select(WallRule).where(WallRule.wall_id == wall_id).order_by(WallRule.id)
    )
    return [Rule(r.kind, dict(r.value)) for r in rows]


async def set_rules(session: AsyncSession, wall: Wall, rules: Sequence[Rule]) -> None:
    """Replace the automatic rules; author bans are kept (they are not edited as rules)."""
    existing = await session.scalars(select(WallRule).where(WallRule.wall_id == wall.id))
    for old in existing:
        if old.kind != "banned_author":
            await session.delete(old)
    for rule in rules:
        if rule.kind == "banned_author":
            continue
        session.add(WallRule(wall_id=wall.id, kind=rule.kind, value=rule.value))
    await session.flush()


# --- display tokens -------------------------------------------------------------------------


async def rotate_token(session: AsyncSession, wall: Wall) -> str:
    """Give the screen a new display token and return it (shown once, never stored plain)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    wall.display_token_hash = token_digest(token)
    wall.rotated_at = utcnow()
    wall.revoked_at = None
    await session.flush()
    return token


async def revoke_token(session: AsyncSession, wall: Wall) -> None:
    wall.display_token_hash = None
    wall.revoked_at = utcnow()
    await session.flush()


async def resolve_display(session: AsyncSession, wall_id: int, token: str) -> Wall | None:
    """The wall this token opens, or None (unknown, rotated away or revoked)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    wall = await session.get(Wall, wall_id)
    if wall is None or wall.display_token_hash is None:
        return None
    if not secrets.compare_digest(wall.display_token_hash, token_digest(token)):
        return None
    return wall


# --- the event log --------------------------------------------------------------------------


async def append_event(session: AsyncSession, wall: Wall, kind: str, message_id: int) -> int:
    """Append one event and return its ``seq``. The wall row is locked first (PostgreSQL) so
    two writers never pick the same ``seq``; SQLite has a single writer anyway."""
    await session.execute(select(Wall.id).where(Wall.id == wall.id).with_for_update())
    last = await session.scalar(select(func.max(WallEvent.seq)).where(WallEvent.wall_id == wall.id))
    seq = (last or 0) + 1
    session.add(WallEvent(wall_id=wall.id, seq=seq, kind=kind, message_id=message_id))
    await session.flush()
    return seq


async def last_seq(session: AsyncSession, wall_id: int) -> int:
    value = await session.scalar(
        select(func.max(WallEvent.seq)).where(WallEvent.wall_id == wall_id)
    )
    return value or 0


EVENTS_BATCH = 200


async def events_after(
    session: AsyncSession, wall_id: int, seq: int, limit: int = EVENTS_BATCH
) -> list[WallEvent]:
    rows = await session.scalars(
        select(WallEvent)
        .where(WallEvent.wall_id == wall_id, WallEvent.seq > seq)
        .order_by(WallEvent.seq)
        .limit(limit)
    )
    return list(rows)


@dataclass(frozen=True, slots=True)
class Card:
    """A post as a screen or the queue shows it. Every field is untrusted text."""

    message_id: int
    item_id: int
    state: str
    text: str
    author_name: str
    author_handle: str
    url: str
    created_at: datetime
    reason: str = ""
    images: tuple[Image, ...] = ()


def _card(item: WallItem, message: Message) -> Card:
    author = (message.extra or {}).get("author")
    author = author if isinstance(author, dict) else {}
    handle = author.get("handle") if isinstance(author.get("handle"), str) else ""
    name = author.get("name") if isinstance(author.get("name"), str) else ""
    return Card(
        message_id=message.id,
        item_id=item.id,
        state=item.state,
        text=message.text,
        author_name=name or handle,
        author_handle=handle,
        url=message.url,
        created_at=message.created_at,
        reason=item.reason,
        images=post_images(message.extra),
    )


async def cards(
    session: AsyncSession, wall_id: int, states: Sequence[str], limit: int
) -> list[Card]:
    """Items in ``states``, newest message first."""
    rows = await session.execute(
        select(WallItem, Message)
        .join(Message, Message.id == WallItem.message_id)
        .where(WallItem.wall_id == wall_id, WallItem.state.in_(states))
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return [_card(item, message) for item, message in rows]


async def shown_message_extra(
    session: AsyncSession, wall_id: int, message_id: int, states: Sequence[str]
) -> dict[str, Any] | None:
    """The ``extra`` of a message that is on the wall in one of ``states``, else None."""
    row = (
        await session.execute(
            select(Message.extra)
            .join(WallItem, WallItem.message_id == Message.id)
            .where(
                WallItem.wall_id == wall_id,
                WallItem.message_id == message_id,
                WallItem.state.in_(states),
            )
        )
    ).first()
    return dict(row[0] or {}) if row else None


async def card_for(session: AsyncSession, wall_id: int, message_id: int) -> Card | None:
    row = (
        await session.execute(
            select(WallItem, Message)
            .join(Message, Message.id == WallItem.message_id)
            .where(WallItem.wall_id == wall_id, WallItem.message_id == message_id)
        )
    ).first()
    return _card(row[0], row[1]) if row else None


# --- evaluating new messages ----------------------------------------------------------------


def _post(message: Message) -> Post:
    extra = message.extra or {}
    author = extra.get("author") if isinstance(extra.get("author"), dict) else {}
    created = author.get("created_at")
    author_created: datetime | None = None
    if isinstance(created, str):
        try:
            author_created = datetime.fromisoformat(created)
        except ValueError:
            author_created = None
    media = extra.get("media") or extra.get("attachments")
    return Post(
        text=message.text,
        lang=message.lang,
        sentiment_score=message.sentiment_score,
        has_media=isinstance(media, list) and bool(media),
        contact_id=message.contact_id,
        author_handle=author.get("handle") if isinstance(author.get("handle"), str) else "",
        author_created_at=author_created if author_created and author_created.tzinfo else None,
        created_at=message.created_at,
    )


class _Matcher:
    def __init__(self, sources: Sequence[Source], queries: Sequence[ListeningQuery]) -> None:
        self.hashtags = {s.hashtag for s in sources if s.kind == "hashtag" and s.hashtag}
        self.channels = {s.channel_id for s in sources if s.kind == "channel"}
        self.own = any(s.kind == "own" for s in sources)
        wanted = {s.query_id for s in sources if s.kind == "query"}
        plain = [(str(q.id), q.query) for q in queries if q.id in wanted and not q.fold]
        folded = [(str(q.id), q.query) for q in queries if q.id in wanted and q.fold]
        self.querysets = [
            compile_queries(plain, fold=False) if plain else None,
            compile_queries(folded, fold=True) if folded else None,
        ]

    def matches(self, message: Message) -> bool:
        if message.direction == "note":
            return False
        if self.own and message.direction == "outbound":
            return True
        if message.channel_id is not None and message.channel_id in self.channels:
            return True
        if self.hashtags and self.hashtags & {t.casefold() for t in _HASHTAG.findall(message.text)}:
            return True
        seen = query_message(message)
        return any(qs is not None and qs.match(seen) for qs in self.querysets)


async def evaluate(session: AsyncSession, wall: Wall) -> int:
    """Evaluate up to :data:`BATCH` messages after the wall's cursor; return how many events
    were appended. Call again while it returns a full batch (see :func:`catch_up`)."""
    messages = list(
        await session.scalars(
            select(Message)
            .where(Message.workspace_id == wall.workspace_id, Message.id > wall.cursor_message_id)
            .order_by(Message.id)
            .limit(BATCH)
        )
    )
    if not messages:
        return 0
    wall.cursor_message_id = messages[-1].id
    sources = await sources_of(session, wall.id)
    if not sources:
        await session.flush()
        return 0
    query_ids = [s.query_id for s in sources if s.query_id is not None]
    queries = (
        list(
            await session.scalars(
                select(ListeningQuery).where(
                    ListeningQuery.id.in_(query_ids),
                    ListeningQuery.workspace_id == wall.workspace_id,
                )
            )
        )
        if query_ids
        else []
    )
    matcher = _Matcher(sources, queries)
    rules = await rules_of(session, wall.id)
    approved = frozenset(
        await session.scalars(
            select(WallItem.contact_id)
            .where(
                WallItem.wall_id == wall.id,
                WallItem.state.in_(("approved", "pinned")),
                WallItem.contact_id.is_not(None),
            )
            .distinct()
        )
    )
    existing = set(
        await session.scalars(
            select(WallItem.message_id).where(
                WallItem.wall_id == wall.id,
                WallItem.message_id.in_([m.id for m in messages]),
            )
        )
    )
    events = 0
    for message in messages:
        if message.id in existing or not matcher.matches(message):
            continue
        verdict = check(_post(message), rules, approved_authors=approved)
        if not verdict.passed:
            state = "rejected"
        elif wall.moderation == "auto":
            state = "approved"
        else:
            state = "pending"
        session.add(
            WallItem(
                wall_id=wall.id,
                message_id=message.id,
                contact_id=message.contact_id,
                state=state,
                reason=verdict.reason,
                decided_at=utcnow() if state != "pending" else None,
            )
        )
        if state == "approved":
            await append_event(session, wall, "add", message.id)
            events += 1
    await session.flush()
    return events


async def catch_up(db: Database, wall_id: int, broadcast: Broadcast | None = None) -> int:
    """Evaluate every message the wall has not seen yet; publish a hint if events were added.

    Cheap when there is nothing new (one read). Returns the number of events appended."""
    async with db.read() as session:
        wall = await session.get(Wall, wall_id)
        if wall is None:
            return 0
        newest = await session.scalar(
            select(func.max(Message.id)).where(Message.workspace_id == wall.workspace_id)
        )
    if not newest or newest <= wall.cursor_message_id:
        return 0
    total = 0
    while True:
        async with db.write() as session:
            current = await session.get(Wall, wall_id)
            if current is None:
                break
            before = current.cursor_message_id
            total += await evaluate(session, current)
            done = current.cursor_message_id == before or current.cursor_message_id >= newest
        if done:
            break
    if total and broadcast is not None:
        await publish(broadcast, wall_id)
    return total


async def catch_up_workspace(db: Database, workspace_id: int, broadcast: Broadcast) -> int:
    async with db.read() as session:
        ids = list(await session.scalars(select(Wall.id).where(Wall.workspace_id == workspace_id)))
    return sum([await catch_up(db, wall_id, broadcast) for wall_id in ids])


def commit_hook(db: Database, broadcast: Broadcast) -> CommitHook:
    """A pipeline ``on_commit`` hook that puts new messages on the workspace's walls at once
    (without it they arrive by the open screens' poll)."""

    async def hook(channel: ChannelRef, message_ids: list[int]) -> None:
        if message_ids:
            await catch_up_workspace(db, channel.workspace_id, broadcast)

    return hook


# --- the manual queue -----------------------------------------------------------------------


class NoSuchItem(LookupError):
    pass


async def _item(session: AsyncSession, wall: Wall, message_id: int) -> WallItem:
    item = await session.scalar(
        select(WallItem).where(WallItem.wall_id == wall.id, WallItem.message_id == message_id)
    )
    if item is None:
        raise NoSuchItem(message_id)
    return item


def _decide(item: WallItem, state: str, person_id: int | None, reason: str) -> None:
    item.state = state
    item.decided_by_id = person_id
    item.reason = reason
    item.decided_at = utcnow()


async def approve(
    session: AsyncSession, wall: Wall, message_id: int, person_id: int | None
) -> None:
    """Put a pending or rejected post on screen (``add``); an approved one stays as it is."""
    item = await _item(session, wall, message_id)
    if item.state in ("approved", "pinned"):
        return
    _decide(item, "approved", person_id, "")
    await append_event(session, wall, "add", message_id)


async def reject(
    session: AsyncSession,
    wall: Wall,
    message_id: int,
    person_id: int | None,
    reason: str = "moderator",
) -> None:
    """Take a post off (``remove`` if it was on screen)."""
    item = await _item(session, wall, message_id)
    was_shown = item.state in ("approved", "pinned")
    _decide(item, "rejected", person_id, reason)
    if was_shown:
        await append_event(session, wall, "remove", message_id)


async def pin(session: AsyncSession, wall: Wall, message_id: int, person_id: int | None) -> None:
    """Keep a post in the pinned place (``pin``); a post not yet shown is added first."""
    item = await _item(session, wall, message_id)
    if item.state == "pinned":
        return
    if item.state not in ("approved",):
        await append_event(session, wall, "add", message_id)
    _decide(item, "pinned", person_id, "")
    await append_event(session, wall, "pin", message_id)


async def ban_author(
    session: AsyncSession, wall: Wall, message_id: int, person_id: int | None
) -> int | None:
    """Reject every post of this post's author on the wall (pulling shown ones) and every
    future one. Returns the author's contact id (None when the post has no known author)."""
    item = await _item(session, wall, message_id)
    contact_id = item.contact_id
    if contact_id is None:
        await reject(session, wall, message_id, person_id, "banned_author")
        return None
    known = await session.scalars(
        select(WallRule).where(WallRule.wall_id == wall.id, WallRule.kind == "banned_author")
    )
    if not any(r.value.get("contact_id") == contact_id for r in known):
        session.add(
            WallRule(wall_id=wall.id, kind="banned_author", value={"contact_id": contact_id})
        )
    items = await session.scalars(
        select(WallItem)
        .where(
            WallItem.wall_id == wall.id,
            WallItem.contact_id == contact_id,
            WallItem.state != "rejected",
        )
        .order_by(WallItem.message_id)
    )
    for other in list(items):
        await reject(session, wall, other.message_id, person_id, "banned_author")
    await session.flush()
    return contact_id


async def banned_authors(session: AsyncSession, wall_id: int) -> list[Contact]:
    ids = [
        r.value.get("contact_id")
        for r in await session.scalars(
            select(WallRule).where(WallRule.wall_id == wall_id, WallRule.kind == "banned_author")
        )
    ]
    if not ids:
        return []
    return list(await session.scalars(select(Contact).where(Contact.id.in_(ids))))


async def unban_author(session: AsyncSession, wall: Wall, contact_id: int) -> None:
    """Future posts of the author are evaluated normally again (pulled ones stay rejected)."""
    for rule in await session.scalars(
        select(WallRule).where(WallRule.wall_id == wall.id, WallRule.kind == "banned_author")
    ):
        if rule.value.get("contact_id") == contact_id:
            await session.delete(rule)
    await session.flush()
