"""Wake-up hints for open screens, in this process.

Same two-function shape as the Broadcast port (``publish(topic, hint)`` /
``subscribe(topic)``): a hint only says "look again"; the screen reads the wall's event log
from the database after its last ``seq``, so a lost hint delays an update by at most the
stream's poll interval and never loses it. Screens in another process see changes by that
poll.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_waiters: dict[str, set[asyncio.Event]] = defaultdict(set)


def publish(topic: str, hint: str = "") -> None:
    """Wake every subscriber of ``topic`` (the hint text is not needed by the wall)."""
    for event in list(_waiters.get(topic, ())):
        event.set()


@asynccontextmanager
async def subscribe(topic: str) -> AsyncIterator[asyncio.Event]:
    """An event set by the next :func:`publish` to ``topic``; clear it after each wake-up."""
    event = asyncio.Event()
    _waiters[topic].add(event)
    try:
        yield event
    finally:
        _waiters[topic].discard(event)
        if not _waiters[topic]:
            del _waiters[topic]


def topic(wall_id: int) -> str:
    return f"wall:{wall_id}"
