"""Done when: a newcomer connects an RSS feed and a Mastodon account from the web interface
(against local servers), one ingest pass runs, and the channels show healthy with their
messages, which are in the database threaded into conversations where they should be. In
Debian's Chromium, with axe-core on every page of the flow."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from allsang.db.models import Channel, Message
from allsang.settings import Settings
from tests.web.browser import log_in, run_async, runtime_for, serious_violations
from tests.web.test_channels import FakeInstance, ingest_once, serve_feed

pytestmark = pytest.mark.browser


async def _ingest_pass(settings: Settings) -> tuple[int, list[tuple[str, int | None]]]:
    """One listen pass of every channel, then what the database holds."""
    async with runtime_for(settings) as runtime:
        async with runtime.db.read() as session:
            channel_ids = list(await session.scalars(select(Channel.id)))
        stored = 0
        for channel_id in channel_ids:
            stored += await ingest_once(runtime, channel_id)
        async with runtime.db.read() as session:
            rows = list(await session.execute(select(Message.kind, Message.conversation_id)))
        return stored, [(kind, conversation) for kind, conversation in rows]


def test_a_newcomer_connects_a_feed_and_a_mastodon_account_and_sees_messages_arrive(
    server: str, settings: Settings, httpserver: HTTPServer, browser: Browser
) -> None:
    feed_url = serve_feed(httpserver)
    fake = FakeInstance(httpserver)
    problems: list[str] = []
    page = log_in(browser, server, "editor@acme.test")
    expect(page.locator("main h1")).to_have_text("Acme")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    page.get_by_role("navigation", name="Team").get_by_role("link", name="Channels").click()
    expect(page.locator("main h1")).to_have_text("Channels")
    problems += serious_violations(page)
    page.get_by_role("link", name="Connect a channel").click()
    expect(page.locator("main h1")).to_have_text("Connect a channel")
    problems += serious_violations(page)

    # A page that is not a feed is refused with the reason next to the field.
    page.get_by_label("Feed address").fill(f"{server}/login")
    page.get_by_role("button", name="Connect feed").click()
    expect(page.locator("#rss_url-error")).to_contain_text("did not give a feed")
    problems += serious_violations(page)

    page.get_by_label("Feed address").fill(feed_url)
    page.get_by_role("button", name="Connect feed").click()
    expect(page.locator("main h1")).to_have_text("RSS Sample")
    expect(page.locator("p.flash[role=status]")).to_contain_text("The channel is connected.")
    problems += serious_violations(page)

    stored, articles = run_async(_ingest_pass(settings))
    assert stored == 21

    page.reload()
    health = page.locator("dl.facts")
    expect(health.locator(".badge")).to_have_text("Active")
    expect(health).to_contain_text("21")
    page.get_by_role("link", name="All channels").click()
    row = page.get_by_role("row", name="RSS Sample")
    expect(row).to_contain_text("Active")
    expect(row.locator("td.num")).to_have_text("21")
    problems += serious_violations(page)

    page.get_by_role("navigation", name="Team").get_by_role("link", name="Quarantine").click()
    expect(page.locator("main")).to_contain_text("Nothing is in quarantine.")
    problems += serious_violations(page)

    # Mastodon: off to the instance to allow access, and back.
    page.goto(f"{server}/channels/connect")
    page.get_by_label("Mastodon server").first.fill(fake.url)
    page.get_by_role("button", name="Continue on Mastodon").click()
    expect(page.locator("p.flash[role=status]")).to_contain_text("The channel is connected.")
    expect(page.locator("dl.facts")).to_contain_text("@noiob@awoo.space")
    problems += serious_violations(page)

    stored, rows = run_async(_ingest_pass(settings))
    assert stored == 2
    page.reload()
    expect(page.locator("dl.facts .badge")).to_have_text("Active")

    # Articles are stored as such; they open no conversation (nobody wrote to us).
    assert len(articles) == 21
    assert {kind for kind, _conversation in articles} == {"article"}
    assert {conversation for _kind, conversation in articles} == {None}
    # The mention and the reply to it from Mastodon share one conversation.
    mastodon = [conversation for kind, conversation in rows if kind != "article"]
    assert len(mastodon) == 2 and len(set(mastodon)) == 1 and None not in mastodon
    assert not problems, "\n".join(problems)
