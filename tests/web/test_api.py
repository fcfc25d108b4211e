"""The JSON API: bearer tokens, problem details, OpenAPI."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from allsang.auth.tokens import create_api_token
from allsang.db.models import ApiToken, Department, DepartmentMember
from allsang.db.types import utcnow
from allsang.runtime import Runtime
from tests.web.conftest import ClientFactory, World


async def _token(runtime: Runtime, world: World, role: str = "viewer", **kw: object) -> str:
    async with runtime.db.write() as session:
        return await create_api_token(
            session,
            workspace_id=world.workspace.id,
            role=role,
            name="ci",
            **kw,  # type: ignore[arg-type]
        )


async def test_a_bearer_token_reads_the_workspace(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    token = await _token(runtime, world)
    assert token.startswith("als_")
    async with runtime.db.write() as session:
        department = Department(workspace_id=world.workspace.id, name="Support")
        session.add(department)
        await session.flush()
        session.add(
            DepartmentMember(department_id=department.id, person_id=world.people["owner"].id)
        )
    headers = {"Authorization": f"Bearer {token}"}
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json() == {
        "kind": "token",
        "label": "token:ci",
        "role": "viewer",
        "workspace_id": world.workspace.id,
        "workspace_name": "Acme",
        "person_id": None,
    }
    people = (await client.get("/api/v1/people", headers=headers)).json()
    assert {p["email"] for p in people} == {p.email for p in world.people.values()}
    assert (await client.get("/api/v1/people?limit=2", headers=headers)).json()[:2] == people[:2]
    departments = (await client.get("/api/v1/departments", headers=headers)).json()
    assert departments == [
        {"id": department.id, "name": "Support", "description": "", "members": 1}
    ]


async def test_a_token_for_a_person_says_whose_it_is(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    token = await _token(runtime, world, "editor", person_id=world.people["editor"].id)
    me = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["person_id"] == world.people["editor"].id
    assert me["label"] == "token:ci (editor@acme.test)"


async def test_it_answers_401_problem_json_without_a_valid_token(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    for headers in ({}, {"Authorization": "Bearer als_nonsense"}, {"Authorization": "Basic x"}):
        response = await client.get("/api/v1/people", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        body = response.json()
        assert body["status"] == 401 and body["title"] == "Unauthorized" and body["detail"]
        assert body["type"] == "about:blank"


async def test_a_revoked_or_expired_token_stops_working(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    revoked, expired = await _token(runtime, world), await _token(runtime, world)
    async with runtime.db.write() as session:
        await session.execute(update(ApiToken).where(ApiToken.id == 1).values(revoked_at=utcnow()))
        await session.execute(update(ApiToken).where(ApiToken.id == 2).values(expires_at=utcnow()))
    for token in (revoked, expired):
        response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


async def test_a_display_token_may_not_read_people(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    token = await _token(runtime, world, "display")
    response = await client.get("/api/v1/people", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["title"] == "Forbidden"


async def test_invalid_parameters_get_a_422_problem(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    token = await _token(runtime, world)
    response = await client.get(
        "/api/v1/people?limit=0", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422 and body["errors"][0]["loc"] == ["query", "limit"]


async def test_unknown_api_paths_get_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.json()["status"] == 404


async def test_the_session_cookie_also_works_for_the_api(client_as: ClientFactory) -> None:
    viewer = await client_as("viewer")
    assert (await viewer.get("/api/v1/me")).json()["kind"] == "person"


async def test_openapi_describes_only_the_api(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/v1/openapi.json")).json()
    assert set(schema["paths"]) == {
        "/api/v1/me",
        "/api/v1/people",
        "/api/v1/departments",
        "/api/v1/messages",
        "/api/v1/conversations",
        "/api/v1/conversations/{conversation_id}",
        "/api/v1/conversations/{conversation_id}/assignment",
        "/api/v1/conversations/{conversation_id}/status",
        "/api/v1/conversations/{conversation_id}/notes",
        "/api/v1/conversations/{conversation_id}/replies",
        "/api/v1/contacts/{contact_id}",
        "/api/v1/contacts/{contact_id}/export",
        "/api/v1/retention",
    }
    assert (await client.get("/docs")).status_code == 404
