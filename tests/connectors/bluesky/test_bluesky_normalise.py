"""Normalising Bluesky payloads: the project's own fixtures and recorded views."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from allsang.connectors.bluesky.normalise import normalise_payload
from allsang.ingest.message import InvalidMessage

FIXTURES = Path(__file__).resolve().parents[3] / "src/allsang/connectors/bluesky/fixtures"


def events() -> list[dict]:
    lines = (FIXTURES / "jetstream_events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_post_create_becomes_a_post_with_its_at_uri_as_external_id() -> None:
    message = normalise_payload(events()[0], handles={"did:plc:allsangkari000000000000": "kari"})

    assert message is not None
    assert message.external_id == (
        "at://did:plc:allsangkari000000000000/app.bsky.feed.post/3n2kari0001"
    )
    assert message.url == (
        "https://bsky.app/profile/did:plc:allsangkari000000000000/post/3n2kari0001"
    )
    assert message.author.handle == "kari"
    assert message.kind == "post" and message.lang == "sv"
    assert message.created_at == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)


def test_a_reply_points_at_its_parent_and_the_own_account_is_outbound() -> None:
    message = normalise_payload(events()[1], own_did="did:plc:allsangacme000000000000")

    assert message is not None
    assert message.kind == "reply"
    assert message.in_reply_to == (
        "at://did:plc:allsangkari000000000000/app.bsky.feed.post/3n2kari0001"
    )
    assert message.author.handle == "did:plc:allsangacme000000000000"  # handle unknown
    assert message.direction == "outbound"


@pytest.mark.parametrize("index", [2, 3, 4], ids=["like", "delete", "identity"])
def test_likes_deletes_and_identity_events_are_not_messages(index: int) -> None:
    assert normalise_payload(events()[index]) is None


def test_a_post_without_created_at_is_invalid() -> None:
    with pytest.raises(InvalidMessage, match="createdAt"):
        normalise_payload(events()[5])


def test_a_mention_notification_is_addressed_to_the_account() -> None:
    payload = json.loads((FIXTURES / "notification_mention.json").read_text())
    message = normalise_payload(payload)

    assert message is not None
    assert message.addressed
    assert message.author.handle == "nora.example"
    assert message.author.name == "Nora Nordmann"
    assert message.extras()["reason"] == "mention"


def test_a_like_notification_is_not_a_message() -> None:
    payload = json.loads((FIXTURES / "notification_mention.json").read_text())
    assert normalise_payload({**payload, "reason": "like"}) is None


def test_a_recorded_thread_view_post_normalises(payloads: Path) -> None:
    thread = json.loads(
        (payloads / "atproto-python/thread_view_post_with_embed_media.json").read_text()
    )
    message = normalise_payload(thread["thread"]["post"])

    assert message is not None
    assert message.external_id == thread["thread"]["post"]["uri"]
    assert message.author.handle == "test.marshal.dev"
    assert message.text == thread["thread"]["post"]["record"]["text"]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [(b"\xff{}", "not valid UTF-8"), ("{", "not valid JSON"), ('{"a": 1}', "not a Jetstream")],
)
def test_undecodable_payloads_are_invalid_with_a_reason(frame: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        normalise_payload(frame)


CHAT_CONVO = {
    "id": "3ku7w6h4vog2d",
    "members": [
        {"did": "did:plc:own", "handle": "acme.bsky.social"},
        {"did": "did:plc:kari", "handle": "kari.bsky.social", "displayName": " Kari "},
    ],
}


def chat_message(**changes: object) -> dict:
    message = {
        "$type": "chat.bsky.convo.defs#messageView",
        "id": "3lphbnrx7l32l",
        "rev": "2222223ej42tu",
        "sender": {"did": "did:plc:kari"},
        "text": "Kan jeg bytte størrelse?",
        "sentAt": "2025-05-18T14:33:51.935Z",
    }
    return {"convo": CHAT_CONVO, "message": {**message, **changes}}


def test_a_chat_message_is_a_dm_from_the_member_who_sent_it() -> None:
    message = normalise_payload(chat_message(), own_did="did:plc:own")

    assert message is not None
    assert (message.kind, message.external_id) == ("dm", "3lphbnrx7l32l")
    assert (message.author.handle, message.author.name) == ("kari.bsky.social", "Kari")
    assert message.url == "https://bsky.app/messages/3ku7w6h4vog2d"
    assert message.created_at == datetime(2025, 5, 18, 14, 33, 51, 935000, tzinfo=UTC)
    assert message.addressed


def test_own_and_deleted_chat_messages_are_not_messages() -> None:
    own = chat_message(sender={"did": "did:plc:own"})
    deleted = chat_message(**{"$type": "chat.bsky.convo.defs#deletedMessageView"})

    assert normalise_payload(own, own_did="did:plc:own") is None
    assert normalise_payload(deleted, own_did="did:plc:own") is None


def test_a_chat_message_without_a_time_is_quarantined() -> None:
    with pytest.raises(InvalidMessage, match="createdAt"):
        normalise_payload(chat_message(sentAt=None), own_did="did:plc:own")
