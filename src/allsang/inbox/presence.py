"""Who is viewing a conversation, and who is writing a reply: best effort, in memory,
shared through broadcast hints.

Each open conversation page (its SSE feed) announces ``{"conversation": id, "viewer": person,
"name": ..., "until": epoch seconds}`` every :data:`BEAT_SECONDS` on the workspace topic, and
``"until": 0`` when it closes. While someone types in the reply box, the page posts a beat and
the server announces ``{"conversation": id, "viewer": person, "name": ..., "typing": epoch
seconds}`` (``"typing": 0`` when they stop or send); a typing entry lapses after
:data:`TYPING_SECONDS`. Every process records the announcements its feeds receive, so presence
works across processes; entries lapse by themselves when their time passes (a crashed process
cannot leave a ghost viewer or writer for long).
"""

from __future__ import annotations

import time

from allsang.live import Broadcast, workspace_topic

BEAT_SECONDS = 20.0
LAPSE_SECONDS = 45.0
TYPING_SECONDS = 8.0

# conversation id -> person id -> (name, until)
_seen: dict[int, dict[int, tuple[str, float]]] = {}
_typing: dict[int, dict[int, tuple[str, float]]] = {}
_names: dict[int, str] = {}


def remember_name(person_id: int, name: str) -> None:
    _names[person_id] = name


def record(hint: dict[str, object]) -> None:
    """Apply a presence hint (received from the broadcast)."""
    conversation, person, until = hint.get("conversation"), hint.get("viewer"), hint.get("until")
    if not isinstance(conversation, int) or not isinstance(person, int):
        return
    if "typing" in hint:
        until = hint["typing"]
        viewers = _typing.setdefault(conversation, {})
    else:
        viewers = _seen.setdefault(conversation, {})
    if isinstance(until, int | float) and until > time.time():
        viewers[person] = (str(hint.get("name", "")), float(until))
    else:
        viewers.pop(person, None)


def names(conversation_id: int, *, exclude: int | None = None) -> list[str]:
    """Names of the people viewing the conversation now (sorted, without ``exclude``)."""
    return _current(_seen, conversation_id, exclude)


def writers(conversation_id: int, *, exclude: int | None = None) -> list[str]:
    """Names of the people writing a reply to the conversation now."""
    return _current(_typing, conversation_id, exclude)


def snapshot(conversation_id: int, *, exclude: int | None = None) -> dict[str, list[str]]:
    """The SSE ``presence`` event's data: ``{"names": viewers, "typing": writers}``."""
    return {
        "names": names(conversation_id, exclude=exclude),
        "typing": writers(conversation_id, exclude=exclude),
    }


def _current(
    table: dict[int, dict[int, tuple[str, float]]], conversation_id: int, exclude: int | None
) -> list[str]:
    now = time.time()
    people = table.get(conversation_id, {})
    for person, (_name, until) in list(people.items()):
        if until <= now:
            del people[person]
    return sorted(name for person, (name, _until) in people.items() if person != exclude)


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


async def typing(
    broadcast: Broadcast, workspace_id: int, conversation_id: int, person_id: int, on: bool
) -> None:
    """Announce that the person is (``on``) or is no longer writing a reply."""
    hint = {
        "conversation": conversation_id,
        "viewer": person_id,
        "name": _names.get(person_id, "")[:100],
        "typing": int(time.time() + TYPING_SECONDS) if on else 0,
    }
    record(hint)
    await broadcast.publish(workspace_topic(workspace_id), hint)
