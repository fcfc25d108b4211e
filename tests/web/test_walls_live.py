"""The wall screen against a real server: the SSE stream read with httpx (resume after
Last-Event-ID, a revoked token ends it) and Playwright in Debian's Chromium (a posted message
appears within a second, a banned post disappears, an XSS corpus runs nothing and changes no
style, a revoked token clears the screen, the page keeps its posts while the server restarts
and catches up without a reload)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, expect

from allsang.auth import sessions
from allsang.auth.tokens import create_api_token
from allsang.settings import Settings
from allsang.wall import service
from tests.web.browser import AppServer, run_async, runtime_for, watch
from tests.web.conftest import create_world


@dataclass
class Live:
    server: AppServer
    wall_id: int
    token: str
    api_token: str
    session_cookie: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def settings(self) -> Settings:
        return self.server.settings


async def _seed(settings: Settings) -> tuple[int, str, str, str]:
    async with runtime_for(settings) as runtime:
        world = await create_world(runtime)
        async with runtime.db.write() as session:
            wall = await service.create_wall(
                session,
                world.workspace.id,
                service.WallFields(name="Entrance", title="Welcome", moderation="auto"),
            )
            await service.set_sources(session, wall, [service.Source("hashtag", hashtag="live")])
            token = await service.rotate_token(session, wall)
            api_token = await create_api_token(
                session, workspace_id=world.workspace.id, role="editor", name="test"
            )
            cookie, _row = await sessions.create_session(
                session,
                person_id=world.people["editor"].id,
                workspace_id=world.workspace.id,
                days=1,
            )
            return wall.id, token, api_token, cookie


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    seeded = run_async(_seed(settings))
    with AppServer(settings) as server:
        yield Live(server, *seeded)


def send(
    live: Live, *texts: str, handle: str = "anna", media: list[dict[str, str]] | None = None
) -> None:
    body = [
        {
            "channel": "mastodon",
            "external_id": f"{handle}-{time.monotonic_ns()}-{n}",
            "author": {"handle": handle, "name": handle.title()},
            "text": text,
            "created_at": "2026-11-22T09:00:00+00:00",
            **({"media": media} if media is not None else {}),
        }
        for n, text in enumerate(texts)
    ]
    response = httpx.post(
        f"{live.url}/api/v1/messages",
        json=body,
        headers={"authorization": f"Bearer {live.api_token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(texts)


def read_events(
    live: Live, count: int, headers: dict[str, str] | None = None, after: int = 0
) -> list[tuple[str, str, str]]:
    """The first ``count`` events of the stream as (event, id, data)."""
    found: list[tuple[str, str, str]] = []
    fields: dict[str, list[str]] = {}
    with httpx.stream(
        "GET",
        f"{live.url}/walls/{live.wall_id}/events",
        params={"token": live.token, "after": after},
        headers=headers or {},
        timeout=10,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line == "":
                if "event" in fields:
                    found.append(
                        (
                            fields["event"][0],
                            "".join(fields.get("id", [])),
                            "\n".join(fields.get("data", [])),
                        )
                    )
                    if len(found) == count:
                        return found
                fields = {}
                continue
            name, _sep, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
    return found


def test_the_stream_resumes_after_the_last_event_id(live: Live) -> None:
    send(live, "one #live", "two #live", "three #live")
    everything = read_events(live, 3)
    assert [(kind, seq) for kind, seq, _data in everything] == [
        ("add", "1"),
        ("add", "2"),
        ("add", "3"),
    ]
    assert "one #live" in everything[0][2]
    resumed = read_events(live, 1, headers={"last-event-id": "2"})
    assert resumed[0][:2] == ("add", "3") and "three #live" in resumed[0][2]
    # The header wins over the page's initial position.
    assert read_events(live, 1, headers={"last-event-id": "2"}, after=0)[0][1] == "3"


def test_a_revoked_token_ends_the_stream(live: Live) -> None:
    def revoke_soon() -> None:
        time.sleep(0.5)
        response = httpx.post(
            f"{live.url}/walls/{live.wall_id}/revoke",
            cookies={sessions.COOKIE_NAME: live.session_cookie},
        )
        assert response.status_code == 303

    started = time.monotonic()
    revoker = threading.Thread(target=revoke_soon)
    revoker.start()
    events = read_events(live, 1)
    revoker.join()
    assert events[0][0] == "revoked"
    assert time.monotonic() - started < 3
    # Reconnecting with the dead token gets the same event (not a login redirect).
    again = httpx.get(
        f"{live.url}/walls/{live.wall_id}/events", params={"token": live.token}, timeout=5
    )
    assert again.status_code == 200 and again.text.startswith("event: revoked")


XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.test/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<body onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    '<a href="javascript:alert(1)">click</a>',
    "javascript:alert(1)",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<style>body{background:red!important}</style>",
    '<link rel=stylesheet href="data:text/css,body{background:red}">',
    '<p style="color:red;font-size:200px">big</p>',
    "</p></article><h1 style=color:red>broken out</h1>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<input autofocus onfocus=alert(1)>",
    "<object data=javascript:alert(1)>",
    "<embed src=javascript:alert(1)>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<base href=javascript:alert(1)//>",
    "<form action=javascript:alert(1)><button>go</button></form>",
    "{{7*7}} ${alert(1)} <%= 7*7 %>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "\u202eevil\u202c <scr\u200bipt>alert(1)</scr\u200bipt>",
    "\uff1cscript\uff1ealert(1)\uff1c/script\uff1e",
    "<img src=x onerror=&#97;&#108;&#101;&#114;&#116;(1)>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<template><script>alert(1)</script></template>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "@import url(//evil.test/x.css); * { color: red }",
]

# Image addresses a post may carry: none of them may become an image on the screen (only
# http(s) images are shown, and only as the server's checked copy; see test_walls_browser).
XSS_IMAGE_URLS = [
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.test/x.png",
    "file:///etc/passwd",
]


@pytest.mark.browser
def test_a_posted_message_appears_within_a_second_and_a_banned_one_disappears(
    live: Live, browser: Browser
) -> None:
    send(live, "warm-up #live")  # loads the listening model in the server once
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"{live.url}/walls/{live.wall_id}?token={live.token}")
    expect(page.get_by_text("warm-up #live")).to_be_visible()

    started = time.monotonic()
    send(live, "Hello from the API #live")
    page.get_by_text("Hello from the API #live").wait_for(timeout=1000)
    assert time.monotonic() - started < 1.0

    send(live, "Buy pills #live", handle="troll")
    page.get_by_text("Buy pills #live").wait_for(timeout=1000)
    troll_id = page.locator(".wall-card", has_text="Buy pills").get_attribute("data-id")
    started = time.monotonic()
    response = httpx.post(
        f"{live.url}/walls/{live.wall_id}/items/{troll_id}/ban",
        cookies={sessions.COOKIE_NAME: live.session_cookie},
    )
    assert response.status_code == 303
    expect(page.get_by_text("Buy pills #live")).to_have_count(0, timeout=2000)
    assert time.monotonic() - started < 2.0
    expect(page.get_by_text("Hello from the API #live")).to_be_visible()

    httpx.post(
        f"{live.url}/walls/{live.wall_id}/revoke",
        cookies={sessions.COOKIE_NAME: live.session_cookie},
    )
    expect(page.locator(".wall-card")).to_have_count(0, timeout=3000)


@pytest.mark.browser
def test_an_xss_corpus_runs_no_script_and_changes_no_style(live: Live, browser: Browser) -> None:
    send(live, "baseline #live", handle="baseline")
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    log = watch(page)
    page.goto(f"{live.url}/walls/{live.wall_id}?token={live.token}")
    expect(page.get_by_text("baseline #live")).to_be_visible()
    style = (
        "() => { const b = getComputedStyle(document.body);"
        " const c = getComputedStyle(document.querySelector('.wall-card'));"
        " return [b.backgroundColor, b.color, c.color, c.fontSize, c.backgroundColor]; }"
    )
    before = page.evaluate(style)

    # Half arrive live through the stream, as text and as the author's name.
    for payload in XSS_PAYLOADS:
        send(
            live,
            f"{payload} #live",
            handle="x" + str(abs(hash(payload)) % 10_000),
            media=[{"url": url, "type": "image", "alt": payload} for url in XSS_IMAGE_URLS],
        )
    expect(page.locator(".wall-card")).to_have_count(30, timeout=5000)
    live_view = page.evaluate(style)
    # And the other half from the server-rendered page.
    page.reload()
    expect(page.locator(".wall-card")).to_have_count(30)
    page.wait_for_timeout(500)

    assert log.dialogs == []
    assert [m for m in log.console if "Content Security Policy" in m or "Refused" in m] == []
    assert live_view == before == page.evaluate(style)
    shapes = page.evaluate(
        "() => [...document.querySelectorAll('.wall-screen *')].map(e =>"
        " [e.tagName.toLowerCase(), [...e.attributes].map(a => a.name).sort().join(',')])"
    )
    allowed_tags = {"header", "h1", "p", "section", "article", "footer", "span"}
    assert {tag for tag, _attrs in shapes} <= allowed_tags
    assert {attrs for _tag, attrs in shapes} <= {
        "",
        "class",
        "aria-label,class",
        "aria-label,aria-live,class",
        "class,data-id,id",
    }
    assert (
        page.evaluate(
            "() => document.querySelectorAll('body a, body script, body style, body img').length"
        )
        == 0
    )


@pytest.mark.browser
def test_the_screen_keeps_its_posts_while_the_server_restarts_and_then_catches_up(
    live: Live, browser: Browser
) -> None:
    send(live, "before the restart #live")
    page = browser.new_page(viewport={"width": 3840, "height": 2160})
    page.goto(f"{live.url}/walls/{live.wall_id}?token={live.token}")
    expect(page.get_by_text("before the restart #live")).to_be_visible()

    live.server.stop()
    page.wait_for_timeout(1500)  # the stream is gone; the page keeps what it shows
    expect(page.get_by_text("before the restart #live")).to_be_visible()
    live.server.start()

    send(live, "after the restart #live")
    expect(page.get_by_text("after the restart #live")).to_be_visible(timeout=10_000)
    expect(page.locator(".wall-card")).to_have_count(2)
    assert page.evaluate("() => performance.navigation.type") == 0  # never reloaded
