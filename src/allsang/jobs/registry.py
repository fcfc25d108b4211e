"""Handlers and cron schedules, registered by kind in code."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

if TYPE_CHECKING:
    from allsang.runtime import Runtime


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help: the job is dead-lettered at once."""


@dataclass(frozen=True)
class JobContext:
    """What a handler knows about the run it is in."""

    runtime: Runtime
    job_id: int
    kind: str
    attempt: int
    max_attempts: int
    worker_id: str

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


Handler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")


@dataclass(frozen=True)
class Schedule:
    """A cron expression that enqueues ``kind`` with ``payload`` at each slot."""

    name: str
    expression: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    timezone: str = "UTC"

    def latest_slot(self, now: datetime) -> datetime:
        """The last slot at or before ``now``, in UTC."""
        zone = ZoneInfo(self.timezone)
        # cronsim's reverse iteration yields slots strictly before its start; cron slots are
        # whole minutes, so starting one second past ``now`` (truncated) includes ``now``.
        start = now.astimezone(zone).replace(microsecond=0) + timedelta(seconds=1)
        return next(CronSim(self.expression, start, reverse=True)).astimezone(UTC)

    def next_slot(self, now: datetime) -> datetime:
        """The first slot strictly after ``now``, in UTC."""
        zone = ZoneInfo(self.timezone)
        return next(CronSim(self.expression, now.astimezone(zone))).astimezone(UTC)

    def idempotency_key(self, slot: datetime) -> str:
        return f"cron:{self.name}:{slot.astimezone(UTC).isoformat()}"


class Registry:
    """Handlers by kind and cron schedules by name.

    The module-level :data:`default_registry` is what :func:`handler`, :func:`cron` and the
    worker use; tests build their own so registrations do not leak between them.
    """

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.schedules: dict[str, Schedule] = {}

    def handler(self, kind: str) -> Callable[[Handler], Handler]:
        """Register ``async def f(ctx: JobContext, payload: dict) -> None`` for ``kind``.

        Handlers must be idempotent: a job runs at least once, and again when a worker dies
        or loses its lease mid-run. Raise :class:`PermanentJobError` when retrying cannot
        help; any other exception is retried with backoff.
        """
        if not _NAME.match(kind):
            raise ValueError(f"job kind {kind!r}: use 1-80 letters, digits and . _ : -")

        def register(func: Handler) -> Handler:
            if self.handlers.get(kind, func) is not func:
                raise ValueError(f"a handler for job kind {kind!r} is already registered")
            self.handlers[kind] = func
            return func

        return register

    def cron(
        self,
        expression: str,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        timezone: str = "UTC",
    ) -> Schedule:
        """Enqueue ``kind`` at every slot of the cron ``expression`` (five fields).

        Slots are evaluated in ``timezone`` (so "0 9 * * *" follows daylight saving time
        there). Each slot is enqueued once however many workers run, with the idempotency
        key ``cron:<name>:<slot in UTC, ISO 8601>``; slots missed while no worker ran are not
        back-filled beyond the latest one.
        """
        name = name or kind
        if not _NAME.match(name):
            raise ValueError(f"schedule name {name!r}: use 1-80 letters, digits and . _ : -")
        if name in self.schedules:
            raise ValueError(f"a cron schedule named {name!r} is already registered")
        schedule = Schedule(name, expression, kind, dict(payload or {}), timezone)
        # Evaluate once now so a typo fails at import time, not in the worker at 3 a.m.
        try:
            schedule.next_slot(datetime.now(UTC))
        except (CronSimError, ZoneInfoNotFoundError) as exc:
            raise ValueError(f"cron schedule {name!r} ({expression!r}): {exc}") from None
        self.schedules[name] = schedule
        return schedule


default_registry = Registry()
handler = default_registry.handler
cron = default_registry.cron
