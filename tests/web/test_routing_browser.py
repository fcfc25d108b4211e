"""Routing in Chromium: an admin writes a rule and SLA target in the pages, a message is
ingested, and the inbox shows it routed (department and round-robin assignee) with its due
time; the routing pages pass axe."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from allsang.db.models import Channel, Department, DepartmentMember
from allsang.ingest.pipeline import ChannelRef, Pipeline
from allsang.settings import Settings
from tests.routing.conftest import dm
from tests.web.browser import AppServer, log_in, run_async, runtime_for, serious_violations
from tests.web.conftest import create_world

pytestmark = pytest.mark.browser


async def _seed(settings: Settings) -> tuple[ChannelRef, int]:
    async with runtime_for(settings) as runtime:
        world = await create_world(runtime)
        async with runtime.db.write() as session:
            channel = Channel(
                workspace_id=world.workspace.id, network="mastodon", name="@acme@example.social"
            )
            support = Department(workspace_id=world.workspace.id, name="Kundtjänst")
            session.add_all([channel, support])
            await session.flush()
            session.add(
                DepartmentMember(department_id=support.id, person_id=world.people["editor"].id)
            )
            return ChannelRef(channel.id, world.workspace.id, "mastodon"), support.id


async def _ingest(settings: Settings, channel: ChannelRef) -> None:
    async with runtime_for(settings) as runtime:
        await Pipeline(runtime.db).ingest(
            channel,
            [
                dm("1", "Hej! Min faktura är fel, kan ni titta på den?"),
                dm("2", "Vilket fint väder", handle="@olle@example.social"),
            ],
        )


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, ChannelRef, int]]:
    channel, support = run_async(_seed(settings))
    with AppServer(settings) as app:
        yield app.url, channel, support


def test_a_rule_written_in_the_pages_routes_an_ingested_message(
    served: tuple[str, ChannelRef, int], settings: Settings, browser: Browser
) -> None:
    server, channel, support = served
    problems: list[str] = []
    page = log_in(browser, server, "admin@acme.test")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Routing").click()
    expect(page.get_by_role("heading", name="Routing", exact=True)).to_be_visible()
    problems += serious_violations(page)

    page.get_by_role("link", name="New rule").click()
    problems += serious_violations(page)
    page.get_by_label("Name").fill("Fakturor")
    page.get_by_label("matches the query").fill("faktura OR invoice")
    page.get_by_label("send it to the department").select_option(label="Kundtjänst")
    expect(page.get_by_label("or else to the next person on duty")).to_be_checked()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_have_text("Created.")
    expect(page.get_by_role("cell", name="Kundtjänst · round-robin")).to_be_visible()

    page.get_by_role("link", name="Kundtjänst").click()
    problems += serious_violations(page)
    page.get_by_label("First response (minutes): Department default").fill("60")
    page.get_by_role("button", name="Save SLA targets").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")

    run_async(_ingest(settings, channel))

    page.goto(f"{server}/inbox?department={support}")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Kari")
    expect(rows.first).to_contain_text("Editor Person")  # the only member on duty
    rows.first.get_by_role("link", name="Kari").click()
    expect(page.locator("#set-department option:checked")).to_have_text("Kundtjänst")
    expect(page.locator(".sla-due")).to_contain_text("Reply due")
    assert not problems, "\n".join(problems)
