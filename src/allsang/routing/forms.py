"""Text forms of business hours as people type them in the admin pages.

A weekday is written ``08:00-12:00, 13:00-17:00`` (empty: closed all day; ``24:00`` is the
midnight that ends the day); closed dates one ISO date (``2026-12-24``) per line or separated
by commas or spaces.
"""

from __future__ import annotations

import re
from datetime import date, time

from allsang.routing.hours import MIDNIGHT, BusinessHours

_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})$")


class FormatError(ValueError):
    """The text does not have the expected shape; the message names the offending part."""


def _clock(hour: str, minute: str, *, end: bool) -> time:
    h, m = int(hour), int(minute)
    if end and (h, m) == (24, 0):
        return MIDNIGHT
    if not (0 <= h < 24 and 0 <= m < 60):
        raise FormatError(f"{hour}:{minute}")
    return time(h, m)


def parse_intervals(text: str) -> list[tuple[time, time]]:
    intervals = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        match = _INTERVAL.match(part)
        if match is None:
            raise FormatError(part)
        h1, m1, h2, m2 = match.groups()
        intervals.append((_clock(h1, m1, end=False), _clock(h2, m2, end=True)))
    return intervals


def format_intervals(intervals: list[tuple[time, time]]) -> str:
    return ", ".join(
        f"{a:%H:%M}-{'24:00' if b == MIDNIGHT else f'{b:%H:%M}'}" for a, b in intervals
    )


def parse_dates(text: str) -> frozenset[date]:
    found = set()
    for part in re.split(r"[\s,]+", text.strip()):
        if not part:
            continue
        try:
            found.add(date.fromisoformat(part))
        except ValueError:
            raise FormatError(part) from None
    return frozenset(found)


def weekly_text(hours: BusinessHours | None) -> dict[int, str]:
    """The seven weekday fields of the form (office hours as a starting point when unset)."""
    if hours is None:
        return {d: ("08:00-17:00" if d < 5 else "") for d in range(7)}
    return {d: format_intervals(hours.weekly.get(d, [])) for d in range(7)}
