"""Cross-origin protection and security headers."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from allsang.auth.tokens import create_api_token
from allsang.db.models import Department
from allsang.runtime import Runtime
from tests.web.conftest import ClientFactory, World


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
async def test_it_refuses_a_post_from_another_site(
    client_as: ClientFactory, runtime: Runtime, site: str
) -> None:
    admin = await client_as("admin")
    response = await admin.post(
        "/team/departments", data={"name": "Sales"}, headers={"Sec-Fetch-Site": site}
    )
    assert response.status_code == 403
    assert "sent from another site" in response.text
    async with runtime.db.read() as session:
        assert await session.scalar(select(Department)) is None


@pytest.mark.parametrize("site", ["same-origin", "none"])
async def test_it_accepts_a_post_from_this_site(client_as: ClientFactory, site: str) -> None:
    admin = await client_as("admin")
    response = await admin.post(
        "/team/departments", data={"name": f"Sales {site}"}, headers={"Sec-Fetch-Site": site}
    )
    assert response.status_code == 303


async def test_it_compares_the_origin_when_the_browser_sends_no_fetch_metadata(
    client_as: ClientFactory,
) -> None:
    admin = await client_as("admin")
    foreign = await admin.post(
        "/team/departments", data={"name": "A"}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    own = await admin.post(
        "/team/departments", data={"name": "B"}, headers={"Origin": "http://testserver"}
    )
    assert own.status_code == 303


async def test_it_trusts_the_configured_public_origin(
    client_as: ClientFactory, runtime: Runtime
) -> None:
    runtime.settings.base_url = "https://allsang.example.org"
    # The middleware reads the setting when the app is built: build a fresh one.
    from allsang.web.app import create_app

    app = create_app(runtime)
    admin = await client_as("admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://internal:8000",
        cookies=admin.cookies,
    ) as behind_proxy:
        response = await behind_proxy.post(
            "/team/departments",
            data={"name": "C"},
            headers={"Origin": "https://allsang.example.org"},
        )
    assert response.status_code == 303


async def test_it_refuses_a_cross_site_login(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/login",
        data={"email": world.email("viewer"), "password": "x"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403


async def test_bearer_token_requests_are_exempt(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    async with runtime.db.write() as session:
        token = await create_api_token(
            session, workspace_id=world.workspace.id, role="viewer", name="ci"
        )
    response = await client.post(
        "/logout",
        headers={"Authorization": f"Bearer {token}", "Sec-Fetch-Site": "cross-site"},
    )
    # Not refused as cross-site: the route itself answers (a token has no session to end).
    assert response.status_code == 303


async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, world: World
) -> None:
    for path in ("/login", "/healthz", "/static/app.css", "/no-such-page", "/api/v1/me"):
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers


async def test_it_sends_hsts_behind_https(runtime: Runtime) -> None:
    runtime.settings.base_url = "https://allsang.example.org"
    from allsang.web.app import create_app

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://testserver"
    ) as c:
        response = await c.get("/login")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_pages_have_no_inline_scripts_or_styles(client_as: ClientFactory) -> None:
    owner = await client_as("owner")
    for path in (
        "/",
        "/profile",
        "/team/people",
        "/team/departments",
        "/settings",
        "/admin/audit",
        "/admin/jobs",
    ):
        html = (await owner.get(path)).text
        assert "<style" not in html and " style=" not in html
        assert "<script>" not in html and " on" + "click=" not in html
        assert "<script src=" in html
