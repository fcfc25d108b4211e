"""Local wall-clock times to UTC instants, across daylight saving time.

People plan in local time ("Tuesday 09:00 in Stockholm"); the database stores UTC. Two local
times need a decision, and this module never guesses silently:

* **Nonexistent** times fall in the spring-forward gap (02:30 on the last Sunday of March in
  Stockholm). ``on_gap="raise"`` raises :class:`NonexistentLocalTime` (what the UI does for a
  time a person typed, so they can choose); ``"later"`` moves it forward by the gap (02:30 →
  03:30, the instant a clock that was not changed would show), which is what recurring items
  and queue slots use.
* **Ambiguous** times occur twice in the autumn fold (02:30 on the last Sunday of October).
  ``on_fold="raise"`` raises :class:`AmbiguousLocalTime`; ``"earlier"`` takes the first
  (summer time, ``fold=0``), ``"later"`` the second (``fold=1``).

Queue slots and recurrences are expanded in local time and converted one by one, so "every
Monday 09:00" stays at 09:00 local on both sides of a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

from allsang.publishing.states import PublishingError

GapPolicy = Literal["raise", "later"]
FoldPolicy = Literal["raise", "earlier", "later"]


class LocalTimeError(PublishingError, ValueError):
    def __init__(self, message: str, local: datetime, zone: str) -> None:
        super().__init__(message)
        self.local = local
        self.zone = zone


class NonexistentLocalTime(LocalTimeError):
    """The local time is skipped when clocks go forward."""


class AmbiguousLocalTime(LocalTimeError):
    """The local time happens twice when clocks go back."""


class UnknownTimeZone(PublishingError, ValueError):
    """Not an IANA time zone name."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(f"unknown time zone {name!r}") from None


def _round_trips(local: datetime, tz: ZoneInfo, fold: int) -> bool:
    candidate = local.replace(tzinfo=tz, fold=fold)
    return candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local


def to_utc(
    local: datetime,
    timezone: str,
    *,
    on_gap: GapPolicy = "raise",
    on_fold: FoldPolicy = "raise",
) -> datetime:
    """The UTC instant of the naive wall-clock time ``local`` in ``timezone``.

    Raises :class:`NonexistentLocalTime` / :class:`AmbiguousLocalTime` per the policies above.
    """
    if local.tzinfo is not None:
        raise ValueError("to_utc takes a naive local time; it is in the given time zone")
    tz = zone(timezone)
    first, second = _round_trips(local, tz, 0), _round_trips(local, tz, 1)
    if not first and not second:
        if on_gap == "raise":
            raise NonexistentLocalTime(
                f"{local:%Y-%m-%d %H:%M} does not exist in {timezone} (clocks go forward)",
                local,
                timezone,
            )
        # fold=0 of a time in the gap is interpreted with the offset before the change, which
        # lands after the gap by exactly its length (02:30 CET = 03:30 CEST).
        return local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    offsets = {
        local.replace(tzinfo=tz, fold=0).utcoffset(),
        local.replace(tzinfo=tz, fold=1).utcoffset(),
    }
    if len(offsets) == 2:
        if on_fold == "raise":
            raise AmbiguousLocalTime(
                f"{local:%Y-%m-%d %H:%M} happens twice in {timezone} (clocks go back)",
                local,
                timezone,
            )
        return local.replace(tzinfo=tz, fold=0 if on_fold == "earlier" else 1).astimezone(UTC)
    return local.replace(tzinfo=tz).astimezone(UTC)


def to_local(instant: datetime, timezone: str) -> datetime:
    """The naive wall-clock time of a UTC instant in ``timezone``."""
    return instant.astimezone(zone(timezone)).replace(tzinfo=None)


def occurrences(
    rule: str,
    start_local: datetime,
    timezone: str,
    *,
    after: datetime,
    until: datetime,
    limit: int = 500,
) -> list[datetime]:
    """UTC instants of the RRULE ``rule`` (RFC 5545, e.g. ``FREQ=WEEKLY;BYDAY=MO``) starting at
    the naive local ``start_local``, expanded in local time, strictly after ``after`` and at
    or before ``until`` (both UTC), at most ``limit``.

    Nonexistent local occurrences move forward by the gap; ambiguous ones take the first.
    An RRULE's own ``UNTIL`` is read as local wall-clock time.
    """
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    try:
        recurrence = rrulestr(text, dtstart=start_local.replace(tzinfo=None), ignoretz=True)
    except (ValueError, TypeError) as exc:
        raise InvalidRecurrence(f"not a recurrence rule: {exc}") from None
    found: list[datetime] = []
    # Local bounds widened by a day: the UTC filter below is exact.
    horizon = to_local(until, timezone) + timedelta(days=1)
    for local in recurrence:
        if local > horizon:
            break
        instant = to_utc(local, timezone, on_gap="later", on_fold="earlier")
        if instant <= after:
            continue
        if instant > until:
            break
        found.append(instant)
        if len(found) >= limit:
            break
    return found


class InvalidRecurrence(PublishingError, ValueError):
    """The recurrence rule cannot be parsed."""


def weekly_slots(
    slots: Iterable[tuple[int, int, str]], *, after: datetime, days: int = 28
) -> Iterator[datetime]:
    """UTC instants of weekly slots ``(weekday 0=Monday, minute of day, time zone)`` strictly
    after ``after``, in time order, for ``days`` days."""
    slots = list(slots)
    found: list[datetime] = []
    for weekday, minute, timezone in slots:
        start: date = to_local(after, timezone).date()
        for offset in range(days + 1):
            day = start + timedelta(days=offset)
            if day.weekday() != weekday:
                continue
            local = datetime.combine(day, time(minute // 60, minute % 60))
            instant = to_utc(local, timezone, on_gap="later", on_fold="earlier")
            if instant > after:
                found.append(instant)
    yield from sorted(set(found))
