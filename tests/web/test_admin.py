"""People, departments, workspace settings, the audit log and the jobs page."""

from __future__ import annotations

from sqlalchemy import select

from allsang.db.models import AuditEvent, Department, DepartmentMember, Job, Membership, Person
from allsang.runtime import Runtime
from tests.web.conftest import ClientFactory, World


async def _role(runtime: Runtime, person_id: int) -> str:
    async with runtime.db.read() as session:
        role = await session.scalar(
            select(Membership.role).where(Membership.person_id == person_id)
        )
    assert role is not None
    return role


async def _events(runtime: Runtime, action: str) -> list[AuditEvent]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_an_admin_adds_a_person_who_can_then_log_in(
    client_as: ClientFactory, runtime: Runtime, world: World, client
) -> None:  # type: ignore[no-untyped-def]
    admin = await client_as("admin")
    response = await admin.post(
        "/team/people",
        data={
            "email": "New@Acme.test",
            "name": "Nina New",
            "role": "editor",
            "password": "first password 1",
        },
    )
    assert response.status_code == 303
    page = await admin.get(response.headers["location"])
    assert "Nina New" in page.text and "Created." in page.text
    login = await client.post(
        "/login", data={"email": "new@acme.test", "password": "first password 1"}
    )
    assert login.status_code == 303
    [event] = await _events(runtime, "person.create")
    assert event.data == {"email": "new@acme.test", "role": "editor"}
    assert event.actor == "admin@acme.test" and event.workspace_id == world.workspace.id


async def test_adding_someone_twice_is_a_clear_conflict(client_as: ClientFactory) -> None:
    admin = await client_as("admin")
    response = await admin.post(
        "/team/people",
        data={"email": "viewer@acme.test", "name": "V", "role": "viewer", "password": ""},
    )
    assert response.status_code == 409
    assert "viewer@acme.test is already in this workspace." in response.text


async def test_an_admin_cannot_make_owners(client_as: ClientFactory, world: World) -> None:
    admin = await client_as("admin")
    create = await admin.post(
        "/team/people",
        data={"email": "x@acme.test", "name": "X", "role": "owner", "password": "long enough pw"},
    )
    assert create.status_code == 403
    promote = await admin.post(
        f"/team/people/{world.people['viewer'].id}/role", data={"role": "owner"}
    )
    assert promote.status_code == 403
    demote = await admin.post(
        f"/team/people/{world.people['owner'].id}/role", data={"role": "viewer"}
    )
    assert demote.status_code == 403


async def test_an_admin_changes_a_role(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    admin = await client_as("admin")
    response = await admin.post(
        f"/team/people/{world.people['viewer'].id}/role", data={"role": "contributor"}
    )
    assert response.status_code == 303
    assert await _role(runtime, world.people["viewer"].id) == "contributor"
    [event] = await _events(runtime, "person.role_change")
    assert event.data == {"old": "viewer", "new": "contributor"}


async def test_the_last_owner_cannot_be_removed(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    owner = await client_as("owner")
    owner_id = world.people["owner"].id
    demote = await owner.post(f"/team/people/{owner_id}/role", data={"role": "admin"})
    assert demote.status_code == 409
    assert "at least one active owner" in demote.text
    assert await _role(runtime, owner_id) == "owner"
    # With a second owner the first may step down.
    second = world.people["admin"].id
    assert (
        await owner.post(f"/team/people/{second}/role", data={"role": "owner"})
    ).status_code == 303
    assert (
        await owner.post(f"/team/people/{owner_id}/role", data={"role": "admin"})
    ).status_code == 303
    assert await _role(runtime, owner_id) == "admin"


async def test_the_last_owner_cannot_be_deactivated(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    # Two owners, but one of them is deactivated: only one active owner remains.
    async with runtime.db.write() as session:
        for role in ("admin", "editor"):
            membership = await session.scalar(
                select(Membership).where(Membership.person_id == world.people[role].id)
            )
            assert membership is not None
            membership.role = "owner"
        editor = await session.get(Person, world.people["editor"].id)
        assert editor is not None
        editor.is_active = False
    second_owner = await client_as("admin")
    owner_id = world.people["owner"].id
    # Two active owners (owner and admin): one of them may go.
    assert (await second_owner.post(f"/team/people/{owner_id}/deactivate")).status_code == 303
    # Now the admin is the last active owner, and cannot step down.
    step_down = await second_owner.post(
        f"/team/people/{world.people['admin'].id}/role", data={"role": "viewer"}
    )
    assert step_down.status_code == 409
    assert "at least one active owner" in step_down.text
    assert await _role(runtime, world.people["admin"].id) == "owner"
    yourself = await second_owner.post(f"/team/people/{world.people['admin'].id}/deactivate")
    assert yourself.status_code == 409


async def test_deactivating_someone_ends_their_sessions(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    admin = await client_as("admin")
    viewer = await client_as("viewer")
    assert (await viewer.get("/")).status_code == 200
    response = await admin.post(f"/team/people/{world.people['viewer'].id}/deactivate")
    assert response.status_code == 303
    assert (await viewer.get("/")).status_code == 303
    [event] = await _events(runtime, "person.deactivate")
    assert event.data == {"sessions_revoked": 1}
    again = await admin.post(f"/team/people/{world.people['viewer'].id}/reactivate")
    assert again.status_code == 303
    assert len(await _events(runtime, "person.reactivate")) == 1


async def test_people_of_another_workspace_are_out_of_reach(
    client_as: ClientFactory, runtime: Runtime
) -> None:
    from tests.web.conftest import add_person

    async with runtime.db.write() as session:
        from allsang.db.models import Workspace

        other = Workspace(slug="other", name="Other")
        session.add(other)
        await session.flush()
    stranger = await add_person(runtime, other.id, "viewer", "s@other.test", "Stranger")
    admin = await client_as("admin")
    response = await admin.post(f"/team/people/{stranger.id}/role", data={"role": "editor"})
    assert response.status_code == 404
    assert await _role(runtime, stranger.id) == "viewer"


async def test_departments_are_created_renamed_staffed_and_deleted(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    admin = await client_as("admin")
    assert (await admin.post("/team/departments", data={"name": "Support"})).status_code == 303
    duplicate = await admin.post("/team/departments", data={"name": "support"})
    assert duplicate.status_code == 409
    async with runtime.db.read() as session:
        department = await session.scalar(select(Department))
    assert department is not None
    base = f"/team/departments/{department.id}"
    renamed = await admin.post(
        f"{base}/rename", data={"name": "Customer care", "description": "Calls"}
    )
    assert renamed.status_code == 303
    editor_id = world.people["editor"].id
    assert (await admin.post(f"{base}/members", data={"person_id": editor_id})).status_code == 303
    page = await admin.get(base)
    assert "Customer care" in page.text and "Editor Person" in page.text
    viewer = await client_as("viewer")
    assert "Customer care" in (await viewer.get("/team/departments")).text
    assert (await admin.post(f"{base}/members/{editor_id}/remove")).status_code == 303
    async with runtime.db.read() as session:
        assert await session.scalar(select(DepartmentMember)) is None
    assert (await admin.post(f"{base}/delete")).status_code == 303
    assert (await admin.get(base)).status_code == 404
    actions = [e.action for e in await _all_events(runtime) if e.resource_type == "department"]
    assert actions == [
        "department.create",
        "department.update",
        "department.member_add",
        "department.member_remove",
        "department.delete",
    ]


async def _all_events(runtime: Runtime) -> list[AuditEvent]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


async def test_an_admin_updates_the_workspace(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    admin = await client_as("admin")
    response = await admin.post(
        "/settings", data={"name": "Acme Nordic", "timezone": "Europe/Stockholm", "locale": "sv"}
    )
    assert response.status_code == 303
    # People without a language of their own now see the workspace's.
    page = await admin.get("/")
    assert '<html lang="sv">' in page.text and "Acme Nordic" in page.text
    bad = await admin.post("/settings", data={"name": "x", "timezone": "Nowhere", "locale": "sv"})
    assert bad.status_code == 422
    [event] = await _events(runtime, "workspace.update")
    assert event.data == {"name": "Acme Nordic", "timezone": "Europe/Stockholm", "locale": "sv"}


async def test_the_audit_page_shows_what_happened(client_as: ClientFactory) -> None:
    admin = await client_as("admin")
    await admin.post("/team/departments", data={"name": "Press"})
    page = await admin.get("/admin/audit")
    assert page.status_code == 200
    assert "department.create" in page.text and "admin@acme.test" in page.text


async def test_the_jobs_page_lists_and_retries_dead_jobs(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    async with runtime.db.write() as session:
        session.add(Job(kind="feeds.poll", status="dead", attempts=8, last_error="HTTP 500"))
        session.add(Job(kind="report.send", status="queued"))
    admin = await client_as("admin")
    page = await admin.get("/admin/jobs?status=dead")
    assert "feeds.poll" in page.text and "report.send" not in page.text
    assert (await admin.get("/admin/jobs?status=bogus")).status_code == 404
    response = await admin.post("/admin/jobs/1/retry")
    assert response.status_code == 303
    async with runtime.db.read() as session:
        job = await session.get(Job, 1)
    assert job is not None and job.status == "queued"
    assert (await admin.post("/admin/jobs/1/retry")).status_code == 409
    assert len(await _events(runtime, "job.retry")) == 1


async def test_the_home_page_counts_what_the_workspace_holds(client_as: ClientFactory) -> None:
    viewer = await client_as("viewer")
    page = await viewer.get("/")
    assert "<strong>5</strong> people" in page.text
    assert "<strong>0</strong> departments" in page.text
    # The viewer sees no admin navigation.
    assert 'href="/admin/audit"' not in page.text and 'href="/settings"' not in page.text
