"""The listening pages in Debian's Chromium: live syntax feedback, testing a query with
highlighted hits, saving it, and accessibility (axe) on every listening page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from allsang.db.models import Message, Workspace
from allsang.db.types import utcnow
from allsang.settings import Settings
from tests.web.browser import (
    fill_login,
    open_page,
    run_async,
    runtime_for,
    serious_violations,
    watch,
)

pytestmark = pytest.mark.browser

MESSAGES = [
    "Min nya Volvo startar inte <script>alert(1)</script>",
    "Saab eller Volvo? Svårt val",
    "Inget om bilar alls",
]


async def _add_messages(settings: Settings) -> None:
    async with runtime_for(settings) as runtime, runtime.db.write() as session:
        workspace_id = await session.scalar(select(Workspace.id))
        for n, text in enumerate(MESSAGES):
            session.add(
                Message(
                    workspace_id=workspace_id,
                    direction="inbound",
                    external_id=f"b{n}",
                    text=text,
                    lang="sv",
                    sentiment="neu",
                    sentiment_score=0.0,
                    created_at=utcnow() - timedelta(hours=n),
                )
            )


def test_an_editor_fixes_a_broken_query_tests_it_and_saves_it(
    server: str, settings: Settings, browser: Browser
) -> None:
    run_async(_add_messages(settings))
    page = open_page(browser)
    log = watch(page)
    problems: list[str] = []

    page.goto(f"{server}/login?next=/listening/new")
    fill_login(page, "editor@acme.test")
    expect(page.get_by_role("heading", name="New query")).to_be_visible()

    page.get_by_label("Name").fill("Volvo")
    query = page.get_by_label("Query", exact=True)
    query.press_sequentially("volvo NEAR/ saab", delay=10)
    check = page.locator("#query-check")
    expect(check).to_contain_text("at column 12")
    expect(check.locator("pre")).to_contain_text("^")
    problems += serious_violations(page)

    query.fill("")
    query.press_sequentially("volvo -bilar", delay=10)
    expect(check).to_contain_text("OK")

    page.get_by_role("button", name="Test against recent messages").click()
    results = page.locator("#query-test")
    expect(results.locator("mark").first).to_have_text("Volvo")
    expect(results).to_contain_text("2 matches")
    expect(results).to_contain_text("<script>alert(1)</script>")  # shown as text
    expect(results).not_to_contain_text("Inget om bilar")
    problems += serious_violations(page)

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Volvo")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("main table tbody tr")).to_have_count(14)
    problems += serious_violations(page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Listening").click()
    expect(page.get_by_role("heading", name="Listening", exact=True)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Share of voice")
    problems += serious_violations(page)

    assert not problems, "\n".join(problems)
    assert not log.csp_reports(), log.csp_reports()
    assert not log.dialogs, log.dialogs
