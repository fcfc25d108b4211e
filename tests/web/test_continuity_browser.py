"""Out of office in Chromium: a person sets an absence with a deputy, the deputy finds the
conversation under "assigned to me" with a notification, the person comes back and it goes
back to them; the continuity pages pass axe."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn

from allsang.db import Database
from allsang.db.models import Conversation, Department
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox
from allsang.settings import Settings
from allsang.web.app import create_app
from tests.conftest import TEST_KEY
from tests.inbox.seed import seed
from tests.web.conftest import PASSWORD, create_world
from tests.web.test_browser import AXE, CHROMIUM, _free_port, _serious_violations

pytestmark = pytest.mark.browser


async def _seed(settings: Settings) -> tuple[int, int, int]:
    """The world, a department and the seeded conversations; the first is the contributor's.
    Returns (conversation id, department id, channel id)."""
    db = Database(settings.sqlalchemy_url)
    runtime = Runtime(settings=settings, db=db, secrets=SecretBox([TEST_KEY]))
    try:
        world = await create_world(runtime)
        seeded = await seed(db, world.workspace.id)
        async with db.write() as session:
            department = Department(workspace_id=world.workspace.id, name="Kundtjänst")
            session.add(department)
            conversation = await session.get(Conversation, seeded.conversations[0].id)
            assert conversation is not None
            conversation.assignee_id = world.people["contributor"].id
            conversation.status = "open"
            await session.flush()
            return conversation.id, department.id, seeded.channel.id
    finally:
        await db.dispose()


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, tuple[int, int, int]]]:
    ids = asyncio.run(_seed(settings))
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
    yield f"http://127.0.0.1:{port}", ids
    server.should_exit = True
    thread.join(10)


def _log_in(browser: Any, server: str, email: str) -> Any:
    context = browser.new_context(locale="en-GB", timezone_id="Europe/Oslo")
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.goto(f"{server}/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/")
    return page


def test_going_out_of_office_hands_a_conversation_to_the_deputy_and_back(
    served: tuple[str, tuple[int, int, int]],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, (conversation_id, department_id, channel_id) = served
    back_on = datetime.now(UTC).astimezone(ZoneInfo("Europe/Oslo")) + timedelta(days=3)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        away = _log_in(browser, server, "contributor@acme.test")
        deputy = _log_in(browser, server, "editor@acme.test")
        problems: list[str] = []

        away.get_by_role("link", name="Continuity").click()
        away.get_by_role("link", name="Out of office").click()
        problems += _serious_violations(away)
        away.get_by_label("Until").fill(back_on.strftime("%Y-%m-%dT%H:%M"))
        away.get_by_label("Deputy").select_option(label="Editor Person")
        away.get_by_role("button", name="Save absence").click()
        expect(away.locator("#absences")).to_contain_text("away now")
        expect(away.locator("#absences")).to_contain_text("Editor Person")

        deputy.goto(f"{server}/inbox?assignee=me")
        expect(deputy.locator(f"#conversation-{conversation_id}")).to_have_count(1)
        deputy.locator("details.notifications summary").click()
        expect(deputy.locator("details.notifications")).to_contain_text(
            "Contributor Person is away: handed over to you"
        )

        away.get_by_role("button", name="I am back").click()
        expect(away.locator("#absences")).to_have_count(0)
        deputy.goto(f"{server}/inbox?assignee=me")
        expect(deputy.locator(f"#conversation-{conversation_id}")).to_have_count(0)
        away.goto(f"{server}/inbox?assignee=me")
        expect(away.locator(f"#conversation-{conversation_id}")).to_have_count(1)

        for path in (
            "/continuity/rota",
            f"/continuity/rota/{department_id}",
            "/continuity/bus-factor",
            f"/continuity/channels/{channel_id}",
        ):
            deputy.goto(f"{server}{path}")
            problems += _serious_violations(deputy)
        browser.close()
    assert problems == []
