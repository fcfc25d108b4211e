"""Engagement of published posts: what each network says about the deliveries it carried.

The ``publishing.engagement`` job (hourly) asks each channel whose connector reports
engagement (:class:`~allsang.connectors.base.ReportsEngagement`) about its deliveries published
in the last :data:`WINDOW`, and stores the counts on the delivery with the time they were read
(``likes``, ``reposts``, ``replies``, ``engagement_at``). Later counts replace earlier ones: the
figures are "as of the last read", which the analytics page says. A channel that cannot be
asked (token revoked, network away) keeps its old counts and is tried again next hour; one
channel's failure does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update

from allsang.channels import open_credentials
from allsang.connectors import registry
from allsang.connectors.base import ChannelContext, ConnectorError, ReportsEngagement
from allsang.db.models import Channel
from allsang.db.models.publishing import PostDelivery
from allsang.db.types import utcnow
from allsang.runtime import Runtime

log = logging.getLogger(__name__)

JOB_KIND = "publishing.engagement"
WINDOW = timedelta(days=30)  # posts collect most of their engagement in the first days
ASK_AT_MOST = 500  # deliveries per channel and run

ConnectorFactory = Callable[[str, ChannelContext], object]


def default_connector(network: str, context: ChannelContext) -> object:
    return registry.connector_class(network)(context)  # type: ignore[call-arg]


async def refresh(
    runtime: Runtime,
    *,
    now: datetime | None = None,
    connector_for: ConnectorFactory = default_connector,
) -> int:
    """Read and store the engagement of recent deliveries; returns how many were updated."""
    now = now or utcnow()
    async with runtime.db.read() as session:
        rows = await session.execute(
            select(PostDelivery.id, PostDelivery.external_id, Channel)
            .join(Channel, Channel.id == PostDelivery.channel_id)
            .where(
                PostDelivery.state == "published",
                PostDelivery.external_id.is_not(None),
                PostDelivery.published_at >= now - WINDOW,
            )
            .order_by(PostDelivery.published_at.desc())
        )
        by_channel: dict[int, tuple[Channel, dict[str, int]]] = {}
        for delivery_id, external_id, channel in rows.all():
            _, wanted = by_channel.setdefault(channel.id, (channel, {}))
            if len(wanted) < ASK_AT_MOST:
                wanted[str(external_id)] = delivery_id
    updated = 0
    for channel, wanted in by_channel.values():
        updated += await _refresh_channel(runtime, channel, wanted, now, connector_for)
    return updated


async def _refresh_channel(
    runtime: Runtime,
    channel: Channel,
    wanted: dict[str, int],
    now: datetime,
    connector_for: ConnectorFactory,
) -> int:
    context = ChannelContext(
        channel_id=channel.id,
        account=channel.account,
        config=dict(channel.config or {}),
        credentials=open_credentials(runtime.secrets, channel.credentials),
    )
    connector = connector_for(channel.network, context)
    if not isinstance(connector, ReportsEngagement):
        return 0
    try:
        found = await connector.engagement(list(wanted))
    except ConnectorError as exc:
        log.warning("engagement of channel %s not read: %s", channel.id, exc)
        return 0
    finally:
        close = getattr(connector, "close", None)
        if close is not None:
            await close()
    values: dict[int, dict[str, object]] = {}
    for external_id, counts in found.items():
        if external_id in wanted:
            values[wanted[external_id]] = {
                "likes": counts.likes,
                "reposts": counts.reposts,
                "replies": counts.replies,
                "engagement_at": now,
            }
    async with runtime.db.write() as session:
        for delivery_id, row in values.items():
            await session.execute(
                update(PostDelivery).where(PostDelivery.id == delivery_id).values(**row)
            )
    return len(values)
