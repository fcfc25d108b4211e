"""Health check and metrics."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from allsang.db import Database
from allsang.db.models import Channel
from allsang.db.types import utcnow
from allsang.jobs import enqueue
from allsang.runtime import Runtime
from allsang.web.app import create_app
from tests.web.conftest import ClientFactory, World


async def test_healthz_reports_a_working_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_healthz_answers_503_when_the_database_is_down(runtime: Runtime) -> None:
    broken = Runtime(
        settings=runtime.settings,
        db=Database("postgresql+psycopg://nobody@127.0.0.1:1/none"),
        secrets=runtime.secrets,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(broken)), base_url="http://testserver"
    ) as c:
        response = await c.get("/healthz")
        metrics = await c.get("/metrics")
    await broken.db.dispose()
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert "allsang_database_up 0.0" in metrics.text


async def test_metrics_count_requests_by_route_template(client_as: ClientFactory) -> None:
    owner = await client_as("owner")
    await owner.get("/team/departments/41")
    await owner.get("/team/departments/42")
    await owner.get("/no/such/thing")
    text = (await owner.get("/metrics")).text
    assert 'route="/team/departments/{department_id}",status="404"} 2.0' in text
    assert 'route="unmatched"' in text
    assert "allsang_http_request_duration_seconds_bucket" in text
    assert 'allsang_jobs{status="dead"} 0.0' in text
    assert "allsang_jobs_claimed" in text  # the worker's counters, from the process registry
    assert "allsang_jobs_oldest_due_seconds 0.0" in text


async def test_metrics_show_a_queue_that_stopped_draining_and_each_channels_state(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    long_ago = utcnow() - timedelta(minutes=30)
    async with runtime.db.write() as session:
        await enqueue(session, "nobody.handles.this", run_at=long_ago)
        channel = Channel(
            workspace_id=world.workspace.id,
            network="rss",
            name="Press room",
            state="reconnect_needed",
            last_success_at=long_ago,
        )
        session.add(channel)
        await session.flush()
        channel_id = channel.id
    owner = await client_as("owner")
    text = (await owner.get("/metrics")).text
    due = float(re.search(r"^allsang_jobs_oldest_due_seconds (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert 1790 < due < 1900
    labels = f'{{channel="{channel_id}",network="rss"}}'
    assert f"allsang_channel_ok{labels} 0.0" in text
    since = re.search(
        rf"^allsang_channel_seconds_since_success{re.escape(labels)} (\S+)$", text, re.M
    )
    assert since is not None and float(since.group(1)) >= 1800


async def test_metrics_need_the_token_when_one_is_set(runtime: Runtime) -> None:
    runtime.settings.metrics_token = "s3cret"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://testserver"
    ) as c:
        assert (await c.get("/metrics")).status_code == 401
        wrong = await c.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await c.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
