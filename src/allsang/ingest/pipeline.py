"""The ingest pipeline: receive → normalise → validate → dedupe → enrich → thread → store.

Contract of :meth:`Pipeline.ingest`:

* Every raw item ends in exactly one of three places: stored as a message (``accepted``),
  dropped as a duplicate of a stored one (``duplicates``), or kept in quarantine with the reason
  and the raw body (``quarantined``). Items a connector says are not messages (a like) are
  counted as ``ignored``. A bad item never stops the rest of its batch.
* The whole batch, its quarantined items, the conversations it opens and the channel's new
  cursor are written in **one transaction**: a crash before the commit stores nothing and
  keeps the old cursor, so the source replays the batch; a crash after it replays nothing.
  Replays are harmless because messages are unique on (channel, external id) and the insert
  skips conflicts.
* Enrichers run before the transaction (they are CPU work and must not hold the write lock).
* After the commit, ``on_commit`` callbacks get the stored message ids (live-update hints).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.dialect import insert_ignoring_conflicts
from allsang.db.models import Channel, Contact, Conversation, Message, QuarantinedItem
from allsang.db.types import utcnow
from allsang.ingest.message import InvalidMessage, NormalisedMessage, validate_message

log = logging.getLogger(__name__)

CHUNK = 500  # stay well below SQLite's 32k bound parameters per statement


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """The channel a batch belongs to."""

    id: int
    workspace_id: int
    network: str


@dataclass(slots=True)
class Enrichment:
    """What an enricher adds to one message; ``None`` leaves a field as it is."""

    lang: str | None = None
    sentiment: str | None = None
    sentiment_score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Enricher(Protocol):
    """The hook where the listening engine plugs in: one Enrichment per message, in order."""

    def __call__(self, messages: Sequence[NormalisedMessage]) -> Sequence[Enrichment]: ...


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    ignored: int = 0
    message_ids: list[int] = field(default_factory=list)

    def add(self, other: IngestResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.ignored += other.ignored
        self.message_ids.extend(other.message_ids)

    def summary(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
        }


Normaliser = Callable[[RawItem], NormalisedMessage | None]
CommitHook = Callable[[ChannelRef, list[int]], Awaitable[None]]


def normalised_json(raw: RawItem) -> NormalisedMessage:
    """The normaliser for items that already are normalised messages (webhook, replay)."""
    payload = raw.payload
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidMessage(f"not valid JSON: {exc}") from None
    return validate_message(payload)


@dataclass(slots=True)
class _Prepared:
    message: NormalisedMessage
    enrichment: Enrichment


class Pipeline:
    def __init__(
        self,
        db: Database,
        *,
        enrichers: Sequence[Enricher] = (),
        on_commit: Sequence[CommitHook] = (),
    ) -> None:
        self.db = db
        self.enrichers = list(enrichers)
        self.on_commit = list(on_commit)

    async def ingest(
        self,
        channel: ChannelRef,
        items: Iterable[RawItem],
        normalise: Normaliser = normalised_json,
        *,
        cursor: dict[str, Any] | None = None,
    ) -> IngestResult:
        """Store one batch and, in the same transaction, the cursor that follows it."""
        result = IngestResult()
        valid: list[NormalisedMessage] = []
        rejected: list[tuple[RawItem, str]] = []
        for item in items:
            try:
                message = normalise(item)
            except InvalidMessage as exc:
                rejected.append((item, exc.reason))
                continue
            except Exception as exc:  # a normaliser bug must not stop the stream either
                log.exception("normaliser for %s failed", channel.network)
                rejected.append((item, f"normaliser error: {type(exc).__name__}: {exc}"))
                continue
            if message is None:
                result.ignored += 1
            else:
                valid.append(message)

        unique: dict[str, NormalisedMessage] = {}
        for message in valid:
            if message.external_id in unique:
                result.duplicates += 1
            else:
                unique[message.external_id] = message
        prepared = self._enrich(list(unique.values()))

        async with self.db.write() as session:
            result.quarantined = await _quarantine(session, channel, rejected)
            stored = await _store(session, channel, prepared)
            result.accepted = len(stored)
            result.duplicates += len(prepared) - len(stored)
            result.message_ids = stored
            await _touch_channel(session, channel, cursor, [p.message for p in prepared])

        if stored:
            for hook in self.on_commit:
                await hook(channel, stored)
        return result

    def _enrich(self, messages: list[NormalisedMessage]) -> list[_Prepared]:
        prepared = [_Prepared(m, Enrichment(lang=m.lang)) for m in messages]
        for enricher in self.enrichers:
            for item, enrichment in zip(prepared, enricher(messages), strict=True):
                _merge(item.enrichment, enrichment)
        return prepared


def _merge(into: Enrichment, other: Enrichment) -> None:
    into.lang = into.lang or other.lang
    if other.sentiment is not None:
        into.sentiment = other.sentiment
        into.sentiment_score = other.sentiment_score
    into.extra.update(other.extra)


def _raw_text(payload: Any) -> str:
    if isinstance(payload, bytes):
        return payload.decode("utf-8", errors="replace")
    if isinstance(payload, str):
        return payload
    try:
        return json.dumps(payload, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(payload)


async def _quarantine(
    session: AsyncSession, channel: ChannelRef, rejected: list[tuple[RawItem, str]]
) -> int:
    if not rejected:
        return 0
    from allsang.ingest.message import clean_text

    session.add_all(
        QuarantinedItem(
            workspace_id=channel.workspace_id,
            channel_id=channel.id,
            network=channel.network,
            source=item.source[:200],
            reason=clean_text(reason),
            raw=clean_text(_raw_text(item.payload)),
        )
        for item, reason in rejected
    )
    await session.flush()
    return len(rejected)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


async def _existing_ids(
    session: AsyncSession, channel_id: int, external_ids: list[str]
) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(external_ids):
        rows = await session.scalars(
            select(Message.external_id).where(
                Message.channel_id == channel_id, Message.external_id.in_(chunk)
            )
        )
        found.update(r for r in rows if r is not None)
    return found


async def _contacts(
    session: AsyncSession, channel: ChannelRef, messages: list[NormalisedMessage]
) -> dict[str, int]:
    """Contact ids by handle, creating the contacts seen for the first time."""
    authors = {m.author.handle: m.author for m in messages}
    ids: dict[str, int] = {}
    handles = list(authors)
    for chunk in _chunks(handles):
        rows = await session.execute(
            select(Contact.handle, Contact.id).where(
                Contact.workspace_id == channel.workspace_id,
                Contact.network == channel.network,
                Contact.handle.in_(chunk),
            )
        )
        ids.update({handle: cid for handle, cid in rows})
    missing = [authors[h] for h in handles if h not in ids]
    for chunk in _chunks(missing):
        await session.execute(
            insert_ignoring_conflicts(session, Contact.__table__),
            [
                {
                    "workspace_id": channel.workspace_id,
                    "network": channel.network,
                    "handle": a.handle,
                    "name": a.name,
                    "url": a.url,
                    "profile": {},
                    "created_at": utcnow(),
                }
                for a in chunk
            ],
        )
        rows = await session.execute(
            select(Contact.handle, Contact.id).where(
                Contact.workspace_id == channel.workspace_id,
                Contact.network == channel.network,
                Contact.handle.in_([a.handle for a in chunk]),
            )
        )
        ids.update({handle: cid for handle, cid in rows})
    return ids


def _parent_ids(message: NormalisedMessage) -> list[str]:
    """Where a message may hang in a thread, nearest parent first."""
    parents = [message.in_reply_to] if message.in_reply_to else []
    references = message.extras().get("references") or []
    if isinstance(references, list):
        parents += [str(r) for r in reversed(references)]
    return parents


async def _known_threads(
    session: AsyncSession, channel: ChannelRef, messages: list[NormalisedMessage]
) -> dict[str, int | None]:
    """Conversation ids of the stored messages that the batch replies to."""
    wanted = sorted({p for m in messages for p in _parent_ids(m)})
    known: dict[str, int | None] = {}
    for chunk in _chunks(wanted):
        rows = await session.execute(
            select(Message.external_id, Message.conversation_id).where(
                Message.channel_id == channel.id, Message.external_id.in_(chunk)
            )
        )
        known.update({str(k): v for k, v in rows})
    return known


async def _dm_conversations(
    session: AsyncSession, channel: ChannelRef, contact_ids: set[int]
) -> dict[int, int]:
    keys = [f"dm:{cid}" for cid in contact_ids]
    found: dict[int, int] = {}
    for chunk in _chunks(keys):
        rows = await session.execute(
            select(Conversation.thread_key, Conversation.id)
            .where(Conversation.channel_id == channel.id, Conversation.thread_key.in_(chunk))
            .order_by(Conversation.id)
        )
        for key, conversation_id in rows:
            found[int(str(key).removeprefix("dm:"))] = conversation_id  # the newest wins
    return found


async def _store(
    session: AsyncSession, channel: ChannelRef, prepared: list[_Prepared]
) -> list[int]:
    """Insert the new messages with their conversations; return the stored message ids."""
    if not prepared:
        return []
    existing = await _existing_ids(session, channel.id, [p.message.external_id for p in prepared])
    fresh = [p for p in prepared if p.message.external_id not in existing]
    if not fresh:
        return []
    fresh.sort(key=lambda p: p.message.created_at)
    messages = [p.message for p in fresh]
    contacts = await _contacts(session, channel, messages)
    threads = await _known_threads(session, channel, messages)
    dms = await _dm_conversations(
        session, channel, {contacts[m.author.handle] for m in messages if m.kind == "dm"}
    )

    # Decide each message's conversation: an existing id, a new one (by thread key), or none.
    new_threads: dict[str, NormalisedMessage] = {}
    placement: list[int | str | None] = []
    in_batch: dict[str, int | str | None] = {}
    for message in messages:
        contact_id = contacts[message.author.handle]
        target: int | str | None = None
        for parent in _parent_ids(message):
            if parent in in_batch:
                target = in_batch[parent]
                break
            if threads.get(parent) is not None:
                target = threads[parent]
                break
        if target is None and message.kind == "dm":
            target = dms.get(contact_id) or f"dm:{contact_id}"
        if target is None and message.addressed:
            target = f"root:{message.external_id}"
        if isinstance(target, str):
            new_threads.setdefault(target, message)
        placement.append(target)
        in_batch[message.external_id] = target

    created = await _open_conversations(session, channel, contacts, new_threads)
    rows = []
    for item, target in zip(fresh, placement, strict=True):
        m, e = item.message, item.enrichment
        extra = {**m.extras(), **e.extra}
        rows.append(
            {
                "workspace_id": channel.workspace_id,
                "channel_id": channel.id,
                "conversation_id": created[target] if isinstance(target, str) else target,
                "contact_id": contacts[m.author.handle],
                "author_person_id": None,
                "direction": m.direction,
                "kind": m.kind,
                "external_id": m.external_id,
                "in_reply_to": m.in_reply_to,
                "url": m.url,
                "text": m.text,
                "lang": e.lang,
                "sentiment": e.sentiment,
                "sentiment_score": e.sentiment_score,
                "extra": {"author": m.author.model_dump(exclude_defaults=True), **extra},
                "created_at": m.created_at,
                "received_at": utcnow(),
            }
        )
    stored: list[int] = []
    for chunk in _chunks(rows):
        result = await session.execute(
            insert_ignoring_conflicts(session, Message.__table__).returning(Message.__table__.c.id),
            chunk,
        )
        stored.extend(result.scalars().all())
    await _update_conversations(session, [r for r in rows if r["conversation_id"] is not None])
    return stored


async def _open_conversations(
    session: AsyncSession,
    channel: ChannelRef,
    contacts: dict[str, int],
    threads: dict[str, NormalisedMessage],
) -> dict[str, int]:
    """Create the batch's new conversations in multi-row INSERTs; their ids by thread key."""
    table = Conversation.__table__
    now = utcnow()
    rows = [
        {
            "workspace_id": channel.workspace_id,
            "channel_id": channel.id,
            "contact_id": contacts[first.author.handle],
            "thread_key": key,
            "subject": str(first.extras().get("title") or first.text[:200]),
            "status": "new",
            "created_at": now,
            "updated_at": now,
        }
        for key, first in threads.items()
    ]
    created: dict[str, int] = {}
    for chunk in _chunks(rows):
        result = await session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), chunk
        )
        created.update(zip((r["thread_key"] for r in chunk), result.scalars(), strict=True))
    return created


async def _update_conversations(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Move each touched conversation's clock: last message, waiting since, reopen."""
    latest: dict[int, datetime] = {}
    first_inbound: dict[int, datetime] = {}
    for row in rows:
        cid, at = row["conversation_id"], row["created_at"]
        latest[cid] = max(at, latest.get(cid, at))
        if row["direction"] == "inbound":
            first_inbound[cid] = min(at, first_inbound.get(cid, at))
    loaded: dict[int, Conversation] = {}
    for chunk in _chunks(list(latest)):
        found = await session.scalars(select(Conversation).where(Conversation.id.in_(chunk)))
        loaded.update((c.id, c) for c in found)
    for cid, at in latest.items():
        conversation = loaded.get(cid)
        if conversation is None:
            continue
        if conversation.last_message_at is None or at > conversation.last_message_at:
            conversation.last_message_at = at
        if cid in first_inbound:
            if conversation.waiting_since is None:
                conversation.waiting_since = first_inbound[cid]
            if conversation.status in ("closed", "snoozed"):
                conversation.status = "open"
                conversation.snoozed_until = None


async def _touch_channel(
    session: AsyncSession,
    channel: ChannelRef,
    cursor: dict[str, Any] | None,
    messages: list[NormalisedMessage],
) -> None:
    values: dict[str, Any] = {"last_success_at": utcnow()}
    if cursor is not None:
        values["cursor"] = cursor
    if messages:
        values["last_item_at"] = max(m.created_at for m in messages)
    await session.execute(
        update(Channel)
        .where(Channel.id == channel.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
