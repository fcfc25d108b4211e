"""Reply approval: a workspace can hold the replies of people without ``reply.approve``
(contributors) until an editor approves them.

* The switch is ``workspace.settings["reply_approval"]`` (:func:`set_required`, admins).
* :func:`submit` is what the reply box calls: it sends at once when the person may, and
  otherwise stores a ``pending_reply`` (same text checks and collision warning as sending).
  :func:`allsang.inbox.replies.send_reply` itself refuses such people, so no path sends
  around the rule.
* :func:`approve` claims the pending reply with one conditional UPDATE (two editors approving
  at once send it once), then sends it through the connector as its author's reply. If the
  network refuses, it goes back to ``pending`` with the error, for another try or a rejection.
  A reply still ``sending`` after :data:`STALE_SENDING` (the process died mid-send, so nobody
  knows whether the network got it) is listed as such and may be approved again or rejected
  by an editor who has checked the network.
* :func:`reject` closes it with the editor's comment. The author is notified of either.

Every step writes an audit event: ``reply.submit``, ``reply.approve``, ``reply.reject``,
``reply.failed`` (and ``conversation.reply`` when it goes out).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor, authorize
from allsang.db.models import Conversation, Notification, Person, Workspace
from allsang.db.models.inbox_workflow import PendingReply
from allsang.db.types import utcnow
from allsang.i18n import gettext as _
from allsang.inbox import replies
from allsang.inbox.actions import NotFound, load
from allsang.runtime import Runtime

MAX_COMMENT = 2000
STALE_SENDING = timedelta(minutes=5)


class AlreadyDecided(Exception):
    """Another editor approved or rejected it first."""


@dataclass(slots=True)
class PendingItem:
    pending: PendingReply
    author_name: str
    subject: str


async def set_required(session: AsyncSession, actor: Actor, workspace_id: int, on: bool) -> None:
    authorize(actor, "inbox.settings")
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(workspace_id)
    settings = dict(workspace.settings or {})
    if bool(settings.get("reply_approval")) == on:
        return
    settings["reply_approval"] = on
    workspace.settings = settings
    audit.record(
        session,
        actor,
        "inbox.settings",
        "workspace",
        workspace_id,
        workspace_id=workspace_id,
        reply_approval=on,
    )


async def submit(
    runtime: Runtime,
    actor: Actor,
    workspace_id: int,
    conversation_id: int,
    text: str,
    *,
    mode: replies.Mode = "reply",
    since: datetime | None = None,
    force: bool = False,
) -> PendingReply | None:
    """Send now when the actor may (returns ``None``), else hold it (returns the pending
    reply). Raises :class:`replies.ReplyFailed` (and its ``Collision``) like sending does."""
    async with runtime.db.read() as session:
        workspace = await session.get(Workspace, workspace_id)
        if workspace is None:
            raise NotFound(workspace_id)
        held = replies.needs_approval(workspace, actor)
    if not held:
        await replies.send_reply(
            runtime, actor, workspace_id, conversation_id, text, mode=mode, since=since, force=force
        )
        return None
    target = await replies.reply_target(runtime, workspace_id, conversation_id, mode)
    text = replies.check_text(target, text, mode)
    async with runtime.db.write() as session:
        conversation = await load(session, workspace_id, conversation_id)
        if not force:
            names = await replies.collisions(session, conversation_id, actor.person_id, since)
            if names:
                raise replies.Collision(_("Someone else has answered meanwhile."), names)
        pending = PendingReply(
            workspace_id=workspace_id,
            conversation_id=conversation_id,
            author_person_id=actor.person_id,
            mode=mode,
            text=text,
            status="pending",
        )
        session.add(pending)
        await session.flush()
        conversation.updated_at = utcnow()
        audit.record(
            session,
            actor,
            "reply.submit",
            "conversation",
            conversation_id,
            workspace_id=workspace_id,
            pending_reply_id=pending.id,
            mode=mode,
        )
    return pending


async def _notify_author(
    session: AsyncSession, actor: Actor, pending: PendingReply, kind: str
) -> None:
    if pending.author_person_id is not None and pending.author_person_id != actor.person_id:
        session.add(
            Notification(
                workspace_id=pending.workspace_id,
                person_id=pending.author_person_id,
                kind=kind,
                actor_person_id=actor.person_id,
                conversation_id=pending.conversation_id,
            )
        )


async def approve(
    runtime: Runtime, actor: Actor, workspace_id: int, pending_id: int
) -> PendingReply:
    """Send a held reply (see the module docstring). Raises :class:`AlreadyDecided`,
    :class:`NotFound` or :class:`replies.ReplyFailed` (it is pending again then)."""
    authorize(actor, "reply.approve")
    now = utcnow()
    async with runtime.db.write() as session:
        claimed = await session.execute(
            update(PendingReply)
            .where(
                PendingReply.id == pending_id,
                PendingReply.workspace_id == workspace_id,
                (PendingReply.status == "pending")
                | (
                    (PendingReply.status == "sending")
                    & (PendingReply.decided_at < now - STALE_SENDING)
                ),
            )
            .values(status="sending", decided_by=actor.person_id, decided_at=now, error="")
            .execution_options(synchronize_session=False)
        )
        pending = await session.get(PendingReply, pending_id)
        if pending is None or pending.workspace_id != workspace_id:
            raise NotFound(pending_id)
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise AlreadyDecided(pending_id)
        audit.record(
            session,
            actor,
            "reply.approve",
            "conversation",
            pending.conversation_id,
            workspace_id=workspace_id,
            pending_reply_id=pending.id,
        )
    mode: replies.Mode = "direct" if pending.mode == "direct" else "reply"
    try:
        target = await replies.reply_target(runtime, workspace_id, pending.conversation_id, mode)
        message = await replies.deliver(
            runtime,
            actor,
            target,
            pending.text,
            mode,
            author_person_id=pending.author_person_id,
            pending_id=pending.id,
        )
    except (replies.ReplyFailed, NotFound) as exc:
        async with runtime.db.write() as session:
            row = await session.get(PendingReply, pending_id)
            if row is not None:
                row.status = "pending"
                row.error = str(exc)[:1000]
                audit.record(
                    session,
                    actor,
                    "reply.failed",
                    "conversation",
                    row.conversation_id,
                    workspace_id=workspace_id,
                    pending_reply_id=row.id,
                    error=row.error,
                )
        raise
    async with runtime.db.write() as session:
        row = await session.get(PendingReply, pending_id)
        assert row is not None
        row.status = "sent"
        row.message_id = message.id
        await _notify_author(session, actor, row, "reply_approved")
    return row


async def reject(
    session: AsyncSession, actor: Actor, workspace_id: int, pending_id: int, comment: str
) -> PendingReply:
    authorize(actor, "reply.approve")
    pending = await session.get(PendingReply, pending_id)
    if pending is None or pending.workspace_id != workspace_id:
        raise NotFound(pending_id)
    if not is_open(pending):
        raise AlreadyDecided(pending_id)
    pending.status = "rejected"
    pending.comment = comment.strip()[:MAX_COMMENT]
    pending.decided_by = actor.person_id
    pending.decided_at = utcnow()
    conversation = await session.get(Conversation, pending.conversation_id)
    if conversation is not None:
        conversation.updated_at = utcnow()
    await _notify_author(session, actor, pending, "reply_rejected")
    audit.record(
        session,
        actor,
        "reply.reject",
        "conversation",
        pending.conversation_id,
        workspace_id=workspace_id,
        pending_reply_id=pending.id,
        comment=pending.comment,
    )
    return pending


def is_open(pending: PendingReply, now: datetime | None = None) -> bool:
    """Still to decide: pending, or stuck in ``sending`` for longer than :data:`STALE_SENDING`."""
    if pending.status == "pending":
        return True
    stale = (now or utcnow()) - STALE_SENDING
    return pending.status == "sending" and (pending.decided_at or stale) <= stale


async def pending_items(
    session: AsyncSession,
    workspace_id: int,
    *,
    conversation_id: int | None = None,
    author_person_id: int | None = None,
    statuses: tuple[str, ...] = ("pending", "sending"),
    limit: int = 200,
) -> list[PendingItem]:
    """Held replies, oldest first (of one conversation, or of one author); by default those
    pending and those being sent (see :func:`is_open` for which may be decided)."""
    query = (
        select(PendingReply, Person.name, Conversation.subject)
        .outerjoin(Person, Person.id == PendingReply.author_person_id)
        .join(Conversation, Conversation.id == PendingReply.conversation_id)
        .where(PendingReply.workspace_id == workspace_id, PendingReply.status.in_(statuses))
        .order_by(PendingReply.created_at, PendingReply.id)
        .limit(limit)
    )
    if conversation_id is not None:
        query = query.where(PendingReply.conversation_id == conversation_id)
    if author_person_id is not None:
        query = query.where(PendingReply.author_person_id == author_person_id)
    rows = await session.execute(query)
    return [PendingItem(p, name or "", subject or "") for p, name, subject in rows.all()]
