"""Routing admin pages: rules, business hours and SLA targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from allsang.db.models import Conversation, Department, Message
from allsang.db.models.routing import DepartmentHours, RoutingRule, SlaTarget
from allsang.routing.hours import hours_for_department
from allsang.runtime import Runtime
from tests.web.conftest import ClientFactory, World


async def _department(runtime: Runtime, world: World, name: str = "Support") -> int:
    async with runtime.db.write() as session:
        department = Department(workspace_id=world.workspace.id, name=name)
        session.add(department)
        await session.flush()
        return department.id


async def _rules(runtime: Runtime) -> list[RoutingRule]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(RoutingRule).order_by(RoutingRule.position)))


async def test_an_admin_creates_orders_and_deletes_rules(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    support = await _department(runtime, world)
    admin = await client_as("admin")
    for name, query in [("Invoices", "faktura OR invoice"), ("Press", "")]:
        response = await admin.post(
            "/routing/rules",
            data={
                "name": name,
                "query": query,
                "languages": "sv, NB",
                "intents": ["question", "complaint"],
                "department_id": str(support),
                "round_robin": "on",
                "priority": "high",
                "stop": "on",
                "enabled": "on",
            },
        )
        assert response.status_code == 303
    first, second = await _rules(runtime)
    assert (first.name, second.name) == ("Invoices", "Press")
    assert first.conditions == {
        "query": "faktura OR invoice",
        "languages": ["nb", "sv"],
        "intents": ["complaint", "question"],
    }
    assert (first.department_id, first.round_robin, first.priority) == (support, True, "high")
    page = await admin.get("/routing")
    assert page.status_code == 200 and "faktura OR invoice" in page.text
    await admin.post(f"/routing/rules/{second.id}/move", data={"direction": "up"})
    assert [r.name for r in await _rules(runtime)] == ["Press", "Invoices"]
    await admin.post(f"/routing/rules/{first.id}/delete")
    assert [r.name for r in await _rules(runtime)] == ["Press"]


async def test_a_rule_with_a_broken_query_or_a_foreign_department_is_refused(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    admin = await client_as("admin")
    broken = await admin.post("/routing/rules", data={"name": "x", "query": '"unclosed'})
    assert broken.status_code == 422
    assert "The query is not valid" in broken.text
    foreign = await admin.post("/routing/rules", data={"name": "x", "department_id": "999"})
    assert foreign.status_code == 422
    assert await _rules(runtime) == []


async def test_business_hours_are_saved_and_read_back_as_business_hours(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    support = await _department(runtime, world)
    admin = await client_as("admin")
    days = {f"day{d}": "08:00-12:00, 13:00-17:00" for d in range(5)}
    response = await admin.post(
        f"/routing/departments/{support}/hours",
        data={"timezone": "Europe/Oslo", **days, "day5": "10:00-14:00", "day6": "",
              "closed": "2026-12-24\n2026-12-25"},
    )  # fmt: skip
    assert response.status_code == 303
    async with runtime.db.read() as session:
        hours = await hours_for_department(session, support)
    assert hours.timezone == "Europe/Oslo"
    assert len(hours.weekly[0]) == 2 and 6 not in hours.weekly
    assert len(hours.closed_dates) == 2
    page = await admin.get(f"/routing/departments/{support}")
    assert "08:00-12:00, 13:00-17:00" in page.text and "2026-12-25" in page.text
    bad = await admin.post(
        f"/routing/departments/{support}/hours",
        data={"timezone": "Europe/Oslo", "day0": "17:00-08:00"},
    )
    assert bad.status_code == 422
    await admin.post(f"/routing/departments/{support}/hours/delete")
    async with runtime.db.read() as session:
        assert await session.scalar(select(DepartmentHours)) is None


async def test_sla_targets_are_saved_per_priority(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    support = await _department(runtime, world)
    admin = await client_as("admin")
    response = await admin.post(
        f"/routing/departments/{support}/sla",
        data={"first_default": "60", "next_default": "30", "first_urgent": "15"},
    )
    assert response.status_code == 303
    async with runtime.db.read() as session:
        targets = {
            t.priority: (t.first_response_minutes, t.next_response_minutes)
            for t in await session.scalars(select(SlaTarget))
        }
    assert targets == {"": (60, 30), "urgent": (15, None)}
    refused = await admin.post(f"/routing/departments/{support}/sla", data={"first_low": "-5"})
    assert refused.status_code == 422


async def test_editors_see_the_rules_but_only_admins_change_them(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    support = await _department(runtime, world)
    editor = await client_as("editor")
    assert (await editor.get("/routing")).status_code == 200
    assert (await editor.get(f"/routing/departments/{support}")).status_code == 200
    assert (await editor.post("/routing/rules", data={"name": "x"})).status_code == 403
    assert (await editor.get("/routing/rules/new")).status_code == 403
    viewer = await client_as("viewer")
    assert (await viewer.get("/routing")).status_code == 403


async def test_the_inbox_marks_overdue_and_soon_due_conversations(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    now = datetime.now(UTC)
    async with runtime.db.write() as session:
        for subject, due in [
            ("Late one", now - timedelta(minutes=5)),
            ("Soon one", now + timedelta(minutes=10)),
        ]:
            conversation = Conversation(
                workspace_id=world.workspace.id,
                subject=subject,
                status="open",
                waiting_since=now - timedelta(hours=1),
                last_message_at=now - timedelta(hours=1),
                sla_due_at=due,
            )
            session.add(conversation)
            await session.flush()
            session.add(
                Message(
                    workspace_id=world.workspace.id,
                    conversation_id=conversation.id,
                    direction="inbound",
                    text=subject,
                    created_at=now - timedelta(hours=1),
                )
            )
        late_id = conversation.id - 1
    editor = await client_as("editor")
    listing = await editor.get("/inbox")
    assert listing.status_code == 200
    assert listing.text.count('class="badge sentiment-neg sla-breached"') == 1
    assert listing.text.count('class="badge priority-high sla-due-soon"') == 1
    page = await editor.get(f"/inbox/{late_id}")
    assert "sla-breached" in page.text and "Reply due" in page.text


async def test_a_message_posted_to_the_webhook_is_routed_with_the_listening_enrichment(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    from tests.web.test_messages_api import message, token

    support = await _department(runtime, world)
    async with runtime.db.write() as session:
        session.add(
            RoutingRule(
                workspace_id=world.workspace.id,
                name="Angry Swedes",
                conditions={"languages": ["sv"], "sentiments": ["neg"]},
                department_id=support,
                person_id=world.people["editor"].id,
                priority="urgent",
            )
        )
    headers = await token(runtime, world.workspace.id)
    admin = await client_as("admin")
    angry = message("1", kind="dm", lang="sv", text="Det här är helt värdelöst, jag är så arg!")
    calm = message("2", kind="dm", lang="sv", text="Tack för hjälpen igår, allt fungerar nu.")
    calm["author"] = {"handle": "@bo@social.example", "name": "Bo"}
    response = await admin.post("/api/v1/messages", json=[angry, calm], headers=headers)
    assert response.json()["accepted"] == 2
    async with runtime.db.read() as session:
        routed = list(
            (
                await session.execute(
                    select(
                        Conversation.department_id, Conversation.assignee_id, Conversation.priority
                    ).order_by(Conversation.id)
                )
            ).all()
        )
    assert routed == [(support, world.people["editor"].id, "urgent"), (None, None, "normal")]
