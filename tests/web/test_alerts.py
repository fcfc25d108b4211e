"""Alerts in the app: who sees and changes what, the list with its filters, links and paging,
the header count, the settings (validation, masking, quiet hours, removal) and a test alert
that goes through the job queue to a local Apprise endpoint."""

from __future__ import annotations

import json
from datetime import time, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from allsang.db.models import Alert, AuditEvent, Channel, ListeningQuery, Workspace
from allsang.db.types import utcnow
from allsang.jobs import Worker
from allsang.jobs.worker import load_handler_modules
from allsang.listening import alerts
from allsang.runtime import Runtime
from allsang.web.routes import alerts as alert_pages
from tests.web.conftest import ClientFactory, World


async def add_alert(
    runtime: Runtime,
    world: World,
    key: str,
    *,
    kind: str = "term_spike",
    title: str = "",
    body: str = "",
    status: str = "sent",
    hours_ago: float = 1,
    data: dict[str, Any] | None = None,
) -> int:
    async with runtime.db.write() as session:
        alert = Alert(
            workspace_id=world.workspace.id,
            key=key,
            dedup_key=f"{key}@{hours_ago}",
            kind=kind,
            title=title or f"Alert {key}",
            body=body,
            data=data or {},
            status=status,
            created_at=utcnow() - timedelta(hours=hours_ago),
        )
        session.add(alert)
        await session.flush()
        return alert.id


async def current_settings(runtime: Runtime, world: World) -> alerts.AlertSettings:
    async with runtime.db.read() as session:
        workspace = await session.get(Workspace, world.workspace.id)
        assert workspace is not None
        return alerts.load_settings(workspace, runtime.secrets)


async def audit_actions(runtime: Runtime) -> list[tuple[str, dict[str, Any]]]:
    async with runtime.db.read() as session:
        rows = await session.execute(select(AuditEvent.action, AuditEvent.data))
        return [(action, data) for action, data in rows]


async def test_viewers_see_alerts_and_only_admins_change_where_they_go(
    client_as: ClientFactory,
) -> None:
    viewer, editor, admin = (
        await client_as("viewer"),
        await client_as("editor"),
        await client_as("admin"),
    )
    home = await viewer.get("/")
    assert 'href="/alerts"' in home.text and 'hx-get="/alerts/recent"' in home.text
    page = await viewer.get("/alerts")
    assert page.status_code == 200 and 'href="/alerts/settings"' not in page.text
    for client in (viewer, editor):
        assert (await client.get("/alerts/settings")).status_code == 403
        refused = await client.post("/alerts/settings", data={"urls": "json://127.0.0.1/x"})
        assert refused.status_code == 403
        assert (await client.post("/alerts/settings/test")).status_code == 403
    assert 'href="/alerts/settings"' in (await admin.get("/alerts")).text
    assert (await admin.get("/alerts/settings")).status_code == 200


async def test_alerts_are_listed_newest_first_with_links_to_what_they_are_about(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    async with runtime.db.write() as session:
        query = ListeningQuery(workspace_id=world.workspace.id, name="Volvo", query="volvo")
        channel = Channel(workspace_id=world.workspace.id, network="mastodon", name="@acme")
        session.add_all([query, channel])
        await session.flush()
        query_id, channel_id = query.id, channel.id
    await add_alert(
        runtime,
        world,
        "query:1",
        kind="query_spike",
        hours_ago=3,
        data={"query_id": query_id},
        title="Spike: Volvo",
    )
    await add_alert(
        runtime,
        world,
        "channel:1:reconnect",
        kind="channel.reconnect_needed",
        hours_ago=2,
        data={"channel_id": channel_id},
        status="held",
    )
    await add_alert(runtime, world, "term:#volvo", hours_ago=1, data={"term": "#volvo"})
    # A deleted query keeps its alert, without a link that would lead nowhere.
    await add_alert(
        runtime, world, "query:99", kind="query_spike", hours_ago=4, data={"query_id": 999}
    )
    text = (await (await client_as("viewer")).get("/alerts")).text
    order = [text.index(f"Alert {key}") for key in ("term:#volvo", "channel:1:reconnect")]
    assert order == sorted(order) and text.index("Spike: Volvo") > order[-1]
    assert f'<a href="/listening/{query_id}">Volvo</a>' in text
    assert f'<a href="/channels/{channel_id}">@acme</a>' in text
    assert "/listening/999" not in text
    for label in (
        "Hashtag spike",
        "Channel needs reconnecting",
        "Query spike",
        "Held for quiet hours",
    ):
        assert f"<td>{label}</td>" in text


async def test_alerts_filter_by_kind_and_status_and_page_through(
    client_as: ClientFactory, runtime: Runtime, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alert_pages, "PAGE_SIZE", 2)
    for n in range(3):
        await add_alert(runtime, world, f"term:word{n}", hours_ago=n + 1)
    await add_alert(runtime, world, "term:#tag", status="failed", hours_ago=5)
    await add_alert(runtime, world, "query:1", kind="query_spike", status="held", hours_ago=6)
    viewer = await client_as("viewer")

    async def titles(url: str) -> list[str]:
        response = await viewer.get(url)
        assert response.status_code == 200
        return [
            key for key in ("word0", "word1", "word2", "#tag", "query:1") if key in response.text
        ]

    assert await titles("/alerts?kind=term") == ["word0", "word1"]
    assert await titles("/alerts?kind=term&page=2") == ["word2"]
    assert await titles("/alerts?kind=hashtag") == ["#tag"]
    assert await titles("/alerts?status=held") == ["query:1"]
    assert await titles("/alerts?kind=hashtag&status=sent") == []
    first = (await viewer.get("/alerts?kind=term")).text
    assert 'href="?kind=term&amp;status=&amp;page=2" rel="next"' in first
    assert (await viewer.get("/alerts?kind=nonsense")).status_code == 404
    assert (await viewer.get("/alerts?status=lost")).status_code == 404


async def test_hostile_text_in_alerts_is_shown_as_text(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    await add_alert(
        runtime,
        world,
        "term:<script>",
        title='Trending: <script>alert("x")</script>',
        body='<img src=x onerror="alert(1)">',
    )
    text = (await (await client_as("viewer")).get("/alerts")).text
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "Trending: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in text


async def test_the_header_counts_the_alerts_of_the_last_24_hours(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    viewer = await client_as("viewer")
    assert (await viewer.get("/alerts/recent")).text.strip() == ""
    await add_alert(runtime, world, "term:a", hours_ago=1)
    await add_alert(runtime, world, "term:b", hours_ago=23)
    await add_alert(runtime, world, "term:c", hours_ago=25)
    fragment = (await viewer.get("/alerts/recent")).text
    assert '<span class="badge" aria-hidden="true">2</span>' in fragment
    assert "2 alerts in the last 24 hours" in fragment


async def test_wrong_urls_are_named_by_line_and_nothing_is_saved(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    admin = await client_as("admin")
    typed = "json://127.0.0.1:9/hook\nnonsense://host/x\n\nnot a url"
    response = await admin.post(
        "/alerts/settings", data={"urls": typed, "quiet_from": "", "quiet_to": ""}
    )
    assert response.status_code == 422
    assert "Line 2 (nonsense://…) is not an Apprise URL" in response.text
    assert "Line 4 is not a URL" in response.text
    assert "Line 1" not in response.text
    assert 'aria-invalid="true"' in response.text
    assert await current_settings(runtime, world) == alerts.AlertSettings()
    assert await audit_actions(runtime) == []


async def test_saved_urls_are_sealed_shown_masked_and_audited_without_secrets(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    admin = await client_as("admin")
    urls = ["mailto://alerts:S3cretPw@example.com", "json://127.0.0.1:9/hook/T0kenPath"]
    response = await admin.post("/alerts/settings", data={"urls": "\n".join(urls)})
    assert response.status_code == 303
    assert response.headers["location"] == "/alerts/settings?ok=saved"
    assert (await current_settings(runtime, world)).urls == tuple(urls)
    page = (await admin.get("/alerts/settings")).text
    assert "json://127.0.0.1:9/…" in page and "alerts:****@example.com" in page
    async with runtime.db.read() as session:
        stored = await session.scalar(
            select(Workspace.settings).where(Workspace.id == world.workspace.id)
        )
    events = await audit_actions(runtime)
    for secret in ("S3cretPw", "T0kenPath"):
        assert secret not in page
        assert secret not in json.dumps(stored)
        assert secret not in json.dumps(events)
    assert [action for action, _data in events] == ["alerts.settings.update"]
    # Adding one more keeps the saved ones; a URL already saved is not added twice.
    await admin.post("/alerts/settings", data={"urls": f"{urls[1]}\njson://127.0.0.1:9/other"})
    saved = (await current_settings(runtime, world)).urls
    assert saved == (*urls, "json://127.0.0.1:9/other")


def test_masking_hides_tokens_in_the_host_path_and_password() -> None:
    assert alert_pages.mask_url("slack://TokenA/TokenB/TokenC/#chan") == "slack://T...A/…"
    assert alert_pages.mask_url("jsons://me:pw@example.com/x?token=abc") == (
        "jsons://me:****@example.com/…"
    )
    assert alert_pages.mask_url("json://example.com") == "json://example.com"


async def test_quiet_hours_are_validated_and_saved_in_the_workspace_time_zone(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    admin = await client_as("admin")
    for start, end in (("22:00", ""), ("07:00", "07:00"), ("25:00", "07:00")):
        response = await admin.post("/alerts/settings", data={"quiet_from": start, "quiet_to": end})
        assert response.status_code == 422, (start, end)
        assert 'id="quiet-error"' in response.text
    assert "Europe/Oslo" in (await admin.get("/alerts/settings")).text
    saved = await admin.post("/alerts/settings", data={"quiet_from": "22:00", "quiet_to": "07:00"})
    assert saved.status_code == 303
    settings = await current_settings(runtime, world)
    assert (settings.quiet_start, settings.quiet_end) == (time(22, 0), time(7, 0))
    page = (await admin.get("/alerts/settings")).text
    assert 'value="22:00"' in page and 'value="07:00"' in page
    events = await audit_actions(runtime)
    assert events == [("alerts.settings.update", {"added": [], "quiet_hours": "22:00–07:00"})]
    await admin.post("/alerts/settings", data={"quiet_from": "", "quiet_to": ""})
    assert (await current_settings(runtime, world)).quiet_start is None


async def test_a_saved_url_is_removed_only_while_the_list_is_as_shown(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    admin = await client_as("admin")
    await admin.post("/alerts/settings", data={"urls": "json://127.0.0.1:9/a\njson://10.0.0.1/b"})
    stale = await admin.post(
        "/alerts/settings/urls/remove", data={"index": "0", "masked": "json://10.0.0.1/…"}
    )
    assert stale.status_code == 409
    removed = await admin.post(
        "/alerts/settings/urls/remove", data={"index": "1", "masked": "json://10.0.0.1/…"}
    )
    assert removed.status_code == 303
    assert (await current_settings(runtime, world)).urls == ("json://127.0.0.1:9/a",)
    assert ("alerts.url.remove", {"removed": "json://10.0.0.1/…"}) in await audit_actions(runtime)


async def test_a_test_alert_reaches_apprise_once_after_the_job_runs(
    client_as: ClientFactory, runtime: Runtime, world: World, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    admin = await client_as("admin")
    url = f"json://127.0.0.1:{httpserver.port}/hook"
    assert (await admin.post("/alerts/settings", data={"urls": url})).status_code == 303
    first = await admin.post("/alerts/settings/test")
    assert first.headers["location"] == "/alerts?test=queued"
    # A double click is the same alert within its window: stored and sent once.
    second = await admin.post("/alerts/settings/test")
    assert second.headers["location"] == "/alerts?test=duplicate"
    assert httpserver.log == []  # nothing is sent inline

    assert "allsang.listening.jobs" in load_handler_modules()
    worker = Worker(runtime)
    while await worker.run_once():
        pass
    [(request, _response)] = httpserver.log
    sent = json.loads(request.data)
    assert sent["title"] == "Test alert from Allsang"
    assert "Admin Person" in sent["message"]
    page = (await admin.get("/alerts?kind=test&status=sent")).text
    assert "Test alert from Allsang" in page and "<td>Sent</td>" in page
    assert [a for a, _d in await audit_actions(runtime) if a == "alerts.test"] == ["alerts.test"]
