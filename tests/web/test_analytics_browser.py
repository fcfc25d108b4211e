"""The analytics page in Debian's Chromium: charts drawn from their tables, no CSP errors, axe.

The page opens on a known history (tests/analytics/history.py) in the worked example's week.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from allsang.analytics import aggregate
from allsang.db.models import Workspace
from allsang.settings import Settings
from tests.analytics.history import known_history
from tests.web.browser import (
    AppServer,
    fill_login,
    log_in,
    open_page,
    run_async,
    runtime_for,
    serious_violations,
    watch,
)
from tests.web.conftest import create_world

pytestmark = pytest.mark.browser


async def _seed(settings: Settings) -> None:
    async with runtime_for(settings) as runtime:
        world = await create_world(runtime)
        async with runtime.db.write() as session:
            workspace = await session.get(Workspace, world.workspace.id)
            await known_history(session, workspace)
        await aggregate.refresh(runtime.db, world.workspace.id)


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    """The app on the known history (in place of conftest's bare world)."""
    run_async(_seed(settings))
    with AppServer(settings) as app:
        yield app.url


def test_the_dashboard_draws_its_charts_above_accessible_tables(
    server: str, browser: Browser
) -> None:
    page = open_page(browser)
    log = watch(page)
    page.goto(f"{server}/login")
    fill_login(page, "viewer@acme.test")
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

    problems = serious_violations(page)

    # An admin schedules a report; that page passes axe too.
    page = log_in(browser, server, "admin@acme.test")
    page.goto(f"{server}/analytics")
    page.get_by_role("link", name="Scheduled e-mail reports").click()
    page.get_by_label("Recipients (e-mail addresses, separated by commas)").fill("chef@acme.test")
    page.get_by_label("How often").select_option("monthly")
    page.get_by_role("button", name="Add report").click()
    expect(page.get_by_role("cell", name="chef@acme.test")).to_be_visible()
    problems += serious_violations(page)
    assert not [
        line
        for line in log.console + log.errors
        if "Content Security Policy" in line or "Error" in line
    ]
    assert not problems, "\n".join(problems)
