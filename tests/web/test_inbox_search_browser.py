"""Searching the inbox in Chromium: type words, press Enter, see the matching conversation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from allsang.settings import Settings
from tests.inbox.seed import seed
from tests.web.browser import AppServer, log_in, run_async, runtime_for, serious_violations
from tests.web.conftest import create_world

pytestmark = pytest.mark.browser


async def _seed(settings: Settings) -> list[int]:
    async with runtime_for(settings) as runtime:
        world = await create_world(runtime)
        seeded = await seed(runtime.db, world.workspace.id)
        return [c.id for c in seeded.conversations]


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, list[int]]]:
    conversations = run_async(_seed(settings))
    with AppServer(settings) as app:
        yield app.url, conversations


def test_typing_a_search_shows_the_matching_conversation(
    served: tuple[str, list[int]], browser: Browser
) -> None:
    server, (swedish, norwegian, english) = served
    page = log_in(browser, server, "viewer@acme.test")
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
    assert serious_violations(page) == []
