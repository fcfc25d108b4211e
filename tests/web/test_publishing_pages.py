"""The publishing pages end to end over HTTP: a contributor composes and submits, an editor
approves and schedules, the calendar shows the post beside a press release, a feed URL works
until revoked, and a colleague shares a share-ready post from their own account."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from icalendar import Calendar
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from allsang.db.models import Channel, Job
from allsang.db.models.calendar import AdvocacyShare, CalendarItem, ChannelOwner
from allsang.db.models.publishing import Campaign, Post, PostDelivery
from allsang.publishing.timing import to_local
from allsang.runtime import Runtime
from tests.web.conftest import ClientFactory, World


async def _setup(runtime: Runtime, world: World) -> tuple[int, int, int]:
    async with runtime.db.write() as session:
        channel = Channel(
            workspace_id=world.workspace.id, network="mastodon", name="Acme", account="@acme"
        )
        own = Channel(workspace_id=world.workspace.id, network="mastodon", name="Viewer's own")
        campaign = Campaign(workspace_id=world.workspace.id, name="Spring fair")
        session.add_all([channel, own, campaign])
        await session.flush()
        session.add(ChannelOwner(channel_id=own.id, person_id=world.people["viewer"].id))
        return channel.id, own.id, campaign.id


async def test_a_post_goes_from_draft_to_the_calendar_and_the_feed(
    runtime: Runtime, world: World, client_as: ClientFactory
) -> None:
    channel_id, own_id, campaign_id = await _setup(runtime, world)
    contributor = await client_as("contributor")
    page = await contributor.get("/publish/new")
    assert page.status_code == 200 and 'data-limit="500"' in page.text
    created = await contributor.post(
        "/publish/new",
        data={
            "body": "Welcome to the spring fair!",
            "channel": str(channel_id),
            f"variant-{channel_id}": "Welcome to the spring fair! #fair",
            "campaign": str(campaign_id),
            "action": "submit",
        },
    )
    assert created.status_code == 303
    post_id = int(re.search(r"/publish/(\d+)", created.headers["location"]).group(1))
    editor = await client_as("editor")
    shown = await editor.get(f"/publish/{post_id}")
    assert "Approve" in shown.text
    # Sending back needs a reason.
    bare = await editor.post(f"/publish/{post_id}/review", data={"decision": "reject"})
    assert bare.headers["location"].endswith("?problem=note")
    assert (
        await editor.post(f"/publish/{post_id}/review", data={"decision": "approve"})
    ).status_code == 303
    when = to_local(datetime.now(UTC) + timedelta(days=2), "Europe/Oslo").replace(
        second=0, microsecond=0
    )
    scheduled = await editor.post(
        f"/publish/{post_id}/schedule",
        data={"when": "time", "local": when.strftime("%Y-%m-%dT%H:%M")},
    )
    assert "problem" not in scheduled.headers["location"]
    item = await editor.post(
        "/calendar/items/new",
        data={
            "kind": "press_release",
            "title": "Press release: spring fair",
            "starts": when.strftime("%Y-%m-%dT08:00"),
            "campaign": str(campaign_id),
            "status": "planned",
        },
    )
    assert item.status_code == 303
    made = await editor.post("/calendar/campaigns", data={"name": "Autumn fair"})
    assert made.status_code == 303 and "campaign=" in made.headers["location"]
    twice = await editor.post("/calendar/campaigns", data={"name": "Autumn fair"})
    assert "problem=" in twice.headers["location"]
    month = await (await client_as("viewer")).get(
        f"/calendar?view=month&date={when.date().isoformat()}&campaign={campaign_id}"
    )
    assert f"entry-post-{post_id}" in month.text and "Press release: spring fair" in month.text
    async with runtime.db.read() as session:
        post = await session.get(Post, post_id)
        deliveries = (await session.scalars(select(PostDelivery))).all()
    assert post is not None and post.status == "scheduled"
    assert [d.text for d in deliveries] == ["Welcome to the spring fair! #fair"]

    # A campaign feed: created, read as iCalendar, revoked.
    feeds = await editor.post(
        "/calendar/feeds", data={"scope": "campaign", "campaign_id": str(campaign_id)}
    )
    url = re.search(r"(http://testserver/calendar/feed/cal_[\w-]+\.ics)", feeds.text).group(1)
    ics = await contributor.get(url.removeprefix("http://testserver"))
    assert ics.headers["content-type"].startswith("text/calendar")
    assert len(list(Calendar.from_ical(ics.content).walk("VEVENT"))) == 2
    feed_id = re.search(r"/calendar/feeds/(\d+)/revoke", feeds.text).group(1)
    await editor.post(f"/calendar/feeds/{feed_id}/revoke")
    gone = await contributor.get(url.removeprefix("http://testserver"))
    assert gone.status_code == 303

    # Advocacy: the editor offers it, the viewer shares from their own account once.
    await editor.post(f"/advocacy/{post_id}/ready", data={"ready": "1"})
    viewer = await client_as("viewer")
    feed_page = await viewer.get("/advocacy")
    assert "Welcome to the spring fair!" in feed_page.text
    shared = await viewer.post(
        f"/advocacy/{post_id}/share", data={"channel": str(own_id), "text": "Come along!"}
    )
    again = await viewer.post(f"/advocacy/{post_id}/share", data={"channel": str(own_id)})
    assert "problem" not in shared.headers["location"]
    assert "problem" in again.headers["location"]
    async with runtime.db.read() as session:
        shares = (await session.scalars(select(AdvocacyShare))).all()
        jobs = (await session.scalars(select(Job.kind))).all()
    assert [(s.channel_id, s.text) for s in shares] == [(own_id, "Come along!")]
    assert jobs.count("publishing.deliver") == 2
    report = await editor.get("/advocacy/shares")
    assert "Viewer Person" in report.text
    assert (await contributor.get("/advocacy/shares")).status_code == 403


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


async def test_an_image_needs_alt_text_and_is_served_safely(
    runtime: Runtime, world: World, client_as: ClientFactory
) -> None:
    channel_id, _own_id, _campaign_id = await _setup(runtime, world)
    contributor = await client_as("contributor")
    created = await contributor.post(
        "/publish/new", data={"body": "Photos from the fair", "channel": str(channel_id)}
    )
    post_url = created.headers["location"].split("?")[0]
    uploaded = await contributor.post(
        f"{post_url}/media", files={"file": ("fair.png", PNG, "image/png")}, data={"alt": ""}
    )
    assert uploaded.status_code == 303, uploaded.text
    assert "problem" not in uploaded.headers["location"], uploaded.headers["location"]
    page = await contributor.get(post_url)
    assert "Describe the image for people who cannot see it." in page.text
    media_id = re.search(r'/publish/media/(\d+)"', page.text).group(1)
    # Submitting for review is refused while the image has no alt text.
    refused = await contributor.post(f"{post_url}/submit")
    assert refused.headers["location"].endswith("?problem=alt_text")
    explained = await contributor.get(refused.headers["location"])
    assert "Every image and video needs alt text" in explained.text
    await contributor.post(f"{post_url}/media/{media_id}", data={"alt": "A crowd at the fair"})
    page = await contributor.get(post_url)
    assert 'alt="A crowd at the fair"' in page.text
    served = await contributor.get(f"/publish/media/{media_id}")
    assert served.content == PNG and served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    # A script disguised as an image is refused.
    bad = await contributor.post(
        f"{post_url}/media",
        files={"file": ("x.png", b"<svg onload=alert(1)>", "image/png")},
        data={"alt": "x"},
    )
    assert "problem=media" in bad.headers["location"]


async def test_a_link_preview_reads_the_pages_opengraph_tags_escaped(
    runtime: Runtime, world: World, client_as: ClientFactory, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/fair").respond_with_data(
        '<html><head><meta property="og:title" content="Spring &amp; fair">'
        '<meta property="og:description" content="<script>alert(1)</script>">'
        "<title>ignored</title></head></html>",
        content_type="text/html; charset=utf-8",
    )
    runtime.settings.fetch_allow_private_networks = True
    contributor = await client_as("contributor")
    url = httpserver.url_for("/fair")
    card = await contributor.get("/publish/link-preview", params={"text": f"See {url}."})
    assert "<strong>Spring &amp; fair</strong>" in card.text
    assert "&lt;script&gt;" in card.text and "<script>" not in card.text
    runtime.settings.fetch_allow_private_networks = False
    blocked = await contributor.get("/publish/link-preview", params={"text": f"See {url}"})
    assert "could not be previewed" in blocked.text


async def test_the_calendar_puts_entries_on_the_viewers_local_day_across_dst(
    runtime: Runtime, world: World, client_as: ClientFactory
) -> None:
    _channel_id, _own_id, campaign_id = await _setup(runtime, world)
    async with runtime.db.write() as session:
        for title, instant in (
            # 00:30 in Oslo on the day the clocks go forward (still CET, UTC+1) ...
            ("Before the change", datetime(2030, 3, 30, 23, 30, tzinfo=UTC)),
            # ... and 00:30 the next day (CEST, UTC+2).
            ("After the change", datetime(2030, 3, 31, 22, 30, tzinfo=UTC)),
        ):
            session.add(
                CalendarItem(
                    workspace_id=world.workspace.id,
                    kind="newsletter",
                    title=title,
                    starts_at=instant,
                    timezone="Europe/Oslo",
                    campaign_id=campaign_id,
                )
            )
    viewer = await client_as("viewer")
    page = (await viewer.get("/calendar?view=list&date=2030-03-30")).text
    days = re.findall(
        r'<span class="day-label">([\d-]+)</span>.*?<time[^>]*>([\d:]+)</time>.*?'
        r'<span class="title">([^<]+)</span>',
        page,
        re.S,
    )
    assert days == [
        ("2030-03-31", "00:30", "Before the change"),
        ("2030-04-01", "00:30", "After the change"),
    ]
    assert "Times are shown in Europe/Oslo." in page
