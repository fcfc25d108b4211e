"""The alert pages in Debian's Chromium: an admin corrects a wrong Apprise URL, saves a URL and
quiet hours, sends a test alert and finds it listed (held, since it is quiet now), with axe on
every page."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect

from tests.web.browser import fill_login, open_page, serious_violations, watch

pytestmark = pytest.mark.browser


def test_an_admin_sets_a_url_and_quiet_hours_sends_a_test_alert_and_sees_it_listed(
    server: str, browser: Browser
) -> None:
    # The world's workspace is in Oslo; quiet hours around the present hold the test alert.
    now = datetime.now(ZoneInfo("Europe/Oslo"))
    quiet_from = (now - timedelta(hours=1)).strftime("%H:%M")
    quiet_to = (now + timedelta(hours=1)).strftime("%H:%M")
    page = open_page(browser)
    log = watch(page)
    problems: list[str] = []

    page.goto(f"{server}/login?next=/alerts/settings")
    fill_login(page, "admin@acme.test")
    expect(page.get_by_role("heading", name="Alert settings")).to_be_visible()
    expect(page.locator("main")).to_contain_text("alerts are shown here in the app only")
    problems += serious_violations(page)

    urls = page.get_by_label("Add Apprise URLs, one per line")
    urls.fill("json://127.0.0.1:9/hook/T0ken\nslackk://oops")
    page.get_by_label("From").fill(quiet_from)
    page.get_by_label("To", exact=True).fill(quiet_to)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#urls-error")).to_contain_text("Line 2 (slackk://…)")
    expect(urls).to_have_attribute("aria-invalid", "true")
    problems += serious_violations(page)

    urls.fill("json://127.0.0.1:9/hook/T0ken")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("#saved-urls")).to_contain_text("json://127.0.0.1:9/…")
    expect(page.locator("main")).not_to_contain_text("T0ken")
    expect(page.get_by_label("From")).to_have_value(quiet_from)
    problems += serious_violations(page)

    page.get_by_role("button", name="Send a test alert").click()
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("The test alert was queued")
    row = page.locator("main tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Test alert from Allsang")
    expect(row).to_contain_text("Held for quiet hours")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="1 alert in the last 24 hours")).to_be_visible()
    problems += serious_violations(page)

    page.get_by_label("Status").select_option("sent")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("main")).to_contain_text("No alerts match these filters.")

    assert not problems, "\n".join(problems)
    assert not log.csp_reports(), log.csp_reports()
    assert not log.dialogs, log.dialogs
