"""Engagement of published statuses, read back from recorded Mastodon entities."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from allsang.connectors.base import AuthExpired, Engagement
from tests.connectors.conftest import load_cassette
from tests.connectors.mastodon.conftest import connector_for, recorded


async def test_it_reads_favourites_boosts_and_replies_of_each_status(
    httpserver: HTTPServer, payloads: Path
) -> None:
    status = recorded(payloads, "test_status.yaml", "GET", "/api/v1/statuses/117020583223442465")
    favourited = recorded(
        payloads,
        "test_status_fav_unfav.yaml",
        "POST",
        "/api/v1/statuses/117020586054490060/favourite",
    )
    status.update(favourites_count=12, reblogs_count=3, replies_count=2)
    httpserver.expect_request(f"/api/v1/statuses/{status['id']}").respond_with_json(status)
    httpserver.expect_request(f"/api/v1/statuses/{favourited['id']}").respond_with_json(favourited)

    found = await connector_for(httpserver).engagement([status["id"], favourited["id"]])

    assert found == {
        status["id"]: Engagement(likes=12, reposts=3, replies=2),
        favourited["id"]: Engagement(likes=1, reposts=0, replies=0),
    }


async def test_a_deleted_status_is_left_out(httpserver: HTTPServer, payloads: Path) -> None:
    (missing,) = load_cassette(payloads / "mastodon-py" / "test_status_missing.yaml")
    httpserver.expect_request("/api/v1/statuses/0").respond_with_data(
        missing.body, status=missing.status, content_type="application/json"
    )

    assert await connector_for(httpserver).engagement(["0"]) == {}


async def test_a_revoked_token_is_an_error_not_an_empty_answer(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/statuses/1").respond_with_json(
        {"error": "The access token was revoked"}, status=401
    )

    with pytest.raises(AuthExpired):
        await connector_for(httpserver).engagement(["1"])
