"""Soak: a screen in Chromium receives 10,000 updates and its DOM and JS heap do not grow.

The updates are written straight into the wall's event log (as moderation would write them),
in two phases: 1,000 to warm up, then 9,000 more. The page must end with the same number of
elements as after the warm-up, and with a heap no larger than the warm-up's plus a margin
(after a forced garbage collection in both cases).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, insert, select, update

from allsang.db.models import Message, Wall, WallEvent, WallItem
from allsang.db.types import utcnow
from allsang.web.routes.display import MAX_ITEMS
from tests.web.browser import chromium, run_async, runtime_for
from tests.web.test_walls_live import Live, live  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WARM_UP = 1_000
TOTAL = 10_000


async def _add_updates(target: Live, count: int) -> int:
    """Append ``count`` add events for new messages; return the newest message id."""
    async with runtime_for(target.settings) as runtime, runtime.db.write() as session:
        wall = await session.get(Wall, target.wall_id)
        assert wall is not None
        seq = await session.scalar(
            select(func.coalesce(func.max(WallEvent.seq), 0)).where(WallEvent.wall_id == wall.id)
        )
        now = utcnow()
        first = (await session.scalar(select(func.coalesce(func.max(Message.id), 0)))) + 1
        ids = list(range(first, first + count))
        await session.execute(
            insert(Message),
            [
                {
                    "id": i,
                    "workspace_id": wall.workspace_id,
                    "direction": "inbound",
                    "text": f"Soak update {i} with some words to render",
                    "extra": {"author": {"handle": f"soak{i % 50}"}},
                    "created_at": now,
                    "received_at": now,
                }
                for i in ids
            ],
        )
        await session.execute(
            insert(WallItem),
            [
                {"wall_id": wall.id, "message_id": i, "state": "approved", "created_at": now}
                for i in ids
            ],
        )
        await session.execute(
            insert(WallEvent),
            [
                {
                    "wall_id": wall.id,
                    "seq": seq + n + 1,
                    "kind": "add",
                    "message_id": i,
                    "created_at": now,
                }
                for n, i in enumerate(ids)
            ],
        )
        await session.execute(
            update(Wall).where(Wall.id == wall.id).values(cursor_message_id=ids[-1])
        )
    return ids[-1]


def test_ten_thousand_updates_leave_the_dom_and_heap_the_same_size(live: Live) -> None:  # noqa: F811
    # Exact heap sizes, and a garbage collection on demand, so growth is not noise.
    with chromium("--enable-precise-memory-info", "--js-flags=--expose-gc") as browser:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{live.url}/walls/{live.wall_id}?token={live.token}")

        def settle(newest: int) -> tuple[int, int]:
            page.wait_for_function(
                f"() => document.querySelector('.wall-posts > .wall-card')"
                f"?.dataset.id === '{newest}'",
                timeout=120_000,
                polling=200,
            )
            page.evaluate("() => window.gc()")
            return page.evaluate(
                "() => [document.getElementsByTagName('*').length,"
                " performance.memory.usedJSHeapSize]"
            )

        newest = run_async(_add_updates(live, WARM_UP))
        nodes_warm, heap_warm = settle(newest)
        started = time.monotonic()
        newest = run_async(_add_updates(live, TOTAL - WARM_UP))
        nodes_end, heap_end = settle(newest)
        elapsed = time.monotonic() - started

    print(
        f"soak: {TOTAL - WARM_UP} updates in {elapsed:.1f} s; "
        f"elements {nodes_warm} -> {nodes_end}; heap {heap_warm} -> {heap_end} bytes"
    )
    assert nodes_end == nodes_warm
    assert nodes_end < MAX_ITEMS * 10  # bounded: a card is a handful of elements
    assert heap_end <= heap_warm * 1.2 + 512 * 1024
