"""Alerts: stored in the app (``alert`` table) and sent through Apprise, deduplicated, with
quiet hours.

* :func:`raise_alert` stores an alert and enqueues the ``listening.alert`` job in the caller's
  transaction — never sends inline. One alert per key per window: the ``dedup_key``
  (key + window start) is unique per workspace.
* Quiet hours are a local time range in the workspace's time zone (``22:00``–``07:00`` wraps
  midnight). An alert raised inside them is ``held`` and its job runs when they end (computed
  in local time, so the end follows daylight saving time).
* The job handler (:func:`deliver`) sends the alert to the workspace's Apprise URLs. When it
  finds more than :data:`SUMMARY_AFTER` alerts waiting (typically after quiet hours) it sends
  one summary instead, and marks them all ``summarised``. Delivery is idempotent: an alert
  already sent is not sent again. With no URLs configured the alert lives in the app only.

Apprise URLs carry webhook tokens, so they are kept sealed with the secret box in the
workspace's settings (``settings["alerts"]``).
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import apprise
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Alert, Workspace
from allsang.db.types import utcnow
from allsang.jobs import JobContext, enqueue
from allsang.secretbox import SecretBox

JOB_KIND = "listening.alert"
DEFAULT_WINDOW = timedelta(hours=1)
SUMMARY_AFTER = 3  # more waiting alerts than this go out as one summary
SEND_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """A workspace's alert delivery: Apprise URLs and optional quiet hours (local times)."""

    urls: tuple[str, ...] = ()
    quiet_start: time | None = None
    quiet_end: time | None = None


def _parse_time(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes or 0))


def load_settings(workspace: Workspace, secrets: SecretBox) -> AlertSettings:
    raw = (workspace.settings or {}).get("alerts") or {}
    urls: tuple[str, ...] = ()
    if raw.get("urls_sealed"):
        urls = tuple(json.loads(secrets.open(base64.b64decode(raw["urls_sealed"]))))
    quiet = raw.get("quiet_hours") or {}
    start, end = quiet.get("start"), quiet.get("end")
    if start and end:
        return AlertSettings(urls, _parse_time(start), _parse_time(end))
    return AlertSettings(urls)


def store_settings(workspace: Workspace, secrets: SecretBox, settings: AlertSettings) -> None:
    """Validate and save ``settings`` into the workspace row (the caller commits).

    Raises ``ValueError`` naming the first URL that Apprise does not understand.
    """
    for url in settings.urls:
        if apprise.Apprise.instantiate(url) is None:
            raise ValueError(f"not an Apprise URL Allsang can use: {url.split(':', 1)[0]}:…")
    raw: dict[str, Any] = {
        "urls_sealed": base64.b64encode(
            secrets.seal(json.dumps(list(settings.urls)).encode())
        ).decode()
    }
    if settings.quiet_start is not None and settings.quiet_end is not None:
        raw["quiet_hours"] = {
            "start": settings.quiet_start.strftime("%H:%M"),
            "end": settings.quiet_end.strftime("%H:%M"),
        }
    workspace.settings = {**(workspace.settings or {}), "alerts": raw}


def _local(day: datetime, at: time, zone: ZoneInfo) -> datetime:
    """``at`` on the local date of ``day``, as a real instant (a time inside a spring-forward
    gap moves forward, like a wall clock)."""
    naive = datetime.combine(day.date(), at)
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def quiet_until(
    now: datetime, timezone: str, start: time | None, end: time | None
) -> datetime | None:
    """When the quiet hours that contain ``now`` end (UTC), or None if ``now`` is not quiet."""
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        quiet = start <= clock < end
        ends = _local(local, end, zone) if quiet else None
    else:  # wraps midnight: quiet from start until end the next morning
        if clock >= start:
            ends = _local(local + timedelta(days=1), end, zone)
        elif clock < end:
            ends = _local(local, end, zone)
        else:
            ends = None
    return ends.astimezone(UTC) if ends is not None else None


def window_start(at: datetime, window: timedelta) -> datetime:
    seconds = window.total_seconds()
    stamp = at.astimezone(UTC).timestamp()
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


async def raise_alert(
    session: AsyncSession,
    workspace: Workspace,
    settings: AlertSettings,
    *,
    key: str,
    kind: str,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
    window: timedelta = DEFAULT_WINDOW,
) -> Alert | None:
    """Store an alert and enqueue its delivery, unless ``key`` already alerted in this window
    (then None). Inside quiet hours the alert is ``held`` and delivered when they end."""
    now = now or utcnow()
    dedup_key = f"{key}@{window_start(now, window).isoformat()}"
    held_until = quiet_until(now, workspace.timezone, settings.quiet_start, settings.quiet_end)
    alert = Alert(
        workspace_id=workspace.id,
        key=key[:300],
        dedup_key=dedup_key[:400],
        kind=kind,
        title=title[:300],
        body=body,
        data=dict(data or {}),
        status="held" if held_until else "pending",
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(alert)
            await session.flush()
    except IntegrityError:
        return None  # the same key already alerted in this window
    await enqueue(
        session,
        JOB_KIND,
        {"alert_id": alert.id},
        run_at=held_until or now,
        idempotency_key=f"alert:{alert.id}",
        workspace_id=workspace.id,
    )
    return alert


async def _notify(urls: tuple[str, ...], title: str, body: str) -> bool:
    sender = apprise.Apprise()
    for url in urls:
        sender.add(url)
    # Apprise's notify blocks on network I/O; keep it off the event loop.
    return bool(
        await asyncio.wait_for(
            asyncio.to_thread(sender.notify, body=body or title, title=title), SEND_TIMEOUT
        )
    )


def summary(alerts: list[Alert]) -> tuple[str, str]:
    """Title and body of one message that stands for several alerts."""
    title = f"{len(alerts)} Allsang alerts"
    body = "\n".join(f"• {a.title}" + (f" — {a.body}" if a.body else "") for a in alerts)
    return title, body


async def deliver(
    runtime: Any, alert_id: int, *, now: datetime | None = None, last_attempt: bool = False
) -> str:
    """Send alert ``alert_id`` (and any others waiting in its workspace); returns what was done:
    ``"already"``, ``"rescheduled"``, ``"in-app"``, ``"sent"`` or ``"summarised"``.

    Raises ``RuntimeError`` when Apprise reports a failure (the job is retried); on the last
    attempt the alerts are marked ``failed`` instead.
    """
    now = now or utcnow()
    async with runtime.db.write() as session:
        alert = await session.get(Alert, alert_id)
        if alert is None or alert.status not in ("pending", "held"):
            return "already"
        workspace = await session.get(Workspace, alert.workspace_id)
        assert workspace is not None
        settings = load_settings(workspace, runtime.secrets)
        held_until = quiet_until(now, workspace.timezone, settings.quiet_start, settings.quiet_end)
        if held_until is not None:
            # Quiet hours began (or were set) after the alert was raised: hold it until they end.
            alert.status = "held"
            await enqueue(
                session,
                JOB_KIND,
                {"alert_id": alert.id},
                run_at=held_until,
                idempotency_key=f"alert:{alert.id}:{held_until.isoformat()}",
                workspace_id=workspace.id,
            )
            return "rescheduled"
        waiting = list(
            await session.scalars(
                select(Alert)
                .where(
                    Alert.workspace_id == workspace.id,
                    Alert.status.in_(("pending", "held")),
                    Alert.created_at <= now,
                )
                .order_by(Alert.created_at, Alert.id)
            )
        )
        batch = waiting if len(waiting) > SUMMARY_AFTER else [alert]
        if not settings.urls:
            for item in batch:
                item.status, item.delivered_at = "sent", now
            return "in-app"
        ids = [item.id for item in batch]
        if len(batch) > 1:
            title, body = summary(batch)
            outcome = "summarised"
        else:
            title, body = alert.title, alert.body
            outcome = "sent"
    # Sent outside any transaction: a slow webhook must not hold the database's write lock.
    ok = await _notify(settings.urls, title, body)
    if not ok and not last_attempt:
        raise RuntimeError("Apprise could not deliver the alert to every URL")
    async with runtime.db.write() as session:
        for item in await session.scalars(select(Alert).where(Alert.id.in_(ids))):
            if ok:
                item.status, item.delivered_at = outcome, now
            else:
                item.status, item.last_error = "failed", "Apprise could not deliver the alert"
    return outcome if ok else "failed"


async def alert_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    """The ``listening.alert`` job (registered in :mod:`allsang.listening.jobs`)."""
    await deliver(ctx.runtime, int(payload["alert_id"]), last_attempt=ctx.is_last_attempt)
