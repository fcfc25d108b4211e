from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.models import Channel, Contact, Conversation, Message, QuarantinedItem
from allsang.ingest import pipeline as pipeline_module
from allsang.ingest.pipeline import ChannelRef, Enrichment, Pipeline


def msg(external_id: str, **fields: Any) -> RawItem:
    payload = {
        "channel": "mastodon",
        "external_id": external_id,
        "kind": "post",
        "author": {"handle": "@kari@example.social", "name": "Kari"},
        "text": f"message {external_id}",
        "created_at": f"2026-11-20T10:00:{int(external_id) % 60:02d}+01:00",
        **fields,
    }
    return RawItem(payload)


async def _messages(db: Database) -> list[Message]:
    async with db.read() as session:
        return list(await session.scalars(select(Message).order_by(Message.id)))


async def test_it_stores_a_batch_and_counts_what_it_did(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    result = await pipeline.ingest(channel, [msg("1"), msg("2"), msg("3")])
    assert result.summary() == {"accepted": 3, "duplicates": 0, "quarantined": 0}
    stored = await _messages(db)
    assert [m.external_id for m in stored] == ["1", "2", "3"]
    assert all(m.direction == "inbound" and m.channel_id == channel.id for m in stored)


async def test_it_drops_duplicates_within_and_across_batches(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    first = await pipeline.ingest(channel, [msg("1"), msg("1"), msg("2")])
    second = await pipeline.ingest(channel, [msg("2"), msg("3")])
    assert first.summary() == {"accepted": 2, "duplicates": 1, "quarantined": 0}
    assert second.summary() == {"accepted": 1, "duplicates": 1, "quarantined": 0}
    assert len(await _messages(db)) == 3


async def test_it_quarantines_malformed_payloads_without_blocking_the_rest(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    items = [
        msg("1"),
        RawItem(b"{not json", source="webhook"),
        msg("2", created_at="2026-11-20T10:00:00"),  # no time zone
        RawItem(["a", "list"]),
        msg("3"),
    ]
    result = await pipeline.ingest(channel, items)
    assert result.summary() == {"accepted": 2, "duplicates": 0, "quarantined": 3}
    async with db.read() as session:
        quarantined = list(
            await session.scalars(select(QuarantinedItem).order_by(QuarantinedItem.id))
        )
    assert [q.reason.split(":")[0] for q in quarantined] == [
        "not valid JSON",
        "created_at",
        "expected a JSON object, got list",
    ]
    assert quarantined[0].raw == "{not json"
    assert quarantined[0].source == "webhook"
    assert "timezone" in quarantined[1].reason


async def test_it_quarantines_messages_from_year_one_or_centuries_ahead(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    items = [
        msg("1", created_at="0001-01-01T00:00:00Z"),
        msg("2", created_at="9999-12-31T23:00:00-05:00"),
        msg("3", created_at="1999-12-31T23:59:00+01:00"),
    ]
    result = await pipeline.ingest(channel, items)
    assert result.summary() == {"accepted": 1, "duplicates": 0, "quarantined": 2}
    async with db.read() as session:
        reasons = list(await session.scalars(select(QuarantinedItem.reason)))
    assert all("between 1970 and 2200" in reason for reason in reasons)


async def test_a_normaliser_bug_quarantines_the_item_instead_of_crashing(
    pipeline: Pipeline, channel: ChannelRef
) -> None:
    def broken(raw: RawItem) -> Any:
        raise KeyError("account")

    result = await pipeline.ingest(channel, [msg("1")], broken)
    assert result.quarantined == 1


async def test_it_cleans_control_characters_and_invalid_utf8(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    text = "hej\x00 d\x07är\udcff\n🙂"
    await pipeline.ingest(channel, [msg("1", text=text)])
    assert (await _messages(db))[0].text == "hej där\n🙂"


async def test_a_reply_joins_its_parents_conversation(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    await pipeline.ingest(channel, [msg("1", addressed=True)])
    await pipeline.ingest(channel, [msg("2", kind="reply", in_reply_to="1")])
    await pipeline.ingest(
        channel, [msg("3", kind="reply", in_reply_to="2"), msg("4", kind="reply", in_reply_to="3")]
    )
    stored = await _messages(db)
    assert stored[0].conversation_id is not None
    assert {m.conversation_id for m in stored} == {stored[0].conversation_id}


async def test_a_thread_started_and_answered_in_one_batch_is_one_conversation(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    await pipeline.ingest(
        channel, [msg("2", kind="reply", in_reply_to="1"), msg("1", addressed=True)]
    )
    stored = await _messages(db)
    assert len({m.conversation_id for m in stored}) == 1
    assert stored[0].conversation_id is not None


async def test_posts_not_addressed_to_us_are_listening_data_not_conversations(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    await pipeline.ingest(channel, [msg("1"), msg("2", kind="article")])
    assert [m.conversation_id for m in await _messages(db)] == [None, None]


async def test_direct_messages_group_per_contact(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    other = {"handle": "@ola@example.social", "name": "Ola"}
    await pipeline.ingest(channel, [msg("1", kind="dm"), msg("2", kind="dm", author=other)])
    await pipeline.ingest(channel, [msg("3", kind="dm")])
    by_id = {m.external_id: m.conversation_id for m in await _messages(db)}
    assert by_id["1"] == by_id["3"] != by_id["2"]
    async with db.read() as session:
        contacts = list(await session.scalars(select(Contact.handle).order_by(Contact.handle)))
    assert contacts == ["@kari@example.social", "@ola@example.social"]


async def test_e_mail_threads_by_references_when_the_parent_is_missing(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    await pipeline.ingest(channel, [msg("1", kind="email")])
    await pipeline.ingest(
        channel,
        [msg("3", kind="email", in_reply_to="2-not-stored", references=["1", "2-not-stored"])],
    )
    stored = await _messages(db)
    assert stored[0].conversation_id == stored[1].conversation_id is not None


async def test_a_new_inbound_message_reopens_a_closed_conversation(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    await pipeline.ingest(channel, [msg("1", kind="dm")])
    async with db.write() as session:
        conversation = await session.scalar(select(Conversation))
        assert conversation is not None
        assert conversation.status == "new"
        assert conversation.waiting_since is not None
        conversation.status = "closed"
    await pipeline.ingest(channel, [msg("2", kind="dm")])
    async with db.read() as session:
        conversation = await session.scalar(select(Conversation))
    assert conversation is not None and conversation.status == "open"


async def test_the_cursor_is_saved_with_its_batch(
    pipeline: Pipeline, channel: ChannelRef, db: Database
) -> None:
    await pipeline.ingest(channel, [msg("1")], cursor={"since_id": "1"})
    async with db.read() as session:
        row = await session.get(Channel, channel.id)
    assert row is not None and row.cursor == {"since_id": "1"}
    assert row.last_success_at is not None and row.last_item_at is not None


async def test_a_failed_commit_keeps_the_old_cursor_and_stores_nothing(
    pipeline: Pipeline, channel: ChannelRef, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pipeline.ingest(channel, [msg("1")], cursor={"since_id": "1"})

    async def crash(*args: Any) -> None:
        raise ConnectionError("database went away")

    monkeypatch.setattr(pipeline_module, "_touch_channel", crash)
    with pytest.raises(ConnectionError):
        await pipeline.ingest(channel, [msg("2"), RawItem(b"bad")], cursor={"since_id": "2"})
    monkeypatch.undo()
    async with db.read() as session:
        row = await session.get(Channel, channel.id)
        quarantined = (await session.scalars(select(QuarantinedItem))).all()
    assert row is not None and row.cursor == {"since_id": "1"}
    assert [m.external_id for m in await _messages(db)] == ["1"]
    assert quarantined == []


async def test_enrichers_fill_language_and_sentiment(channel: ChannelRef, db: Database) -> None:
    def enrich(messages: Any) -> list[Enrichment]:
        return [
            Enrichment(lang=m.lang or "sv", sentiment="pos", sentiment_score=0.8, extra={"x": 1})
            for m in messages
        ]

    await Pipeline(db, enrichers=[enrich]).ingest(channel, [msg("1"), msg("2", lang="da")])
    stored = await _messages(db)
    assert [(m.lang, m.sentiment, m.sentiment_score) for m in stored] == [
        ("sv", "pos", 0.8),
        ("da", "pos", 0.8),
    ]
    assert stored[0].extra["x"] == 1


async def test_commit_hooks_get_the_stored_ids(channel: ChannelRef, db: Database) -> None:
    seen: list[list[int]] = []

    async def hook(ref: ChannelRef, ids: list[int]) -> None:
        seen.append(ids)

    pipeline = Pipeline(db, on_commit=[hook])
    await pipeline.ingest(channel, [msg("1"), msg("2")])
    await pipeline.ingest(channel, [msg("1")])
    assert [len(ids) for ids in seen] == [2]
