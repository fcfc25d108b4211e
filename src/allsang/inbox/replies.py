"""Replying through the conversation's channel.

The network call happens outside any transaction (it may take seconds); only after the network
accepted the reply is the outbound message stored, threaded into the conversation, with
``first_reply_at`` set (once) and ``waiting_since`` cleared, in one transaction with its audit
event. If the network refuses, nothing is stored and the error is returned to the person.

:func:`send_reply` is the only way out for people, and it checks, in this order:

* the text: not empty, within the network's limit (:mod:`allsang.connectors.limits`);
* the mode: ``reply`` (public, in the thread) or ``direct`` (a private message to the
  contact), where the channel's network supports direct messages (:data:`DIRECT_NETWORKS`);
* approval: when the workspace holds contributors' replies for approval
  (:mod:`allsang.inbox.approval`), someone without ``reply.approve`` gets
  :class:`ApprovalRequired` — whatever page or API they came through;
* collisions: unless ``force``, a reply stored after ``since`` (when the person opened the
  conversation) by someone else, or a reply by someone else waiting for approval, stops the
  send with :class:`Collision`, which names who.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor, can
from allsang.channels import is_webhook, open_credentials
from allsang.connectors import limits, registry
from allsang.connectors.base import ChannelContext, ConnectorError, Conversing
from allsang.db.models import Channel, Contact, Conversation, Message, Person, Workspace
from allsang.db.models.inbox_workflow import PendingReply
from allsang.db.types import utcnow
from allsang.i18n import gettext as _
from allsang.inbox.actions import NotFound, load
from allsang.runtime import Runtime

MAX_REPLY = 10_000
Mode = Literal["reply", "direct"]
# Networks whose connector sends private messages to a contact (a Mastodon direct status,
# Bluesky's chat service, X's DM conversations; an e-mail reply is private already).
DIRECT_NETWORKS = frozenset({"mastodon", "bluesky", "x"})


class ReplyFailed(Exception):
    """The reply could not be sent; ``str()`` says why, for people (translated)."""


class ApprovalRequired(ReplyFailed):
    """The workspace holds this person's replies for approval: submit it instead."""


class Collision(ReplyFailed):
    """Someone else answered (or is waiting for approval of an answer) since ``since``."""

    def __init__(self, message: str, names: list[str]) -> None:
        super().__init__(message)
        self.names = names


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    conversation: Conversation
    channel: Channel
    message: Message
    contact: Contact | None = None


def modes_for(channel: Channel | None) -> list[Mode]:
    """What the reply box offers on this channel (empty: it cannot send at all)."""
    if channel is None or is_webhook(channel):
        return []
    return ["reply", "direct"] if channel.network in DIRECT_NETWORKS else ["reply"]


def needs_approval(workspace: Workspace, actor: Actor) -> bool:
    """True when this actor's replies must wait for an editor (see :mod:`.approval`)."""
    return bool((workspace.settings or {}).get("reply_approval")) and not can(
        actor, "reply.approve"
    )


async def collisions(
    session: AsyncSession,
    conversation_id: int,
    person_id: int | None,
    since: datetime | None,
    *,
    ignore_pending: int | None = None,
) -> list[str]:
    """Who else replied after ``since`` or has a reply waiting for approval (names; a reply
    made on the network itself counts as "the channel's account")."""
    found: list[str] = []
    if since is not None:
        rows = await session.execute(
            select(Message.author_person_id, Person.name)
            .outerjoin(Person, Person.id == Message.author_person_id)
            .where(
                Message.conversation_id == conversation_id,
                Message.direction == "outbound",
                Message.received_at > since,
            )
        )
        for author_id, name in rows.all():
            if author_id is None or author_id != person_id:
                found.append(name or _("someone on the network"))
    pending = (
        select(Person.name)
        .join(PendingReply, PendingReply.author_person_id == Person.id)
        .where(
            PendingReply.conversation_id == conversation_id,
            PendingReply.status.in_(("pending", "sending")),
        )
    )
    if person_id is not None:
        pending = pending.where(PendingReply.author_person_id != person_id)
    if ignore_pending is not None:
        pending = pending.where(PendingReply.id != ignore_pending)
    found.extend(await session.scalars(pending))
    return sorted(set(found))


async def reply_target(
    runtime: Runtime, workspace_id: int, conversation_id: int, mode: Mode = "reply"
) -> ReplyTarget:
    """The conversation, its channel and the newest inbound message a reply answers (for a
    direct message: the contact it goes to)."""
    async with runtime.db.read() as session:
        conversation = await load(session, workspace_id, conversation_id)
        channel = (
            await session.get(Channel, conversation.channel_id) if conversation.channel_id else None
        )
        contact = (
            await session.get(Contact, conversation.contact_id) if conversation.contact_id else None
        )
        message = await session.scalar(
            select(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.direction == "inbound",
                Message.external_id.is_not(None),
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        )
    if channel is None or message is None or message.external_id is None:
        raise ReplyFailed(_("There is no message in this conversation to reply to."))
    if mode == "direct" and (channel.network not in DIRECT_NETWORKS or contact is None):
        raise ReplyFailed(_("This channel cannot send direct messages."))
    return ReplyTarget(conversation, channel, message, contact)


def check_text(target: ReplyTarget, text: str, mode: Mode) -> str:
    """The text as it will be sent, or :class:`ReplyFailed` saying what is wrong with it."""
    text = text.strip()
    if not text or len(text) > MAX_REPLY:
        raise ReplyFailed(_("Write a reply first."))
    try:
        limits.check(target.channel.network, text, kind=mode, config=target.channel.config)
    except limits.TooLong as exc:
        raise ReplyFailed(
            _("A reply on this network has at most %(limit)s characters; this one has %(length)s.")
            % {"limit": exc.limit, "length": exc.length}
        ) from None
    return text


def _connector(runtime: Runtime, channel: Channel) -> Conversing:
    if is_webhook(channel):
        raise ReplyFailed(_("This channel only receives messages; it cannot send replies."))
    try:
        cls = registry.connector_class(channel.network)
    except LookupError:
        raise ReplyFailed(_("This channel cannot send replies.")) from None
    connector = cls(
        ChannelContext(  # type: ignore[call-arg]
            channel_id=channel.id,
            account=channel.account,
            config=dict(channel.config or {}),
            credentials=open_credentials(runtime.secrets, channel.credentials),
        )
    )
    if not isinstance(connector, Conversing):
        raise ReplyFailed(_("This channel cannot send replies."))
    return connector


async def send_reply(
    runtime: Runtime,
    actor: Actor,
    workspace_id: int,
    conversation_id: int,
    text: str,
    *,
    mode: Mode = "reply",
    since: datetime | None = None,
    force: bool = False,
) -> Message:
    """Send ``text`` (a public reply to the conversation's newest inbound message, or a
    direct message to its contact) and store it; the checks are in the module docstring."""
    target = await reply_target(runtime, workspace_id, conversation_id, mode)
    text = check_text(target, text, mode)
    async with runtime.db.read() as session:
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        if needs_approval(workspace, actor):
            raise ApprovalRequired(_("Replies need an editor's approval in this workspace."))
        if not force:
            names = await collisions(session, conversation_id, actor.person_id, since)
            if names:
                raise Collision(_("Someone else has answered meanwhile."), names)
    return await deliver(runtime, actor, target, text, mode, author_person_id=actor.person_id)


async def deliver(
    runtime: Runtime,
    actor: Actor,
    target: ReplyTarget,
    text: str,
    mode: Mode,
    *,
    author_person_id: int | None,
    pending_id: int | None = None,
) -> Message:
    """Send through the connector and store: no checks (callers made them). Only for
    :func:`send_reply` and an editor's approval of a held reply."""
    workspace_id = target.conversation.workspace_id
    conversation_id = target.conversation.id
    connector = _connector(runtime, target.channel)
    try:
        if mode == "direct":
            assert target.contact is not None
            sent = await connector.direct_message(target.contact.handle, text)
        else:
            sent = await connector.reply(str(target.message.external_id), text)
    except ConnectorError as exc:
        raise ReplyFailed(str(exc) or type(exc).__name__) from exc
    now = utcnow()
    async with runtime.db.write() as session:
        try:
            conversation = await load(session, workspace_id, conversation_id)
        except NotFound:
            raise ReplyFailed(_("The conversation was deleted meanwhile.")) from None
        # Ingest may have stored our own reply already (networks echo it back): adopt that row.
        message = await session.scalar(
            select(Message).where(
                Message.channel_id == target.channel.id, Message.external_id == sent.external_id
            )
        )
        if message is None:
            message = Message(
                workspace_id=workspace_id,
                channel_id=target.channel.id,
                external_id=sent.external_id,
                created_at=sent.created_at or now,
            )
            session.add(message)
        message.conversation_id = conversation.id
        message.author_person_id = author_person_id
        message.direction = "outbound"
        message.kind = "dm" if mode == "direct" else "reply"
        message.in_reply_to = None if mode == "direct" else target.message.external_id
        message.url = sent.url
        message.text = text
        message.lang = target.message.lang
        await session.flush()
        if conversation.first_reply_at is None:
            conversation.first_reply_at = now
        conversation.waiting_since = None
        conversation.last_message_at = max(conversation.last_message_at or now, message.created_at)
        conversation.updated_at = now
        audit.record(
            session,
            actor,
            "conversation.reply",
            "conversation",
            conversation.id,
            workspace_id=workspace_id,
            message_id=message.id,
            external_id=sent.external_id,
            mode=mode,
            pending_reply_id=pending_id,
        )
    return message
