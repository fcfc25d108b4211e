"""Direct messages through Bluesky's chat service, against pytest-httpserver replaying the
recorded ``chat.bsky.convo.*`` answers (bskyr cassettes c_availability, c_for_members, c_send)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from allsang.connectors.base import AuthExpired, PermanentError, RateLimited
from allsang.connectors.bluesky.client import ChatNotAllowed
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

    assert httpserver.log == []


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
