"""Who is viewing a conversation: best effort, in memory, shared through broadcast hints.

Each open conversation page (its SSE feed) announces ``{"conversation": id, "viewer": person,
"name": ..., "until": epoch seconds}`` every :data:`BEAT_SECONDS` on the workspace topic, and
``"until": 0`` when it closes. Every process records the announcements its feeds receive, so
presence works across processes; an entry lapses by itself when its ``until`` passes (a
crashed process cannot leave a ghost viewer for long).
"""

from __future__ import annotations

import time

from allsang.live import Broadcast, workspace_topic

BEAT_SECONDS = 20.0
LAPSE_SECONDS = 45.0

# conversation id -> person id -> (name, until)
_seen: dict[int, dict[int, tuple[str, float]]] = {}
_names: dict[int, str] = {}


def remember_name(person_id: int, name: str) -> None:
    _names[person_id] = name


def record(hint: dict[str, object]) -> None:
    """Apply a presence hint (received from the broadcast)."""
    conversation, person, until = hint.get("conversation"), hint.get("viewer"), hint.get("until")
    if not isinstance(conversation, int) or not isinstance(person, int):
        return
    viewers = _seen.setdefault(conversation, {})
    if isinstance(until, int | float) and until > time.time():
        viewers[person] = (str(hint.get("name", "")), float(until))
    else:
        viewers.pop(person, None)


def names(conversation_id: int, *, exclude: int | None = None) -> list[str]:
    """Names of the people viewing the conversation now (sorted, without ``exclude``)."""
    now = time.time()
    viewers = _seen.get(conversation_id, {})
    for person, (_name, until) in list(viewers.items()):
        if until <= now:
            del viewers[person]
    return sorted(name for person, (name, _until) in viewers.items() if person != exclude)


async def arrive(
    broadcast: Broadcast, workspace_id: int, conversation_id: int, person_id: int
) -> None:
    hint = {
        "conversation": conversation_id,
        "viewer": person_id,
        "name": _names.get(person_id, "")[:100],
        "until": int(time.time() + LAPSE_SECONDS),
    }
    record(hint)
    await broadcast.publish(workspace_topic(workspace_id), hint)


async def leave(
    broadcast: Broadcast, workspace_id: int, conversation_id: int, person_id: int
) -> None:
    hint = {"conversation": conversation_id, "viewer": person_id, "until": 0}
    record(hint)
    await broadcast.publish(workspace_topic(workspace_id), hint)
