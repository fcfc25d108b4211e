"""Logging in and out, sessions, rate limiting and password changes."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from allsang.auth import sessions
from allsang.db.models import AuditEvent, LoginSession, Person
from allsang.runtime import Runtime
from tests.web.conftest import PASSWORD, ClientFactory, World


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return await client.post("/login", data={"email": email, "password": password, **extra})


async def _audit_actions(runtime: Runtime) -> list[str]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def test_it_logs_in_with_a_hardened_session_cookie(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    response = await _login(client, world.email("viewer"), next="/team/people")
    assert response.status_code == 303
    assert response.headers["location"] == "/team/people"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=1209600" in cookie
    token = client.cookies[sessions.COOKIE_NAME]
    async with runtime.db.read() as session:
        stored = await session.scalar(select(LoginSession))
    assert stored is not None
    # Only the digest is in the database, never the cookie's token itself.
    assert stored.token_hash == sessions.session_digest(token) != token
    assert (await client.get("/")).status_code == 200
    assert "session.login" in await _audit_actions(runtime)


async def test_it_marks_the_cookie_secure_behind_https(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    runtime.settings.base_url = "https://allsang.example.org"
    response = await _login(client, world.email("viewer"))
    assert "Secure" in response.headers["set-cookie"]


async def test_it_refuses_a_wrong_password(client: httpx.AsyncClient, world: World) -> None:
    response = await _login(client, world.email("viewer"), "not the password")
    assert response.status_code == 400
    assert "Wrong e-mail address or password." in response.text
    assert sessions.COOKIE_NAME not in client.cookies


async def test_it_gives_an_unknown_address_the_same_answer(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await _login(client, "nobody@acme.test")
    assert response.status_code == 400
    assert "Wrong e-mail address or password." in response.text


async def test_it_refuses_a_deactivated_person(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    async with runtime.db.write() as session:
        person = await session.get(Person, world.people["viewer"].id)
        assert person is not None
        person.is_active = False
    assert (await _login(client, world.email("viewer"))).status_code == 400


async def test_it_rate_limits_failed_logins(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    limit = runtime.settings.login_attempts_per_minute
    for _ in range(limit):
        assert (await _login(client, world.email("viewer"), "wrong")).status_code == 400
    # Now even the right password is refused until the minute has passed.
    response = await _login(client, world.email("viewer"))
    assert response.status_code == 429
    assert "Too many failed attempts" in response.text


async def test_it_rate_limits_one_address_trying_many_accounts(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    for n in range(runtime.settings.login_attempts_per_minute):
        await _login(client, f"guess{n}@acme.test", "wrong")
    assert (await _login(client, world.email("owner"))).status_code == 429


async def test_it_never_redirects_to_another_site_after_login(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await _login(client, world.email("viewer"), next="//evil.example/")
    assert response.headers["location"] == "/"


async def test_it_sends_anonymous_visitors_to_the_login_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/team/people?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fteam%2Fpeople%3Fx%3D1"


async def test_logout_revokes_the_session(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    await _login(client, world.email("viewer"))
    token = client.cookies[sessions.COOKIE_NAME]
    response = await client.post("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    # Even a copy of the old cookie is worthless now.
    client.cookies.set(sessions.COOKIE_NAME, token)
    assert (await client.get("/")).status_code == 303
    assert "session.logout" in await _audit_actions(runtime)


async def test_it_rotates_the_session_on_login(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    await _login(client, world.email("viewer"))
    first = client.cookies[sessions.COOKIE_NAME]
    await _login(client, world.email("viewer"))
    second = client.cookies[sessions.COOKIE_NAME]
    assert first != second
    async with runtime.db.read() as session:
        old = await session.scalar(
            select(LoginSession).where(LoginSession.token_hash == sessions.session_digest(first))
        )
    assert old is not None and old.revoked_at is not None


async def test_a_person_lists_and_revokes_their_other_sessions(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    laptop = await client_as("viewer")
    phone = await client_as("viewer")
    page = await laptop.get("/profile")
    assert page.status_code == 200
    async with runtime.db.read() as session:
        ids = list(
            await session.scalars(
                select(LoginSession.id).where(LoginSession.person_id == world.people["viewer"].id)
            )
        )
    assert len(ids) == 2
    for session_id in ids:
        assert f"/profile/sessions/{session_id}/revoke" in page.text or "This browser" in page.text
    phone_id = max(ids)
    response = await laptop.post(
        f"/profile/sessions/{phone_id}/revoke", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and response.text == ""
    assert (await phone.get("/")).status_code == 303
    assert (await laptop.get("/")).status_code == 200
    assert "session.revoke" in await _audit_actions(runtime)


async def test_nobody_can_revoke_someone_elses_session(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    owner = await client_as("owner")
    viewer = await client_as("viewer")
    async with runtime.db.read() as session:
        owner_session = await session.scalar(
            select(LoginSession.id).where(LoginSession.person_id == world.people["owner"].id)
        )
    response = await viewer.post(f"/profile/sessions/{owner_session}/revoke")
    assert response.status_code == 404
    assert (await owner.get("/")).status_code == 200


async def test_changing_the_password_logs_out_other_sessions(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    here = await client_as("editor")
    elsewhere = await client_as("editor")
    wrong = await here.post(
        "/profile/password",
        data={
            "current_password": "nope",
            "new_password": "a new long password",
            "confirm_password": "a new long password",
        },
    )
    assert wrong.status_code == 422
    response = await here.post(
        "/profile/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a new long password",
            "confirm_password": "a new long password",
        },
    )
    assert response.status_code == 303
    assert (await here.get("/")).status_code == 200
    assert (await elsewhere.get("/")).status_code == 303
    async with runtime.db.read() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "profile.password_change")
        )
    assert count == 1


async def test_a_person_updates_their_profile(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    viewer = await client_as("viewer")
    response = await viewer.post(
        "/profile", data={"name": "Vera Viewer", "locale": "da", "timezone": "Europe/Copenhagen"}
    )
    assert response.status_code == 303
    page = await viewer.get("/profile")
    assert '<html lang="da">' in page.text and "Vera Viewer" in page.text
    bad = await viewer.post("/profile", data={"name": "", "locale": "xx", "timezone": "Mars/Base"})
    assert bad.status_code == 422
    async with runtime.db.read() as session:
        person = await session.get(Person, world.people["viewer"].id)
    assert person is not None and person.timezone == "Europe/Copenhagen"
    assert "profile.update" in await _audit_actions(runtime)
