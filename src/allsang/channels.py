"""Channels as people manage them: connect, change, pause, reconnect and remove; the webhook's
channels; re-processing quarantined items.

Contracts:

* Every function that changes a channel takes the caller's write session and adds an audit
  event to it, so the change and its record commit together (or not at all).
* Credentials are stored only sealed (:func:`seal_credentials`, SecretBox ciphertext of a JSON
  object); nothing here logs or returns them in plain text.
* Rows are always looked up within a workspace (:func:`get_channel`): an id from another
  workspace is "not found", never a leak.
* Webhook messages land in one channel per workspace and network, named ``"<network>
  (webhook)"`` with ``config = {"source": "webhook", "listen": False}`` (the coordinator never
  runs a listen loop for it), created on first use (:func:`webhook_channels`).
* :func:`reprocess` runs a quarantined item through its channel's normaliser again
  (:func:`webhook_normalise` for webhook channels) and the pipeline; success resolves the item with
  the stored (or already stored) message's id, failure keeps it open with the new reason and
  one more attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets as token_source
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor
from allsang.connectors import registry
from allsang.connectors.base import ChannelContext, RawItem
from allsang.db.models import Channel, Message, QuarantinedItem, Workspace
from allsang.db.types import utcnow
from allsang.ingest.message import (
    InvalidMessage,
    NormalisedMessage,
    clean_text,
    validate_message,
)
from allsang.ingest.pipeline import ChannelRef, Enricher, Normaliser, Pipeline
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox

WEBHOOK_SOURCE = "webhook"
WEBHOOK_FALLBACK_NETWORK = "webhook"
_NETWORK_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")


# Credentials ----------------------------------------------------------------------------------


def seal_credentials(box: SecretBox, credentials: dict[str, Any]) -> bytes:
    return box.seal(json.dumps(credentials).encode())


def open_credentials(box: SecretBox, sealed: bytes | None) -> dict[str, Any]:
    """The channel's credentials as a dict (empty when it has none)."""
    if not sealed:
        return {}
    value = json.loads(box.open(sealed))
    return value if isinstance(value, dict) else {}


# Channels -------------------------------------------------------------------------------------


async def get_channel(session: AsyncSession, workspace_id: int, channel_id: int) -> Channel | None:
    return await session.scalar(
        select(Channel).where(Channel.id == channel_id, Channel.workspace_id == workspace_id)
    )


def is_webhook(channel: Channel) -> bool:
    return (channel.config or {}).get("source") == WEBHOOK_SOURCE


async def create_channel(
    session: AsyncSession,
    actor: Actor,
    *,
    network: str,
    name: str,
    account: str = "",
    config: dict[str, Any] | None = None,
    credentials: bytes | None = None,
    state: str = "active",
    department_id: int | None = None,
    ip: str | None = None,
) -> Channel:
    assert actor.workspace_id is not None
    channel = Channel(
        workspace_id=actor.workspace_id,
        network=network,
        name=name,
        account=account,
        config=config or {},
        cursor={},
        credentials=credentials,
        state=state,
        department_id=department_id,
    )
    session.add(channel)
    await session.flush()
    audit.record(
        session,
        actor,
        "channel.create",
        "channel",
        channel.id,
        ip=ip,
        network=network,
        name=name,
        account=account,
        state=state,
    )
    return channel


async def update_channel(
    session: AsyncSession,
    actor: Actor,
    channel: Channel,
    *,
    name: str,
    department_id: int | None,
    hashtags: list[str] | None = None,
    keywords: list[str] | None = None,
    ip: str | None = None,
) -> None:
    """Rename, assign to a department, and set what a listening channel follows (``None``
    leaves hashtags or keywords as they are: the form did not offer them)."""
    config = dict(channel.config or {})
    changes: dict[str, Any] = {}
    if name != channel.name:
        changes["name"] = name
        channel.name = name
    if department_id != channel.department_id:
        changes["department_id"] = department_id
        channel.department_id = department_id
    for key, values in (("hashtags", hashtags), ("keywords", keywords)):
        if values is not None and list(config.get(key) or []) != values:
            changes[key] = values
            if values:
                config[key] = values
            else:
                config.pop(key, None)
    if not changes:
        return
    channel.config = config
    audit.record(session, actor, "channel.update", "channel", channel.id, ip=ip, **changes)


async def set_paused(
    session: AsyncSession, actor: Actor, channel: Channel, paused: bool, *, ip: str | None = None
) -> bool:
    """Pause or resume; returns False when the channel was already so (nothing recorded).

    Resuming makes the channel ``active``; the coordinator picks it up on its next scan."""
    if paused == (channel.state == "paused"):
        return False
    if not paused and channel.state == "pending":
        return False
    old = channel.state
    channel.state = "paused" if paused else "active"
    audit.record(
        session,
        actor,
        "channel.pause" if paused else "channel.resume",
        "channel",
        channel.id,
        ip=ip,
        old=old,
    )
    return True


async def delete_channel(
    session: AsyncSession, actor: Actor, channel: Channel, *, ip: str | None = None
) -> None:
    """Remove the channel; its messages stay (their channel becomes empty), its quarantined
    items go with it."""
    audit.record(
        session,
        actor,
        "channel.delete",
        "channel",
        channel.id,
        ip=ip,
        network=channel.network,
        name=channel.name,
    )
    await session.delete(channel)


async def store_credentials(
    session: AsyncSession,
    actor: Actor,
    channel: Channel,
    credentials: bytes,
    *,
    account: str,
    ip: str | None = None,
) -> None:
    """New working credentials: the channel becomes ``active`` (a connection completed or a
    reconnect)."""
    old = channel.state
    channel.credentials = credentials
    channel.account = account
    channel.state = "active"
    config = dict(channel.config or {})
    config.pop("oauth", None)
    channel.config = config
    audit.record(
        session,
        actor,
        "channel.connect" if old == "pending" else "channel.reconnect",
        "channel",
        channel.id,
        ip=ip,
        account=account,
        old=old,
    )


async def reactivate(
    session: AsyncSession, actor: Actor, channel: Channel, *, ip: str | None = None
) -> None:
    """Listen again with the stored credentials (after a person fixed the cause elsewhere)."""
    old = channel.state
    channel.state = "active"
    audit.record(session, actor, "channel.reconnect", "channel", channel.id, ip=ip, old=old)


# OAuth state ----------------------------------------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def begin_oauth(channel: Channel, actor: Actor, redirect_uri: str) -> str:
    """Remember a fresh OAuth ``state`` on the channel (its hash, and who started); return the
    value to send. The state names the channel, so the callback finds it again."""
    secret = token_source.token_urlsafe(24)
    config = dict(channel.config or {})
    config["oauth"] = {
        "state": _digest(secret),
        "person_id": actor.person_id,
        "redirect_uri": redirect_uri,
    }
    channel.config = config
    return f"{channel.id}.{secret}"


def oauth_channel_id(state: str) -> int | None:
    head, _sep, _secret = state.partition(".")
    return int(head) if head.isdigit() else None


def check_oauth(channel: Channel, actor: Actor, state: str) -> str | None:
    """The redirect URI of the pending OAuth flow when ``state`` is the one this person started
    for this channel, else ``None``."""
    pending = (channel.config or {}).get("oauth")
    _head, _sep, secret = state.partition(".")
    if not isinstance(pending, dict) or not secret:
        return None
    if not hmac.compare_digest(str(pending.get("state") or ""), _digest(secret)):
        return None
    if pending.get("person_id") != actor.person_id:
        return None
    return str(pending.get("redirect_uri") or "")


# Webhook channels -----------------------------------------------------------------------------


def webhook_network(item: Any) -> str:
    """The network a posted item belongs to: its ``channel`` field when that is a plausible
    network name, else ``webhook`` (the item is quarantined there by validation)."""
    if isinstance(item, dict):
        value = item.get("channel")
        if isinstance(value, str) and _NETWORK_NAME.match(value):
            return value
    return WEBHOOK_FALLBACK_NETWORK


async def webhook_channels(
    runtime: Runtime, actor: Actor, networks: set[str]
) -> dict[str, ChannelRef]:
    """The workspace's webhook channel for each network, created on first use."""
    workspace_id = actor.workspace_id
    assert workspace_id is not None

    async def find(session: AsyncSession) -> dict[str, ChannelRef]:
        rows = await session.scalars(
            select(Channel)
            .where(Channel.workspace_id == workspace_id, Channel.network.in_(sorted(networks)))
            .order_by(Channel.id)
        )
        found: dict[str, ChannelRef] = {}
        for row in rows:
            if is_webhook(row) and row.network not in found:
                found[row.network] = ChannelRef(row.id, workspace_id, row.network)
        return found

    async with runtime.db.read() as session:
        found = await find(session)
    if len(found) == len(networks):
        return found
    async with runtime.db.write() as session:
        # Lock the workspace row (PostgreSQL) so two first posts cannot both create a channel.
        await session.execute(
            select(Workspace.id).where(Workspace.id == workspace_id).with_for_update()
        )
        found = await find(session)
        for network in sorted(networks - set(found)):
            channel = await create_channel(
                session,
                actor,
                network=network,
                name=f"{network} (webhook)",
                config={"source": WEBHOOK_SOURCE, "listen": False},
            )
            found[network] = ChannelRef(channel.id, workspace_id, network)
    return found


# Ingest ---------------------------------------------------------------------------------------


@cache
def _enrichers() -> tuple[Enricher, ...]:
    from allsang.listening.enrich import ListeningEnricher

    return (ListeningEnricher(),)


async def ingest_pipeline(runtime: Runtime) -> Pipeline:
    """The pipeline as ``allsang ingest`` and ``serve`` run it, with the listening enricher
    (its model is loaded once per process, off the event loop), live hints and walls."""
    from allsang.ingest.hooks import commit_hooks

    return Pipeline(
        runtime.db, enrichers=await asyncio.to_thread(_enrichers), on_commit=commit_hooks(runtime)
    )


# Quarantine -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ReprocessResult:
    resolved: int = 0
    failed: int = 0


def _raw_item(item: QuarantinedItem) -> RawItem:
    # The pipeline keeps JSON payloads as JSON text and anything else as text.
    try:
        payload: Any = json.loads(item.raw)
    except ValueError:
        payload = item.raw
    return RawItem(payload, source=item.source)


def webhook_normalise(raw: RawItem) -> NormalisedMessage:
    """Webhook items arrive decoded already: a string item is not a message, never JSON text."""
    return validate_message(raw.payload)


def normaliser_for(runtime: Runtime, channel: Channel) -> Normaliser:
    """The normaliser ingest uses for this channel (raises when it cannot be built)."""
    if is_webhook(channel):
        return webhook_normalise
    connector = registry.connector_class(channel.network)(
        ChannelContext(  # type: ignore[call-arg]
            channel_id=channel.id,
            account=channel.account,
            config=dict(channel.config or {}),
            credentials=open_credentials(runtime.secrets, channel.credentials),
        )
    )
    return connector.normalise


async def open_quarantine(
    runtime: Runtime, workspace_id: int, item_ids: list[int] | None
) -> list[tuple[QuarantinedItem, Channel | None]]:
    statement = (
        select(QuarantinedItem, Channel)
        .outerjoin(Channel, Channel.id == QuarantinedItem.channel_id)
        .where(QuarantinedItem.workspace_id == workspace_id, QuarantinedItem.resolved_at.is_(None))
        .order_by(QuarantinedItem.id)
    )
    if item_ids is not None:
        statement = statement.where(QuarantinedItem.id.in_(item_ids))
    async with runtime.db.read() as session:
        return [(item, channel) for item, channel in await session.execute(statement)]


async def _normalise(
    runtime: Runtime, item: QuarantinedItem, channel: Channel | None
) -> NormalisedMessage | str:
    """The message, or the reason it still cannot be one."""
    if channel is None:
        return "the channel of this item no longer exists"
    try:
        message = normaliser_for(runtime, channel)(_raw_item(item))
    except InvalidMessage as exc:
        return exc.reason
    except Exception as exc:  # a connector that cannot be built, or a normaliser bug
        return f"normaliser error: {type(exc).__name__}: {exc}"
    if message is None:
        return "the connector says this item is not a message"
    return message


async def reprocess(
    runtime: Runtime,
    actor: Actor,
    item_ids: list[int] | None = None,
    *,
    ip: str | None = None,
) -> ReprocessResult:
    """Try the open quarantined items (``item_ids``, or all) again; see the module docstring."""
    workspace_id = actor.workspace_id
    assert workspace_id is not None
    result = ReprocessResult()
    pipeline = await ingest_pipeline(runtime)
    for item, channel in await open_quarantine(runtime, workspace_id, item_ids):
        outcome = await _normalise(runtime, item, channel)
        message_id: int | None = None
        if isinstance(outcome, NormalisedMessage) and channel is not None:
            message = outcome
            ref = ChannelRef(channel.id, workspace_id, channel.network)
            stored = await pipeline.ingest(ref, [RawItem(None)], lambda _raw, m=message: m)
            if stored.message_ids:
                message_id = stored.message_ids[0]
            else:
                async with runtime.db.read() as session:
                    message_id = await session.scalar(
                        select(Message.id).where(
                            Message.channel_id == channel.id,
                            Message.external_id == message.external_id,
                        )
                    )
        async with runtime.db.write() as session:
            row = await session.get(QuarantinedItem, item.id)
            if row is None or row.resolved_at is not None:
                continue
            if message_id is not None:
                row.resolved_at = utcnow()
                row.message_id = message_id
                result.resolved += 1
            else:
                row.attempts += 1
                row.reason = clean_text(str(outcome))
                result.failed += 1
    if result.resolved or result.failed:
        async with runtime.db.write() as session:
            audit.record(
                session,
                actor,
                "quarantine.reprocess",
                "quarantined_item",
                item_ids[0] if item_ids and len(item_ids) == 1 else None,
                ip=ip,
                resolved=result.resolved,
                failed=result.failed,
            )
    return result


async def dismiss(
    runtime: Runtime, actor: Actor, item_ids: list[int], *, ip: str | None = None
) -> int:
    """Close open items without a message (people decided they are not worth keeping)."""
    workspace_id = actor.workspace_id
    async with runtime.db.write() as session:
        rows = list(
            await session.scalars(
                select(QuarantinedItem).where(
                    QuarantinedItem.workspace_id == workspace_id,
                    QuarantinedItem.id.in_(item_ids),
                    QuarantinedItem.resolved_at.is_(None),
                )
            )
        )
        for row in rows:
            row.resolved_at = utcnow()
            audit.record(session, actor, "quarantine.dismiss", "quarantined_item", row.id, ip=ip)
    return len(rows)
