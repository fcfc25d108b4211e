"""Health check and Prometheus metrics (for machines; no login, no language)."""

from __future__ import annotations

import asyncio
import hmac
import logging

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import func, select, text
from starlette.responses import JSONResponse, Response

from allsang.db.models import Job
from allsang.db.types import utcnow
from allsang.ingest.health import channel_health
from allsang.jobs.admin import STATUSES
from allsang.web.errors import problem
from allsang.web.metrics import Metrics
from allsang.web.viewer import bearer_token, runtime_of

router = APIRouter()
log = logging.getLogger(__name__)

DATABASE_TIMEOUT = 5.0


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT), runtime_of(request).db.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("health check: database unreachable: %s", exc)
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    expected = runtime.settings.metrics_token
    if expected and not hmac.compare_digest(
        (bearer_token(request) or "").encode(), expected.encode()
    ):
        return problem(
            401,
            "The metrics token is needed.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    collected: Metrics = request.app.state.metrics
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT), runtime.db.read() as session:
            rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
            by_status = {status: count for status, count in rows}
            now = utcnow()
            oldest_due = await session.scalar(
                select(func.min(Job.run_at)).where(Job.status == "queued", Job.run_at <= now)
            )
        channels = await channel_health(runtime.db)
        collected.database_up.set(1)
        for status in STATUSES:
            collected.jobs.labels(status).set(by_status.get(status, 0))
        collected.oldest_due_job.set(
            0 if oldest_due is None else (now - oldest_due).total_seconds()
        )
        for channel in channels:
            labels = (str(channel.id), channel.network)
            collected.channel_ok.labels(*labels).set(1 if channel.state == "active" else 0)
            if channel.last_success_at is not None:
                since = (now - channel.last_success_at).total_seconds()
                collected.channel_since_success.labels(*labels).set(since)
    except Exception as exc:
        log.warning("metrics: database unreachable: %s", exc)
        collected.database_up.set(0)
    # The app's own registry plus the process-wide one, where the job worker and the
    # ingest coordinator running in this process keep their counters.
    body = generate_latest(collected.registry) + generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
