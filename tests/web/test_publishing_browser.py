"""Publishing in Chromium: a contributor drafts, an editor approves and schedules, and a worker
publishes the post to a local fake Mastodon at its time, exactly once; the calendar shows a
press release beside the campaign's social posts and moves it by drag and drop; axe passes on
the composer and the calendar."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect
from pytest_httpserver import HTTPServer
from sqlalchemy import select

import allsang.publishing.jobs  # noqa: F401  (registers the delivery job's handler)
from allsang.authz import Actor
from allsang.channels import seal_credentials
from allsang.db.models import Channel, Job
from allsang.db.models.calendar import CalendarItem
from allsang.db.models.publishing import Campaign, Post, PostDelivery, PostVariant
from allsang.jobs import Worker
from allsang.publishing import calendar
from allsang.publishing.timing import to_local, to_utc
from allsang.settings import Settings
from tests.publishing.fake_mastodon import FakeMastodon
from tests.web.browser import AppServer, log_in, run_async, runtime_for, serious_violations
from tests.web.conftest import create_world

pytestmark = pytest.mark.browser

ZONE = "Europe/Oslo"  # the test workspace's zone, and so every viewer's


@dataclass
class Served:
    url: str
    fake: FakeMastodon
    channel_id: int
    campaign_id: int
    workspace_id: int
    people: dict[str, int]


async def _seed(settings: Settings, instance: str) -> tuple[int, int, int, dict[str, int]]:
    async with runtime_for(settings) as runtime:
        world = await create_world(runtime)
        async with runtime.db.write() as session:
            channel = Channel(
                workspace_id=world.workspace.id,
                network="mastodon",
                name="Acme on Mastodon",
                account="@acme@fake.example",
                config={"instance": instance},
                credentials=seal_credentials(runtime.secrets, {"access_token": "t0ken"}),
            )
            campaign = Campaign(workspace_id=world.workspace.id, name="Spring fair")
            bluesky = Channel(
                workspace_id=world.workspace.id, network="bluesky", name="Acme on Bluesky"
            )
            session.add_all([channel, campaign, bluesky])
            await session.flush()
            people = {role: p.id for role, p in world.people.items()}
            return world.workspace.id, channel.id, campaign.id, people


@contextmanager
def _worker(settings: Settings) -> Iterator[None]:
    """The job worker in a thread and event loop of its own, with its own engine, polling
    often; stopped and joined on the way out."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def work() -> None:
        async with runtime_for(settings) as runtime:
            await Worker(runtime, poll_seconds=0.1).run(stop)

    thread = threading.Thread(target=loop.run_until_complete, args=(work(),), daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        assert not thread.is_alive(), "the worker did not stop"
        loop.close()


@pytest.fixture
def served(settings: Settings, httpserver: HTTPServer) -> Iterator[Served]:
    fake = FakeMastodon(httpserver)
    workspace_id, channel_id, campaign_id, people = run_async(_seed(settings, fake.url))
    with AppServer(settings) as app, _worker(settings):
        yield Served(app.url, fake, channel_id, campaign_id, workspace_id, people)


async def _delivery(settings: Settings) -> tuple[PostDelivery, list[str]]:
    async with runtime_for(settings) as runtime, runtime.db.read() as session:
        delivery = await session.scalar(select(PostDelivery))
        assert delivery is not None
        jobs = list(
            (
                await session.scalars(select(Job.status).where(Job.kind == "publishing.deliver"))
            ).all()
        )
        return delivery, jobs


def test_a_contributors_post_is_approved_and_published_once_at_its_time(
    served: Served, settings: Settings, browser: Browser
) -> None:
    problems: list[str] = []
    contributor = log_in(browser, served.url, "contributor@acme.test")
    contributor.goto(f"{served.url}/publish/new")
    contributor.get_by_label("Text", exact=True).fill("The spring fair opens on Saturday!")
    contributor.get_by_label("Acme on Mastodon (mastodon)").check()
    variant = contributor.get_by_label("Text on Acme on Mastodon")
    # The channel's text follows the main text, counted as Mastodon counts (500).
    expect(variant).to_have_value("The spring fair opens on Saturday!")
    expect(contributor.locator(f"#count-{served.channel_id}")).to_have_text("466 characters left")
    # A second channel adds a tab with Bluesky's own counter; arrow keys move between tabs.
    contributor.get_by_label("Acme on Bluesky (bluesky)").check()
    tabs = contributor.get_by_role("tab")
    expect(tabs).to_have_count(2)
    expect(contributor.get_by_role("tab", name="Acme on Bluesky")).to_have_attribute(
        "aria-selected", "true"
    )
    expect(contributor.get_by_role("tabpanel")).to_contain_text("266 characters left")
    contributor.get_by_role("tab", name="Acme on Bluesky").press("ArrowLeft")
    expect(contributor.get_by_role("tab", name="Acme on Mastodon")).to_be_focused()
    expect(variant).to_be_visible()
    contributor.get_by_label("Acme on Bluesky (bluesky)").uncheck()
    expect(tabs).to_have_count(1)
    variant.fill("The spring fair opens on Saturday! https://example.org/fair")
    expect(contributor.locator(f"#count-{served.channel_id}")).to_have_text("442 characters left")
    expect(contributor.get_by_role("tabpanel").locator(".preview-text")).to_have_text(
        "The spring fair opens on Saturday! https://example.org/fair"
    )
    problems += serious_violations(contributor)
    contributor.get_by_role("button", name="Submit for review").click()
    expect(contributor.locator("#post-status")).to_contain_text("In review")
    post_url = contributor.url.split("?")[0]
    # A contributor cannot schedule an unapproved post: the page offers no way to.
    expect(contributor.get_by_role("button", name="Schedule")).to_have_count(0)

    editor = log_in(browser, served.url, "editor@acme.test")
    editor.goto(post_url)
    editor.get_by_label("Note to the author").fill("Looks good.")
    editor.get_by_role("button", name="Approve").click()
    expect(editor.locator("#post-status")).to_contain_text("Approved")
    due = to_local(datetime.now(UTC) + timedelta(seconds=6), ZONE).replace(microsecond=0)
    when = editor.get_by_label(f"Time ({ZONE})")
    # People pick minutes; the test needs seconds so it does not wait up to a minute.
    when.evaluate("input => input.step = 1")
    when.fill(due.strftime("%Y-%m-%dT%H:%M:%S"))
    editor.get_by_role("button", name="Schedule").click()
    expect(editor.locator(".error")).to_have_count(0)
    expect(editor.locator("#post-status")).to_contain_text("Scheduled")
    assert served.fake.statuses == []  # not before its time

    deadline = time.monotonic() + 30
    while not served.fake.statuses:
        assert time.monotonic() < deadline, "the post was not published"
        time.sleep(0.1)
    while "Published" not in editor.locator("#post-status").inner_text():
        assert time.monotonic() < deadline, "the post page never said Published"
        editor.reload()
    expect(editor.locator(".comment, .approval")).to_contain_text("Looks good.")
    problems += serious_violations(editor)

    # Wait for the job to finish, then check nothing else was posted.
    while True:
        delivery, jobs = run_async(_delivery(settings))
        if jobs == ["done"] and delivery.state == "published":
            break
        assert time.monotonic() < deadline, (delivery.state, jobs)
        time.sleep(0.1)
    assert served.fake.texts() == ["The spring fair opens on Saturday! https://example.org/fair"]
    assert delivery.published_at is not None and delivery.published_at >= delivery.due_at
    assert to_local(delivery.due_at, ZONE) == due
    assert problems == []


async def _plan(settings: Settings, served: Served) -> tuple[int, int, datetime]:
    """A scheduled-looking post and a press release of the campaign on the same day, next
    month (so the test never runs into "the past")."""
    async with runtime_for(settings) as runtime:
        day = (to_local(datetime.now(UTC), ZONE).replace(day=1) + timedelta(days=40)).replace(
            day=10, hour=9, minute=0, second=0, microsecond=0
        )
        editor = Actor(
            kind="person",
            label="editor",
            workspace_id=served.workspace_id,
            role="editor",
            person_id=served.people["editor"],
        )
        async with runtime.db.write() as session:
            post = Post(
                workspace_id=served.workspace_id,
                author_id=served.people["contributor"],
                campaign_id=served.campaign_id,
                body="Spring fair: the programme is out",
                status="approved",
                scheduled_at=datetime.now(UTC).replace(microsecond=0),  # replaced below
                timezone=ZONE,
            )
            session.add(post)
            await session.flush()
            session.add(PostVariant(post_id=post.id, channel_id=served.channel_id))
            post.scheduled_at = to_utc(day.replace(hour=12), ZONE)
            item = await calendar.create_item(
                session,
                editor,
                calendar.ItemFields(
                    kind="press_release",
                    title="Press release: spring fair programme",
                    starts_local=day,
                    timezone=ZONE,
                    campaign_id=served.campaign_id,
                ),
            )
            return post.id, item.id, day


async def _item_start(settings: Settings, item_id: int) -> datetime:
    async with runtime_for(settings) as runtime, runtime.db.read() as session:
        item = await session.get(CalendarItem, item_id)
        assert item is not None
        return item.starts_at


def test_the_calendar_shows_a_press_release_beside_the_campaigns_posts(
    served: Served, settings: Settings, browser: Browser
) -> None:
    post_id, item_id, day = run_async(_plan(settings, served))
    editor = log_in(browser, served.url, "editor@acme.test")
    editor.goto(
        f"{served.url}/calendar?view=month&date={day.date().isoformat()}"
        f"&campaign={served.campaign_id}"
    )
    cell = editor.locator(f'td[data-day="{day.date().isoformat()}"]')
    expect(cell.locator(f"#entry-item-{item_id}")).to_contain_text("Press release")
    expect(cell.locator(f"#entry-post-{post_id}")).to_contain_text("Social post")
    expect(cell.locator(f"#entry-item-{item_id} time")).to_have_text("09:00")
    problems = serious_violations(editor)

    # Drag the press release two days later: same time of day, stored, shown there.
    target_day = (day + timedelta(days=2)).date().isoformat()
    # Chromium run headless this way does not start native drags from mouse input, so
    # the test sends the same DOM drag events a drag produces (with one DataTransfer).
    transfer = editor.evaluate_handle("() => new DataTransfer()")
    source = editor.locator(f"#entry-item-{item_id}")
    target = editor.locator(f'td[data-day="{target_day}"]')
    source.dispatch_event("dragstart", {"dataTransfer": transfer})
    target.dispatch_event("dragover", {"dataTransfer": transfer})
    target.dispatch_event("drop", {"dataTransfer": transfer})
    source.dispatch_event("dragend", {"dataTransfer": transfer})
    moved = editor.locator(f'td[data-day="{target_day}"] #entry-item-{item_id}')
    expect(moved).to_be_visible()
    expect(moved.locator("time")).to_have_text("09:00")

    # The keyboard way: the Move form beside the entry.
    editor.locator(f"#entry-item-{item_id} summary").click()
    editor.locator(f"#entry-item-{item_id}").get_by_label("New time").fill(f"{target_day}T14:30")
    editor.locator(f"#entry-item-{item_id}").get_by_role("button", name="Move").click()
    expect(editor.locator(f'td[data-day="{target_day}"] #entry-item-{item_id} time')).to_have_text(
        "14:30"
    )

    editor.goto(f"{served.url}/calendar?view=list&date={day.date().isoformat()}")
    expect(editor.locator(f"#entry-post-{post_id}")).to_be_visible()
    problems += serious_violations(editor)
    for page in (
        "/publish",
        "/calendar/items/new",
        "/calendar/feeds",
        "/advocacy",
        "/advocacy/shares",
        f"/calendar/items/{item_id}",
    ):
        editor.goto(f"{served.url}{page}")
        expect(editor.locator("h1")).to_be_visible()
        problems += serious_violations(editor)
    start = run_async(_item_start(settings, item_id))
    assert to_local(start, ZONE).strftime("%Y-%m-%d %H:%M") == f"{target_day} 14:30"
    assert problems == []
