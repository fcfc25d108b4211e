from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from allsang.connectors.base import (
    AuthExpired,
    Batch,
    ChannelContext,
    PermanentError,
    RateLimited,
    TransientError,
)
from allsang.connectors.registry import GROUP
from allsang.connectors.rss import RssConnector
from allsang.ingest.message import InvalidMessage, NormalisedMessage

FIXTURES = Path(__file__).resolve().parents[3] / "src/allsang/connectors/rss/fixtures"
FEED = "/feed.xml"


def connector_for(server: HTTPServer, **config: Any) -> RssConnector:
    credentials = config.pop("credentials", {})
    return RssConnector(
        ChannelContext(
            channel_id=1,
            account="",
            config={"url": server.url_for(FEED), "timeout": 2.0, **config},
            credentials=credentials,
        )
    )


async def listen(connector: RssConnector, cursor: dict[str, Any]) -> list[Batch]:
    return [batch async for batch in connector.listen(cursor)]


def messages(connector: RssConnector, batches: list[Batch]) -> list[NormalisedMessage]:
    found = []
    for batch in batches:
        for item in batch.items:
            message = connector.normalise(item)
            assert message is not None
            found.append(message)
    return found


def serve(server: HTTPServer, body: bytes, content_type: str = "application/rss+xml") -> None:
    server.expect_request(FEED).respond_with_data(body, content_type=content_type)


def test_the_connector_is_registered_under_its_network_name() -> None:
    (entry,) = entry_points(group=GROUP, name="rss")
    assert entry.load() is RssConnector


async def test_it_normalises_a_recorded_rss_item(httpserver: HTTPServer, payloads: Path) -> None:
    serve(httpserver, (payloads / "home-assistant-feedreader/feedreader.xml").read_bytes())
    connector = connector_for(httpserver)
    (message,) = messages(connector, await listen(connector, {}))

    assert message.channel == "rss"
    assert message.kind == "article"
    assert message.external_id == "GUID 1"
    assert message.url == "http://www.example.com/link/1"
    assert message.text == "Title 1\n\nContent 1"
    assert message.created_at == datetime(2018, 4, 30, 5, 10, tzinfo=UTC)
    assert message.author.handle == "www.example.com"
    assert message.author.name == "RSS Sample"
    assert message.author.url == "http://www.example.com/main.html"
    assert message.extras()["title"] == "Title 1"
    assert message.extras()["date_from"] == "published"
    assert message.lang is None


async def test_entities_in_cdata_titles_become_characters(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve(httpserver, (payloads / "home-assistant-feedreader/feedreader9.xml").read_bytes())
    connector = connector_for(httpserver)
    message = messages(connector, await listen(connector, {}))[0]
    assert message.extras()["title"] == "Título 1"
    assert "&" not in message.text


async def test_an_atom_entry_without_an_id_is_hashed_and_escaped_markup_loses_its_tags(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve(
        httpserver,
        (payloads / "feedparser/wellformed/atom10/entry_content_escaped_markup.xml").read_bytes(),
        "application/atom+xml",
    )
    connector = connector_for(httpserver)
    before = datetime.now(UTC)
    (message,) = messages(connector, await listen(connector, {}))
    assert message.text == "Example Atom"
    # No id, link, title or date: the entry is identified by a hash of what it has, and the
    # fetch time stands in for its date, which the extras say.
    assert message.external_id.startswith("sha256:")
    assert message.extras()["date_from"] == "fetched"
    assert message.created_at >= before - timedelta(seconds=1)


async def test_undated_entries_fall_back_to_the_fetch_time_and_say_so(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve(httpserver, (payloads / "home-assistant-feedreader/feedreader3.xml").read_bytes())
    connector = connector_for(httpserver)
    found = {m.external_id: m for m in messages(connector, await listen(connector, {}))}
    assert found["GUID 1"].extras()["date_from"] == "published"
    assert found["GUID 2"].extras()["date_from"] == "fetched"
    assert found["GUID 3"].text == "Content 3"  # no title: the text is the content alone


async def test_entries_are_offered_oldest_first(httpserver: HTTPServer, payloads: Path) -> None:
    serve(httpserver, (payloads / "home-assistant-feedreader/feedreader11.xml").read_bytes())
    connector = connector_for(httpserver)
    titles = [m.extras()["title"] for m in messages(connector, await listen(connector, {}))]
    assert titles == ["Title 1", "Title 2", "Title 3"]


async def test_a_latin1_feed_with_a_charset_header_decodes_correctly(
    httpserver: HTTPServer,
) -> None:
    serve(
        httpserver,
        (FIXTURES / "pressrum-latin1.xml").read_bytes(),
        "application/rss+xml; charset=iso-8859-1",
    )
    connector = connector_for(httpserver)
    older, newer = messages(connector, await listen(connector, {}))
    assert older.text == "Pressträff om budgeten\n\nKommunstyrelsen bjuder in till pressträff."
    assert newer.text == (
        "Nya öppettider på biblioteket\n\nFrån måndag har biblioteket öppet längre.\n\nVälkomna!"
    )
    assert newer.lang == "sv"
    assert newer.created_at == datetime(2026, 11, 17, 8, 30, tzinfo=timezone(timedelta(hours=1)))
    assert newer.author.name == "Pressrum - Kommunen"
    assert newer.author.handle == "kommun.example"


async def test_an_undeclared_koi8_feed_decodes_by_the_http_charset(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve(
        httpserver,
        (payloads / "feedparser/illformed/chardet/koi8r.xml").read_bytes(),
        "application/rss+xml; charset=koi8-r",
    )
    connector = connector_for(httpserver)
    (message,) = messages(connector, await listen(connector, {}))
    assert message.extras()["title"] == "Как пережить новогоднюю ночь"


async def test_windows_1252_code_points_in_utf8_become_smart_quotes(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve(httpserver, (payloads / "feedparser/encoding/demoronize-1.xml").read_bytes())
    connector = connector_for(httpserver)
    (message,) = messages(connector, await listen(connector, {}))
    assert message.text == "don\u2019t"


# -- conditional GET and GUID dedupe ------------------------------------------------------


async def test_an_unchanged_feed_answers_304_and_keeps_the_cursor(
    httpserver: HTTPServer, payloads: Path
) -> None:
    body = (payloads / "feedparser/wellformed/http/headers_etag.xml").read_bytes()

    def conditional(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"foo"':
            return Response(status=304)
        return Response(body, content_type="application/atom+xml", headers={"ETag": '"foo"'})

    httpserver.expect_request(FEED).respond_with_handler(conditional)
    connector = connector_for(httpserver)
    (first,) = await listen(connector, {})
    assert first.items == [] and first.cursor == {"seen": [], "etag": '"foo"'}
    (second,) = await listen(connector, first.cursor or {})
    assert second.items == [] and second.cursor == first.cursor
    assert [r.headers.get("If-None-Match") for r, _ in httpserver.log] == [None, '"foo"']


async def test_last_modified_is_sent_back_as_if_modified_since(
    httpserver: HTTPServer, payloads: Path
) -> None:
    body = (payloads / "feedparser/wellformed/http/headers_last_modified-modified.xml").read_bytes()
    stamp = "Mon, 03 Apr 2023 01:02:03 GMT"

    def conditional(request: Request) -> Response:
        if request.headers.get("If-Modified-Since") == stamp:
            return Response(status=304)
        return Response(body, content_type="application/atom+xml", headers={"Last-Modified": stamp})

    httpserver.expect_request(FEED).respond_with_handler(conditional)
    connector = connector_for(httpserver)
    (first,) = await listen(connector, {})
    assert first.cursor == {"seen": [], "modified": stamp}
    (second,) = await listen(connector, first.cursor or {})
    assert second.cursor == first.cursor and httpserver.log[-1][1].status_code == 304


async def test_entries_already_seen_are_not_offered_again(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve(httpserver, (payloads / "home-assistant-feedreader/feedreader.xml").read_bytes())
    connector = connector_for(httpserver)
    (first,) = await listen(connector, {})
    assert [i.payload["entry"]["id"] for i in first.items] == ["GUID 1"]
    httpserver.clear()
    serve(httpserver, (payloads / "home-assistant-feedreader/feedreader3.xml").read_bytes())
    (second,) = await listen(connector, first.cursor or {})
    assert sorted(i.payload["entry"]["id"] for i in second.items) == ["GUID 2", "GUID 3"]
    assert (second.cursor or {})["seen"] == ["GUID 1", "GUID 2", "GUID 3"]
    (third,) = await listen(connector, second.cursor or {})
    assert third.items == []


async def test_large_fetches_come_in_batches_and_only_the_last_carries_the_etag(
    httpserver: HTTPServer, payloads: Path
) -> None:
    body = (payloads / "home-assistant-feedreader/feedreader2.xml").read_bytes()
    httpserver.expect_request(FEED).respond_with_data(
        body, content_type="application/rss+xml", headers={"ETag": '"v2"'}
    )
    connector = connector_for(httpserver, batch_size=10, remember=15)
    batches = await listen(connector, {})
    assert [len(b.items) for b in batches] == [10, 10, 1]
    assert ["etag" in (b.cursor or {}) for b in batches] == [False, False, True]
    assert len((batches[-1].cursor or {})["seen"]) == 15


# -- malformed and faulty feeds -----------------------------------------------------------


async def test_a_malformed_feed_still_yields_what_could_be_parsed(httpserver: HTTPServer) -> None:
    serve(httpserver, (FIXTURES / "truncated.xml").read_bytes())
    connector = connector_for(httpserver)
    first, second = messages(connector, await listen(connector, {}))
    assert first.text == "Första inlägget\n\nHej & välkommen"
    assert second.external_id == "https://blogg.example/2"
    assert connector.warnings and "malformed feed" in connector.warnings[0]


async def test_an_entry_with_nothing_to_identify_it_is_refused(
    httpserver: HTTPServer, payloads: Path
) -> None:
    serve(httpserver, (payloads / "feedparser/illformed/rss_incomplete_cdata.xml").read_bytes())
    connector = connector_for(httpserver)
    (batch,) = await listen(connector, {})
    (item,) = batch.items
    with pytest.raises(InvalidMessage, match="no id, link, title, date or text"):
        connector.normalise(item)


async def test_an_unparseable_body_is_transient(httpserver: HTTPServer, payloads: Path) -> None:
    serve(httpserver, (payloads / "feedparser/illformed/aaa_illformed.xml").read_bytes()[:40])
    with pytest.raises(TransientError, match="could not be parsed"):
        await listen(connector_for(httpserver), {})


async def test_a_web_page_instead_of_a_feed_is_permanent(httpserver: HTTPServer) -> None:
    serve(httpserver, b"<html><body><p>Moved", "text/html; charset=utf-8")
    with pytest.raises(PermanentError, match="web page"):
        await listen(connector_for(httpserver), {})


async def test_invalid_utf8_in_a_feed_is_replaced_not_fatal(httpserver: HTTPServer) -> None:
    body = (FIXTURES / "truncated.xml").read_bytes().replace(b"Hej", b"H\xffj")
    serve(httpserver, body, "application/rss+xml; charset=utf-8")
    connector = connector_for(httpserver)
    first = messages(connector, await listen(connector, {}))[0]
    assert first.text == "Första inlägget\n\nH\ufffdj & välkommen"
    assert connector.warnings[0] == "invalid UTF-8 bytes replaced with U+FFFD"


async def test_a_ten_megabyte_body_is_refused_without_reading_it_all(
    httpserver: HTTPServer,
) -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        yield b'<?xml version="1.0"?><rss version="2.0"><channel>'
        for _ in range(200):
            sent.append(1)
            yield b"<item><title>" + b"x" * 100_000 + b"</title></item>"

    httpserver.expect_request(FEED).respond_with_handler(
        lambda request: Response(endless(), content_type="application/rss+xml")
    )
    with pytest.raises(PermanentError, match="larger than 10485760 bytes"):
        await listen(connector_for(httpserver), {})
    assert len(sent) < 200


async def test_a_declared_oversize_body_is_refused_at_once(httpserver: HTTPServer) -> None:
    serve(httpserver, b"<rss>" + b" " * 2048 + b"</rss>")
    with pytest.raises(PermanentError, match="declared"):
        await listen(connector_for(httpserver, max_bytes=1024), {})


async def test_a_429_is_rate_limited_for_as_long_as_retry_after_says(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request(FEED).respond_with_data(
        "slow down", status=429, headers={"Retry-After": "120"}
    )
    with pytest.raises(RateLimited) as caught:
        await listen(connector_for(httpserver), {})
    assert caught.value.retry_after == 120.0


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_transient(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request(FEED).respond_with_data("down", status=status)
    with pytest.raises(TransientError) as caught:
        await listen(connector_for(httpserver), {})
    assert not isinstance(caught.value, RateLimited)


async def test_a_timeout_is_transient(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("<rss/>")

    httpserver.expect_request(FEED).respond_with_handler(slow)
    with pytest.raises(TransientError, match="timed out"):
        await listen(connector_for(httpserver, timeout=0.2), {})


async def test_a_missing_feed_is_permanent(httpserver: HTTPServer) -> None:
    httpserver.expect_request(FEED).respond_with_data("gone", status=404)
    with pytest.raises(PermanentError, match="404"):
        await listen(connector_for(httpserver), {})


async def test_refused_credentials_need_reconnecting(httpserver: HTTPServer) -> None:
    httpserver.expect_request(FEED).respond_with_data("no", status=401)
    connector = connector_for(httpserver, credentials={"username": "u", "password": "p"})
    with pytest.raises(AuthExpired):
        await listen(connector, {})
    assert httpserver.log[0][0].authorization is not None


def test_a_channel_without_an_http_url_is_a_configuration_error() -> None:
    with pytest.raises(PermanentError):
        RssConnector(ChannelContext(channel_id=1, account="", config={"url": "ftp://x/feed"}))
