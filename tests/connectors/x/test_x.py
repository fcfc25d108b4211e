"""The X connector against pytest-httpserver: own payloads, tweepy's recordings, faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from allsang.connectors.base import AuthExpired, PermanentError, RateLimited, TransientError
from allsang.connectors.x import XConnector
from allsang.db import Database
from allsang.db.models import Channel, Message, QuarantinedItem
from allsang.ingest.pipeline import ChannelRef, IngestResult, Pipeline
from tests.connectors.conftest import response_for
from tests.connectors.x.conftest import OWN_ID, connector_for, recorded

FIXTURES = Path(__file__).resolve().parents[3] / "src/allsang/connectors/x/fixtures"
MENTIONS = f"/2/users/{OWN_ID}/mentions"


async def ingest(
    connector: XConnector, db: Database, channel: ChannelRef, cursor: dict[str, Any]
) -> IngestResult:
    total = IngestResult()
    async for batch in connector.listen(cursor):
        total.add(
            await Pipeline(db).ingest(
                channel, batch.items, connector.normalise, cursor=batch.cursor
            )
        )
    return total


async def test_mentions_are_stored_threaded_and_resumed_with_since_id(
    httpserver: HTTPServer, db: Database, channel: ChannelRef
) -> None:
    asked: list[dict[str, str]] = []

    def mentions(request: Request) -> Response:
        asked.append(dict(request.args))
        body = (FIXTURES / "mentions.json").read_text() if len(asked) == 1 else '{"meta": {}}'
        return Response(body, content_type="application/json")

    httpserver.expect_request(MENTIONS).respond_with_handler(mentions)
    connector = connector_for(httpserver)

    first = await ingest(connector, db, channel, {})
    async with db.read() as session:
        stored = {m.external_id: m for m in await session.scalars(select(Message))}
        row = await session.get(Channel, channel.id)
    assert row is not None
    second = await ingest(connector, db, channel, row.cursor)

    assert first.accepted == 2 and second.accepted == 0
    question, answer = stored["1861000000000000001"], stored["1861000000000000002"]
    assert question.conversation_id is not None
    assert answer.conversation_id == question.conversation_id
    assert answer.in_reply_to == question.external_id and answer.kind == "reply"
    assert question.url == "https://x.com/olanordmann/status/1861000000000000001"
    assert question.extra["author"]["handle"] == "olanordmann"
    assert question.created_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert row.cursor == {"mentions": "1861000000000000002"}
    assert "since_id" not in asked[0]
    assert asked[1]["since_id"] == "1861000000000000002"
    assert asked[0]["expansions"] == "author_id"
    assert "created_at" in asked[0]["tweet.fields"]


async def test_recorded_search_results_without_authors_are_quarantined_with_the_reason(
    httpserver: HTTPServer, payloads: Path, db: Database, channel: ChannelRef
) -> None:
    search = recorded(
        payloads, "test_asyncclient_search_recent_tweets.yaml", "GET", "/2/tweets/search/recent"
    )
    httpserver.expect_request("/2/tweets/search/recent").respond_with_response(
        response_for(search, httpserver)
    )
    connector = connector_for(httpserver, mentions=False, queries=["Tweepy"])

    result = await ingest(connector, db, channel, {})

    assert result.quarantined == len(search.json()["data"]) and result.accepted == 0
    async with db.read() as session:
        reasons = set(await session.scalars(select(QuarantinedItem.reason)))
    assert reasons == {"tweet without author_id (request expansions=author_id)"}


async def test_verify_reads_the_recorded_account(httpserver: HTTPServer, payloads: Path) -> None:
    me = recorded(payloads, "test_client_get_me.yaml", "GET", "/2/users/me")
    httpserver.expect_request("/2/users/me").respond_with_response(response_for(me, httpserver))
    connector = connector_for(httpserver, user_id="")

    assert await connector.verify() == "TweepyDev"
    assert connector.user_id == "1072250532645998596"


async def test_publish_and_reply_post_tweets(httpserver: HTTPServer, payloads: Path) -> None:
    created = recorded(payloads, "test_client_create_and_delete_tweet.yaml", "POST", "/2/tweets")
    posted: list[dict[str, Any]] = []

    def create(request: Request) -> Response:
        posted.append(request.get_json())
        return response_for(created, httpserver)

    httpserver.expect_request("/2/tweets", method="POST").respond_with_handler(create)
    connector = connector_for(httpserver)

    sent = await connector.publish("Test Tweet", idempotency_key="post-1")
    await connector.reply("1861000000000000001", "Vi ser på det nå!")

    assert sent.external_id == "1456012973835788293"
    assert sent.created_at is not None and sent.created_at.year == 2021
    assert posted == [
        {"text": "Test Tweet"},
        {"text": "Vi ser på det nå!", "reply": {"in_reply_to_tweet_id": "1861000000000000001"}},
    ]


async def test_an_exhausted_window_is_waited_out_before_the_next_call(
    httpserver: HTTPServer, payloads: Path
) -> None:
    path = "/2/users/783214/mentions"
    mentions = recorded(payloads, "test_client_get_users_mentions.yaml", "GET", path)
    reset = int(time.time()) + 300
    recorded_headers = response_for(mentions, httpserver).headers
    headers = [(k, v) for k, v in recorded_headers if not k.lower().startswith("x-rate-limit")]
    headers += [("x-rate-limit-remaining", "0"), ("x-rate-limit-reset", str(reset))]
    response = Response(mentions.body, status=200, headers=headers)
    httpserver.expect_request(path).respond_with_response(response)
    connector = connector_for(httpserver, user_id="783214")

    batches = [b async for b in connector.listen({})]
    with pytest.raises(RateLimited) as caught:
        async for _ in connector.listen(batches[-1].cursor or {}):
            pass

    assert len(batches) == 1 and len(batches[0].items) == len(mentions.json()["data"])
    # Only this path counts: the server is shared by the session, and a request another test
    # left behind may land in its log.
    calls = [request for request, _ in httpserver.log if request.path == path]
    assert len(calls) == 1  # the second poll never reached the server
    assert 290 <= caught.value.retry_after <= 300


def _stalled(request: Request) -> Response:
    time.sleep(1.2)
    return Response("{}", content_type="application/json")


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (
            Response(
                '{"title": "Too Many Requests", "detail": "Too Many Requests"}',
                status=429,
                headers={
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": "9999999999",
                    "Retry-After": "42",
                },
                content_type="application/json",
            ),
            RateLimited,
            "Too Many Requests",
        ),
        (Response("<html>over capacity</html>", status=503), TransientError, "503"),
        (
            Response(
                '{"title": "Unauthorized", "detail": "Unauthorized"}',
                status=401,
                content_type="application/json",
            ),
            AuthExpired,
            "reconnect",
        ),
        (
            Response(
                '{"errors": [{"message": "Forbidden for this plan"}]}',
                status=403,
                content_type="application/json",
            ),
            PermanentError,
            "Forbidden for this plan",
        ),
        (Response("{not json", content_type="application/json"), TransientError, "malformed"),
        (
            Response(b'{"data": "\xff\xfe"}', content_type="application/json"),
            TransientError,
            "malformed",
        ),
        (
            Response(
                b'{"data": []' + b" " * (10 * 1024 * 1024) + b"}", content_type="application/json"
            ),
            TransientError,
            "larger than",
        ),
        (_stalled, TransientError, "in time"),
    ],
    ids=[
        "429",
        "5xx",
        "expired-token",
        "403",
        "malformed-json",
        "invalid-utf8",
        "10mb-body",
        "timeout",
    ],
)
async def test_faults_are_typed_errors(
    httpserver: HTTPServer, answer: Any, error: type[Exception], message: str
) -> None:
    if callable(answer) and not isinstance(answer, Response):
        httpserver.expect_request(MENTIONS).respond_with_handler(answer)
    else:
        httpserver.expect_request(MENTIONS).respond_with_response(answer)
    connector = connector_for(httpserver)

    with pytest.raises(error, match=message) as caught:
        async for _ in connector.listen({}):
            pass
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 42
