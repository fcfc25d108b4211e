"""Searching the inbox in Chromium: type words, press Enter, see the matching conversation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from allsang.db import Database
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox
from allsang.settings import Settings
from allsang.web.app import create_app
from tests.conftest import TEST_KEY
from tests.inbox.seed import seed
from tests.web.conftest import create_world
from tests.web.test_browser import CHROMIUM, _free_port, _serious_violations
from tests.web.test_inbox_browser import _log_in

pytestmark = pytest.mark.browser


async def _seed(settings: Settings) -> list[int]:
    db = Database(settings.sqlalchemy_url)
    runtime = Runtime(settings=settings, db=db, secrets=SecretBox([TEST_KEY]))
    try:
        world = await create_world(runtime)
        seeded = await seed(db, world.workspace.id)
        return [c.id for c in seeded.conversations]
    finally:
        await db.dispose()


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, list[int]]]:
    conversations = asyncio.run(_seed(settings))
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
    yield f"http://127.0.0.1:{port}", conversations
    server.should_exit = True
    thread.join(10)


def test_typing_a_search_shows_the_matching_conversation(
    served: tuple[str, list[int]],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, (swedish, norwegian, english) = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = _log_in(browser, server, "viewer@acme.test")
        page.goto(f"{server}/inbox")
        expect(page.locator(f"#conversation-{english}")).to_have_count(1)

        # "bestilling" finds the Norwegian "Bestillingen min kom aldri frem" by its stem.
        box = page.get_by_label("Search messages")
        box.fill("bestilling")
        box.press("Enter")
        page.wait_for_url("**/inbox?*q=bestilling*")
        expect(page.locator(f"#conversation-{norwegian}")).to_contain_text("Ola Nordmann")
        expect(page.locator(f"#conversation-{swedish}")).to_have_count(0)
        expect(page.locator(f"#conversation-{english}")).to_have_count(0)
        expect(page.get_by_label("Search messages")).to_have_value("bestilling")
        problems = _serious_violations(page)
        browser.close()
    assert problems == []
