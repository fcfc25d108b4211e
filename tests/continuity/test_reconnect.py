"""Two people who can reconnect every channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from allsang.authz import Actor
from allsang.cli.doctor import _diagnose
from allsang.continuity import reconnect
from allsang.db.models import AuditEvent, Channel, Membership
from allsang.db.models.continuity import Absence
from allsang.runtime import Runtime
from allsang.settings import Settings
from tests.continuity.conftest import Team

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ADMIN = Actor(kind="system", label="test")


async def channel(runtime: Runtime, team: Team) -> Channel:
    async with runtime.db.write() as session:
        row = Channel(workspace_id=team.workspace.id, network="mastodon", name="Acme")
        session.add(row)
    return row


async def warned(runtime: Runtime, team: Team, now: datetime = NOW) -> list[str]:
    async with runtime.db.read() as session:
        found = await reconnect.warnings(session, team.workspace.id, now)
    return ["too few" if item.too_few else "nobody present" for item in found if item.channel_name]


async def test_a_channel_is_warned_about_until_two_people_who_may_reconnect_are_named(
    runtime: Runtime, team: Team
) -> None:
    row = await channel(runtime, team)
    assert await warned(runtime, team) == ["too few"]
    async with runtime.db.write() as session:
        assert await reconnect.name(session, ADMIN, row, team.id("bo"))
        # A contributor cannot reconnect, so cannot be named.
        assert not await reconnect.name(session, ADMIN, row, team.id("cia"))
    assert await warned(runtime, team) == ["too few"]
    async with runtime.db.write() as session:
        assert await reconnect.name(session, ADMIN, row, team.id("anna"))
        assert await reconnect.name(session, ADMIN, row, team.id("anna"))  # twice: no change
    assert await warned(runtime, team) == []
    async with runtime.db.read() as session:
        (item,) = await reconnect.coverage(session, team.workspace.id, now=NOW)
        added = list(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action == "channel.reconnector_add")
            )
        )
    assert sorted(item.able) == sorted([team.id("anna"), team.id("bo")])
    assert len(added) == 2


async def test_a_named_person_stops_counting_when_demoted_and_when_everyone_is_away(
    runtime: Runtime, team: Team
) -> None:
    row = await channel(runtime, team)
    async with runtime.db.write() as session:
        for name in ("anna", "bo"):
            await reconnect.name(session, ADMIN, row, team.id(name))
        for name in ("anna", "bo"):
            session.add(
                Absence(
                    workspace_id=team.workspace.id,
                    person_id=team.id(name),
                    starts_at=NOW,
                    ends_at=NOW + timedelta(days=2),
                )
            )
    assert await warned(runtime, team, NOW - timedelta(hours=1)) == []
    assert await warned(runtime, team, NOW + timedelta(hours=1)) == ["nobody present"]
    async with runtime.db.write() as session:
        membership = await session.scalar(
            select(Membership).where(Membership.person_id == team.id("bo"))
        )
        assert membership is not None
        membership.role = "viewer"
    assert await warned(runtime, team, NOW - timedelta(hours=1)) == ["too few"]
    async with runtime.db.write() as session:
        await reconnect.unname(session, ADMIN, row, team.id("bo"))
        (item,) = await reconnect.coverage(session, team.workspace.id, now=NOW)
    assert item.named == [(team.id("anna"), "Anna")]


async def test_doctor_warns_about_channels_at_risk_without_failing(
    runtime: Runtime, team: Team, settings: Settings
) -> None:
    row = await channel(runtime, team)
    checks = {check.name: check for check in await _diagnose(settings)}
    found = checks["Reconnectors"]
    assert found.ok and found.warn
    assert "acme/Acme: 0 of 2 people can reconnect it" in found.detail
    async with runtime.db.write() as session:
        for name in ("anna", "bo"):
            await reconnect.name(session, ADMIN, row, team.id(name))
    checks = {check.name: check for check in await _diagnose(settings)}
    assert not checks["Reconnectors"].warn
