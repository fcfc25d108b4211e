"""Routing in Chromium: an admin writes a rule and SLA target in the pages, a message is
ingested, and the inbox shows it routed (department and round-robin assignee) with its due
time; the routing pages pass axe."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import uvicorn

from allsang.db import Database
from allsang.db.models import Channel, Department, DepartmentMember
from allsang.ingest.pipeline import ChannelRef, Pipeline
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox
from allsang.settings import Settings
from allsang.web.app import create_app
from tests.conftest import TEST_KEY
from tests.routing.conftest import dm
from tests.web.conftest import PASSWORD, create_world
from tests.web.test_browser import AXE, CHROMIUM, _free_port, _serious_violations

pytestmark = pytest.mark.browser


async def _seed(settings: Settings) -> tuple[ChannelRef, int]:
    db = Database(settings.sqlalchemy_url)
    runtime = Runtime(settings=settings, db=db, secrets=SecretBox([TEST_KEY]))
    try:
        world = await create_world(runtime)
        async with db.write() as session:
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
    finally:
        await db.dispose()


async def _ingest(settings: Settings, channel: ChannelRef) -> None:
    db = Database(settings.sqlalchemy_url)
    try:
        await Pipeline(db).ingest(
            channel,
            [
                dm("1", "Hej! Min faktura är fel, kan ni titta på den?"),
                dm("2", "Vilket fint väder", handle="@olle@example.social"),
            ],
        )
    finally:
        await db.dispose()


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, ChannelRef, int]]:
    channel, support = asyncio.run(_seed(settings))
    port = _free_port()
    runtime = Runtime(
        settings=settings, db=Database(settings.sqlalchemy_url), secrets=SecretBox([TEST_KEY])
    )
    config = uvicorn.Config(
        create_app(runtime),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", channel, support
    server.should_exit = True
    thread.join(10)


def _log_in(browser: Any, server: str, email: str) -> Any:
    context = browser.new_context(locale="en-GB")
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.goto(f"{server}/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/")
    return page


def test_a_rule_written_in_the_pages_routes_an_ingested_message(
    served: tuple[str, ChannelRef, int], settings: Settings
) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, channel, support = served
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = _log_in(browser, server, "admin@acme.test")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Routing").click()
        expect(page.get_by_role("heading", name="Routing", exact=True)).to_be_visible()
        problems += _serious_violations(page)

        page.get_by_role("link", name="New rule").click()
        problems += _serious_violations(page)
        page.get_by_label("Name").fill("Fakturor")
        page.get_by_label("matches the query").fill("faktura OR invoice")
        page.get_by_label("send it to the department").select_option(label="Kundtjänst")
        expect(page.get_by_label("or else to the next person on duty")).to_be_checked()
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("status")).to_have_text("Created.")
        expect(page.get_by_role("cell", name="Kundtjänst · round-robin")).to_be_visible()

        page.get_by_role("link", name="Kundtjänst").click()
        problems += _serious_violations(page)
        page.get_by_label("First response (minutes): Department default").fill("60")
        page.get_by_role("button", name="Save SLA targets").click()
        expect(page.get_by_role("status")).to_have_text("Saved.")

        # Playwright's sync API owns this thread's event loop: ingest runs on another thread.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _ingest(settings, channel)).result()

        page.goto(f"{server}/inbox?department={support}")
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Kari")
        expect(rows.first).to_contain_text("Editor Person")  # the only member on duty
        rows.first.get_by_role("link", name="Kari").click()
        expect(page.locator("#set-department option:checked")).to_have_text("Kundtjänst")
        expect(page.locator(".sla-due")).to_contain_text("Reply due")
        browser.close()
    assert not problems, "\n".join(problems)
