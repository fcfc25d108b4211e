"""Direct messages through Bluesky's chat service, sent and read, against pytest-httpserver
replaying the recorded ``chat.bsky.convo.*`` answers (bskyr cassettes c_availability,
c_for_members, c_send, c_list, c_messages)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from allsang.connectors.base import AuthExpired, PermanentError, RateLimited
from allsang.connectors.bluesky.client import ChatNotAllowed
from allsang.db import Database
from allsang.db.models import Channel, Conversation, Message
from allsang.ingest.pipeline import ChannelRef, IngestResult, Pipeline
from tests.connectors.bluesky.conftest import connector_for, recorded_body, serve_session
from tests.connectors.conftest import load_cassette, response_for

OWN_DID = "did:plc:5c2r73erhng4bszmxlfdtscf"
THEIR_DID = "did:plc:wpe35pganb6d4pg4ekmfy6u5"
CONVO = "3ku7w6h4vog2d"
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
RESOLVE = "/xrpc/com.atproto.identity.resolveHandle"
AVAILABILITY = "/xrpc/chat.bsky.convo.getConvoAvailability"
FOR_MEMBERS = "/xrpc/chat.bsky.convo.getConvoForMembers"
SEND = "/xrpc/chat.bsky.convo.sendMessage"


def service(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")


def serve_resolve(server: HTTPServer, payloads: Path) -> None:
    """``resolveHandle`` for chriskenny.bsky.social as recorded (only for that handle)."""
    for interaction in load_cassette(payloads / "bskyr/_vcr/c_availability.yml"):
        if interaction.path == RESOLVE:
            server.expect_request(RESOLVE, query_string=interaction.query).respond_with_response(
                response_for(interaction, server)
            )


def serve_send(server: HTTPServer, payloads: Path) -> list[Request]:
    """``sendMessage`` as recorded; the requests it got are returned (headers and bodies)."""
    answer = recorded_body(payloads, "c_send.yml", "chat.bsky.convo.sendMessage")
    seen: list[Request] = []

    def send(request: Request) -> Response:
        seen.append(request)
        return Response(json.dumps(answer), content_type="application/json")

    server.expect_request(SEND, method="POST").respond_with_handler(send)
    return seen


def calls(server: HTTPServer, path: str) -> list[Request]:
    return [request for request, _ in server.log if request.path == path]


async def test_a_direct_message_goes_into_the_existing_conversation_through_the_chat_proxy(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_session(httpserver, payloads)
    serve_resolve(httpserver, payloads)
    availability = recorded_body(
        payloads, "c_availability.yml", "chat.bsky.convo.getConvoAvailability"
    )
    httpserver.expect_request(AVAILABILITY).respond_with_json(availability)
    sent_requests = serve_send(httpserver, payloads)
    connector = connector_for(service=service(httpserver), with_account=True)

    sent = await connector.direct_message("@chriskenny.bsky.social", "Hei! Kan du sende ordrenr.?")
    await connector.close()  # the chat client shares the transport: both close cleanly

    (send,) = sent_requests
    assert send.headers["atproto-proxy"] == CHAT_PROXY
    body = send.get_json()
    assert body["convoId"] == CONVO
    assert body["message"]["text"] == "Hei! Kan du sende ordrenr.?"
    (asked,) = calls(httpserver, AVAILABILITY)
    assert asked.args.getlist("members") == [THEIR_DID]
    assert asked.headers["atproto-proxy"] == CHAT_PROXY
    assert calls(httpserver, FOR_MEMBERS) == []
    assert sent.external_id == "3lprddijuyg26"
    assert sent.url == f"https://bsky.app/messages/{CONVO}"
    assert sent.created_at == datetime(2025, 5, 22, 14, 30, 31, 384000, tzinfo=UTC)


async def test_a_first_message_opens_the_conversation_with_both_members(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_session(httpserver, payloads)
    availability = recorded_body(
        payloads, "c_availability.yml", "chat.bsky.convo.getConvoAvailability"
    )
    del availability["convo"]  # no conversation between the two yet
    httpserver.expect_request(AVAILABILITY).respond_with_json(availability)
    opened = recorded_body(payloads, "c_for_members.yml", "chat.bsky.convo.getConvoForMembers")
    httpserver.expect_request(FOR_MEMBERS).respond_with_json(opened)
    sent_requests = serve_send(httpserver, payloads)
    connector = connector_for(service=service(httpserver), with_account=True)

    sent = await connector.direct_message(THEIR_DID, "Velkommen!")

    (asked,) = calls(httpserver, FOR_MEMBERS)
    assert asked.args.getlist("members") == [OWN_DID, THEIR_DID]
    assert asked.headers["atproto-proxy"] == CHAT_PROXY
    assert calls(httpserver, RESOLVE) == []  # a DID needs no resolving
    assert sent_requests[0].get_json()["convoId"] == opened["convo"]["id"]
    assert sent.external_id == "3lprddijuyg26"


async def test_someone_who_does_not_accept_messages_is_a_permanent_error_and_nothing_is_sent(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_session(httpserver, payloads)
    serve_resolve(httpserver, payloads)
    httpserver.expect_request(AVAILABILITY).respond_with_json({"canChat": False})
    sent_requests = serve_send(httpserver, payloads)
    connector = connector_for(service=service(httpserver), with_account=True)

    with pytest.raises(PermanentError, match="does not accept direct messages"):
        await connector.direct_message("chriskenny.bsky.social", "Hei")

    assert sent_requests == []


async def test_a_text_over_the_lexicons_byte_limit_is_refused_before_any_request(
    httpserver: HTTPServer,
) -> None:
    connector = connector_for(service=service(httpserver), with_account=True)
    families = "👩‍👩‍👧‍👦" * 401  # 401 graphemes (within 1,000) of 25 bytes: 10,025 bytes

    with pytest.raises(PermanentError, match="10000 bytes"):
        await connector.direct_message(THEIR_DID, families)

    # Paths, not the whole log: a stalled request another test left behind may land in it.
    asked = {request.path for request, _ in httpserver.log}
    assert asked.isdisjoint({"/xrpc/com.atproto.server.createSession", RESOLVE, AVAILABILITY, SEND})


def _json(status: int, body: dict[str, Any], **headers: str) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )


@pytest.mark.parametrize(
    ("path", "answer", "error", "message"),
    [
        (
            SEND,
            _json(400, {"error": "InvalidToken", "message": "Bad token scope"}),
            ChatNotAllowed,
            "Allow access to your direct messages",
        ),
        (
            AVAILABILITY,
            _json(400, {"error": "InvalidToken", "message": "Bad token method"}),
            ChatNotAllowed,
            "reconnect the channel",
        ),
        (
            FOR_MEMBERS,
            _json(
                400,
                {"error": "InvalidRequest", "message": "recipient has disabled incoming messages"},
            ),
            PermanentError,
            "recipient has disabled incoming messages",
        ),
        (
            SEND,
            _json(401, {"error": "AuthenticationRequired", "message": "Invalid token"}),
            AuthExpired,
            "reconnect the channel",
        ),
        (
            SEND,
            _json(429, {"error": "RateLimitExceeded", "message": "slow"}, **{"Retry-After": "9"}),
            RateLimited,
            "rate limit",
        ),
    ],
    ids=["app-password-without-dms", "bad-token-method", "recipient-refuses", "401", "429"],
)
async def test_chat_faults_are_typed_errors(
    httpserver: HTTPServer,
    payloads: Path,
    path: str,
    answer: Response,
    error: type[Exception],
    message: str,
) -> None:
    serve_session(httpserver, payloads)
    availability = {"canChat": True}  # no conversation yet: every chat call is made
    for route, body in (
        (AVAILABILITY, availability),
        (FOR_MEMBERS, recorded_body(payloads, "c_for_members.yml", FOR_MEMBERS[6:])),
        (SEND, recorded_body(payloads, "c_send.yml", SEND[6:])),
    ):
        if route == path:
            httpserver.expect_request(route).respond_with_response(answer)
        else:
            httpserver.expect_request(route).respond_with_json(body)
    connector = connector_for(service=service(httpserver), with_account=True)

    with pytest.raises(error, match=message) as caught:
        await connector.direct_message(THEIR_DID, "Hei")

    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 9


# -- reading direct messages ------------------------------------------------------------------

LIST = "/xrpc/chat.bsky.convo.listConvos"
MESSAGES = "/xrpc/chat.bsky.convo.getMessages"
NOTIFICATIONS = "/xrpc/app.bsky.notification.listNotifications"


async def poll(connector: Any, db: Database, channel: ChannelRef, cursor: dict) -> IngestResult:
    total = IngestResult()
    async for batch in connector.listen(cursor):
        total.add(
            await Pipeline(db).ingest(
                channel, batch.items, connector.normalise, cursor=batch.cursor
            )
        )
    return total


def serve_chat_inbox(server: HTTPServer, payloads: Path) -> dict[str, Any]:
    """listConvos and getMessages as recorded; a second page of messages is empty. Returns
    the recorded getMessages body."""
    server.expect_request(NOTIFICATIONS).respond_with_json({"notifications": []})
    server.expect_request(LIST).respond_with_json(recorded_body(payloads, "c_list.yml", LIST[6:]))
    messages = recorded_body(payloads, "c_messages.yml", MESSAGES[6:])

    def page(request: Request) -> Response:
        body = {"messages": []} if "cursor" in request.args else messages
        return Response(json.dumps(body), content_type="application/json")

    server.expect_request(MESSAGES).respond_with_handler(page)
    return messages


async def test_direct_messages_since_the_cursor_thread_per_contact_and_own_ones_are_skipped(
    httpserver: HTTPServer, payloads: Path, db: Database, channel: ChannelRef
) -> None:
    serve_session(httpserver, payloads)
    recorded_messages = serve_chat_inbox(httpserver, payloads)["messages"]
    connector = connector_for(
        service=service(httpserver), with_account=True, stream=False, direct_messages=True
    )
    oldest = min(m["rev"] for m in recorded_messages)
    before_all = oldest[:-1] + chr(ord(oldest[-1]) - 1)

    result = await poll(connector, db, channel, {"dms": before_all})

    theirs = [m for m in recorded_messages if m["sender"]["did"] == THEIR_DID]
    assert result.accepted == len(theirs) == 2
    assert result.ignored == len(recorded_messages) - len(theirs)  # the account's own
    async with db.read() as session:
        stored = list(await session.scalars(select(Message).order_by(Message.created_at)))
        conversations = list(await session.scalars(select(Conversation)))
        row = await session.get(Channel, channel.id)
    assert [m.text for m in stored] == ["Test test test", "Can you hear me?"]
    assert {m.kind for m in stored} == {"dm"}
    assert {m.url for m in stored} == {f"https://bsky.app/messages/{CONVO}"}
    assert stored[0].extra["author"]["handle"] == "chriskenny.bsky.social"
    assert len(conversations) == 1 and conversations[0].thread_key.startswith("dm:")
    assert row is not None and row.cursor["dms"] == max(m["rev"] for m in recorded_messages)
    (listed,) = calls(httpserver, LIST)
    assert listed.headers["atproto-proxy"] == CHAT_PROXY


async def test_a_new_channel_starts_with_each_conversations_last_message(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_session(httpserver, payloads)
    serve_chat_inbox(httpserver, payloads)
    connector = connector_for(
        service=service(httpserver), with_account=True, stream=False, direct_messages=True
    )

    batches = [b async for b in connector.listen({})]

    listed = recorded_body(payloads, "c_list.yml", LIST[6:])["convos"]
    assert [i.payload["message"] for b in batches for i in b.items] == [
        c["lastMessage"] for c in listed
    ]
    assert batches[-1].cursor == {"dms": listed[0]["lastMessage"]["rev"]}
    assert calls(httpserver, MESSAGES) == []


async def test_a_conversation_that_has_not_moved_is_not_read_again(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_session(httpserver, payloads)
    serve_chat_inbox(httpserver, payloads)
    connector = connector_for(
        service=service(httpserver), with_account=True, stream=False, direct_messages=True
    )
    convo_rev = recorded_body(payloads, "c_list.yml", LIST[6:])["convos"][0]["rev"]

    batches = [b async for b in connector.listen({"dms": convo_rev})]

    assert batches == []
    assert calls(httpserver, MESSAGES) == []


async def test_an_app_password_without_dm_access_leaves_the_rest_of_the_channel_working(
    httpserver: HTTPServer, payloads: Path, caplog: pytest.LogCaptureFixture
) -> None:
    serve_session(httpserver, payloads)
    notifications = recorded_body(payloads, "n_notifications.yml", NOTIFICATIONS[6:])
    httpserver.expect_request(NOTIFICATIONS).respond_with_json(notifications)
    httpserver.expect_request(LIST).respond_with_response(
        _json(400, {"error": "InvalidToken", "message": "Bad token scope"})
    )
    connector = connector_for(
        service=service(httpserver), with_account=True, stream=False, direct_messages=True
    )

    first = [b async for b in connector.listen({})]
    again = [b async for b in connector.listen(first[-1].cursor or {})]

    assert first and {i.source for b in first + again for i in b.items} == {"notifications"}
    assert len(calls(httpserver, LIST)) == 1  # not asked again
    assert "direct messages are not read" in caplog.text
