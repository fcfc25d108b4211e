"""Delivering one post to one channel exactly once, as far as the network allows.

The ``publishing.deliver`` job runs :func:`deliver` for one :class:`PostDelivery`. Delivery is
at least once at the job level (a worker may die at any instruction), so the handler makes the
*network effect* happen at most once and never loses it silently:

1. **Claim** (one transaction): a ``scheduled`` delivery becomes ``publishing`` with
   ``started_at`` and the exact text, and is **committed before any network call**. A delivery
   found already ``publishing`` is a *resumed* attempt: an earlier one may or may not have
   reached the network.
2. **Resumed attempts never send blindly.** The network is read back
   (:mod:`allsang.publishing.readback`) for the text posted since ``started_at``. Found: the
   delivery is published with that post's id and URL. Not found: it is sent again only where
   the network deduplicates by idempotency key and the key is still remembered (Mastodon: one
   hour, see ``IDEMPOTENCY_WINDOWS``); otherwise it becomes ``outcome_unknown`` with the reason,
   for a person to mark published or retry.
3. **Send** with the delivery's idempotency key and the variant's media (files from the data
   directory with their alt text, only to connectors that declare ``media_limits``; a
   delivery whose files the connector cannot take fails instead of going out without them),
   then record the answer (``published``).
   Errors by type: rate limit → back to ``scheduled`` and retried later; auth expired →
   ``failed`` and the channel marked ``reconnect_needed``; permanent → ``failed`` with the
   reason; transient (timeouts, 5xx: the post may have gone through) → stays ``publishing`` and
   the job retries with backoff, which is a resumed attempt (step 2). A transient error on the
   job's last attempt ends in ``outcome_unknown``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from allsang import audit
from allsang.authz import Actor
from allsang.channels import open_credentials
from allsang.connectors import registry
from allsang.connectors.base import (
    AuthExpired,
    ChannelContext,
    ConnectorError,
    MediaFile,
    PermanentError,
    Publishing,
    RateLimited,
    Sent,
    TransientError,
    media_limits,
)
from allsang.db.models import Channel
from allsang.db.models.publishing import Post, PostDelivery, PostVariant
from allsang.db.types import utcnow
from allsang.publishing.media import media_path
from allsang.publishing.readback import IDEMPOTENCY_WINDOWS, READERS
from allsang.publishing.service import refresh_status, variant_media
from allsang.runtime import Runtime

PUBLISHER = Actor(kind="system", label="publisher")


class RetryLater(Exception):
    """The attempt failed in a way another attempt may fix; the job retries with backoff."""


@dataclass(slots=True)
class Claim:
    delivery_id: int
    network: str
    context: ChannelContext
    text: str
    key: str
    started_at: datetime
    resumed: bool
    media: tuple[MediaFile, ...] = ()


ConnectorFactory = Callable[[str, ChannelContext], Publishing]


def default_connector(network: str, context: ChannelContext) -> Publishing:
    connector = registry.connector_class(network)(context)  # type: ignore[call-arg]
    if not isinstance(connector, Publishing):
        raise PermanentError(f"{network} channels cannot publish")
    return connector


async def deliver(
    runtime: Runtime,
    delivery_id: int,
    *,
    last_attempt: bool = False,
    connector_for: ConnectorFactory = default_connector,
    now: Callable[[], datetime] = utcnow,
) -> str:
    """Run one attempt of a delivery; return its state afterwards. Raises :class:`RetryLater`
    when the job should run again."""
    claim = await _claim(runtime, delivery_id, now())
    if claim is None:
        async with runtime.db.read() as session:
            delivery = await session.get(PostDelivery, delivery_id)
            return delivery.state if delivery else "gone"
    if claim.resumed:
        verdict = await _resume(runtime, claim, now(), last_attempt=last_attempt)
        if verdict is not None:
            return verdict
    try:
        connector = connector_for(claim.network, claim.context)
        problem = _media_problem(connector, claim.media)
    except ConnectorError as exc:
        return await _finish(runtime, claim, "failed", error=str(exc))
    if problem is not None:
        await _close(connector)
        return await _finish(runtime, claim, "failed", error=problem)
    try:
        if claim.media:
            sent = await connector.publish(
                claim.text,
                idempotency_key=claim.key,
                media=claim.media,  # type: ignore[call-arg]
            )
        else:
            sent = await connector.publish(claim.text, idempotency_key=claim.key)
    except RateLimited as exc:
        if last_attempt:
            return await _finish(runtime, claim, "failed", error=str(exc))
        if claim.resumed:
            # The interrupted attempt before this one stays unexplained: keep "publishing"
            # (and its start), so the next attempt reads the network back again first.
            await _note_error(runtime, claim, str(exc))
        else:
            await _finish(runtime, claim, "scheduled", error=str(exc))
        raise RetryLater(str(exc)) from exc
    except AuthExpired as exc:
        return await _finish(runtime, claim, "failed", error=str(exc), reconnect=True)
    except PermanentError as exc:
        return await _finish(runtime, claim, "failed", error=str(exc))
    except Exception as exc:  # transient, or a bug: the post may or may not be out
        reason = f"{type(exc).__name__}: {exc}"
        if last_attempt:
            return await _finish(
                runtime,
                claim,
                "outcome_unknown",
                error=reason,
                unknown=f"the last attempt failed without a clear answer ({reason})",
            )
        await _note_error(runtime, claim, reason)
        raise RetryLater(reason) from exc
    finally:
        await _close(connector)
    return await _finish(runtime, claim, "published", sent=sent)


def _media_problem(connector: object, files: tuple[MediaFile, ...]) -> str | None:
    """Why the files cannot go out with this connector (checked at scheduling too, but the
    files or the connector may have changed since); None when they can."""
    if not files:
        return None
    allowed = media_limits(type(connector))
    if allowed is None:
        return "this network cannot publish images or videos; nothing was sent"
    if missing := [f.path.name for f in files if not f.path.is_file()]:
        return f"media file {missing[0]} is missing from the data directory; nothing was sent"
    return allowed.problem(files)


async def _close(connector: object) -> None:
    """Release a connector's connections (Bluesky keeps an HTTP session open)."""
    close = getattr(connector, "close", None)
    if close is not None:
        await close()


async def _claim(runtime: Runtime, delivery_id: int, now: datetime) -> Claim | None:
    """Mark the delivery publishing and commit; None when there is nothing to do."""
    async with runtime.db.write() as session:
        delivery = await session.scalar(
            select(PostDelivery).where(PostDelivery.id == delivery_id).with_for_update()
        )
        if delivery is None or delivery.state not in ("scheduled", "publishing"):
            return None
        channel = await session.get(Channel, delivery.channel_id)
        post = await session.get(Post, delivery.post_id)
        if channel is None or post is None:
            return None
        resumed = delivery.state == "publishing"
        delivery.attempts += 1
        delivery.updated_at = now
        if not resumed:
            delivery.state = "publishing"
            delivery.started_at = delivery.started_at or now
            audit.record(
                session,
                PUBLISHER,
                "delivery.publishing",
                "post_delivery",
                delivery.id,
                workspace_id=delivery.workspace_id,
                attempt=delivery.attempts,
            )
            await refresh_status(session, PUBLISHER, post)
        variant = await session.scalar(
            select(PostVariant).where(
                PostVariant.post_id == post.id, PostVariant.channel_id == channel.id
            )
        )
        files = tuple(
            MediaFile(
                media_path(runtime.settings.data_dir, row),
                row.content_type,
                row.alt_text,
                row.kind,
                row.size,
            )
            for row in (await variant_media(session, variant) if variant is not None else [])
        )
        context = ChannelContext(
            channel_id=channel.id,
            account=channel.account,
            config=dict(channel.config or {}),
            credentials=open_credentials(runtime.secrets, channel.credentials),
        )
        return Claim(
            delivery.id,
            channel.network,
            context,
            delivery.text,
            delivery.idempotency_key,
            delivery.started_at or now,
            resumed,
            files,
        )


async def _resume(
    runtime: Runtime, claim: Claim, now: datetime, *, last_attempt: bool
) -> str | None:
    """Find out what an earlier attempt did. Returns the final state, or None to send again
    (only where the network's idempotency key makes that safe). A read-back that fails for a
    passing reason is tried again on the job's next attempt."""
    reader = READERS.get(claim.network)
    window = IDEMPOTENCY_WINDOWS.get(claim.network)
    key_alive = window is not None and now - claim.started_at < window
    problem = ""
    if reader is not None:
        try:
            known = await _known_ids(runtime, claim)
            found = await reader(claim.context, claim.text, claim.started_at, known)
        except TransientError as exc:
            if not key_alive and not last_attempt:
                await _note_error(runtime, claim, f"reading the network back failed: {exc}")
                raise RetryLater(str(exc)) from exc
            found, problem = None, f"reading the network back failed ({exc})"
        except ConnectorError as exc:
            found, problem = None, f"reading the network back failed ({exc})"
        if found is not None:
            return await _finish(runtime, claim, "published", sent=found, read_back=True)
        problem = problem or "the post was not found when the network was read back"
    else:
        problem = f"{claim.network} cannot be read back"
    if key_alive:
        return None
    why = (
        "an earlier attempt was interrupted before the network answered; "
        f"{problem}, and sending again could post it twice"
    )
    return await _finish(runtime, claim, "outcome_unknown", unknown=why)


async def _known_ids(runtime: Runtime, claim: Claim) -> frozenset[str]:
    """Posts of the channel that other deliveries already own."""
    async with runtime.db.read() as session:
        rows = await session.scalars(
            select(PostDelivery.external_id).where(
                PostDelivery.channel_id == claim.context.channel_id,
                PostDelivery.id != claim.delivery_id,
                PostDelivery.external_id.is_not(None),
                PostDelivery.published_at >= claim.started_at - timedelta(days=1),
            )
        )
        return frozenset(str(r) for r in rows.all())


async def _note_error(runtime: Runtime, claim: Claim, error: str) -> None:
    async with runtime.db.write() as session:
        delivery = await session.get(PostDelivery, claim.delivery_id)
        if delivery is not None and delivery.state == "publishing":
            delivery.last_error = error[:2000]
            delivery.updated_at = utcnow()


async def _finish(
    runtime: Runtime,
    claim: Claim,
    state: str,
    *,
    sent: Sent | None = None,
    error: str | None = None,
    unknown: str | None = None,
    reconnect: bool = False,
    read_back: bool = False,
) -> str:
    """Record the attempt's outcome; only a delivery still ``publishing`` is changed (a person
    may have resolved it meanwhile)."""
    async with runtime.db.write() as session:
        delivery = await session.scalar(
            select(PostDelivery).where(PostDelivery.id == claim.delivery_id).with_for_update()
        )
        if delivery is None:
            return "gone"
        if delivery.state != "publishing":
            return delivery.state
        now = utcnow()
        delivery.state = state
        delivery.updated_at = now
        if error is not None:
            delivery.last_error = error[:2000]
        if unknown is not None:
            delivery.unknown_reason = unknown[:2000]
        if state == "scheduled":
            delivery.started_at = None  # nothing reached the network (a refusal)
        if sent is not None:
            delivery.external_id = sent.external_id
            delivery.url = sent.url or None
            delivery.published_at = sent.created_at or now
            delivery.unknown_reason = None
        audit.record(
            session,
            PUBLISHER,
            f"delivery.{state}",
            "post_delivery",
            delivery.id,
            workspace_id=delivery.workspace_id,
            url=delivery.url or "",
            error=error or "",
            reason=unknown or "",
            read_back=read_back,
        )
        if reconnect:
            channel = await session.get(Channel, delivery.channel_id)
            if channel is not None:
                channel.state = "reconnect_needed"
                channel.last_error = (error or "")[:2000]
                channel.last_error_at = now
                audit.record(
                    session,
                    PUBLISHER,
                    "channel.reconnect_needed",
                    "channel",
                    channel.id,
                    workspace_id=channel.workspace_id,
                    reason=error or "",
                )
        post = await session.get(Post, delivery.post_id)
        if post is not None:
            await refresh_status(session, PUBLISHER, post)
        return state
