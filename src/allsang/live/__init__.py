"""The Broadcast port: tiny, lossy live-update hints between processes.

Contract (the whole API)::

    broadcast = open_broadcast(settings.broadcast_url)   # one per process and URL
    await broadcast.publish("workspace:1", {"conversation": 42, "seq": 7})
    async with broadcast.subscribe("workspace:1") as hints:
        async for hint in hints:
            ...  # re-read the database; the hint only says *where* to look

* A **topic** is a short string (``workspace:<id>``, ``wall:<id>``); at most 63 characters.
* A **hint** is a small JSON object (``{"conversation": id, "seq": n}``), at most 1,000 bytes
  encoded. It carries no content: a subscriber re-reads the rows it cares about after each hint.
* A subscription receives every hint published after ``async with`` entered it (a hint
  published just before may or may not arrive).
* Delivery is **best effort**: a hint may be lost (a slow subscriber's queue overflowing, a
  dropped database connection, a process restart). Because subscribers re-read the database,
  and live pages re-read everything after the client's ``Last-Event-ID`` on reconnect, a lost
  hint costs nothing but a short delay. Never put anything in a hint that must arrive.
* ``publish`` never raises for delivery problems (it logs them): a page update must not fail
  the transaction that caused it, which has already committed.

Adapters, chosen by :func:`open_broadcast` from the ``broadcast_url`` setting:

* empty: :class:`InProcessBroadcast` — subscribers in this process only (``allsang serve``,
  and the test double);
* ``postgresql://…``: :class:`PostgresBroadcast` — ``NOTIFY`` / ``LISTEN`` over one dedicated
  psycopg 3 connection per process, so separate web and ingest processes see each other's hints
  (the default for scale-out: it needs no server beyond the database);
* ``redis://…``: :class:`RedisBroadcast` — Redis pub/sub;
* ``nats://…``: :class:`NatsBroadcast` — core NATS subjects (no JetStream).
"""

from __future__ import annotations

from allsang.live.broadcast import (
    MAX_HINT_BYTES,
    Broadcast,
    InProcessBroadcast,
    NatsBroadcast,
    PostgresBroadcast,
    RedisBroadcast,
    close_broadcasts,
    open_broadcast,
)
from allsang.live.hooks import (
    commit_hook,
    conversation_hint,
    micros,
    publish_conversations,
    workspace_topic,
)

__all__ = [
    "MAX_HINT_BYTES",
    "Broadcast",
    "InProcessBroadcast",
    "NatsBroadcast",
    "PostgresBroadcast",
    "RedisBroadcast",
    "close_broadcasts",
    "commit_hook",
    "conversation_hint",
    "micros",
    "open_broadcast",
    "publish_conversations",
    "workspace_topic",
]
