"""X direct messages against pytest-httpserver replaying tweepy's recordings
(test_client_get_user, test_manage_and_lookup_direct_messages) and faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from allsang.connectors.base import AuthExpired, PermanentError, RateLimited
from tests.connectors.conftest import Interaction, response_for
from tests.connectors.x.conftest import connector_for, recorded

DMS = "test_manage_and_lookup_direct_messages.yaml"
RECORDED_PARTICIPANT = "750362064426721281"
USER_ID = "783214"  # @Twitter, as test_client_get_user recorded it
SEND = f"/2/dm_conversations/with/{USER_ID}/messages"


def serve_user(server: HTTPServer, payloads: Path) -> None:
    user = recorded(payloads, "test_client_get_user.yaml", "GET", "/2/users/by/username/Twitter")
    server.expect_request("/2/users/by/username/Twitter").respond_with_response(
        response_for(user, server)
    )


def recorded_send(payloads: Path) -> Interaction:
    path = f"/2/dm_conversations/with/{RECORDED_PARTICIPANT}/messages"
    return recorded(payloads, DMS, "POST", path)


def calls(server: HTTPServer, path: str) -> list[Request]:
    return [request for request, _ in server.log if request.path == path]


async def test_a_direct_message_goes_to_the_user_looked_up_by_username(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_user(httpserver, payloads)
    sent_dm = recorded_send(payloads)
    httpserver.expect_request(SEND, method="POST").respond_with_response(
        response_for(sent_dm, httpserver)
    )
    connector = connector_for(httpserver)

    sent = await connector.direct_message("@Twitter", "Testing 1")

    (request,) = calls(httpserver, SEND)
    assert request.get_json() == {"text": "Testing 1"}
    assert request.headers["Authorization"] == "Bearer test-user-access-token"
    answer = sent_dm.json()["data"]
    assert sent.external_id == answer["dm_event_id"] == "1585800613253812228"
    assert sent.url == f"https://x.com/messages/{answer['dm_conversation_id']}"
    # DM event ids are snowflakes: the time is in the id (the recording is of 2022-10-28).
    assert sent.created_at is not None
    assert sent.created_at.date() == datetime(2022, 10, 28, tzinfo=UTC).date()


async def test_an_unknown_username_is_a_permanent_error_and_nothing_is_sent(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/2/users/by/username/nobody_here").respond_with_json(
        {
            "errors": [
                {
                    "value": "nobody_here",
                    "detail": "Could not find user with username: [nobody_here].",
                    "title": "Not Found Error",
                    "resource_type": "user",
                    "parameter": "username",
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                }
            ]
        }
    )
    connector = connector_for(httpserver)

    with pytest.raises(PermanentError, match="X has no user @nobody_here"):
        await connector.direct_message("nobody_here", "Hei")

    assert [r.path for r, _ in httpserver.log if "dm_conversations" in r.path] == []


async def test_an_exhausted_dm_window_is_waited_out_before_the_next_message(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_user(httpserver, payloads)
    sent_dm = recorded_send(payloads)
    reset = int(time.time()) + 600
    headers = [
        (k, v)
        for k, v in response_for(sent_dm, httpserver).headers
        if not k.lower().startswith("x-rate-limit")
    ]
    headers += [("x-rate-limit-remaining", "0"), ("x-rate-limit-reset", str(reset))]
    httpserver.expect_request(SEND, method="POST").respond_with_response(
        Response(sent_dm.body, status=sent_dm.status, headers=headers)
    )
    connector = connector_for(httpserver)

    await connector.direct_message("Twitter", "Testing 1")
    with pytest.raises(RateLimited) as caught:
        await connector.direct_message("Twitter", "Testing 2")

    assert len(calls(httpserver, SEND)) == 1  # the second message never reached X
    assert 590 <= caught.value.retry_after <= 600


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (
            Response(
                '{"detail": "You are not permitted to send messages to this user.",'
                ' "title": "Forbidden", "status": 403}',
                status=403,
                content_type="application/json",
            ),
            PermanentError,
            "may not accept messages from this account.*dm.write.*not permitted",
        ),
        (
            Response(
                '{"title": "Unauthorized", "detail": "Unauthorized", "status": 401}',
                status=401,
                content_type="application/json",
            ),
            AuthExpired,
            "reconnect",
        ),
        (
            Response(
                '{"title": "Too Many Requests", "detail": "Too Many Requests"}',
                status=429,
                headers={"Retry-After": "31"},
                content_type="application/json",
            ),
            RateLimited,
            "Too Many Requests",
        ),
    ],
    ids=["recipient-or-scope-refuses", "401", "429"],
)
async def test_dm_faults_are_typed_errors(
    httpserver: HTTPServer,
    payloads: Path,
    answer: Response,
    error: type[Exception],
    message: str,
) -> None:
    serve_user(httpserver, payloads)
    httpserver.expect_request(SEND, method="POST").respond_with_response(answer)
    connector = connector_for(httpserver)

    with pytest.raises(error, match=message) as caught:
        await connector.direct_message("Twitter", "Hei")

    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 31
