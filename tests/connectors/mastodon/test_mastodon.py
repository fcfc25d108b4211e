from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from allsang.connectors.base import (
    AuthExpired,
    Batch,
    PermanentError,
    RateLimited,
    RawItem,
    TransientError,
)
from allsang.connectors.mastodon import MastodonConnector
from allsang.connectors.mastodon.auth import (
    OAuthApp,
    authorize_url,
    exchange_code,
    instance_url,
    register_app,
)
from allsang.connectors.mastodon.normalise import normalise_payload
from allsang.connectors.registry import GROUP
from allsang.ingest.message import InvalidMessage
from tests.connectors.conftest import (
    broken_stream,
    load_cassette,
    serve_cassette,
    sse,
    sse_events,
)
from tests.connectors.mastodon.conftest import (
    FakeMastodon,
    connector_for,
    fixture,
    recorded,
)


async def collect(batches: AsyncIterator[Batch], limit: int = 50) -> list[Batch]:
    found = []
    async for batch in batches:
        found.append(batch)
        if len(found) >= limit:
            break
    return found


def items(batches: list[Batch]) -> list[Any]:
    return [item.payload for batch in batches for item in batch.items]


def test_the_connector_is_registered_under_its_network_name() -> None:
    (entry,) = entry_points(group=GROUP, name="mastodon")
    assert entry.load() is MastodonConnector
    assert MastodonConnector.network == "mastodon"


# -- normalisation --------------------------------------------------------------------------


async def test_it_takes_a_recorded_mention_from_the_notifications_endpoint(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_cassette(
        httpserver,
        payloads / "mastodon-py/test_notifications.yaml",
        only=lambda i: i.path == "/api/v1/notifications",
    )
    connector = connector_for(httpserver)
    batches = await collect(connector.listen({}))

    assert [b.cursor for b in batches] == [{"notifications": "20"}]
    message = connector.normalise(batches[0].items[0])
    assert message is not None
    host = f"{httpserver.host}:{httpserver.port}"
    assert message.external_id == "117020576916218297"
    assert message.kind == "post"
    assert message.author.handle == f"@admin@{host}"
    assert message.author.url == "http://localhost:3000/@admin"
    assert message.text == "@mastodonpy_test hello!"
    assert message.url == "http://localhost:3000/@admin/117020576916218297"
    assert message.created_at == datetime(2026, 8, 1, 13, 51, 39, 138000, tzinfo=UTC)
    assert message.in_reply_to is None
    assert message.lang == "en"
    assert message.addressed and message.direction == "inbound"
    assert message.extras()["notification_id"] == "20"
    request, _ = httpserver.log[0]
    assert request.args.getlist("types[]") == ["mention"]
    assert request.headers["Authorization"] == "Bearer __MASTODON_PY_TEST_ACCESS_TOKEN"


def test_it_normalises_the_documented_status_entity(payloads: Path) -> None:
    status = json.loads((payloads / "mastodon-docs/entities/Status.json").read_text())
    message = normalise_payload(status, instance_host="mastodon.social")
    assert message is not None
    assert message.author.handle == "@Gargron@mastodon.social"
    assert message.author.name == "Eugen"
    assert message.text == (
        '"I lost my inheritance with one wrong digit on my sort code"\n\n'
        "https://www.theguardian.com/money/2019/dec/07/"
        "i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code"
    )
    assert message.kind == "post" and not message.addressed
    assert message.created_at == datetime(2019, 12, 8, 3, 48, 33, 901000, tzinfo=UTC)
    assert message.extras()["visibility"] == "public"


def test_a_documented_notification_without_the_status_account_is_invalid(
    payloads: Path,
) -> None:
    notification = json.loads((payloads / "mastodon-docs/entities/Notification.1.json").read_text())
    with pytest.raises(InvalidMessage, match="status has no account"):
        normalise_payload(notification, instance_host="mastodon.social")


def test_a_reply_keeps_line_breaks_entities_media_and_its_parent() -> None:
    message = normalise_payload(fixture("reply_notification.json"), instance_host="h.example")
    assert message is not None
    assert message.kind == "reply"
    assert message.in_reply_to == "117020576916218297"
    assert message.text == "@mastodonpy_test Glömde en sak:\nöppettiderna & adressen?\n\nTack!"
    assert message.lang == "sv"
    assert message.extras()["media"] == [
        {
            "url": "http://localhost:3000/system/media/9/original/skylt.png",
            "alt": "Skylt med öppettider",
            "type": "image",
        }
    ]


def test_a_boost_counts_as_the_boosted_status() -> None:
    message = normalise_payload(fixture("boost.json"), instance_host="h.example")
    assert message is not None
    assert message.external_id == "117020700000000001"
    assert message.author.handle == "@ola@mastodon.example"
    assert message.author.name == "ola"
    assert message.text == "Lang tråd\n\nHei #allsang"
    assert message.extras()["boosted_by"] == "@kari@social.example"
    assert message.extras()["content_warning"] == "Lang tråd"
    assert message.extras()["tags"] == ["allsang"]


def test_recorded_direct_messages_become_dms_and_own_posts_outbound(payloads: Path) -> None:
    # The user stream of test_stream_user_direct: a DM reply to the account, and its own DM.
    events = {
        (event, json.loads(data)["id"]): json.loads(data)
        for event, data in sse_events(_stream_body(payloads))
        if data.startswith("{")
    }
    own = "@mastodonpy_test@localhost:3000"
    dm = normalise_payload(events[("notification", "16")], instance_host="localhost:3000")
    assert dm is not None
    assert (dm.kind, dm.in_reply_to, dm.author.handle) == (
        "dm",
        "117024236559579118",
        "@mastodonpy_test_2@localhost:3000",
    )
    assert dm.addressed and dm.direction == "inbound"
    mine = normalise_payload(
        events[("update", "117024236559579118")], instance_host="localhost:3000", own_handle=own
    )
    assert mine is not None
    assert (mine.kind, mine.direction) == ("dm", "outbound")
    favourite = {"id": "3", "type": "favourite", "account": {"acct": "x"}}
    assert normalise_payload(favourite, instance_host="h") is None


# -- listening: hashtags, keywords, paging ---------------------------------------------------


async def test_it_replays_a_recorded_hashtag_timeline(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_cassette(
        httpserver,
        payloads / "mastodon-py/test_hashtag_tl.yaml",
        only=lambda i: i.path.startswith("/api/v1/timelines/tag/"),
    )
    connector = connector_for(httpserver, hashtags=["#hoot"], notifications=False)
    batches = await collect(connector.listen({}))
    assert batches[-1].cursor == {"tag:hoot": "117020593741189701"}
    message = connector.normalise(batches[0].items[0])
    assert message is not None
    assert message.text == "#hoot (hashtag toot)"
    assert message.extras()["tags"] == ["hoot"]
    assert message.lang == "ja"
    assert not message.addressed


async def test_it_pages_forward_with_min_id_oldest_first_and_skips_nothing(
    fake: FakeMastodon, payloads: Path
) -> None:
    base = recorded(payloads, "test_hashtag_tl.yaml", "GET", "/api/v1/timelines/tag/hoot")[0]
    statuses = [{**base, "id": str(1000 + n)} for n in range(5)]
    fake.tag("hoot", statuses)
    fake.searches["allsang"] = [{**base, "id": "2000"}]
    connector = connector_for(
        fake.server, hashtags=["hoot"], keywords=["allsang"], notifications=False, page_size=2
    )

    batches = await collect(connector.listen({"tag:hoot": "1000", "search:allsang": "1999"}))

    assert [[s["id"] for s in (i.payload for i in b.items)] for b in batches] == [
        ["1001", "1002"],
        ["1003", "1004"],
        ["2000"],
    ]
    assert batches[-1].cursor == {"tag:hoot": "1004", "search:allsang": "2000"}
    tag_requests = [args for path, args in fake.requests if path.endswith("/hoot")]
    assert [r["min_id"] for r in tag_requests] == ["1000", "1002", "1004"]
    assert [args.get("type") for path, args in fake.requests if path == "/api/v2/search"] == [
        "statuses"
    ]


async def test_a_quiet_channel_yields_one_empty_batch_with_its_cursor(fake: FakeMastodon) -> None:
    batches = await collect(connector_for(fake.server).listen({"notifications": "9"}))
    assert [(b.items, b.cursor) for b in batches] == [([], {"notifications": "9"})]


async def test_it_learns_its_own_account_from_verify_credentials(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_cassette(httpserver, payloads / "mastodon-py/test_verify_credentials.yaml")
    connector = connector_for(httpserver, account="not-a-handle-yet")
    assert connector.own_handle == ""
    handle = await connector.verify()
    assert handle == f"@mastodonpy_test@{httpserver.host}:{httpserver.port}"
    assert connector.own_handle == handle


# -- converse and publish -------------------------------------------------------------------


async def test_publish_sends_the_idempotency_key_and_returns_what_was_sent(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_cassette(
        httpserver,
        payloads / "mastodon-py/test_status_post[None-None].yaml",
        only=lambda i: i.method == "POST",
    )
    sent = await connector_for(httpserver).publish("Toot!", idempotency_key="plan-42")
    assert sent.external_id == "117020585861958119"
    assert sent.url.endswith("/117020585861958119")
    assert sent.created_at is not None and sent.created_at.tzinfo is not None
    request, _ = httpserver.log[-1]
    assert request.headers["Idempotency-Key"] == "plan-42"
    assert request.form["status"] == "Toot!"
    assert request.form["visibility"] == "public"


async def test_a_reply_to_a_direct_message_stays_direct_and_mentions_the_author(
    fake: FakeMastodon, payloads: Path
) -> None:
    parent = recorded(payloads, "test_conversations.yaml", "POST", "/api/v1/statuses")
    fake.status(parent)
    reply = recorded(payloads, "test_status_reply.yaml", "POST", "/api/v1/statuses")
    fake.post_response = reply
    connector = connector_for(fake.server, account=f"@admin@{fake.host}")

    sent = await connector.reply(parent["id"], "Tack, vi hör av oss.")

    assert sent.external_id == reply["id"]
    (posted,) = fake.posted
    assert posted["visibility"] == "direct"
    assert posted["in_reply_to_id"] == parent["id"]
    assert posted["status"] == f"@mastodonpy_test_2@{fake.host} Tack, vi hör av oss."


async def test_a_direct_message_is_a_direct_status_to_the_handle(fake: FakeMastodon) -> None:
    fake.post_response = {"id": "5", "url": "", "created_at": "2026-08-01T10:00:00Z"}
    sent = await connector_for(fake.server).direct_message("kari@social.example", "Hej!")
    assert sent.external_id == "5"
    assert fake.posted[0]["status"] == "@kari@social.example Hej!"
    assert fake.posted[0]["visibility"] == "direct"


# -- errors ---------------------------------------------------------------------------------


async def test_a_429_is_rate_limited_for_as_long_as_retry_after_says(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/api/v1/notifications").respond_with_json(
        {"error": "Too many requests"}, status=429, headers={"Retry-After": "7"}
    )
    with pytest.raises(RateLimited) as caught:
        await collect(connector_for(httpserver).listen({}))
    assert caught.value.retry_after == 7.0


async def test_a_429_without_retry_after_waits_until_the_rate_limit_reset(
    httpserver: HTTPServer,
) -> None:
    reset = datetime.fromtimestamp(time.time() + 120, UTC).isoformat().replace("+00:00", "Z")
    httpserver.expect_request("/api/v1/notifications").respond_with_json(
        {"error": "Too many requests"}, status=429, headers={"X-RateLimit-Reset": reset}
    )
    with pytest.raises(RateLimited) as caught:
        await collect(connector_for(httpserver).listen({}))
    assert 100 < caught.value.retry_after <= 120


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_transient(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/api/v1/notifications").respond_with_data("busy", status=status)
    with pytest.raises(TransientError) as caught:
        await collect(connector_for(httpserver).listen({}))
    assert not isinstance(caught.value, RateLimited)


async def test_a_timeout_is_transient(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("[]", content_type="application/json")

    httpserver.expect_request("/api/v1/notifications").respond_with_handler(slow)
    with pytest.raises(TransientError, match="unreachable"):
        await collect(connector_for(httpserver, timeout=0.2).listen({}))


async def test_a_refused_connection_is_transient() -> None:
    from allsang.connectors.base import ChannelContext

    connector = MastodonConnector(
        ChannelContext(
            1,
            "@me@127.0.0.1:9",
            config={"instance": "http://127.0.0.1:9", "timeout": 1},
            credentials={"access_token": "t"},
        )
    )
    with pytest.raises(TransientError):
        await collect(connector.listen({}))


@pytest.mark.parametrize("status", [401, 403])
async def test_a_revoked_token_needs_reconnecting(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/api/v1/notifications").respond_with_json(
        {"error": "The access token was revoked"}, status=status
    )
    with pytest.raises(AuthExpired, match="revoked"):
        await collect(connector_for(httpserver).listen({}))


async def test_a_missing_status_is_permanent(httpserver: HTTPServer, payloads: Path) -> None:
    serve_cassette(httpserver, payloads / "mastodon-py/test_status_missing.yaml")
    with pytest.raises(PermanentError, match="not found"):
        await connector_for(httpserver).reply("0", "hello?")


async def test_an_empty_status_is_refused_permanently(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve_cassette(httpserver, payloads / "mastodon-py/test_status_empty.yaml")
    with pytest.raises(PermanentError, match="422"):
        await connector_for(httpserver).publish("", idempotency_key="k")


async def test_malformed_json_is_transient(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/notifications").respond_with_data(
        '[{"id": "1", "type": "ment', content_type="application/json"
    )
    with pytest.raises(TransientError, match="malformed"):
        await collect(connector_for(httpserver).listen({}))


async def test_invalid_utf8_in_a_body_is_replaced_not_fatal(
    httpserver: HTTPServer, payloads: Path
) -> None:
    notifications = recorded(payloads, "test_notifications.yaml", "GET", "/api/v1/notifications")
    body = json.dumps(notifications).encode().replace(b"hello!", b"hello \xff\xfe!")
    httpserver.expect_request("/api/v1/notifications").respond_with_data(
        body, content_type="application/json; charset=utf-8"
    )
    connector = connector_for(httpserver)
    batches = await collect(connector.listen({}))
    message = connector.normalise(batches[0].items[0])
    assert message is not None
    assert message.text == "@mastodonpy_test hello \ufffd\ufffd!"


# -- streaming ------------------------------------------------------------------------------


def _stream_body(payloads: Path) -> bytes:
    for interaction in load_cassette(payloads / "mastodon-py/test_stream_user_direct.yaml"):
        if interaction.path == "/api/v1/streaming/user":
            return interaction.body
    raise LookupError("no user stream recorded")


async def test_the_user_stream_delivers_mentions_and_advances_the_cursor(
    fake: FakeMastodon, payloads: Path
) -> None:
    fake.server.expect_request("/api/v1/streaming/user").respond_with_data(
        _stream_body(payloads), content_type="text/event-stream"
    )
    connector = connector_for(fake.server, streaming=True, reconnect_delay=0.01)
    batches = await collect(connector.listen({"notifications": "10"}), limit=3)

    # The catch-up poll (nothing new), then the stream's two mention notifications.
    assert batches[0].items == []
    assert [i.payload["id"] for b in batches[1:] for i in b.items] == ["14", "16"]
    assert [b.cursor for b in batches] == [
        {"notifications": "10"},
        {"notifications": "14"},
        {"notifications": "16"},
    ]
    request, _ = next(e for e in fake.server.log if e[0].path == "/api/v1/streaming/user")
    assert request.headers["Authorization"] == "Bearer __MASTODON_PY_TEST_ACCESS_TOKEN"


async def test_a_stream_dropped_mid_way_resumes_from_the_rest_since_id(
    fake: FakeMastodon, payloads: Path
) -> None:
    events = dict(
        ((e, json.loads(d)["id"]), d) for e, d in sse_events(_stream_body(payloads)) if "{" in d
    )
    first = events[("notification", "14")]
    missed = json.loads(events[("notification", "16")])
    fake.server.expect_oneshot_request("/api/v1/streaming/user").respond_with_handler(
        broken_stream([sse(("notification", first))])
    )
    fake.server.expect_request("/api/v1/streaming/user").respond_with_data(
        sse(), content_type="text/event-stream"
    )
    connector = connector_for(fake.server, streaming=True, reconnect_delay=0.01)

    async def deliver_missed_while_down(batches: AsyncIterator[Batch]) -> list[Batch]:
        found = []
        async for batch in batches:
            found.append(batch)
            if any(i.payload.get("id") == "14" for i in batch.items):
                fake.notifications.append(missed)  # arrives while the stream is down
            if any(i.payload.get("id") == "16" for i in batch.items):
                break
        return found

    batches = await deliver_missed_while_down(connector.listen({"notifications": "10"}))

    assert [i["id"] for i in items(batches)] == ["14", "16"]
    assert batches[-1].cursor == {"notifications": "16"}
    catch_ups = [args.get("min_id") for path, args in fake.requests if "notif" in path]
    assert catch_ups == ["10", "14"]


async def test_a_stream_that_cannot_be_opened_raises_the_typed_error(
    fake: FakeMastodon,
) -> None:
    fake.server.expect_request("/api/v1/streaming/user").respond_with_json(
        {"error": "The access token is invalid"}, status=401
    )
    connector = connector_for(fake.server, streaming=True)
    with pytest.raises(AuthExpired, match="invalid"):
        await collect(connector.listen({}))


async def test_malformed_json_in_the_stream_is_offered_for_quarantine(
    fake: FakeMastodon,
) -> None:
    fake.server.expect_request("/api/v1/streaming/user").respond_with_data(
        sse(("notification", '{"id": "30", "type": "ment')), content_type="text/event-stream"
    )
    connector = connector_for(fake.server, streaming=True, reconnect_delay=0.01)
    batches = await collect(connector.listen({"notifications": "29"}), limit=2)
    raw = batches[1].items[0]
    assert raw.payload == '{"id": "30", "type": "ment'
    assert batches[1].cursor == {"notifications": "29"}
    with pytest.raises(InvalidMessage):
        connector.normalise(raw)


async def test_a_ten_megabyte_status_is_refused_by_validation_not_a_crash(
    fake: FakeMastodon, payloads: Path
) -> None:
    notification = recorded(payloads, "test_notifications.yaml", "GET", "/api/v1/notifications")[0]
    notification["status"]["content"] = "<p>" + "x" * (10 * 1024 * 1024) + "</p>"
    fake.notifications.append(notification)
    connector = connector_for(fake.server)
    batches = await collect(connector.listen({}))
    with pytest.raises(InvalidMessage, match="text"):
        connector.normalise(RawItem(items(batches)[0]))


# -- OAuth ----------------------------------------------------------------------------------


async def test_connecting_an_account_registers_authorizes_and_exchanges_the_code(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/api/v1/apps", method="POST").respond_with_json(
        {"id": "1", "name": "Allsang", "client_id": "cid", "client_secret": "secret"}
    )
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(
        {"access_token": "tok", "token_type": "Bearer", "scope": "read write"}
    )
    instance = httpserver.url_for("/").rstrip("/")
    app = await register_app(
        instance, client_name="Allsang", redirect_uri="https://allsang.example/cb"
    )
    assert app == OAuthApp(instance, "cid", "secret", "https://allsang.example/cb")
    url = authorize_url(app, state="s1")
    assert url == (
        f"{instance}/oauth/authorize?client_id=cid&response_type=code"
        "&redirect_uri=https%3A%2F%2Fallsang.example%2Fcb&scope=read+write&state=s1"
    )
    assert await exchange_code(app, "the-code") == "tok"
    # The server is session-wide: count only the requests to this test's endpoints.
    apps, token = (
        request for request, _ in httpserver.log if request.path in ("/api/v1/apps", "/oauth/token")
    )
    assert apps.form["redirect_uris"] == "https://allsang.example/cb"
    assert token.form["grant_type"] == "authorization_code"
    assert token.form["code"] == "the-code"
    assert token.form["client_secret"] == "secret"


async def test_a_refused_code_is_an_auth_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "The code is invalid"}, status=401
    )
    app = OAuthApp(httpserver.url_for("/").rstrip("/"), "cid", "secret", "urn:x")
    with pytest.raises(AuthExpired, match="code is invalid"):
        await exchange_code(app, "bad")


def test_instance_urls_are_accepted_as_host_handle_or_url() -> None:
    assert instance_url("mastodon.social") == "https://mastodon.social"
    assert instance_url("@kari@mastodon.social") == "https://mastodon.social"
    assert instance_url("http://127.0.0.1:3000/") == "http://127.0.0.1:3000"
    with pytest.raises(PermanentError):
        instance_url("")
