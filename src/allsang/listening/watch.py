"""The hourly trend run: count the last hour's matches per active query and its terms and
hashtags, feed the detectors, and raise alerts for what spikes.

Detector state is kept per workspace in ``listening_state`` (``queries``: a
:class:`~allsang.listening.trends.SeasonalTrends` in the workspace's time zone; ``terms``: a
:class:`~allsang.listening.trends.HashedTrends`; ``last_bucket``: the hour last folded in, so
a re-run of the same hour changes nothing). Hours missed while no worker ran are not
back-filled.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import ListeningQuery, ListeningState, Message, Workspace
from allsang.db.types import utcnow
from allsang.listening import alerts, store
from allsang.listening.query import compile_queries
from allsang.listening.trends import HashedTrends, SeasonalTrends, Signal, bucket_terms
from allsang.runtime import Runtime

JOB_KIND = "listening.trends"
BUCKET = timedelta(hours=1)
CAP = 20_000  # messages examined per hour and workspace
TERM_ALERTS = 5  # most significant terms alerted per hour
TERM_WIDTH, TERM_DEPTH = 1 << 15, 3


def hour_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def _state(session: AsyncSession, workspace_id: int, name: str) -> ListeningState | None:
    return await session.scalar(
        select(ListeningState).where(
            ListeningState.workspace_id == workspace_id, ListeningState.name == name
        )
    )


def _put(
    session: AsyncSession, row: ListeningState | None, workspace_id: int, name: str, data: bytes
) -> None:
    if row is None:
        session.add(ListeningState(workspace_id=workspace_id, name=name, data=data))
    else:
        row.data = data


async def run_workspace(
    runtime: Runtime, workspace_id: int, *, now: datetime | None = None
) -> list[Signal]:
    """Fold the last finished hour into the workspace's detectors and raise alerts for its
    significant queries and terms; returns the signals (empty if the hour was done before)."""
    end = hour_start(now or utcnow())
    start = end - BUCKET
    async with runtime.db.write() as session:
        workspace = await session.get(Workspace, workspace_id)
        if workspace is None:
            return []
        last = await _state(session, workspace_id, "last_bucket")
        if last is not None and last.data.decode() >= start.isoformat():
            return []
        queries = await store.list_queries(session, workspace_id, active_only=True)
        messages = list(
            await session.scalars(
                select(Message)
                .where(
                    Message.workspace_id == workspace_id,
                    Message.direction == "inbound",
                    Message.created_at >= start,
                    Message.created_at < end,
                )
                .order_by(Message.created_at.desc())
                .limit(CAP)
            )
        )
        counts: Counter[str] = Counter({str(q.id): 0 for q in queries})
        for fold in (False, True):
            chosen = [(str(q.id), q.query) for q in queries if q.fold is fold]
            if chosen:
                compiled = compile_queries(chosen, fold=fold)
                for message in messages:
                    counts.update(compiled.match(store.query_message(message)))

        query_row = await _state(session, workspace_id, "queries")
        seasonal = (
            SeasonalTrends.from_bytes(query_row.data)
            if query_row is not None
            else SeasonalTrends(timezone=workspace.timezone)
        )
        seasonal.forget(counts)
        query_signals = seasonal.observe(start, counts)
        term_row = await _state(session, workspace_id, "terms")
        hashed = (
            HashedTrends.from_bytes(term_row.data)
            if term_row is not None
            else HashedTrends(width=TERM_WIDTH, depth=TERM_DEPTH)
        )
        term_signals = hashed.observe(bucket_terms(m.text for m in messages))[:TERM_ALERTS]
        _put(session, query_row, workspace_id, "queries", seasonal.to_bytes())
        _put(session, term_row, workspace_id, "terms", hashed.to_bytes())
        _put(session, last, workspace_id, "last_bucket", start.isoformat().encode())

        settings = alerts.load_settings(workspace, runtime.secrets)
        names = {str(q.id): q.name for q in queries}
        for signal in query_signals:
            await alerts.raise_alert(
                session,
                workspace,
                settings,
                key=f"query:{signal.key}",
                kind="query_spike",
                title=f"Spike: {names.get(signal.key, signal.key)}",
                body=f"{signal.count:.0f} matches in the hour from {start:%H:%M} UTC "
                f"(usually about {signal.expected:.0f}).",
                data={"query_id": int(signal.key), "count": signal.count, "z": signal.z},
                now=end,
            )
        for signal in term_signals:
            await alerts.raise_alert(
                session,
                workspace,
                settings,
                key=f"term:{signal.key}",
                kind="term_spike",
                title=f"Trending: {signal.key}",
                body=f"{signal.count:.0f} messages in the hour from {start:%H:%M} UTC.",
                data={"term": signal.key, "count": signal.count, "z": signal.z},
                now=end,
            )
    return query_signals + term_signals


async def run_all(runtime: Runtime, *, now: datetime | None = None) -> None:
    """Run :func:`run_workspace` for every workspace with an active query."""
    async with runtime.db.read() as session:
        workspace_ids = list(
            await session.scalars(
                select(ListeningQuery.workspace_id)
                .where(ListeningQuery.active.is_(True))
                .distinct()
            )
        )
    for workspace_id in workspace_ids:
        await run_workspace(runtime, workspace_id, now=now)
