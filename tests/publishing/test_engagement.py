"""The hourly read of engagement: counts land on the deliveries the network carried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytest_httpserver import HTTPServer
from sqlalchemy import select

from allsang.db.models.publishing import Post, PostDelivery
from allsang.publishing import engagement
from allsang.runtime import Runtime
from tests.connectors.conftest import payloads  # noqa: F401  (the recorded-payloads fixture)
from tests.connectors.mastodon.conftest import recorded
from tests.publishing.conftest import create_newsroom

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


async def _deliveries(runtime: Runtime, instance: str) -> dict[str, int]:
    """Deliveries by label: published yesterday, published long ago, and still scheduled."""
    room = await create_newsroom(runtime, instance=instance)
    async with runtime.db.write() as session:
        post = Post(workspace_id=room.workspace_id, body="Vi öppnar nya biblioteket!")
        session.add(post)
        await session.flush()
        rows = {
            "yesterday": PostDelivery(state="published", external_id="111",
                                      published_at=NOW - timedelta(days=1)),
            "long ago": PostDelivery(state="published", external_id="222",
                                     published_at=NOW - timedelta(days=90)),
            "scheduled": PostDelivery(state="scheduled"),
        }  # fmt: skip
        for label, row in rows.items():
            row.workspace_id, row.post_id = room.workspace_id, post.id
            row.channel_id, row.due_at = room.channel_id, NOW - timedelta(days=1)
            row.idempotency_key = f"key-{label}"
            session.add(row)
        await session.flush()
        return {label: row.id for label, row in rows.items()}


async def _counts(runtime: Runtime) -> dict[int, tuple[int | None, ...]]:
    async with runtime.db.read() as session:
        rows = await session.execute(
            select(PostDelivery.id, PostDelivery.likes, PostDelivery.reposts, PostDelivery.replies)
        )
        return {row[0]: tuple(row[1:]) for row in rows.all()}


async def test_it_stores_what_the_network_reports_for_recent_published_posts(
    runtime: Runtime,
    httpserver: HTTPServer,
    payloads: Path,  # noqa: F811
) -> None:
    status = recorded(payloads, "test_status.yaml", "GET", "/api/v1/statuses/117020583223442465")
    status.update(id="111", favourites_count=7, reblogs_count=2, replies_count=1)
    httpserver.expect_request("/api/v1/statuses/111").respond_with_json(status)
    ids = await _deliveries(runtime, httpserver.url_for("/").rstrip("/"))

    assert await engagement.refresh(runtime, now=NOW) == 1

    counts = await _counts(runtime)
    assert counts[ids["yesterday"]] == (7, 2, 1)
    assert counts[ids["long ago"]] == (None, None, None)  # outside the window: not asked
    assert counts[ids["scheduled"]] == (None, None, None)
    asked = [request.path for request, _ in httpserver.log if "statuses" in request.path]
    assert asked == ["/api/v1/statuses/111"]


async def test_a_channel_that_cannot_be_asked_keeps_its_counts_and_stops_nothing(
    runtime: Runtime, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/api/v1/statuses/111").respond_with_json(
        {"error": "The access token was revoked"}, status=401
    )
    ids = await _deliveries(runtime, httpserver.url_for("/").rstrip("/"))

    assert await engagement.refresh(runtime, now=NOW) == 0

    assert (await _counts(runtime))[ids["yesterday"]] == (None, None, None)
