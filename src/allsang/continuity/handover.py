"""Handover providers: the kinds of work an absence hands to the deputy and gives back.

Every area whose work belongs to a person registers one provider::

    from allsang.continuity import HandedOver, register_handover

    async def hand_over(session, absence) -> list[HandedOver]: ...
    async def give_back(session, absence, handover) -> bool: ...

    register_handover("post", hand_over, give_back)

* ``hand_over(session, absence)`` moves everything of ``absence.person_id`` that is still
  pending to ``absence.deputy_id`` inside the caller's transaction, and returns one
  :class:`HandedOver` per moved object (its id, and whatever ``give_back`` needs to know).
  It runs when the absence starts and again at every sweep while it lasts (to catch work given
  to the person meanwhile), so it must move only what the person still has; an object returned
  twice is recorded once.
* ``give_back(session, absence, handover)`` runs when the person returns, once per
  :class:`~allsang.db.models.continuity.Handover` row of that kind still open. It gives the
  object back and returns True, or leaves it with whoever has it now and returns False when
  the deputy (or anyone) has worked on it meanwhile. It must not raise for an object that has
  since been deleted: return False.

Both run inside the absence's transaction; the continuity code records the handover rows,
the audit events and the deputy's notifications. Register at import time of your area's
``jobs.py`` (or a module it imports): :func:`providers` imports every ``allsang/<area>/jobs.py``
first, so the web process and the worker see the same providers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models.continuity import Absence, Handover


@dataclass(frozen=True, slots=True)
class HandedOver:
    """One object moved to the deputy. ``conversation_id`` (if any) is where the deputy's
    notification links to."""

    object_id: int
    data: dict[str, Any] = field(default_factory=dict)
    conversation_id: int | None = None


HandOver = Callable[[AsyncSession, Absence], Awaitable[list[HandedOver]]]
GiveBack = Callable[[AsyncSession, Absence, Handover], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Provider:
    kind: str
    hand_over: HandOver
    give_back: GiveBack


_providers: dict[str, Provider] = {}
_loaded = False


def register_handover(kind: str, hand_over: HandOver, give_back: GiveBack) -> None:
    """Register (or replace, for reloads) the provider for ``kind`` (at most 40 characters)."""
    if not kind or len(kind) > 40:
        raise ValueError(f"a handover kind needs 1 to 40 characters: {kind!r}")
    _providers[kind] = Provider(kind, hand_over, give_back)


def providers() -> list[Provider]:
    """Every registered provider, in registration order."""
    global _loaded
    if not _loaded:
        from allsang.jobs.worker import load_handler_modules

        load_handler_modules()
        _loaded = True
    return list(_providers.values())


def provider(kind: str) -> Provider | None:
    providers()
    return _providers.get(kind)
