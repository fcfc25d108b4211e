"""Replying through the conversation's channel.

The network call happens outside any transaction (it may take seconds); only after the network
accepted the reply is the outbound message stored, threaded into the conversation, with
``first_reply_at`` set (once) and ``waiting_since`` cleared, in one transaction with its audit
event. If the network refuses, nothing is stored and the error is returned to the person.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from allsang import audit
from allsang.authz import Actor
from allsang.channels import is_webhook, open_credentials
from allsang.connectors import registry
from allsang.connectors.base import ChannelContext, ConnectorError, Conversing
from allsang.db.models import Channel, Conversation, Message
from allsang.db.types import utcnow
from allsang.i18n import gettext as _
from allsang.inbox.actions import NotFound, load
from allsang.runtime import Runtime

# Characters a reply may have per network (what the composer counts down from).
LIMITS: dict[str, int] = {"mastodon": 500, "bluesky": 300, "x": 280}
MAX_REPLY = 10_000


class ReplyFailed(Exception):
    """The reply could not be sent; ``str()`` says why, for people (translated)."""


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    conversation: Conversation
    channel: Channel
    message: Message


def limit_for(network: str | None) -> int | None:
    return LIMITS.get(network or "")


async def reply_target(runtime: Runtime, workspace_id: int, conversation_id: int) -> ReplyTarget:
    """The conversation, its channel and the newest inbound message a reply answers."""
    async with runtime.db.read() as session:
        conversation = await load(session, workspace_id, conversation_id)
        channel = (
            await session.get(Channel, conversation.channel_id) if conversation.channel_id else None
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
    return ReplyTarget(conversation, channel, message)


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
    runtime: Runtime, actor: Actor, workspace_id: int, conversation_id: int, text: str
) -> Message:
    """Send ``text`` as a reply to the conversation's newest inbound message and store it."""
    text = text.strip()
    if not text or len(text) > MAX_REPLY:
        raise ReplyFailed(_("Write a reply first."))
    target = await reply_target(runtime, workspace_id, conversation_id)
    limit = limit_for(target.channel.network)
    if limit is not None and len(text) > limit:
        raise ReplyFailed(
            _("A reply on this network has at most %(limit)s characters.") % {"limit": limit}
        )
    connector = _connector(runtime, target.channel)
    try:
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
        message.author_person_id = actor.person_id
        message.direction = "outbound"
        message.kind = "reply"
        message.in_reply_to = target.message.external_id
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
        )
    return message
