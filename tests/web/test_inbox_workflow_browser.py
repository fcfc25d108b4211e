"""The inbox workflow in Chromium, with two people in two browser contexts: who is writing,
the collision warning with "Send anyway", a contributor's reply held and approved by an editor
(sent through a fake Mastodon instance), a saved reply inserted with the keyboard, and snooze."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from allsang.db.models import Conversation, Person, Workspace
from allsang.db.models.inbox_workflow import SavedReply
from allsang.inbox import snooze
from allsang.settings import Settings
from tests.web.browser import log_in, run_async, runtime_for, serious_violations
from tests.web.test_inbox_browser import FakeMastodon, served  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser
T = TypeVar("T")


def in_db(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    async def run() -> T:
        async with runtime_for(settings) as runtime, runtime.db.write() as session:
            return await work(session)

    return run_async(run())


def test_a_second_person_sees_who_is_writing_and_is_warned_before_answering_again(
    served: tuple[str, int, FakeMastodon],  # noqa: F811
    browser: Browser,
) -> None:
    server, conversation_id, fake = served
    editor = log_in(browser, server, "editor@acme.test")
    contributor = log_in(browser, server, "contributor@acme.test")
    editor.goto(f"{server}/inbox/{conversation_id}")
    contributor.goto(f"{server}/inbox/{conversation_id}")
    expect(editor.locator("#presence")).to_contain_text("Contributor Person")

    contributor.get_by_label("Reply on mastodon as").press_sequentially("Vi har öppet")
    expect(editor.locator("#typing")).to_have_text("Writing a reply: Contributor Person")
    contributor.get_by_role("button", name="Send reply").click()
    expect(contributor.locator(".message.outbound")).to_contain_text("Vi har öppet")
    expect(editor.locator("#typing")).to_have_text("")

    # The editor had the page open before that reply: sending is stopped with a warning.
    editor.get_by_label("Reply on mastodon as").fill("Öppet 10–14!")
    editor.get_by_role("button", name="Send reply").click()
    warning = editor.locator("#collision-warning")
    expect(warning).to_contain_text("got an answer since you opened it")
    expect(warning).to_contain_text("Contributor Person")
    expect(editor.get_by_label("Reply on mastodon as")).to_have_value("Öppet 10–14!")
    problems = serious_violations(editor)
    assert len(fake.posted) == 1
    editor.get_by_role("button", name="Send anyway").click()
    # (The fake instance gives every status the same id, so the thread keeps one row.)
    expect(editor.locator(".message.outbound")).to_contain_text("Öppet 10–14!")
    expect(editor.locator("#collision-warning")).to_have_count(0)
    assert len(fake.posted) == 2 and fake.posted[1]["status"].endswith("Öppet 10–14!")
    assert problems == []


def test_an_editor_approves_a_contributors_reply_and_both_see_it_go_out(
    served: tuple[str, int, FakeMastodon],  # noqa: F811
    settings: Settings,
    browser: Browser,
) -> None:
    server, conversation_id, fake = served

    async def require_approval(session: Any) -> None:
        workspace = await session.scalar(select(Workspace))
        workspace.settings = {**(workspace.settings or {}), "reply_approval": True}

    in_db(settings, require_approval)
    editor = log_in(browser, server, "editor@acme.test")
    contributor = log_in(browser, server, "contributor@acme.test")
    editor.goto(f"{server}/inbox/{conversation_id}")
    expect(editor.locator("body[data-live=open]")).to_have_count(1)

    contributor.goto(f"{server}/inbox/{conversation_id}")
    contributor.get_by_label("Reply on mastodon as").fill("God jul från oss alla!")
    contributor.get_by_role("button", name="Submit for approval").click()
    expect(contributor.locator(".flash")).to_contain_text("waits for an editor's approval")
    expect(contributor.locator("#held-replies")).to_contain_text("God jul från oss alla!")
    assert fake.posted == []

    # The editor's open page shows the held reply live, and the list has it too.
    held = editor.locator("#held-replies")
    expect(held).to_contain_text("God jul från oss alla!", timeout=5000)
    problems = serious_violations(editor)
    held.get_by_role("button", name="Approve and send").click()
    expect(editor.locator(".message.outbound")).to_contain_text("God jul från oss alla!")
    expect(contributor.locator(".message.outbound")).to_contain_text(
        "God jul från oss alla!", timeout=5000
    )
    expect(contributor.locator("#held-replies")).to_have_count(0)
    editor.goto(f"{server}/inbox/approvals")
    expect(editor.get_by_text("No replies are waiting for approval.")).to_be_visible()
    problems += serious_violations(editor)
    assert len(fake.posted) == 1 and "God jul från oss alla!" in fake.posted[0]["status"]
    assert problems == []


def test_a_saved_reply_is_inserted_with_the_keyboard_and_counted(
    served: tuple[str, int, FakeMastodon],  # noqa: F811
    settings: Settings,
    browser: Browser,
) -> None:
    server, conversation_id, _fake = served

    async def add_saved_reply(session: Any) -> None:
        workspace = await session.scalar(select(Workspace))
        session.add(
            SavedReply(
                workspace_id=workspace.id,
                name="Opening hours",
                text="Hej {contact_name}! Vi har öppet 10–14. /{agent_first_name}",
            )
        )

    in_db(settings, add_saved_reply)
    contributor = log_in(browser, server, "contributor@acme.test")
    contributor.goto(f"{server}/inbox/{conversation_id}")
    box = contributor.get_by_label("Reply on mastodon as")
    box.fill("Tack! ")
    contributor.get_by_label("Saved reply").focus()
    contributor.keyboard.press("Tab")  # to the "Insert" button
    contributor.keyboard.press("Enter")
    expected = "Tack! Hej Anna Berg! Vi har öppet 10–14. /Contributor"
    expect(box).to_have_value(expected)
    expect(box).to_be_focused()
    expect(contributor.locator("#reply-count")).to_have_text(
        f"{500 - len(expected)} characters left"
    )
    box.press("End")
    box.press_sequentially("x" * (500 - len(expected) + 1))
    expect(contributor.locator("#reply-count")).to_have_text("1 characters too many")
    expect(contributor.locator("#reply-count.over")).to_have_count(1)
    problems = serious_violations(contributor)
    editor = log_in(browser, server, "editor@acme.test")
    editor.goto(f"{server}/inbox/settings/saved-replies")
    expect(editor.get_by_label("Reply text").first).to_have_value(
        "Hej {contact_name}! Vi har öppet 10–14. /{agent_first_name}"
    )
    problems += serious_violations(editor)
    assert problems == []


def test_a_snoozed_conversation_comes_back_and_tells_its_assignee(
    served: tuple[str, int, FakeMastodon],  # noqa: F811
    settings: Settings,
    browser: Browser,
) -> None:
    server, conversation_id, _fake = served

    async def assign(session: Any) -> None:
        person = await session.scalar(select(Person).where(Person.email == "editor@acme.test"))
        conversation = await session.get(Conversation, conversation_id)
        conversation.assignee_id = person.id
        conversation.status = "open"

    in_db(settings, assign)
    editor = log_in(browser, server, "editor@acme.test")
    editor.goto(f"{server}/inbox/{conversation_id}")
    editor.get_by_label("Snooze until").select_option("custom")
    local = (datetime.now(UTC) + timedelta(days=3)).astimezone(snooze.zone("Europe/Oslo"))
    editor.get_by_label("Date and time (Europe/Oslo)").fill(local.strftime("%Y-%m-%dT09:15"))
    editor.get_by_role("button", name="Snooze", exact=True).click()
    expect(editor.locator(".flash")).to_have_text("Snoozed.")
    expect(editor.locator("#current-status")).to_have_text("Snoozed")
    expect(editor.locator("#snoozed-until")).to_contain_text("9:15:00")
    problems = serious_violations(editor)

    async def time_passes(session: Any) -> list[Any]:
        return await snooze.wake_due(session, datetime.now(UTC) + timedelta(days=4))

    assert [c.id for c in in_db(settings, time_passes)] == [conversation_id]
    editor.goto(f"{server}/inbox")
    expect(editor.locator(".notifications summary")).to_have_text("1 notification")
    editor.locator(".notifications summary").click()
    editor.get_by_role("link", name="Back from snooze").click()
    expect(editor.locator("#current-status")).to_have_text("Open")
    assert problems == []


SAMPLES = [
    "Hej! Var kan jag hitta öppettiderna i jul?",
    "Läs mer: https://example.com/" + "a" * 200 + " och http://x.se/?q=1.",
    "👩‍👩‍👧 familj, e\u0301 och 👍🏽",
    "@anna@social.example tack!",
    "例えば日本語のテキスト",
    "",
]


def test_the_browser_counts_like_the_server(
    served: tuple[str, int, FakeMastodon],  # noqa: F811
    browser: Browser,
) -> None:
    from allsang.connectors import limits

    server, conversation_id, _fake = served
    expected = {
        counting: [limits.length(limits.Rule("n", 1, counting), text) for text in SAMPLES]  # type: ignore[arg-type]
        for counting in ("mastodon", "graphemes", "x")
    }
    page = log_in(browser, server, "contributor@acme.test")
    page.goto(f"{server}/inbox/{conversation_id}")
    counted = page.evaluate(
        """(samples) => Object.fromEntries(["mastodon", "graphemes", "x"].map(
            (c) => [c, samples.map((t) => window.AllsangLimits.count(t, c, 23))]))""",
        SAMPLES,
    )
    assert counted == expected
