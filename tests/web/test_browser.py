"""The real app in Debian's Chromium: log in, switch to Swedish, and check accessibility.

The server runs with uvicorn in a background thread on a free port, with a database engine
of its own (engines belong to the event loop that opened them).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from allsang.db import Database
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox
from allsang.settings import Settings
from allsang.web.app import create_app
from tests.conftest import TEST_KEY
from tests.web.conftest import PASSWORD, create_world

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _seed(settings: Settings) -> None:
    db = Database(settings.sqlalchemy_url)
    try:
        await create_world(Runtime(settings=settings, db=db, secrets=SecretBox([TEST_KEY])))
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


def _serious_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_a_person_logs_in_and_switches_to_swedish(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(locale="en-GB")
        # An init script is injected through DevTools, so the page's CSP (which rightly
        # refuses inline <script> tags, and so page.add_script_tag) does not block axe.
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        csp_errors: list[str] = []
        page.on(
            "console",
            lambda message: (
                csp_errors.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        problems: list[str] = []

        page.goto(f"{server}/profile")
        expect(page).to_have_url(f"{server}/login?next=%2Fprofile")
        problems += _serious_violations(page)
        page.get_by_label("E-mail address").fill("owner@acme.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
        problems += _serious_violations(page)

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
            problems += _serious_violations(page)

        page.goto(f"{server}/profile")
        page.locator("#locale").select_option("sv")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name="Din profil")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "sv")
        expect(page.get_by_role("status")).to_have_text("Sparat.")
        expect(page.get_by_role("navigation", name="Huvudmeny")).to_contain_text("Inställningar")
        problems += _serious_violations(page)

        browser.close()
    assert not problems, "\n".join(problems)
    assert not csp_errors, csp_errors
