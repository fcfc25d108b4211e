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

import gc
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.models import Channel, Contact, Conversation, Message, QuarantinedItem
from allsang.db.types import utcnow
from allsang.ingest.fast import Bulk
from allsang.ingest.message import Author, InvalidMessage, NormalisedMessage, validate_message
from allsang.routing.apply import route_stored

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """The channel a batch belongs to."""

    id: int
    workspace_id: int
    network: str


@dataclass(slots=True)
class Enrichment:
    """What an enricher adds to one message; ``None`` leaves a field as it is.

    A ``lang`` given here replaces the connector's tag: enrichers see that tag on the message
    and decide (the listening enricher keeps it, normalised: ``no`` becomes ``nb``)."""

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
            # One pass from bytes to model; skips building the intermediate dicts.
            return NormalisedMessage.model_validate_json(payload)
        except ValidationError:
            pass  # the two-step path below words the reason as it always has
        try:
            payload = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidMessage(f"not valid JSON: {exc}") from None
    return validate_message(payload)


@dataclass(slots=True)
class _Prepared:
    message: NormalisedMessage
    enrichment: Enrichment | None  # None: no enrichers ran, the message's own lang stands


@dataclass(slots=True)
class PreparedBatch:
    """A batch after :meth:`Pipeline.prepare`: what to store, what to quarantine, and the
    counts already known."""

    messages: list[_Prepared] = field(default_factory=list)
    rejected: list[tuple[RawItem, str]] = field(default_factory=list)
    duplicates: int = 0
    ignored: int = 0


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
        return await self.store(channel, self.prepare(channel, items, normalise), cursor=cursor)

    def prepare(
        self, channel: ChannelRef, items: Iterable[RawItem], normalise: Normaliser = normalised_json
    ) -> PreparedBatch:
        """The CPU half of :meth:`ingest`: normalise, validate, drop in-batch duplicates and
        enrich, touching no database, so a consumer can prepare one batch while the previous
        one is being written."""
        batch = PreparedBatch()
        with _collector_paused():
            valid: list[NormalisedMessage] = []
            for item in items:
                try:
                    message = normalise(item)
                except InvalidMessage as exc:
                    batch.rejected.append((item, exc.reason))
                    continue
                except Exception as exc:  # a normaliser bug must not stop the stream either
                    log.exception("normaliser for %s failed", channel.network)
                    batch.rejected.append((item, f"normaliser error: {type(exc).__name__}: {exc}"))
                    continue
                if message is None:
                    batch.ignored += 1
                else:
                    valid.append(message)

            unique: dict[str, NormalisedMessage] = {}
            for message in valid:
                if message.external_id in unique:
                    batch.duplicates += 1
                else:
                    unique[message.external_id] = message
            batch.messages = self._enrich(list(unique.values()))
        return batch

    async def store(
        self, channel: ChannelRef, batch: PreparedBatch, *, cursor: dict[str, Any] | None = None
    ) -> IngestResult:
        """The database half of :meth:`ingest`: one transaction, then the commit hooks."""
        result = IngestResult(duplicates=batch.duplicates, ignored=batch.ignored)
        prepared = batch.messages
        with _collector_paused():
            async with self.db.write() as session:
                result.quarantined = await _quarantine(session, channel, batch.rejected)
                stored = await session.run_sync(_store, channel, prepared)
                await route_stored(session, channel.workspace_id, stored)
                result.accepted = len(stored)
                result.duplicates += len(prepared) - len(stored)
                result.message_ids = stored
                await _touch_channel(session, channel, cursor, [p.message for p in prepared])

        if stored:
            for hook in self.on_commit:
                await hook(channel, stored)
        return result

    def _enrich(self, messages: list[NormalisedMessage]) -> list[_Prepared]:
        if not self.enrichers:
            return [_Prepared(m, None) for m in messages]
        merged = [Enrichment(lang=m.lang) for m in messages]
        for enricher in self.enrichers:
            for into, enrichment in zip(merged, enricher(messages), strict=True):
                _merge(into, enrichment)
        return [_Prepared(m, e) for m, e in zip(messages, merged, strict=True)]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch is processed.

    A batch allocates tens of thousands of small acyclic objects (models, dicts, tuples) that
    reference counting frees; meanwhile the collector would trigger every few hundred
    allocations and walk the long-lived heap, which cost about a third of ingest's time.
    Nested or concurrent use is safe: only the block that paused it resumes it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _merge(into: Enrichment, other: Enrichment) -> None:
    into.lang = other.lang or into.lang
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


def _parent_ids(message: NormalisedMessage) -> list[str]:
    """Where a message may hang in a thread, nearest parent first."""
    parents = [message.in_reply_to] if message.in_reply_to else []
    references = (message.model_extra or {}).get("references")
    if references and isinstance(references, list):
        parents += [str(r) for r in reversed(references)]
    return parents


def _author_json(author: Author) -> dict[str, Any]:
    """``author.model_dump(exclude_defaults=True)``, without pydantic's per-call overhead."""
    data: dict[str, Any] = {"handle": author.handle}
    if author.name:
        data["name"] = author.name
    if author.url:
        data["url"] = author.url
    if author.model_extra:
        data.update(author.model_extra)
    return data


_MESSAGE_COLUMNS = (
    "workspace_id", "channel_id", "conversation_id", "contact_id", "author_person_id",
    "direction", "kind", "external_id", "in_reply_to", "url", "text", "lang", "sentiment",
    "sentiment_score", "extra", "created_at", "received_at",
)  # fmt: skip
_CONVERSATION_COLUMNS = (
    "workspace_id", "channel_id", "contact_id", "thread_key", "subject", "status",
    "last_message_at", "waiting_since", "created_at", "updated_at",
)  # fmt: skip
_CONTACT_COLUMNS = ("workspace_id", "network", "handle", "name", "url", "profile", "created_at")


def _store(session: Session, channel: ChannelRef, prepared: list[_Prepared]) -> list[int]:
    """Insert the new messages with their contacts and conversations; the stored ids.

    Runs synchronously in the write transaction (``AsyncSession.run_sync``): the rows go
    through the DBAPI cursor as tuples (see :mod:`allsang.ingest.fast`).
    """
    if not prepared:
        return []
    bulk = Bulk(session.connection())
    existing = {
        row[0]
        for row in bulk.select_in(
            "SELECT external_id FROM message WHERE channel_id = ? AND external_id",
            (channel.id,),
            [p.message.external_id for p in prepared],
        )
    }
    fresh = [p for p in prepared if p.message.external_id not in existing]
    if not fresh:
        return []
    # Stored form of each created_at: sorts and compares as the times do (UTC throughout),
    # and far cheaper to compare than datetimes in the senders' zones.
    stamps = {id(p): bulk.timestamp(p.message.created_at) for p in fresh}
    fresh.sort(key=lambda p: stamps[id(p)])
    messages = [p.message for p in fresh]
    parents = [_parent_ids(m) for m in messages]
    contacts = _contacts(bulk, channel, messages)
    threads = dict(
        bulk.select_in(
            "SELECT external_id, conversation_id FROM message WHERE channel_id = ? AND external_id",
            (channel.id,),
            sorted({p for ps in parents for p in ps}),
        )
    )
    dm_contacts = {contacts[m.author.handle] for m in messages if m.kind == "dm"}
    dms: dict[int, int] = {}
    for key, conversation_id in sorted(
        bulk.select_in(
            "SELECT thread_key, id FROM conversation WHERE channel_id = ? AND thread_key",
            (channel.id,),
            [f"dm:{cid}" for cid in dm_contacts],
        ),
        key=lambda row: row[1],
    ):
        dms[int(str(key).removeprefix("dm:"))] = conversation_id  # the newest wins

    # Decide each message's conversation: an existing id, a new one (by thread key), or none.
    new_threads: dict[str, NormalisedMessage] = {}
    placement: list[int | str | None] = []
    in_batch: dict[str, int | str | None] = {}
    for message, message_parents in zip(messages, parents, strict=True):
        target: int | str | None = None
        for parent in message_parents:
            if parent in in_batch:
                target = in_batch[parent]
                break
            if threads.get(parent) is not None:
                target = threads[parent]
                break
        if target is None and message.kind == "dm":
            contact_id = contacts[message.author.handle]
            target = dms.get(contact_id) or f"dm:{contact_id}"
        if target is None and message.addressed:
            target = f"root:{message.external_id}"
        if isinstance(target, str):
            new_threads.setdefault(target, message)
        placement.append(target)
        in_batch[message.external_id] = target

    # Each conversation's clock: the stamps of its latest and its first inbound message here.
    clocks: dict[int | str, tuple[Any, Any]] = {}
    for item, target in zip(fresh, placement, strict=True):
        if target is not None:
            stamp = stamps[id(item)]
            latest, inbound = clocks.get(target, (stamp, None))
            if item.message.direction == "inbound":
                inbound = stamp if inbound is None else min(inbound, stamp)
            clocks[target] = (max(latest, stamp), inbound)
    created = _open_conversations(bulk, channel, contacts, new_threads, clocks)
    received_at = bulk.timestamp(utcnow())
    rows = []
    for item, target in zip(fresh, placement, strict=True):
        m, e, stamp = item.message, item.enrichment, stamps[id(item)]
        conversation_id = created[target] if isinstance(target, str) else target
        direction = m.direction
        extra = {"author": _author_json(m.author), **(m.model_extra or {})}
        if e is not None:
            extra.update(e.extra)
        rows.append(
            (
                channel.workspace_id,
                channel.id,
                conversation_id,
                contacts[m.author.handle],
                None,
                direction,
                m.kind,
                m.external_id,
                m.in_reply_to,
                m.url,
                m.text,
                m.lang if e is None else e.lang,
                None if e is None else e.sentiment,
                None if e is None else e.sentiment_score,
                bulk.json(extra),
                stamp,
                received_at,
            )
        )
    stored = [
        row[0]
        for row in bulk.insert(
            Message.__table__, _MESSAGE_COLUMNS, rows, ignore_conflicts=True, returning=("id",)
        )
    ]
    stored.sort()
    # New conversations were created with their clocks set: no update (nor its triggers).
    _update_conversations(bulk, {t: c for t, c in clocks.items() if isinstance(t, int)})
    return stored


def _contacts(bulk: Bulk, channel: ChannelRef, messages: list[NormalisedMessage]) -> dict[str, int]:
    """Contact ids by handle, creating the contacts seen for the first time."""
    authors = {m.author.handle: m.author for m in messages}
    sql = "SELECT handle, id FROM contact WHERE workspace_id = ? AND network = ? AND handle"
    fixed = (channel.workspace_id, channel.network)
    ids: dict[str, int] = dict(bulk.select_in(sql, fixed, list(authors)))
    missing = [authors[h] for h in authors if h not in ids]
    if missing:
        now, profile = bulk.timestamp(utcnow()), bulk.json({})
        bulk.insert(
            Contact.__table__,
            _CONTACT_COLUMNS,
            [
                (channel.workspace_id, channel.network, a.handle, a.name, a.url, profile, now)
                for a in missing
            ],
            ignore_conflicts=True,
        )
        ids.update(bulk.select_in(sql, fixed, [a.handle for a in missing]))
    return ids


def _open_conversations(
    bulk: Bulk,
    channel: ChannelRef,
    contacts: dict[str, int],
    threads: dict[str, NormalisedMessage],
    clocks: dict[int | str, tuple[Any, Any]],
) -> dict[str, int]:
    """Create the batch's new conversations in multi-row INSERTs, their clocks already set
    (see ``_UPDATE_CONVERSATION``); their ids by thread key (unique within a batch, so
    ``RETURNING`` order does not matter)."""
    now = bulk.timestamp(utcnow())
    rows = [
        (
            channel.workspace_id,
            channel.id,
            contacts[first.author.handle],
            key,
            str((first.model_extra or {}).get("title") or first.text[:200]),
            "new",
            *clocks[key],
            now,
            now,
        )
        for key, first in threads.items()
    ]
    returned = bulk.insert(
        Conversation.__table__, _CONVERSATION_COLUMNS, rows, returning=("thread_key", "id")
    )
    return {str(key): conversation_id for key, conversation_id in returned}


# Each touched conversation's clock moves: the last message (if newer), waiting since (the
# first inbound message, if not waiting yet), and an inbound message reopens a closed or
# snoozed conversation. ``updated_at`` moves only when something else does (as the ORM did).
_UPDATE_CONVERSATION = """
UPDATE conversation SET
  last_message_at = CASE WHEN last_message_at IS NULL OR last_message_at < ? THEN ?
    ELSE last_message_at END,
  waiting_since = CASE WHEN ? AND waiting_since IS NULL THEN ? ELSE waiting_since END,
  status = CASE WHEN ? AND status IN ('closed', 'snoozed') THEN 'open' ELSE status END,
  snoozed_until = CASE WHEN ? AND status IN ('closed', 'snoozed') THEN NULL
    ELSE snoozed_until END,
  updated_at = ?
WHERE id = ? AND (last_message_at IS NULL OR last_message_at < ?
  OR (? AND (waiting_since IS NULL OR status IN ('closed', 'snoozed'))))
"""


def _update_conversations(bulk: Bulk, touched: dict[int, tuple[Any, Any]]) -> None:
    """Move each touched conversation's clock (see ``_UPDATE_CONVERSATION``); ``touched``
    holds the stored forms (:meth:`Bulk.timestamp`) of the latest and the first inbound
    message's time."""
    now = bulk.timestamp(utcnow())
    rows = []
    for cid, (latest, first_inbound) in sorted(touched.items()):
        inbound = first_inbound is not None
        rows.append(
            (latest, latest, inbound, first_inbound, inbound, inbound, now, cid, latest, inbound)
        )
    bulk.execute_many(_UPDATE_CONVERSATION, rows)


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
