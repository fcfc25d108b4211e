"""The pipeline's fast path stores exactly what the ORM would, and decides exactly as before."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.models import Contact, Conversation, Message
from allsang.db.types import UTCDateTime
from allsang.ingest.fast import Bulk
from allsang.ingest.message import InvalidMessage, validate_message
from allsang.ingest.pipeline import ChannelRef, Pipeline, normalised_json


def payload(external_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "channel": "mastodon",
        "external_id": external_id,
        "author": {"handle": "@kari@example.social", "name": "Kari", "bot": False},
        "text": f"message {external_id}",
        "created_at": "2026-11-20T10:00:00.123456+01:00",
        **fields,
    }


def _two_step(raw: bytes) -> Any:
    """What ``normalised_json`` did before its one-pass path: ``json.loads``, then validate."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMessage(f"not valid JSON: {exc}") from None
    return validate_message(data)


RAW_CASES = [
    json.dumps(payload("1")).encode(),
    json.dumps(payload("2", kind="dm", addressed=True, references=["a", "b"])).encode(),
    json.dumps(
        payload("3", text="nul\u0000 and \u0007bell", url="https://x.example/\u0001")
    ).encode(),
    json.dumps({**payload("4"), "external_id": "\u0000"}).encode(),
    json.dumps(payload("5", created_at="2026-11-20T10:00:00")).encode(),
    json.dumps(payload("6", kind="tweet")).encode(),
    b'{"channel": "mastodon", "external_id": "7", "text": "lone \\ud800 surrogate", '
    b'"author": {"handle": "h"}, "created_at": "2026-11-20T10:00:00Z"}',
    b'{"channel": "mastodon", "external_id": "8", "author": {"handle": "h"}, "n": -Infinity, '
    b'"created_at": "2026-11-20T10:00:00Z"}',
    b"\xff\xfe not utf-8",
    b"{not json",
    b"[1, 2]",
    b'"a string"',
    json.dumps(payload("9", lang="sv-SE-x-very-long")).encode(),
]


@pytest.mark.parametrize("raw", RAW_CASES)
def test_the_one_pass_validation_decides_and_words_reasons_as_the_two_step_one(raw: bytes) -> None:
    try:
        expected: Any = _two_step(raw).model_dump()
    except InvalidMessage as exc:
        expected = exc.reason
    for form in (raw, raw.decode("utf-8", errors="surrogateescape")):
        try:
            got: Any = normalised_json(RawItem(form)).model_dump()
        except InvalidMessage as exc:
            got = exc.reason
        assert got == expected


async def test_stored_times_and_json_read_back_as_the_orm_writes_them(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    result = await pipeline.ingest(channel, [RawItem(payload("1", addressed=True, mood=[1]))])
    async with db.read() as session:
        message = (await session.scalars(select(Message))).one()
        stored_at = await session.scalar(text("SELECT created_at FROM message"))
    assert result.message_ids == [message.id]
    assert message.created_at == datetime(2026, 11, 20, 9, 0, 0, 123456, tzinfo=UTC)
    assert message.extra == {
        "author": {"handle": "@kari@example.social", "name": "Kari", "bot": False},
        "addressed": True,
        "mood": [1],
    }
    if db.dialect == "sqlite":
        dialect = db.writer.dialect
        orm_form = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        assert orm_form is not None and stored_at == orm_form(message.created_at)


async def test_bulk_timestamps_convert_every_zone_to_utc_and_refuse_naive_times(
    db: Database,
) -> None:
    oslo = datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2)))

    def convert(session: Session) -> Any:
        bulk = Bulk(session.connection())
        with pytest.raises(ValueError, match="naive"):
            bulk.timestamp(datetime(2026, 3, 29, 1, 30))
        return bulk.timestamp(oslo)

    async with db.write() as session:
        stored = await session.run_sync(convert)
    if db.dialect == "sqlite":
        assert stored == "2026-03-29 01:30:00.000000"
    else:
        assert stored == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
        assert stored.tzinfo is UTC


async def test_new_contacts_and_conversations_get_the_models_defaults(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    await pipeline.ingest(channel, [RawItem(payload("1", addressed=True))])
    async with db.read() as session:
        conversation = (await session.scalars(select(Conversation))).one()
        contact = (await session.scalars(select(Contact))).one()
    assert (conversation.priority, conversation.status) == ("normal", "new")
    assert conversation.thread_key == "root:1" and conversation.subject == "message 1"
    assert conversation.waiting_since == datetime(2026, 11, 20, 9, 0, 0, 123456, tzinfo=UTC)
    assert contact.profile == {} and contact.name == "Kari"


async def test_an_older_message_leaves_the_conversations_clock_alone(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    await pipeline.ingest(channel, [RawItem(payload("1", addressed=True))])
    async with db.read() as session:
        before = (await session.scalars(select(Conversation))).one()
    late = payload("2", in_reply_to="1", created_at="2026-11-20T09:00:00+01:00")
    await pipeline.ingest(channel, [RawItem(late)])
    newer = payload("3", in_reply_to="1", created_at="2026-11-21T09:00:00+01:00")
    async with db.read() as session:
        after_late = (await session.scalars(select(Conversation))).one()
    await pipeline.ingest(channel, [RawItem(newer)])
    async with db.read() as session:
        after_newer = (await session.scalars(select(Conversation))).one()
    assert after_late.updated_at == before.updated_at
    assert after_late.last_message_at == before.last_message_at
    assert after_newer.last_message_at == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    assert after_newer.updated_at > before.updated_at
    assert after_newer.waiting_since == before.waiting_since


async def test_the_garbage_collector_runs_again_after_a_batch_even_a_failed_one(
    pipeline: Pipeline, channel: ChannelRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pipeline.ingest(channel, [RawItem(payload("1"))])
    assert gc.isenabled()

    def broken(*_: Any) -> list[int]:
        raise ConnectionError("database went away")

    monkeypatch.setattr("allsang.ingest.pipeline._store", broken)
    with pytest.raises(ConnectionError):
        await pipeline.ingest(channel, [RawItem(payload("2"))])
    assert gc.isenabled()
