"""Out of office in Chromium: a person sets an absence with a deputy, the deputy finds the
conversation under "assigned to me" with a notification, the person comes back and it goes
back to them; the continuity pages pass axe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect

from allsang.db.models import Conversation, Department
from allsang.settings import Settings
from tests.inbox.seed import seed
from tests.web.browser import AppServer, log_in, run_async, runtime_for, serious_violations
from tests.web.conftest import create_world

pytestmark = pytest.mark.browser


async def _seed(settings: Settings) -> tuple[int, int, int]:
    """The world, a department and the seeded conversations; the first is the contributor's.
    Returns (conversation id, department id, channel id)."""
    async with runtime_for(settings) as runtime:
        world = await create_world(runtime)
        seeded = await seed(runtime.db, world.workspace.id)
        async with runtime.db.write() as session:
            department = Department(workspace_id=world.workspace.id, name="Kundtjänst")
            session.add(department)
            conversation = await session.get(Conversation, seeded.conversations[0].id)
            assert conversation is not None
            conversation.assignee_id = world.people["contributor"].id
            conversation.status = "open"
            await session.flush()
            return conversation.id, department.id, seeded.channel.id


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, tuple[int, int, int]]]:
    ids = run_async(_seed(settings))
    with AppServer(settings) as app:
        yield app.url, ids


def test_going_out_of_office_hands_a_conversation_to_the_deputy_and_back(
    served: tuple[str, tuple[int, int, int]], browser: Browser
) -> None:
    server, (conversation_id, department_id, channel_id) = served
    back_on = datetime.now(UTC).astimezone(ZoneInfo("Europe/Oslo")) + timedelta(days=3)
    away = log_in(browser, server, "contributor@acme.test", timezone_id="Europe/Oslo")
    deputy = log_in(browser, server, "editor@acme.test", timezone_id="Europe/Oslo")
    problems: list[str] = []

    away.get_by_role("link", name="Continuity").click()
    away.get_by_role("link", name="Out of office").click()
    problems += serious_violations(away)
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
        problems += serious_violations(deputy)
    assert problems == []
