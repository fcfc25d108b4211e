"""The analytics page in Debian's Chromium: charts drawn from their tables, no CSP errors, axe.

The page opens on a known history (tests/analytics/history.py) in the worked example's week.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from allsang.analytics import aggregate
from allsang.db import Database
from allsang.db.models import Workspace
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox
from allsang.settings import Settings
from allsang.web.app import create_app
from tests.analytics.history import known_history
from tests.conftest import TEST_KEY
from tests.web.conftest import PASSWORD, create_world
from tests.web.test_browser import AXE, CHROMIUM, _free_port, _serious_violations

pytestmark = pytest.mark.browser


async def _seed(settings: Settings) -> None:
    db = Database(settings.sqlalchemy_url)
    try:
        world = await create_world(Runtime(settings=settings, db=db, secrets=SecretBox([TEST_KEY])))
        async with db.write() as session:
            workspace = await session.get(Workspace, world.workspace.id)
            await known_history(session, workspace)
        await aggregate.refresh(db, world.workspace.id)
    finally:
        await db.dispose()


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    asyncio.run(_seed(settings))
    port = _free_port()
    runtime = Runtime(
        settings=settings, db=Database(settings.sqlalchemy_url), secrets=SecretBox([TEST_KEY])
    )
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_the_dashboard_draws_its_charts_above_accessible_tables(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(locale="en-GB")
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.on("pageerror", lambda error: console.append(str(error)))

        page.goto(f"{server}/login")
        page.get_by_label("E-mail address").fill("viewer@acme.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Analytics").click()
        expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
        page.get_by_label("From", exact=True).fill("2026-03-01")
        page.get_by_label("To", exact=True).fill("2026-03-07")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(
            f"{server}/analytics?days=&first=2026-03-01&last=2026-03-07&channel=&department=&person="
        )

        charts = page.locator(".chart[data-table]")
        tables = page.locator("table[id^='t-']")
        expect(charts.first).to_have_attribute("data-drawn", "true")
        count = charts.count()
        assert count >= 8
        for index in range(count):
            chart = charts.nth(index)
            expect(chart).to_have_attribute("data-drawn", "true")
            expect(chart.locator("canvas")).to_have_count(1)
            # Every chart names a table that is on the page, with a caption.
            table = page.locator(f"#{chart.get_attribute('data-table')}")
            expect(table.locator("caption")).to_have_count(1)
        assert tables.count() >= count
        row = page.locator("#t-dialogue_channel tbody tr", has_text="Mastodon")
        expect(row.locator("td").nth(3)).to_have_text("50 %")
        # The legend of a line chart names the table's columns.
        expect(page.locator("#title-volume + .chart .u-legend")).to_contain_text("Replies")

        problems = _serious_violations(page)

        # An admin schedules a report; that page passes axe too.
        admin = browser.new_context(locale="en-GB")
        admin.add_init_script(path=str(AXE))
        page = admin.new_page()
        page.goto(f"{server}/login")
        page.get_by_label("E-mail address").fill("admin@acme.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{server}/analytics")
        page.get_by_role("link", name="Scheduled e-mail reports").click()
        page.get_by_label("Recipients (e-mail addresses, separated by commas)").fill(
            "chef@acme.test"
        )
        page.get_by_label("How often").select_option("monthly")
        page.get_by_role("button", name="Add report").click()
        expect(page.get_by_role("cell", name="chef@acme.test")).to_be_visible()
        problems += _serious_violations(page)
        assert not [
            line for line in console if "Content Security Policy" in line or "Error" in line
        ]
        assert not problems, "\n".join(problems)
        browser.close()
