"""Reply approval in the service: contributors' replies are held when the workspace wants it
(whatever path they take), editors approve (sent once, as the author's reply) or reject with a
comment, a network refusal leaves it pending, and every step is audited."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from allsang.authz import Actor, Forbidden
from allsang.connectors import registry
from allsang.connectors.base import ChannelContext, PermanentError, Sent
from allsang.db.models import AuditEvent, Message, Notification
from allsang.db.models.inbox_workflow import PendingReply
from allsang.db.types import utcnow
from allsang.inbox import approval, replies
from allsang.runtime import Runtime
from tests.inbox.seed import Seeded, seed
from tests.web.conftest import World, create_world


class FakeConnector:
    """A Conversing connector that records what it sends (the wire is tested elsewhere)."""

    network: ClassVar[str] = "mastodon"
    sent: ClassVar[list[tuple[str, str, str]]] = []
    fail: ClassVar[bool] = False

    def __init__(self, context: ChannelContext) -> None:
        self.context = context

    async def _send(self, kind: str, to: str, text: str) -> Sent:
        await asyncio.sleep(0)  # let a concurrent approval run its claim meanwhile
        if self.fail:
            raise PermanentError("the status was deleted")
        self.sent.append((kind, to, text))
        return Sent(external_id=f"out-{len(self.sent)}")

    async def reply(self, in_reply_to: str, text: str) -> Sent:
        return await self._send("reply", in_reply_to, text)

    async def direct_message(self, handle: str, text: str) -> Sent:
        return await self._send("direct", handle, text)

    def listen(self, cursor: dict[str, Any]) -> Any:
        raise AssertionError("not used")

    def normalise(self, raw: Any) -> Any:
        raise AssertionError("not used")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeConnector]:
    FakeConnector.sent = []
    FakeConnector.fail = False
    monkeypatch.setattr(registry, "connector_class", lambda network: FakeConnector)
    return FakeConnector


@pytest.fixture
async def world(runtime: Runtime) -> World:
    return await create_world(runtime)


@pytest.fixture
async def seeded(runtime: Runtime, world: World) -> Seeded:
    return await seed(runtime.db, world.workspace.id)


def actor(world: World, role: str) -> Actor:
    return Actor(
        kind="person",
        label=role,
        workspace_id=world.workspace.id,
        role=role,
        person_id=world.people[role].id,
    )


async def _require_approval(runtime: Runtime, world: World, on: bool = True) -> None:
    async with runtime.db.write() as session:
        await approval.set_required(session, actor(world, "admin"), world.workspace.id, on)


async def _audit(runtime: Runtime) -> list[str]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def test_without_the_setting_a_contributor_sends_at_once(
    runtime: Runtime, world: World, seeded: Seeded, fake: type[FakeConnector]
) -> None:
    target = seeded.conversations[0]
    held = await approval.submit(
        runtime, actor(world, "contributor"), world.workspace.id, target.id, "Hej Anna!"
    )
    assert held is None
    assert fake.sent == [("reply", "100", "Hej Anna!")]


async def test_with_the_setting_a_contributor_can_never_send_directly(
    runtime: Runtime, world: World, seeded: Seeded, fake: type[FakeConnector]
) -> None:
    await _require_approval(runtime, world)
    target = seeded.conversations[0]
    with pytest.raises(replies.ApprovalRequired):
        await replies.send_reply(
            runtime, actor(world, "contributor"), world.workspace.id, target.id, "Hej!", force=True
        )
    held = await approval.submit(
        runtime, actor(world, "contributor"), world.workspace.id, target.id, "Hej Anna!"
    )
    assert held is not None and held.status == "pending"
    assert fake.sent == []
    # Editors are not held.
    assert (
        await approval.submit(
            runtime, actor(world, "editor"), world.workspace.id, seeded.conversations[1].id, "Hei!"
        )
        is None
    )
    assert fake.sent == [("reply", "101", "Hei!")]
    assert await _audit(runtime) == ["inbox.settings", "reply.submit", "conversation.reply"]


async def test_approval_sends_it_once_as_the_authors_reply_and_tells_the_author(
    runtime: Runtime, world: World, seeded: Seeded, fake: type[FakeConnector]
) -> None:
    await _require_approval(runtime, world)
    target = seeded.conversations[0]
    held = await approval.submit(
        runtime, actor(world, "contributor"), world.workspace.id, target.id, "God jul!"
    )
    assert held is not None
    with pytest.raises(Forbidden):
        await approval.approve(runtime, actor(world, "contributor"), world.workspace.id, held.id)
    # Two editors press "approve" at the same moment: one sends, the other is told.
    outcomes = await asyncio.gather(
        approval.approve(runtime, actor(world, "editor"), world.workspace.id, held.id),
        approval.approve(runtime, actor(world, "admin"), world.workspace.id, held.id),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyDecided", "PendingReply"]
    assert fake.sent == [("reply", "100", "God jul!")]
    async with runtime.db.read() as session:
        row = await session.get(PendingReply, held.id)
        message = await session.scalar(select(Message).where(Message.external_id == "out-1"))
        notes = list(await session.scalars(select(Notification)))
    assert row is not None and row.status == "sent" and message is not None
    assert row.message_id == message.id
    assert message.author_person_id == world.people["contributor"].id
    assert [(n.kind, n.person_id) for n in notes] == [
        ("reply_approved", world.people["contributor"].id)
    ]
    assert await _audit(runtime) == [
        "inbox.settings",
        "reply.submit",
        "reply.approve",
        "conversation.reply",
    ]


async def test_a_refused_approval_stays_pending_with_the_networks_reason(
    runtime: Runtime, world: World, seeded: Seeded, fake: type[FakeConnector]
) -> None:
    await _require_approval(runtime, world)
    held = await approval.submit(
        runtime, actor(world, "contributor"), world.workspace.id, seeded.conversations[0].id, "Hej"
    )
    assert held is not None
    fake.fail = True
    with pytest.raises(replies.ReplyFailed):
        await approval.approve(runtime, actor(world, "editor"), world.workspace.id, held.id)
    async with runtime.db.read() as session:
        row = await session.get(PendingReply, held.id)
    assert row is not None and row.status == "pending" and "deleted" in row.error
    assert (await _audit(runtime))[-2:] == ["reply.approve", "reply.failed"]


async def test_rejection_keeps_the_comment_and_tells_the_author(
    runtime: Runtime, world: World, seeded: Seeded, fake: type[FakeConnector]
) -> None:
    await _require_approval(runtime, world)
    held = await approval.submit(
        runtime, actor(world, "contributor"), world.workspace.id, seeded.conversations[0].id, "Hej"
    )
    assert held is not None
    async with runtime.db.write() as session:
        await approval.reject(
            session, actor(world, "editor"), world.workspace.id, held.id, "Too short, add hours"
        )
    async with runtime.db.write() as session:
        with pytest.raises(approval.AlreadyDecided):
            await approval.reject(session, actor(world, "admin"), world.workspace.id, held.id, "")
    async with runtime.db.read() as session:
        row = await session.get(PendingReply, held.id)
        kinds = list(await session.scalars(select(Notification.kind)))
        waiting = await approval.pending_items(session, world.workspace.id)
    assert row is not None and (row.status, row.comment) == ("rejected", "Too short, add hours")
    assert kinds == ["reply_rejected"] and waiting == []
    assert fake.sent == []
    assert (await _audit(runtime))[-1] == "reply.reject"


async def test_only_admins_switch_approval_on(runtime: Runtime, world: World) -> None:
    async with runtime.db.write() as session:
        with pytest.raises(Forbidden):
            await approval.set_required(session, actor(world, "editor"), world.workspace.id, True)


async def test_a_pending_reply_by_someone_else_is_a_collision(
    runtime: Runtime, world: World, seeded: Seeded, fake: type[FakeConnector]
) -> None:
    await _require_approval(runtime, world)
    target = seeded.conversations[0]
    await approval.submit(
        runtime, actor(world, "contributor"), world.workspace.id, target.id, "Hej"
    )
    with pytest.raises(replies.Collision) as info:
        await approval.submit(runtime, actor(world, "editor"), world.workspace.id, target.id, "Hi")
    assert info.value.names == ["Contributor Person"]
    assert fake.sent == []
    await approval.submit(
        runtime, actor(world, "editor"), world.workspace.id, target.id, "Hi", force=True
    )
    assert fake.sent == [("reply", "100", "Hi")]


async def test_a_reply_stuck_while_sending_can_be_decided_again_only_once_stale(
    runtime: Runtime, world: World, seeded: Seeded, fake: type[FakeConnector]
) -> None:
    await _require_approval(runtime, world)
    held = await approval.submit(
        runtime, actor(world, "contributor"), world.workspace.id, seeded.conversations[0].id, "Hej"
    )
    assert held is not None
    # As if a process claimed it and died before it knew the network's answer.
    async with runtime.db.write() as session:
        row = await session.get(PendingReply, held.id)
        assert row is not None
        row.status, row.decided_at = "sending", utcnow()
    with pytest.raises(approval.AlreadyDecided):
        await approval.approve(runtime, actor(world, "editor"), world.workspace.id, held.id)
    async with runtime.db.write() as session:
        row = await session.get(PendingReply, held.id)
        assert row is not None
        listed = await approval.pending_items(session, world.workspace.id)
        assert [item.pending.id for item in listed] == [held.id]
        assert not approval.is_open(row)
        row.decided_at = utcnow() - approval.STALE_SENDING - timedelta(seconds=1)
    await approval.approve(runtime, actor(world, "editor"), world.workspace.id, held.id)
    assert fake.sent == [("reply", "100", "Hej")]
