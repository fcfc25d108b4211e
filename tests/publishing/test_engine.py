"""The delivery engine against a fake Mastodon instance speaking the real HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select, update

from allsang.db.models import Alert, Channel, Job
from allsang.db.models.publishing import PostDelivery, PublishingIncident
from allsang.publishing import engine, service, watchdog
from allsang.runtime import Runtime
from tests.publishing.conftest import Newsroom, create_newsroom
from tests.publishing.fake_mastodon import FakeMastodon

TEXT = "Biblioteket öppnar lördag 10–16 & alla är välkomna <3"


@pytest.fixture
def fake(httpserver: HTTPServer) -> FakeMastodon:
    return FakeMastodon(httpserver)


@pytest.fixture
async def newsroom(runtime: Runtime, fake: FakeMastodon) -> Newsroom:
    return await create_newsroom(runtime, fake.url)


async def _scheduled(runtime: Runtime, room: Newsroom) -> int:
    """An editor's post scheduled for right now; returns its delivery id."""
    async with runtime.db.write() as session:
        post = await service.create_draft(
            session, room.actor("editor"), body=TEXT, channel_ids=[room.channel_id]
        )
        await service.publish_now(session, room.actor("editor"), post.id)
        return (
            await session.scalars(select(PostDelivery.id).where(PostDelivery.post_id == post.id))
        ).one()


async def _delivery(runtime: Runtime, delivery_id: int) -> PostDelivery:
    async with runtime.db.read() as session:
        row = await session.get(PostDelivery, delivery_id)
        assert row is not None
        return row


async def _interrupted(runtime: Runtime, delivery_id: int, started: datetime) -> None:
    """As if a worker marked the delivery publishing and died."""
    async with runtime.db.write() as session:
        await session.execute(
            update(PostDelivery)
            .where(PostDelivery.id == delivery_id)
            .values(state="publishing", started_at=started)
        )


async def test_a_delivery_is_published_once_with_its_idempotency_key(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodon
) -> None:
    delivery_id = await _scheduled(runtime, newsroom)
    assert await engine.deliver(runtime, delivery_id) == "published"
    assert await engine.deliver(runtime, delivery_id) == "published"  # a second run: no-op
    delivery = await _delivery(runtime, delivery_id)
    assert fake.texts() == [TEXT]
    assert [r["key"] for r in fake.requests] == [delivery.idempotency_key]
    assert delivery.external_id == "1000"
    assert delivery.url == "https://fake.example/@acme/1000"
    async with runtime.db.read() as session:
        post = await service.get_post(session, newsroom.actor("viewer"), delivery.post_id)
    assert post.status == "published" and post.published_at is not None


async def test_an_interrupted_attempt_that_reached_the_network_is_found_by_reading_back(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodon
) -> None:
    delivery_id = await _scheduled(runtime, newsroom)
    fake.statuses.append(fake._status(TEXT))  # the lost attempt's post
    await _interrupted(runtime, delivery_id, datetime.now(UTC))
    assert await engine.deliver(runtime, delivery_id) == "published"
    assert fake.requests == [] and len(fake.statuses) == 1
    assert (await _delivery(runtime, delivery_id)).external_id == "1000"


async def test_an_interrupted_attempt_not_found_is_resent_only_inside_the_key_window(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodon
) -> None:
    fresh = await _scheduled(runtime, newsroom)
    await _interrupted(runtime, fresh, datetime.now(UTC) - timedelta(minutes=5))
    assert await engine.deliver(runtime, fresh) == "published"
    assert fake.texts() == [TEXT]

    stale = await _scheduled(runtime, newsroom)
    await _interrupted(runtime, stale, datetime.now(UTC) - timedelta(hours=2))
    assert await engine.deliver(runtime, stale) == "outcome_unknown"
    delivery = await _delivery(runtime, stale)
    assert "could post it twice" in (delivery.unknown_reason or "")
    assert fake.texts() == [TEXT]  # nothing sent blindly
    async with runtime.db.write() as session:
        await service.retry_delivery(session, newsroom.actor("editor"), stale)
    assert await engine.deliver(runtime, stale) == "published"
    assert fake.texts() == [TEXT, TEXT]  # a person decided


async def test_a_server_error_is_retried_by_reading_back_first(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodon
) -> None:
    delivery_id = await _scheduled(runtime, newsroom)
    fake.refuse.append(503)
    with pytest.raises(engine.RetryLater):
        await engine.deliver(runtime, delivery_id)
    delivery = await _delivery(runtime, delivery_id)
    assert delivery.state == "publishing" and "503" in (delivery.last_error or "")
    assert await engine.deliver(runtime, delivery_id) == "published"
    assert fake.texts() == [TEXT]


async def test_a_server_error_on_the_last_attempt_ends_as_outcome_unknown(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodon
) -> None:
    delivery_id = await _scheduled(runtime, newsroom)
    fake.refuse.append(502)
    assert await engine.deliver(runtime, delivery_id, last_attempt=True) == "outcome_unknown"
    assert "502" in ((await _delivery(runtime, delivery_id)).unknown_reason or "")


async def test_a_refused_token_fails_the_delivery_and_asks_for_a_reconnect(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodon
) -> None:
    delivery_id = await _scheduled(runtime, newsroom)
    fake.refuse.append(401)
    assert await engine.deliver(runtime, delivery_id) == "failed"
    async with runtime.db.read() as session:
        channel = await session.get(Channel, newsroom.channel_id)
    assert channel is not None and channel.state == "reconnect_needed"
    assert fake.statuses == []


async def test_a_rejected_post_fails_with_the_reason_and_a_rate_limit_waits(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodon
) -> None:
    rejected = await _scheduled(runtime, newsroom)
    fake.refuse.append(422)
    assert await engine.deliver(runtime, rejected) == "failed"
    assert "422" in ((await _delivery(runtime, rejected)).last_error or "")

    limited = await _scheduled(runtime, newsroom)
    fake.refuse.append(429)
    with pytest.raises(engine.RetryLater):
        await engine.deliver(runtime, limited)
    assert (await _delivery(runtime, limited)).state == "scheduled"
    assert await engine.deliver(runtime, limited) == "published"


async def test_a_cancelled_delivery_is_not_sent(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodon
) -> None:
    delivery_id = await _scheduled(runtime, newsroom)
    async with runtime.db.write() as session:
        post_id = (await session.get(PostDelivery, delivery_id)).post_id  # type: ignore[union-attr]
        await service.cancel(session, newsroom.actor("editor"), post_id)
    assert await engine.deliver(runtime, delivery_id) == "cancelled"
    assert fake.requests == []


async def test_the_dead_man_alarm_fires_once_per_stall(
    runtime: Runtime, newsroom: Newsroom
) -> None:
    delivery_id = await _scheduled(runtime, newsroom)
    due = (await _delivery(runtime, delivery_id)).due_at
    assert await watchdog.check(runtime, now=due + timedelta(minutes=5)) == []
    stalled = due + timedelta(minutes=11)
    (incident,) = await watchdog.check(runtime, now=stalled)
    assert await watchdog.check(runtime, now=stalled + timedelta(minutes=1)) == []
    assert await watchdog.check(runtime, now=stalled + timedelta(hours=3)) == []
    async with runtime.db.read() as session:
        alerts = (await session.scalars(select(Alert))).all()
    assert [a.kind for a in alerts] == ["publishing_stalled"]
    assert "1 scheduled post" in alerts[0].body

    assert await engine.deliver(runtime, delivery_id) == "published"
    assert await watchdog.check(runtime, now=stalled + timedelta(hours=4)) == []
    async with runtime.db.read() as session:
        closed = await session.get(PublishingIncident, incident.id)
    assert closed is not None and closed.closed_at is not None

    again = await _scheduled(runtime, newsroom)
    due = (await _delivery(runtime, again)).due_at
    assert len(await watchdog.check(runtime, now=due + timedelta(minutes=30))) == 1


async def test_a_delivery_whose_job_died_mid_send_becomes_outcome_unknown(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodon
) -> None:
    delivery_id = await _scheduled(runtime, newsroom)
    started = datetime.now(UTC)
    await _interrupted(runtime, delivery_id, started)
    async with runtime.db.write() as session:
        await session.execute(update(Job).values(status="dead"))
    later = datetime.now(UTC) + timedelta(minutes=30)
    assert len(await watchdog.check(runtime, now=later)) == 0  # settled, so nothing stuck
    delivery = await _delivery(runtime, delivery_id)
    assert delivery.state == "outcome_unknown" and "stopped" in (delivery.unknown_reason or "")
    async with runtime.db.read() as session:
        post = await service.get_post(session, newsroom.actor("viewer"), delivery.post_id)
    assert post.status == "outcome_unknown"
    assert fake.requests == []


async def test_a_failing_read_back_is_tried_again_and_never_replaced_by_a_blind_send(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodon
) -> None:
    delivery_id = await _scheduled(runtime, newsroom)
    await _interrupted(runtime, delivery_id, datetime.now(UTC) - timedelta(hours=2))
    fake.refuse_reads += [503, 503]
    with pytest.raises(engine.RetryLater):
        await engine.deliver(runtime, delivery_id)
    assert (await _delivery(runtime, delivery_id)).state == "publishing"
    assert await engine.deliver(runtime, delivery_id, last_attempt=True) == "outcome_unknown"
    reason = (await _delivery(runtime, delivery_id)).unknown_reason or ""
    assert "reading the network back failed" in reason
    assert fake.requests == []


async def test_a_rate_limit_after_an_interrupted_attempt_keeps_reading_back_first(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodon
) -> None:
    delivery_id = await _scheduled(runtime, newsroom)
    started = datetime.now(UTC) - timedelta(minutes=5)
    await _interrupted(runtime, delivery_id, started)
    fake.refuse.append(429)
    with pytest.raises(engine.RetryLater):
        await engine.deliver(runtime, delivery_id)
    delivery = await _delivery(runtime, delivery_id)
    assert delivery.state == "publishing" and delivery.started_at == started
    fake.statuses.append(fake._status(TEXT))  # it had gone through after all
    assert await engine.deliver(runtime, delivery_id) == "published"
    assert len(fake.statuses) == 1
