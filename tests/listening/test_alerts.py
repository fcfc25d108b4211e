"""Alerts: delivery through Apprise to a local endpoint, deduplication, quiet hours across
daylight saving time, summaries, and the hourly trend run that raises them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from allsang.db.models import Alert, Job, ListeningQuery, Message, Workspace
from allsang.jobs import default_registry
from allsang.listening import alerts, watch
from allsang.listening.alerts import AlertSettings, deliver, quiet_until, raise_alert
from allsang.runtime import Runtime

NOON = datetime(2025, 10, 22, 10, 0, tzinfo=UTC)  # 12:00 in Stockholm (summer time)


async def make_workspace(runtime: Runtime, settings: AlertSettings) -> int:
    async with runtime.db.write() as session:
        workspace = Workspace(slug="acme", name="Acme", timezone="Europe/Stockholm")
        session.add(workspace)
        await session.flush()
        alerts.store_settings(workspace, runtime.secrets, settings)
        return workspace.id


async def raise_one(runtime: Runtime, workspace_id: int, key: str, now: datetime) -> Alert | None:
    async with runtime.db.write() as session:
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        settings = alerts.load_settings(workspace, runtime.secrets)
        return await raise_alert(
            session, workspace, settings, key=key, kind="test", title=f"Alert {key}", now=now
        )


async def statuses(runtime: Runtime) -> list[str]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(Alert.status).order_by(Alert.id)))


def json_url(server: HTTPServer) -> str:
    return f"json://127.0.0.1:{server.port}/hook"


async def test_an_alert_is_delivered_through_apprise_to_the_configured_url(
    runtime: Runtime, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    workspace_id = await make_workspace(runtime, AlertSettings(urls=(json_url(httpserver),)))
    alert = await raise_one(runtime, workspace_id, "query:1", NOON)
    assert alert is not None and alert.status == "pending"
    async with runtime.db.read() as session:
        job = await session.scalar(select(Job).where(Job.kind == "listening.alert"))
    assert job is not None and job.payload == {"alert_id": alert.id}
    assert await deliver(runtime, alert.id, now=NOON) == "sent"
    # The server is shared by the session: count only this test's endpoint.
    [request] = [r for r, _ in httpserver.log if r.path == "/hook"]
    assert json.loads(request.data)["title"] == "Alert query:1"
    assert await statuses(runtime) == ["sent"]
    # Delivery is at least once; a second run of the job sends nothing.
    assert await deliver(runtime, alert.id, now=NOON) == "already"
    assert len([r for r, _ in httpserver.log if r.path == "/hook"]) == 1


async def test_a_failing_endpoint_is_retried_and_marked_failed_on_the_last_attempt(
    runtime: Runtime, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("no", status=500)
    workspace_id = await make_workspace(runtime, AlertSettings(urls=(json_url(httpserver),)))
    alert = await raise_one(runtime, workspace_id, "query:1", NOON)
    assert alert is not None
    with pytest.raises(RuntimeError):
        await deliver(runtime, alert.id, now=NOON)
    assert await statuses(runtime) == ["pending"]
    assert await deliver(runtime, alert.id, now=NOON, last_attempt=True) == "failed"
    assert await statuses(runtime) == ["failed"]


async def test_one_alert_per_key_and_window(runtime: Runtime) -> None:
    workspace_id = await make_workspace(runtime, AlertSettings())
    assert await raise_one(runtime, workspace_id, "query:1", NOON) is not None
    assert await raise_one(runtime, workspace_id, "query:1", NOON + timedelta(minutes=30)) is None
    assert await raise_one(runtime, workspace_id, "query:2", NOON) is not None
    assert await raise_one(runtime, workspace_id, "query:1", NOON + timedelta(hours=1)) is not None
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count(Alert.id))) == 3
        assert await session.scalar(select(func.count(Job.id))) == 3


def test_quiet_hours_end_at_the_local_time_across_the_autumn_dst_change() -> None:
    # Saturday 25 Oct 2025 23:30 CEST; clocks go back at 03:00 that night; 07:00 is then CET.
    night = datetime(2025, 10, 25, 21, 30, tzinfo=UTC)
    ends = quiet_until(night, "Europe/Stockholm", time(22), time(7))
    assert ends == datetime(2025, 10, 26, 6, 0, tzinfo=UTC)
    assert quiet_until(NOON, "Europe/Stockholm", time(22), time(7)) is None


def test_quiet_hours_end_at_the_local_time_across_the_spring_dst_change() -> None:
    # Saturday 28 Mar 2026 23:00 CET; clocks go forward at 02:00; 07:00 is then CEST.
    night = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    assert quiet_until(night, "Europe/Stockholm", time(22), time(7)) == datetime(
        2026, 3, 29, 5, 0, tzinfo=UTC
    )
    # A daytime range that does not wrap midnight.
    lunch = datetime(2026, 3, 30, 10, 30, tzinfo=UTC)  # 12:30 CEST
    assert quiet_until(lunch, "Europe/Stockholm", time(12), time(13)) == datetime(
        2026, 3, 30, 11, 0, tzinfo=UTC
    )


async def test_alerts_in_quiet_hours_are_held_and_summarised_when_they_end(
    runtime: Runtime, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    quiet = AlertSettings(urls=(json_url(httpserver),), quiet_start=time(22), quiet_end=time(7))
    workspace_id = await make_workspace(runtime, quiet)
    night = datetime(2025, 10, 25, 21, 30, tzinfo=UTC)
    held = [await raise_one(runtime, workspace_id, f"term:#t{n}", night) for n in range(5)]
    assert await statuses(runtime) == ["held"] * 5
    async with runtime.db.read() as session:
        run_at = set(await session.scalars(select(Job.run_at)))
    assert run_at == {datetime(2025, 10, 26, 6, 0, tzinfo=UTC)}
    # A job that ran early (say, quiet hours were set after it was queued) holds again.
    assert held[0] is not None
    assert await deliver(runtime, held[0].id, now=night + timedelta(hours=1)) == "rescheduled"
    morning = datetime(2025, 10, 26, 6, 0, tzinfo=UTC)
    assert await deliver(runtime, held[0].id, now=morning) == "summarised"
    for alert in held[1:]:
        assert alert is not None
        assert await deliver(runtime, alert.id, now=morning) == "already"
    [(request, _response)] = httpserver.log
    sent = json.loads(request.data)
    assert sent["title"] == "5 Allsang alerts" and sent["message"].count("•") == 5
    assert await statuses(runtime) == ["summarised"] * 5


async def test_without_urls_alerts_live_in_the_app(runtime: Runtime) -> None:
    workspace_id = await make_workspace(runtime, AlertSettings())
    alert = await raise_one(runtime, workspace_id, "query:1", NOON)
    assert alert is not None
    assert await deliver(runtime, alert.id, now=NOON) == "in-app"
    assert await statuses(runtime) == ["sent"]


def test_apprise_urls_are_sealed_and_bad_ones_refused(runtime: Runtime) -> None:
    workspace = Workspace(slug="x", name="X", timezone="UTC", settings={})
    alerts.store_settings(workspace, runtime.secrets, AlertSettings(urls=("json://127.0.0.1/x",)))
    assert "127.0.0.1" not in json.dumps(workspace.settings)
    assert alerts.load_settings(workspace, runtime.secrets).urls == ("json://127.0.0.1/x",)
    with pytest.raises(ValueError, match="not an Apprise URL"):
        alerts.store_settings(workspace, runtime.secrets, AlertSettings(urls=("nonsense://x",)))


def test_the_worker_knows_the_listening_jobs() -> None:
    import allsang.listening.jobs  # noqa: F401  (registers the handlers, as the worker does)

    assert {"listening.alert", "listening.trends"} <= set(default_registry.handlers)
    assert "listening.trends" in default_registry.schedules


async def test_the_hourly_run_raises_an_alert_for_a_spiking_query_once(runtime: Runtime) -> None:
    workspace_id = await make_workspace(runtime, AlertSettings())
    async with runtime.db.write() as session:
        session.add(ListeningQuery(workspace_id=workspace_id, name="Volvo", query="volvo"))
    start = datetime(2025, 10, 1, tzinfo=UTC)
    for hour in range(12):
        at = start + timedelta(hours=hour)
        spike = hour == 11
        async with runtime.db.write() as session:
            for n in range(40 if spike else 2):
                session.add(
                    Message(
                        workspace_id=workspace_id,
                        direction="inbound",
                        external_id=f"{hour}-{n}",
                        text=f"volvo nummer {n}",
                        created_at=at + timedelta(minutes=n),
                    )
                )
        signals = await watch.run_workspace(runtime, workspace_id, now=at + timedelta(hours=1))
        assert bool([s for s in signals if s.key.isdigit()]) == spike, hour
    # Running the same hour again changes nothing and raises nothing.
    again = await watch.run_workspace(runtime, workspace_id, now=start + timedelta(hours=12))
    assert again == []
    async with runtime.db.read() as session:
        kinds = list(await session.scalars(select(Alert.kind)))
    assert kinds.count("query_spike") == 1
