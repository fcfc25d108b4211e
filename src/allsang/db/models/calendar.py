"""Editorial calendar: traditional items, calendar feeds, employee advocacy."""

from __future__ import annotations
