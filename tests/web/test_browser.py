"""The real app in Debian's Chromium: log in, switch to Swedish, and check accessibility."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.web.browser import fill_login, open_page, serious_violations, watch

pytestmark = pytest.mark.browser


def test_a_person_logs_in_and_switches_to_swedish(server: str, browser: Browser) -> None:
    page = open_page(browser)
    log = watch(page)
    problems: list[str] = []

    page.goto(f"{server}/profile")
    expect(page).to_have_url(f"{server}/login?next=%2Fprofile")
    problems += serious_violations(page)
    fill_login(page, "owner@acme.test")
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    problems += serious_violations(page)

    for path in (
        "/",
        "/team/people",
        "/team/departments",
        "/settings",
        "/admin/audit",
        "/admin/jobs",
    ):
        page.goto(server + path)
        expect(page.locator("main h1")).to_be_visible()
        problems += serious_violations(page)

    page.goto(f"{server}/profile")
    page.locator("#locale").select_option("sv")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Din profil")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.get_by_role("status")).to_have_text("Sparat.")
    expect(page.get_by_role("navigation", name="Huvudmeny")).to_contain_text("Inställningar")
    problems += serious_violations(page)

    assert not problems, "\n".join(problems)
    assert not log.csp_reports(), log.csp_reports()
