"""Stored messages reach the aggregates through a job queued after the ingest commit."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

import allsang.analytics.jobs  # noqa: F401  (registers the handlers)
from allsang.analytics import aggregate
from allsang.analytics.figures import Filters, build_report
from allsang.connectors.base import RawItem
from allsang.db.models import Job
from allsang.ingest.pipeline import ChannelRef, Pipeline
from allsang.jobs import Worker
from allsang.runtime import Runtime
from tests.analytics.history import world


def _item(n: int, text: str, kind: str = "dm") -> RawItem:
    body = {
        "channel": "mastodon",
        "external_id": f"x{n}",
        "kind": kind,
        "author": {"handle": "asa"},
        "text": text,
        "created_at": f"2026-03-02T09:0{n}:00+00:00",
    }
    return RawItem(payload=json.dumps(body), source="test")


async def test_an_ingested_batch_is_counted_by_the_queued_refresh(runtime: Runtime) -> None:
    async with runtime.db.write() as session:
        w = await world(session)
    await aggregate.refresh(runtime.db, w.workspace.id)  # the first refresh: a rebuild
    pipeline = Pipeline(runtime.db, on_commit=[aggregate.commit_hook(runtime.db)])
    channel = ChannelRef(w.mastodon.id, w.workspace.id, "mastodon")
    await pipeline.ingest(channel, [_item(1, "Hej, när öppnar ni?"), _item(2, "Hallå?")])
    async with runtime.db.read() as session:
        jobs = list(await session.scalars(select(Job).where(Job.kind == aggregate.JOB_KIND)))
    assert [j.payload for j in jobs] == [{"workspace_id": w.workspace.id}]
    assert await Worker(runtime).run_once() == 1
    async with runtime.db.read() as session:
        day = date(2026, 3, 2)
        report = await build_report(session, w.workspace.id, Filters(day, day))
    assert report.headline["conversations"] == 1  # the two direct messages are one thread
    assert report.headline["expecting"] == 1
    assert report.headline["unanswered"] == 1
    assert report.table("volume").rows == [[day, 2, 0, 0]]
