"""Images on wall screens through the server's cache (post images and logos), and what a
screen whose token opens nothing shows. Image hosts are a real local HTTP server."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from allsang.db.models import AuditEvent, Wall, Workspace
from allsang.db.models.wall_media import WallMedia
from allsang.runtime import Runtime
from allsang.settings import Settings
from tests.wall.helpers import post
from tests.web.conftest import ClientFactory, World
from tests.web.test_walls import channel_ref, make_wall

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The image host is on 127.0.0.1, as on an intranet install.
    settings.fetch_allow_private_networks = True
    return settings


def _serve(httpserver: HTTPServer, body: bytes, content_type: str) -> str:
    path = f"/{uuid.uuid4().hex}"
    httpserver.expect_request(path).respond_with_data(body, content_type=content_type)
    return httpserver.url_for(path)


def _hits(httpserver: HTTPServer, url: str) -> int:
    path = httpx.URL(url).path
    return sum(1 for request, _ in httpserver.log if request.path == path)


async def _screen(
    editor: httpx.AsyncClient, client: httpx.AsyncClient, **fields: str
) -> tuple[int, str]:
    wall_id = await make_wall(editor, moderation="auto", **fields)
    page = await editor.post(f"/walls/{wall_id}/token")
    token = re.search(r"token=(alw_[\w-]+)", page.text).group(1)  # type: ignore[union-attr]
    screen = await client.get(f"/walls/{wall_id}", params={"token": token})
    assert screen.status_code == 200
    return wall_id, token


async def test_a_post_image_is_fetched_once_and_served_from_the_cache_with_strict_headers(
    client_as: ClientFactory,
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,
    httpserver: HTTPServer,
) -> None:
    editor = await client_as("editor")
    wall_id, _token = await _screen(editor, client)
    image = _serve(httpserver, PNG, "image/png")
    ref = await channel_ref(runtime, world)
    message = await post(
        runtime.db,
        ref,
        "Look #acmeday",
        media=[
            {"url": "javascript:alert(1)", "type": "image"},
            {"url": image, "type": "image", "alt": "A <b>cat</b>"},
        ],
    )
    # The screen page (with the token's cookie, no token in the address) shows our copy.
    screen = await client.get(f"/walls/{wall_id}")
    assert f'src="/walls/{wall_id}/media/{message}/0"' in screen.text
    assert 'alt="A &lt;b&gt;cat&lt;/b&gt;"' in screen.text
    assert "javascript:" not in screen.text and image not in screen.text

    for _ in range(3):
        served = await client.get(f"/walls/{wall_id}/media/{message}/0")
        assert served.status_code == 200
        assert served.content == PNG
        assert served.headers["content-type"] == "image/png"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in served.headers.get_list("content-security-policy")[0]
    assert _hits(httpserver, image) == 1
    async with runtime.db.read() as session:
        row = await session.scalar(select(WallMedia).where(WallMedia.source == image))
        assert row is not None and row.state == "ready" and row.size == len(PNG)
    assert (runtime.settings.data_dir / "wall-media" / row.key[:2] / row.key).read_bytes() == PNG
    # There is no second image; the javascript: address was never one.
    assert (await client.get(f"/walls/{wall_id}/media/{message}/1")).status_code == 404


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (SVG, "image/svg+xml"),
        (SVG, "image/png"),
        (b"<html><script>alert(1)</script></html>", "text/html"),
        (PNG + b"\x00" * (5 * 1024 * 1024), "image/png"),
    ],
    ids=["svg", "svg-as-png", "html", "too-large"],
)
async def test_svg_html_and_oversized_images_are_never_served(
    client_as: ClientFactory,
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,
    httpserver: HTTPServer,
    body: bytes,
    content_type: str,
) -> None:
    editor = await client_as("editor")
    wall_id, _token = await _screen(editor, client)
    url = _serve(httpserver, body, content_type)
    ref = await channel_ref(runtime, world)
    message = await post(runtime.db, ref, "Bad #acmeday", media=[{"url": url, "type": "image"}])
    assert f"/media/{message}/0" in (await client.get(f"/walls/{wall_id}")).text
    for _ in range(2):
        refused = await client.get(f"/walls/{wall_id}/media/{message}/0")
        assert refused.status_code == 404 and refused.content == b""
    # The failure is remembered: the broken address is asked once.
    assert _hits(httpserver, url) == 1


async def test_a_screen_sees_images_of_posts_on_screen_only_and_members_see_the_queue(
    client_as: ClientFactory,
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,
    httpserver: HTTPServer,
) -> None:
    editor = await client_as("editor")
    wall_id, token = await _screen(editor, client)
    async with runtime.db.write() as session:
        wall = await session.get(Wall, wall_id)
        assert wall is not None
        wall.moderation = "manual"
    ref = await channel_ref(runtime, world)
    url = _serve(httpserver, PNG, "image/png")
    pending = await post(runtime.db, ref, "Wait #acmeday", media=[{"url": url, "type": "image"}])
    queue = await editor.get(f"/walls/{wall_id}/queue")  # evaluates the new post
    path = f"/walls/{wall_id}/media/{pending}/0"
    assert f'src="{path}"' in queue.text  # the moderator sees the image before approving
    assert (await client.get(path, params={"token": token})).status_code == 404
    assert (await editor.get(path)).status_code == 200
    await editor.post(f"/walls/{wall_id}/items/{pending}/approve")
    assert (await client.get(path, params={"token": token})).status_code == 200


async def test_the_logo_comes_from_an_address_or_an_upload_and_svg_is_refused(
    client_as: ClientFactory,
    client: httpx.AsyncClient,
    runtime: Runtime,
    httpserver: HTTPServer,
) -> None:
    editor = await client_as("editor")
    # A logo address that gives no usable image is refused when the wall is saved.
    svg_logo = _serve(httpserver, SVG, "image/svg+xml")
    refused = await editor.post("/walls/new", data={"name": "Svg", "logo_url": svg_logo})
    assert refused.status_code == 422 and "The logo could not be fetched" in refused.text
    assert f'value="{svg_logo}"' in refused.text  # the form keeps what was typed

    logo = _serve(httpserver, PNG, "image/png")
    wall_id, _token = await _screen(editor, client, logo_url=logo)
    assert _hits(httpserver, logo) == 1  # fetched when saved
    screen = await client.get(f"/walls/{wall_id}")
    src = re.search(r'class="wall-logo" src="([^"]+)"', screen.text).group(1)  # type: ignore[union-attr]
    assert logo not in screen.text
    served = await client.get(src)
    assert served.status_code == 200 and served.content == PNG
    assert _hits(httpserver, logo) == 1  # and served from the cache

    form = (await editor.get(f"/walls/{wall_id}/edit")).text
    assert 'enctype="multipart/form-data"' in form
    fields = {
        "name": "Entrance",
        "layout": "grid",
        "moderation": "auto",
        "background": "#102030",
        "foreground": "#ffffff",
        "accent": "#ffcc00",
        "logo_url": "",
    }
    refused = await editor.post(
        f"/walls/{wall_id}/edit",
        data=fields,
        files={"logo_file": ("logo.svg", SVG, "image/svg+xml")},
    )
    assert refused.status_code == 422 and "PNG, JPEG, GIF or WebP" in refused.text
    uploaded = PNG + b"upload"
    saved = await editor.post(
        f"/walls/{wall_id}/edit",
        data=fields,
        files={"logo_file": ("logo.png", uploaded, "application/octet-stream")},
    )
    assert saved.status_code == 303
    screen = await client.get(f"/walls/{wall_id}")
    new_src = re.search(r'class="wall-logo" src="([^"]+)"', screen.text).group(1)  # type: ignore[union-attr]
    assert new_src != src  # a new version, so the TV does not keep the old logo
    served = await client.get(new_src)
    assert served.content == uploaded and served.headers["content-type"] == "image/png"

    # Saving the form again keeps the upload; ticking "remove" drops it.
    assert (await editor.post(f"/walls/{wall_id}/edit", data=fields)).status_code == 303
    assert "wall-logo" in (await client.get(f"/walls/{wall_id}")).text
    removed = await editor.post(f"/walls/{wall_id}/edit", data={**fields, "remove_logo": "true"})
    assert removed.status_code == 303
    assert "wall-logo" not in (await client.get(f"/walls/{wall_id}")).text
    assert (await client.get(f"/walls/{wall_id}/logo")).status_code == 404


async def test_a_revoked_or_deleted_screen_says_so_in_the_walls_language_and_its_stream_ends(
    client_as: ClientFactory, client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    async with runtime.db.write() as session:
        workspace = await session.get(Workspace, world.workspace.id)
        assert workspace is not None
        workspace.locale = "sv"
    editor = await client_as("editor")
    wall_id, token = await _screen(editor, client)
    await editor.post(f"/walls/{wall_id}/revoke")

    # The TV still has the cookie from its first visit; no login page either way.
    for params in ({}, {"token": token}):
        page = await client.get(f"/walls/{wall_id}", params=params)
        assert page.status_code == 410
        assert "Den här skärmen gäller inte längre" in page.text
        assert "login" not in page.text
    stream = await client.get(f"/walls/{wall_id}/events", params={"token": token})
    assert stream.status_code == 200 and stream.text == "event: revoked\ndata: \n\n"

    other_id, other_token = await _screen(editor, client, name="Hall")
    deleted = await editor.post(f"/walls/{other_id}/delete", headers={"hx-request": "true"})
    assert deleted.headers["hx-redirect"].startswith("/walls")
    async with runtime.db.read() as session:
        assert await session.get(Wall, other_id) is None
        assert await session.scalar(select(AuditEvent.id).where(AuditEvent.action == "wall.delete"))
    # The wall and its language are gone: the TV browser's language is used.
    page = await client.get(
        f"/walls/{other_id}", params={"token": other_token}, headers={"accept-language": "da"}
    )
    assert page.status_code == 410 and "Bed en administrator om et nyt link." in page.text


def test_post_images_keep_only_web_addresses_of_images() -> None:
    from allsang.wall.media import post_images

    images = post_images(
        {
            "media": [
                {"url": "https://a.test/1.jpg", "type": "image", "alt": "one"},
                {"url": "https://a.test/v.mp4", "type": "video"},
                {"url": "data:image/png;base64,AAAA", "type": "image"},
                {"url": "JAVASCRIPT:alert(1)"},
                {"url": "http://a.test/2.png", "type": "image/png"},
                {"url": "https://a.test/3", "type": "unknown"},
                "not a dict",
                {"url": 5},
            ]
        }
    )
    assert [(i.url, i.alt) for i in images] == [
        ("https://a.test/1.jpg", "one"),
        ("http://a.test/2.png", ""),
        ("https://a.test/3", ""),
    ]
    assert post_images({"media": "nope"}) == () == post_images(None)
