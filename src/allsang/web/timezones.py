"""The time zones offered in forms: the IANA names a person would pick, sorted."""

from __future__ import annotations

from zoneinfo import available_timezones

# Legacy aliases ("US/Eastern", "Etc/GMT+3") only confuse people choosing from a list.
_REGIONS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)

TIMEZONES: tuple[str, ...] = tuple(
    sorted(name for name in available_timezones() if name.startswith(_REGIONS) or name == "UTC")
)
