"""Wall screens and admin pages in Chromium: post images and the logo arrive through the
server (never hotlinked; an SVG or javascript: image shows nothing and runs nothing), a
revoked screen switches to "no longer valid" and stops its stream, and the admin pages pass
axe."""

from __future__ import annotations

import struct
import time
import uuid
import zlib
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from pytest_httpserver import HTTPServer

from allsang.auth import sessions
from allsang.settings import Settings
from tests.web import test_walls_live as walls_live
from tests.web.browser import open_page, serious_violations, watch
from tests.web.test_walls_live import Live

live = walls_live.live  # the same seeded server, under this module's settings

pytestmark = pytest.mark.browser


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The image host is on 127.0.0.1, as on an intranet install.
    settings.fetch_allow_private_networks = True
    return settings


def png(width: int, height: int) -> bytes:
    """A real, decodable PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x20\x80\xe0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def serve(httpserver: HTTPServer, body: bytes, content_type: str) -> str:
    path = f"/{uuid.uuid4().hex}"
    httpserver.expect_request(path).respond_with_data(body, content_type=content_type)
    return httpserver.url_for(path)


def send_post(live: Live, text: str, media: list[dict[str, Any]] | None = None) -> None:
    body: dict[str, Any] = {
        "channel": "mastodon",
        "external_id": f"b-{time.monotonic_ns()}",
        "author": {"handle": "anna", "name": "Anna"},
        "text": text,
        "created_at": "2026-11-22T09:00:00+00:00",
    }
    if media is not None:
        body["media"] = media
    response = httpx.post(
        f"{live.url}/api/v1/messages",
        json=body,
        headers={"authorization": f"Bearer {live.api_token}"},
        timeout=30,
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.text


def _as_editor(live: Live, browser: Browser) -> Page:
    page = open_page(browser, viewport={"width": 1280, "height": 900})
    page.context.add_cookies(
        [{"name": sessions.COOKIE_NAME, "value": live.session_cookie, "url": live.url}]
    )
    return page


def test_images_and_the_logo_come_through_the_server_and_svg_shows_nothing(
    live: Live, httpserver: HTTPServer, browser: Browser
) -> None:
    photo = serve(httpserver, png(40, 30), "image/png")
    logo = serve(httpserver, png(64, 16), "image/png")
    svg = serve(
        httpserver,
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script>'
        b"</svg>",
        "image/svg+xml",
    )
    editor = _as_editor(live, browser)
    editor.goto(f"{live.url}/walls/{live.wall_id}/edit")
    editor.get_by_label("Logo address").fill(logo)
    editor.get_by_role("button", name="Save").click()
    expect(editor.get_by_role("heading", name="Entrance")).to_be_visible()

    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    log = watch(page)
    page.goto(f"{live.url}/walls/{live.wall_id}?token={live.token}")
    logo_image = page.locator("img.wall-logo")
    expect(logo_image).to_be_visible()
    page.wait_for_function("() => document.querySelector('img.wall-logo').naturalWidth > 0")
    assert page.evaluate("() => document.querySelector('img.wall-logo').naturalWidth") == 64

    send_post(live, "A photo #live", [{"url": photo, "type": "image", "alt": "Blue"}])
    send_post(live, "A vector #live", [{"url": svg, "type": "image"}])
    send_post(live, "A trick #live", [{"url": "javascript:alert(3)", "type": "image"}])
    photo_card = page.locator(".wall-card", has_text="A photo #live")
    expect(photo_card.get_by_role("img", name="Blue")).to_be_visible()
    photo_card.locator("img").evaluate(
        "img => img.complete || new Promise(r => img.addEventListener('load', r))"
    )
    assert photo_card.locator("img").evaluate("img => img.naturalWidth") == 40
    src = photo_card.locator("img").get_attribute("src") or ""
    assert src.startswith(f"/walls/{live.wall_id}/media/") and "token" not in src
    # The SVG is refused by the server; the page drops the broken image.
    vector_card = page.locator(".wall-card", has_text="A vector #live")
    expect(vector_card).to_be_visible()
    expect(vector_card.locator("img")).to_have_count(0)
    expect(page.locator(".wall-card", has_text="A trick #live").locator("img")).to_have_count(0)
    assert page.evaluate("() => [...document.images].every(i => i.src.startsWith(location.origin))")
    # After a reload the refused image is rendered by the server and still leaves nothing.
    page.reload()
    expect(page.locator(".wall-card", has_text="A photo #live").locator("img")).to_be_visible()
    expect(page.locator(".wall-card", has_text="A vector #live").locator("img")).to_have_count(0)
    assert log.dialogs == []
    # Only the server fetched (its own User-Agent), never the screen's browser.
    agents = {request.headers.get("User-Agent", "") for request, _ in httpserver.log}
    assert agents and all(agent.startswith("Allsang/") for agent in agents), agents


def test_a_revoked_screen_says_it_is_no_longer_valid_and_stops_its_stream(
    live: Live, browser: Browser
) -> None:
    send_post(live, "Still here #live")
    # A kiosk's screen: the browser's own language, as a wall screen is set up.
    page = open_page(browser, locale=None, viewport={"width": 1920, "height": 1080})
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/events" in r.url else None)
    page.goto(f"{live.url}/walls/{live.wall_id}?token={live.token}")
    expect(page.get_by_text("Still here #live")).to_be_visible()

    httpx.post(
        f"{live.url}/walls/{live.wall_id}/revoke",
        cookies={sessions.COOKIE_NAME: live.session_cookie},
    )
    heading = page.get_by_role("heading", name="This screen is no longer valid")
    expect(heading).to_be_visible(timeout=3000)
    expect(page.get_by_text("Ask an administrator for a new link.")).to_be_visible()
    expect(page.locator(".wall-card")).to_have_count(0)
    # Readable from three metres: the heading is at least 5 % of a 1080-line screen.
    assert float(heading.evaluate("h => getComputedStyle(h).fontSize").rstrip("px")) >= 54
    opened = len(streams)
    page.wait_for_timeout(3000)  # longer than the stream's retry: nothing reconnects
    assert len(streams) == opened
    assert page.evaluate("() => performance.navigation.type") == 0  # switched, not reloaded
    problems = serious_violations(page)

    page.reload()  # a kiosk restarting gets the same page from the server
    expect(page.get_by_role("heading", name="This screen is no longer valid")).to_be_visible()
    problems += serious_violations(page)
    assert not problems, "\n".join(problems)


def test_the_wall_admin_pages_pass_axe(
    live: Live, httpserver: HTTPServer, browser: Browser
) -> None:
    send_post(live, "Something to moderate #live")
    page = _as_editor(live, browser)
    problems: list[str] = []

    page.goto(f"{live.url}/walls")
    expect(page.get_by_role("heading", name="Walls")).to_be_visible()
    problems += serious_violations(page)

    page.goto(f"{live.url}/walls/new")
    expect(page.get_by_role("heading", name="New wall")).to_be_visible()
    problems += serious_violations(page)
    page.get_by_label("Name").fill("Hall")
    page.get_by_label("Event hashtag").fill("not a hashtag")
    page.get_by_role("button", name="Save").click()  # refused: the form comes back
    expect(page.get_by_role("alert")).to_be_visible()
    problems += serious_violations(page)

    page.goto(f"{live.url}/walls/{live.wall_id}/edit")
    page.get_by_label("wait for a moderator").check()
    page.get_by_label("Blocked words, one per line (whole words; end with * for every form)").fill(
        "spam"
    )
    page.get_by_label("Only posts with images or video").check()
    page.get_by_label("Only posts with images or video").uncheck()
    problems += serious_violations(page)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Entrance")).to_be_visible()

    photo = serve(httpserver, png(20, 20), "image/png")
    send_post(live, "Waiting for a moderator #live", [{"url": photo, "type": "image"}])
    send_post(live, "Pure spam #live")
    page.goto(f"{live.url}/walls/{live.wall_id}/queue")
    expect(page.get_by_text("Waiting for a moderator #live").first).to_be_visible()
    expect(page.get_by_text("Pure spam #live").first).to_be_visible()
    # The moderator sees the waiting post's image (through the server) before approving.
    waiting = page.locator(".wall-queue-item", has_text="Waiting for a moderator")
    expect(waiting.locator("img")).to_be_visible()
    problems += serious_violations(page)
    assert not problems, "\n".join(problems)
