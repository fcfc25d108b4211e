"""Out of office: work goes to the deputy when the absence starts and back when it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from allsang.authz import Actor
from allsang.continuity import absence as absences
from allsang.continuity import handover, on_duty
from allsang.continuity.handover import HandedOver
from allsang.continuity.rota import parse_clock
from allsang.continuity.service import sweep
from allsang.db.models import AuditEvent, Channel, Conversation, Message, Notification
from allsang.db.models.continuity import Absence, DutyShift, Handover
from allsang.runtime import Runtime
from tests.continuity.conftest import Team

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def actor(team: Team, name: str) -> Actor:
    return Actor(
        kind="person",
        label=f"{name}@acme.test",
        workspace_id=team.workspace.id,
        role="editor",
        person_id=team.id(name),
    )


async def conversations(runtime: Runtime, team: Team, *specs: tuple[str, str]) -> list[int]:
    """Conversations (assignee name, status) in one channel; returns their ids."""
    async with runtime.db.write() as session:
        channel = Channel(workspace_id=team.workspace.id, network="mastodon", name="Acme")
        session.add(channel)
        await session.flush()
        rows = [
            Conversation(
                workspace_id=team.workspace.id,
                channel_id=channel.id,
                subject=f"Question {n}",
                status=status,
                assignee_id=team.id(name),
            )
            for n, (name, status) in enumerate(specs)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def assignees(runtime: Runtime, ids: list[int]) -> list[int | None]:
    async with runtime.db.read() as session:
        found = {c.id: c.assignee_id for c in await session.scalars(select(Conversation))}
    return [found[i] for i in ids]


async def go_away(
    runtime: Runtime, team: Team, starts: datetime, ends: datetime, **kwargs: object
) -> Absence:
    async with runtime.db.write() as session:
        absence, _ = await absences.create(
            session,
            actor(team, "anna"),
            workspace_id=team.workspace.id,
            person_id=team.id("anna"),
            deputy_id=team.id("bo"),
            starts_at=starts,
            ends_at=ends,
            now=kwargs.get("now", NOW),  # type: ignore[arg-type]
        )
    return absence


async def come_back(runtime: Runtime, team: Team, absence_id: int, now: datetime) -> None:
    async with runtime.db.write() as session:
        absence = await absences.lock(session, absence_id)
        assert absence is not None
        await absences.end(session, absence, actor(team, "anna"), now=now)


async def test_it_hands_over_open_conversations_to_the_deputy_and_takes_back_untouched_ones(
    runtime: Runtime, team: Team
) -> None:
    anna, bo, dan = team.id("anna"), team.id("bo"), team.id("dan")
    untouched, answered, closed, reassigned, others = await conversations(
        runtime,
        team,
        ("anna", "open"),
        ("anna", "pending"),
        ("anna", "closed"),
        ("anna", "new"),
        ("cia", "open"),
    )
    absence = await go_away(runtime, team, NOW, NOW + timedelta(days=7))
    assert absence.state == "active"
    ids = [untouched, answered, closed, reassigned, others]
    assert await assignees(runtime, ids) == [bo, bo, anna, bo, team.id("cia")]
    async with runtime.db.read() as session:
        notified = set(
            await session.scalars(
                select(Notification.conversation_id).where(
                    Notification.person_id == bo, Notification.kind == "handover"
                )
            )
        )
    assert notified == {untouched, answered, reassigned}

    # While away: the deputy answers one; someone gives another to Dan.
    async with runtime.db.write() as session:
        session.add(
            Message(
                workspace_id=team.workspace.id,
                conversation_id=answered,
                author_person_id=bo,
                direction="outbound",
                kind="reply",
                text="Vi tittar på det!",
                created_at=NOW + timedelta(days=1),
            )
        )
        row = await session.get(Conversation, reassigned)
        assert row is not None
        row.assignee_id = dan

    await come_back(runtime, team, absence.id, NOW + timedelta(days=3))
    assert await assignees(runtime, ids) == [anna, bo, anna, dan, team.id("cia")]
    async with runtime.db.read() as session:
        outcomes = dict(
            (row.object_id, row.outcome)
            for row in await session.scalars(select(Handover).order_by(Handover.id))
        )
        actions = list(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.resource_type == "absence")
            )
        )
        ended = await session.get(Absence, absence.id)
    assert outcomes == {untouched: "returned", answered: "kept", reassigned: "kept"}
    assert actions == ["absence.create", "absence.start", "absence.end"]
    assert ended is not None and ended.state == "ended"
    assert ended.ends_at == NOW + timedelta(days=3)


async def test_a_later_absence_starts_and_ends_on_the_clock_and_only_once(
    runtime: Runtime, team: Team
) -> None:
    (conversation,) = await conversations(runtime, team, ("anna", "open"))
    starts = NOW + timedelta(days=1)
    absence = await go_away(runtime, team, starts, starts + timedelta(days=2))
    assert absence.state == "scheduled"
    assert await sweep(runtime, NOW) == 0
    assert await assignees(runtime, [conversation]) == [team.id("anna")]
    assert await sweep(runtime, starts) == 1
    assert await sweep(runtime, starts + timedelta(hours=1)) == 0
    assert await assignees(runtime, [conversation]) == [team.id("bo")]
    async with runtime.db.read() as session:
        assert await on_duty(session, team.department.id, starts) == []  # no shifts
        count = await session.scalar(select(func.count()).select_from(Handover))
    assert count == 1
    assert await sweep(runtime, starts + timedelta(days=2)) == 1
    assert await assignees(runtime, [conversation]) == [team.id("anna")]


async def test_the_absent_person_is_off_the_rota_only_while_away(
    runtime: Runtime, team: Team
) -> None:
    async with runtime.db.write() as session:
        session.add(
            DutyShift(
                workspace_id=team.workspace.id,
                department_id=team.department.id,
                person_id=team.id("anna"),
                weekday=NOW.weekday(),
                start_minute=parse_clock("00:00"),
                end_minute=parse_clock("24:00"),
            )
        )
    absence = await go_away(runtime, team, NOW, NOW + timedelta(days=1))
    async with runtime.db.read() as session:
        assert await on_duty(session, team.department.id, NOW + timedelta(hours=2)) == []
    await come_back(runtime, team, absence.id, NOW + timedelta(hours=3))
    async with runtime.db.read() as session:
        assert await on_duty(session, team.department.id, NOW + timedelta(hours=4)) == [
            team.id("anna")
        ]


async def test_cancelling_before_the_start_hands_nothing_over(runtime: Runtime, team: Team) -> None:
    (conversation,) = await conversations(runtime, team, ("anna", "open"))
    absence = await go_away(runtime, team, NOW + timedelta(days=1), NOW + timedelta(days=2))
    await come_back(runtime, team, absence.id, NOW)
    assert await sweep(runtime, NOW + timedelta(days=1)) == 0
    assert await assignees(runtime, [conversation]) == [team.id("anna")]
    async with runtime.db.read() as session:
        row = await session.get(Absence, absence.id)
    assert row is not None and row.state == "cancelled"


async def test_other_areas_plug_their_own_work_in(
    runtime: Runtime, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, int]] = []

    async def hand_over(session: object, absence: Absence) -> list[HandedOver]:
        calls.append(("over", absence.person_id))
        return [HandedOver(41, {"was": "draft"}), HandedOver(42)]

    async def give_back(session: object, absence: Absence, row: Handover) -> bool:
        calls.append(("back", row.object_id))
        return row.data.get("was") == "draft"

    monkeypatch.setattr(handover, "_providers", dict(handover._providers))
    handover.register_handover("post", hand_over, give_back)
    absence = await go_away(runtime, team, NOW, NOW + timedelta(days=1))
    await come_back(runtime, team, absence.id, NOW + timedelta(hours=1))
    assert calls == [("over", team.id("anna")), ("back", 41), ("back", 42)]
    async with runtime.db.read() as session:
        rows = list(await session.scalars(select(Handover).order_by(Handover.object_id)))
    assert [(r.kind, r.object_id, r.outcome) for r in rows] == [
        ("post", 41, "returned"),
        ("post", 42, "kept"),
    ]


@pytest.mark.parametrize(
    ("deputy", "starts", "ends", "message"),
    [
        ("bo", NOW, NOW - timedelta(hours=1), "end after it starts"),
        ("anna", NOW, NOW + timedelta(days=1), "someone else"),
    ],
)
async def test_an_absence_needs_sensible_dates_and_another_person_as_deputy(
    runtime: Runtime, team: Team, deputy: str, starts: datetime, ends: datetime, message: str
) -> None:
    async with runtime.db.write() as session:
        with pytest.raises(absences.AbsenceError, match=message):
            await absences.create(
                session,
                actor(team, "anna"),
                workspace_id=team.workspace.id,
                person_id=team.id("anna"),
                deputy_id=team.id(deputy),
                starts_at=starts,
                ends_at=ends,
                now=NOW,
            )


async def test_a_deputy_who_is_away_then_or_a_second_overlapping_absence_is_refused(
    runtime: Runtime, team: Team
) -> None:
    await go_away(runtime, team, NOW + timedelta(days=1), NOW + timedelta(days=3))
    async with runtime.db.write() as session:
        with pytest.raises(absences.AbsenceError, match="already an absence"):
            await absences.create(
                session,
                actor(team, "anna"),
                workspace_id=team.workspace.id,
                person_id=team.id("anna"),
                deputy_id=team.id("dan"),
                starts_at=NOW + timedelta(days=2),
                ends_at=NOW + timedelta(days=4),
                now=NOW,
            )
    async with runtime.db.write() as session:
        with pytest.raises(absences.AbsenceError, match="away themselves"):
            await absences.create(
                session,
                actor(team, "dan"),
                workspace_id=team.workspace.id,
                person_id=team.id("dan"),
                deputy_id=team.id("anna"),
                starts_at=NOW + timedelta(days=2),
                ends_at=NOW + timedelta(days=5),
                now=NOW,
            )


async def test_work_given_to_someone_away_goes_to_the_deputy_at_the_next_sweep(
    runtime: Runtime, team: Team
) -> None:
    first, later = await conversations(runtime, team, ("anna", "open"), ("cia", "open"))
    absence = await go_away(runtime, team, NOW, NOW + timedelta(days=5))
    async with runtime.db.write() as session:
        for conversation_id in (first, later):  # both given (back) to Anna by hand
            row = await session.get(Conversation, conversation_id)
            assert row is not None
            row.assignee_id = team.id("anna")
    assert await sweep(runtime, NOW + timedelta(hours=1)) == 1
    assert await assignees(runtime, [first, later]) == [team.id("bo")] * 2
    assert await sweep(runtime, NOW + timedelta(hours=2)) == 0
    async with runtime.db.read() as session:
        rows = list(await session.scalars(select(Handover).order_by(Handover.object_id)))
        caught = await session.scalar(
            select(func.count()).where(AuditEvent.action == "absence.catch_up")
        )
    assert [row.object_id for row in rows] == [first, later]
    assert caught == 1
    await come_back(runtime, team, absence.id, NOW + timedelta(days=1))
    assert await assignees(runtime, [first, later]) == [team.id("anna")] * 2
