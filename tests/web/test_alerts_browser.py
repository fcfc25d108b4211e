"""The alert pages in Debian's Chromium: an admin corrects a wrong Apprise URL, saves a URL and
quiet hours, sends a test alert and finds it listed (held, since it is quiet now), with axe on
every page."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.web.conftest import PASSWORD
from tests.web.test_browser import AXE, CHROMIUM, _serious_violations, server

__all__ = ["server"]  # the fixture, shared with test_browser

pytestmark = pytest.mark.browser


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_an_admin_sets_a_url_and_quiet_hours_sends_a_test_alert_and_sees_it_listed(
    server: str,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # The world's workspace is in Oslo; quiet hours around the present hold the test alert.
    now = datetime.now(ZoneInfo("Europe/Oslo"))
    quiet_from = (now - timedelta(hours=1)).strftime("%H:%M")
    quiet_to = (now + timedelta(hours=1)).strftime("%H:%M")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(locale="en-GB")
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        console: list[str] = []
        page.on(
            "console",
            lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
        )
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        problems: list[str] = []

        page.goto(f"{server}/login?next=/alerts/settings")
        page.get_by_label("E-mail address").fill("admin@acme.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Alert settings")).to_be_visible()
        expect(page.locator("main")).to_contain_text("alerts are shown here in the app only")
        problems += _serious_violations(page)

        urls = page.get_by_label("Add Apprise URLs, one per line")
        urls.fill("json://127.0.0.1:9/hook/T0ken\nslackk://oops")
        page.get_by_label("From").fill(quiet_from)
        page.get_by_label("To", exact=True).fill(quiet_to)
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#urls-error")).to_contain_text("Line 2 (slackk://…)")
        expect(urls).to_have_attribute("aria-invalid", "true")
        problems += _serious_violations(page)

        urls.fill("json://127.0.0.1:9/hook/T0ken")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Saved.")
        expect(page.locator("#saved-urls")).to_contain_text("json://127.0.0.1:9/…")
        expect(page.locator("main")).not_to_contain_text("T0ken")
        expect(page.get_by_label("From")).to_have_value(quiet_from)
        problems += _serious_violations(page)

        page.get_by_role("button", name="Send a test alert").click()
        expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("The test alert was queued")
        row = page.locator("main tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Test alert from Allsang")
        expect(row).to_contain_text("Held for quiet hours")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="1 alert in the last 24 hours")).to_be_visible()
        problems += _serious_violations(page)

        page.get_by_label("Status").select_option("sent")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("main")).to_contain_text("No alerts match these filters.")
        browser.close()
    assert not problems, "\n".join(problems)
    assert not console, console
    assert not dialogs, dialogs
