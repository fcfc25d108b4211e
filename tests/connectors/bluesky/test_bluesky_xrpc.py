"""XRPC through the atproto SDK against pytest-httpserver replaying recorded bsky.social
responses (bskyr cassettes and bodies)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from allsang.connectors.base import AuthExpired, PermanentError, RateLimited, TransientError
from allsang.db import Database
from allsang.db.models import Channel, Conversation, Message
from allsang.ingest.pipeline import ChannelRef, IngestResult, Pipeline
from tests.connectors.bluesky.conftest import (
    connector_for,
    make_jwt,
    recorded_body,
    serve_session,
)

NOTIFICATIONS = "/xrpc/app.bsky.notification.listNotifications"
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
CREATE = "/xrpc/com.atproto.repo.createRecord"


def search_body(payloads: Path) -> dict[str, Any]:
    folder = payloads / "bskyr/t/f/search/bsky.social/xrpc"
    return json.loads(next(folder.glob("app.bsky.feed.searchPosts-*.json")).read_text())


def service(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")


async def poll(connector: Any, db: Database, channel: ChannelRef, cursor: dict) -> IngestResult:
    total = IngestResult()
    async for batch in connector.listen(cursor):
        total.add(
            await Pipeline(db).ingest(
                channel, batch.items, connector.normalise, cursor=batch.cursor
            )
        )
    return total


async def test_mentions_replies_and_quotes_open_conversations_and_likes_are_ignored(
    httpserver: HTTPServer, payloads: Path, db: Database, channel: ChannelRef
) -> None:
    serve_session(httpserver, payloads)
    notifications = recorded_body(
        payloads, "n_notifications.yml", "app.bsky.notification.listNotifications"
    )
    httpserver.expect_request(NOTIFICATIONS).respond_with_json(notifications)
    connector = connector_for(service=service(httpserver), with_account=True, stream=False)

    first = await poll(connector, db, channel, {})

    addressed = [n for n in notifications["notifications"] if n["reason"] in ("mention", "quote")]
    assert first.accepted == len(addressed) and first.quarantined == 0
    assert first.ignored == len(notifications["notifications"]) - len(addressed)
    async with db.read() as session:
        messages = list(await session.scalars(select(Message)))
        conversations = list(await session.scalars(select(Conversation)))
        row = await session.get(Channel, channel.id)
    assert {m.external_id for m in messages} == {n["uri"] for n in addressed}
    assert all(m.extra["addressed"] for m in messages)
    assert len(conversations) == len(messages)
    assert row is not None
    assert row.cursor == {"notifications": notifications["notifications"][0]["indexedAt"]}
    expiry = connector.token_expires_at
    assert expiry is not None
    assert abs(expiry - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=1)

    again = await poll(connector, db, channel, row.cursor)
    assert again.accepted == 0


async def test_keyword_search_stores_posts_with_handles_and_threads(
    httpserver: HTTPServer, payloads: Path, db: Database, channel: ChannelRef
) -> None:
    serve_session(httpserver, payloads)
    httpserver.expect_request(NOTIFICATIONS).respond_with_json({"notifications": []})
    body = search_body(payloads)
    httpserver.expect_request(
        SEARCH, query_string={"q": "redistricting", "sort": "latest", "limit": "50"}
    ).respond_with_json(body)
    connector = connector_for(
        service=service(httpserver), with_account=True, stream=False, keywords=["redistricting"]
    )

    result = await poll(connector, db, channel, {})

    assert result.accepted == len(body["posts"])
    async with db.read() as session:
        first = await session.scalar(
            select(Message).where(Message.external_id == body["posts"][0]["uri"])
        )
    assert first is not None
    assert first.extra["author"]["handle"] == "planetcarnival.bsky.social"
    assert first.in_reply_to == body["posts"][0]["record"]["reply"]["parent"]["uri"]


async def test_a_reply_carries_the_threads_root_and_parent_strong_refs(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_session(httpserver, payloads)
    parent = recorded_body(payloads, "f_getposts.yml", "app.bsky.feed.getPosts")["posts"][0]
    parent["record"]["reply"] = {
        "root": {"uri": "at://did:plc:root/app.bsky.feed.post/3root", "cid": "bafyroot"},
        "parent": {"uri": "at://did:plc:mid/app.bsky.feed.post/3mid", "cid": "bafymid"},
    }
    httpserver.expect_request("/xrpc/app.bsky.feed.getPosts").respond_with_json({"posts": [parent]})
    created = recorded_body(payloads, "r_post_reply.yml", "com.atproto.repo.createRecord")
    posted: list[dict[str, Any]] = []

    def create(request: Request) -> Response:
        posted.append(request.get_json())
        return Response(json.dumps(created), content_type="application/json")

    httpserver.expect_request(CREATE, method="POST").respond_with_handler(create)
    connector = connector_for(service=service(httpserver), with_account=True)

    sent = await connector.reply(parent["uri"], "Takk for spørsmålet!")

    record = posted[0]["record"]
    refs = {k: {f: record["reply"][k][f] for f in ("uri", "cid")} for k in ("root", "parent")}
    assert posted[0]["repo"] == "did:plc:5c2r73erhng4bszmxlfdtscf"
    assert record["text"] == "Takk for spørsmålet!"
    assert refs["parent"] == {"uri": parent["uri"], "cid": parent["cid"]}
    assert refs["root"] == {
        "uri": "at://did:plc:root/app.bsky.feed.post/3root",
        "cid": "bafyroot",
    }
    assert sent.external_id == created["uri"]
    assert (
        sent.url == "https://bsky.app/profile/did:plc:5c2r73erhng4bszmxlfdtscf/post/3lprdue7ggw26"
    )


async def test_publish_creates_a_post_record(httpserver: HTTPServer, payloads: Path) -> None:
    serve_session(httpserver, payloads)
    created = recorded_body(payloads, "r_post_text.yml", "com.atproto.repo.createRecord")
    httpserver.expect_request(CREATE, method="POST").respond_with_json(created)
    connector = connector_for(service=service(httpserver), with_account=True)

    sent = await connector.publish("Hei fra Allsang", idempotency_key="post-1")

    assert sent.external_id == created["uri"]


async def test_an_invalid_record_is_a_permanent_error(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_session(httpserver, payloads)
    error = recorded_body(payloads, "r_post_errors.yml", "com.atproto.repo.createRecord")
    httpserver.expect_request(CREATE, method="POST").respond_with_json(error, status=400)
    connector = connector_for(service=service(httpserver), with_account=True)

    with pytest.raises(PermanentError, match="300 graphemes"):
        await connector.publish("x" * 400, idempotency_key="post-2")


async def test_an_expired_token_is_refreshed_once_and_the_call_retried(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_session(httpserver, payloads)
    expired = {"error": "ExpiredToken", "message": "Token has expired"}
    httpserver.expect_oneshot_request(NOTIFICATIONS).respond_with_json(expired, status=400)
    httpserver.expect_request(NOTIFICATIONS).respond_with_json({"notifications": []})
    fresh = make_jwt(time.time() + 3 * 3600)
    httpserver.expect_request(
        "/xrpc/com.atproto.server.refreshSession", method="POST"
    ).respond_with_json(
        {
            "did": "did:plc:5c2r73erhng4bszmxlfdtscf",
            "handle": "bskyr.bsky.social",
            "accessJwt": fresh,
            "refreshJwt": make_jwt(time.time() + 90 * 86400),
        }
    )
    connector = connector_for(service=service(httpserver), with_account=True, stream=False)

    batches = [b async for b in connector.listen({})]

    assert batches == []
    refreshed = connector.token_expires_at
    assert refreshed is not None and refreshed > datetime.now(UTC) + timedelta(hours=2, minutes=50)


async def test_a_token_that_stays_expired_after_renewal_is_auth_expired(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_session(httpserver, payloads)
    expired = {"error": "ExpiredToken", "message": "Token has expired"}
    httpserver.expect_request(NOTIFICATIONS).respond_with_json(expired, status=401)
    httpserver.expect_request(
        "/xrpc/com.atproto.server.refreshSession", method="POST"
    ).respond_with_json(expired, status=400)
    connector = connector_for(service=service(httpserver), with_account=True, stream=False)

    with pytest.raises(AuthExpired):
        async for _ in connector.listen({}):
            pass


async def test_a_refused_app_password_is_auth_expired(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/xrpc/com.atproto.server.createSession", method="POST"
    ).respond_with_json(
        {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
        status=401,
    )
    connector = connector_for(service=service(httpserver), with_account=True)

    with pytest.raises(AuthExpired, match="Invalid identifier or password"):
        await connector.verify()


def _rate_limited(request: Request) -> Response:
    reset = int(time.time()) + 120
    return Response(
        json.dumps({"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}),
        status=429,
        headers={
            "RateLimit-Limit": "3000",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(reset),
        },
        content_type="application/json",
    )


def _stalled(request: Request) -> Response:
    time.sleep(1.5)
    return Response("{}", content_type="application/json")


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (lambda r: Response("upstream down", status=503), TransientError, "503"),
        (
            lambda r: Response("{broken", content_type="application/json"),
            TransientError,
            "malformed",
        ),
        (
            lambda r: Response(b'{"notifications": "\xff\xfe"}', content_type="application/json"),
            TransientError,
            "malformed",
        ),
        (
            lambda r: Response(
                b'{"notifications": []' + b" " * (10 * 1024 * 1024) + b"}",
                content_type="application/json",
            ),
            TransientError,
            "larger than",
        ),
        (_stalled, TransientError, "unreachable: .*Timeout"),
    ],
    ids=["5xx", "malformed-json", "invalid-utf8", "10mb-body", "timeout"],
)
async def test_faults_on_a_poll_are_typed_errors(
    httpserver: HTTPServer,
    payloads: Path,
    answer: Any,
    error: type[Exception],
    message: str,
) -> None:
    serve_session(httpserver, payloads)
    httpserver.expect_request(NOTIFICATIONS).respond_with_handler(answer)
    connector = connector_for(
        service=service(httpserver), with_account=True, stream=False, timeout=0.5
    )

    with pytest.raises(error, match=message):
        async for _ in connector.listen({}):
            pass


async def test_a_429_waits_until_the_rate_limit_resets(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_session(httpserver, payloads)
    httpserver.expect_request(NOTIFICATIONS).respond_with_handler(_rate_limited)
    connector = connector_for(service=service(httpserver), with_account=True, stream=False)

    with pytest.raises(RateLimited) as caught:
        async for _ in connector.listen({}):
            pass
    assert 110 <= caught.value.retry_after <= 121


async def test_a_429_with_retry_after_waits_that_long(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_session(httpserver, payloads)
    httpserver.expect_request(NOTIFICATIONS).respond_with_response(
        Response(
            '{"error": "RateLimitExceeded"}',
            status=429,
            headers={"Retry-After": "7"},
            content_type="application/json",
        )
    )
    connector = connector_for(service=service(httpserver), with_account=True, stream=False)

    with pytest.raises(RateLimited) as caught:
        async for _ in connector.listen({}):
            pass
    assert caught.value.retry_after == 7
