"""Out of office with a deputy.

Life cycle of an :class:`~allsang.db.models.continuity.Absence`::

    scheduled ──starts_at reached──▶ active ──ends_at reached / "I'm back"──▶ ended
        └──cancelled (or ended) before it started──▶ cancelled

* **Start** (:func:`start`): every registered handover provider moves the person's pending
  work to the deputy; each moved object is a ``handover`` row, the deputy gets a notification
  per handed-over conversation, and an ``absence.start`` audit event counts what moved.
  An absence that starts now starts in the request that creates it; later ones start from the
  ``continuity.absence`` job enqueued for ``starts_at`` (and the quarter-hourly sweep, should
  that job be lost).
* **End** (:func:`end`): each open handover is offered back to its provider, which gives it
  back or leaves it with the deputy (``returned`` / ``kept``); an ``absence.end`` audit event
  counts both.

Every function takes the caller's session (one transaction per transition) and returns the
conversation ids it touched, so the caller can publish live hints after committing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit, i18n
from allsang.authz import Actor
from allsang.continuity.handover import provider, providers
from allsang.db.models import Membership, Notification, Person
from allsang.db.models.continuity import Absence, Handover
from allsang.db.types import utcnow
from allsang.jobs import enqueue

JOB_KIND = "continuity.absence"
MAX_NOTE = 500


class AbsenceError(ValueError):
    """An absence that cannot be saved; the message says why (for people)."""


@dataclass(slots=True)
class Outcome:
    """What a transition did: counts per kind and the conversations to announce live."""

    handed: dict[str, int] = field(default_factory=dict)
    returned: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    conversation_ids: list[int] = field(default_factory=list)
    transition: str | None = None  # "start", "end" or "cancel" when the state changed

    @property
    def changed(self) -> bool:
        return self.transition is not None or bool(self.handed)


async def _member(session: AsyncSession, workspace_id: int, person_id: int) -> bool:
    return bool(
        await session.scalar(
            select(Membership.id)
            .join(Person, Person.id == Membership.person_id)
            .where(
                Membership.workspace_id == workspace_id,
                Membership.person_id == person_id,
                Membership.role != "display",
                Person.is_active.is_(True),
            )
        )
    )


async def _overlapping(
    session: AsyncSession, workspace_id: int, person_id: int, starts: datetime, ends: datetime
) -> Absence | None:
    return await session.scalar(
        select(Absence).where(
            Absence.workspace_id == workspace_id,
            Absence.person_id == person_id,
            Absence.state.in_(("scheduled", "active")),
            Absence.starts_at < ends,
            Absence.ends_at > starts,
        )
    )


async def create(
    session: AsyncSession,
    actor: Actor,
    *,
    workspace_id: int,
    person_id: int,
    deputy_id: int,
    starts_at: datetime,
    ends_at: datetime,
    note: str = "",
    now: datetime | None = None,
) -> tuple[Absence, Outcome]:
    """Save an absence and schedule its start and end; start it at once if it has begun.

    Raises :class:`AbsenceError` when the dates are backwards or past, the deputy is the
    person, not an active member, or away themselves at some point of the absence, or the
    person already has an absence overlapping it.
    """
    now = now or utcnow()
    starts_at = max(starts_at, now)  # a start in the past means: from now
    if ends_at <= starts_at:
        raise AbsenceError(i18n.gettext("The absence must end after it starts."))
    if deputy_id == person_id:
        raise AbsenceError(i18n.gettext("Choose someone else as your deputy."))
    if not await _member(session, workspace_id, deputy_id):
        raise AbsenceError(i18n.gettext("The deputy must be an active member of the workspace."))
    if await _overlapping(session, workspace_id, person_id, starts_at, ends_at):
        raise AbsenceError(i18n.gettext("There is already an absence in that period."))
    if await _overlapping(session, workspace_id, deputy_id, starts_at, ends_at):
        raise AbsenceError(i18n.gettext("The deputy is away themselves during that period."))
    absence = Absence(
        workspace_id=workspace_id,
        person_id=person_id,
        deputy_id=deputy_id,
        starts_at=starts_at,
        ends_at=ends_at,
        note=note.strip()[:MAX_NOTE],
        state="scheduled",
        created_by_id=actor.person_id,
        created_at=now,
    )
    session.add(absence)
    await session.flush()
    audit.record(
        session,
        actor,
        "absence.create",
        "absence",
        absence.id,
        workspace_id=workspace_id,
        person=person_id,
        deputy=deputy_id,
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
    )
    for step, at in (("start", starts_at), ("end", ends_at)):
        await enqueue(
            session,
            JOB_KIND,
            {"absence_id": absence.id},
            run_at=at,
            idempotency_key=f"absence:{absence.id}:{step}",
            workspace_id=workspace_id,
        )
    outcome = await start(session, absence, now=now) if starts_at <= now else Outcome()
    return absence, outcome


async def lock(session: AsyncSession, absence_id: int) -> Absence | None:
    """The absence, locked for this transaction (None if it does not exist)."""
    # FOR UPDATE on PostgreSQL: the job, the sweep and a person's "I'm back" may race.
    return await session.scalar(select(Absence).where(Absence.id == absence_id).with_for_update())


OUT_OF_OFFICE = "out-of-office"


def _system(absence: Absence) -> Actor:
    return Actor(kind="system", label=OUT_OF_OFFICE, workspace_id=absence.workspace_id)


async def _hand_over(session: AsyncSession, absence: Absence, now: datetime) -> Outcome:
    """Move whatever the person has now to the deputy, recording each object once per
    absence (an object moved again keeps its first handover row)."""
    outcome = Outcome()
    if absence.deputy_id is None or not await _member(
        session, absence.workspace_id, absence.deputy_id
    ):
        return outcome
    recorded = set(
        (
            await session.execute(
                select(Handover.kind, Handover.object_id).where(Handover.absence_id == absence.id)
            )
        ).all()
    )
    for item in providers():
        for moved in await item.hand_over(session, absence):
            if (item.kind, moved.object_id) not in recorded:
                session.add(
                    Handover(
                        workspace_id=absence.workspace_id,
                        absence_id=absence.id,
                        kind=item.kind,
                        object_id=moved.object_id,
                        from_person_id=absence.person_id,
                        to_person_id=absence.deputy_id,
                        data=moved.data,
                        handed_at=now,
                    )
                )
            outcome.handed[item.kind] = outcome.handed.get(item.kind, 0) + 1
            if moved.conversation_id is not None:
                outcome.conversation_ids.append(moved.conversation_id)
                session.add(
                    Notification(
                        workspace_id=absence.workspace_id,
                        person_id=absence.deputy_id,
                        kind="handover",
                        actor_person_id=absence.person_id,
                        conversation_id=moved.conversation_id,
                        created_at=now,
                    )
                )
    return outcome


async def start(session: AsyncSession, absence: Absence, *, now: datetime | None = None) -> Outcome:
    """Hand the person's work to the deputy (a no-op unless the absence is ``scheduled``)."""
    now = now or utcnow()
    if absence.state != "scheduled":
        return Outcome()
    absence.state, absence.started_at = "active", now
    outcome = await _hand_over(session, absence, now)
    outcome.transition = "start"
    audit.record(
        session,
        _system(absence),
        "absence.start",
        "absence",
        absence.id,
        workspace_id=absence.workspace_id,
        person=absence.person_id,
        deputy=absence.deputy_id,
        handed=outcome.handed,
    )
    await session.flush()
    return outcome


async def catch_up(
    session: AsyncSession, absence: Absence, *, now: datetime | None = None
) -> Outcome:
    """While the absence lasts, hand over what was given to the person meanwhile (someone
    assigned them a conversation by hand); audited as ``absence.catch_up`` when anything
    moved."""
    now = now or utcnow()
    if absence.state != "active":
        return Outcome()
    outcome = await _hand_over(session, absence, now)
    if outcome.handed:
        audit.record(
            session,
            _system(absence),
            "absence.catch_up",
            "absence",
            absence.id,
            workspace_id=absence.workspace_id,
            handed=outcome.handed,
        )
        await session.flush()
    return outcome


async def end(
    session: AsyncSession, absence: Absence, actor: Actor, *, now: datetime | None = None
) -> Outcome:
    """End the absence now: give back what the deputy has not worked on. A scheduled absence
    is cancelled; an ended or cancelled one is left alone."""
    now = now or utcnow()
    outcome = Outcome()
    if absence.state == "scheduled":
        absence.state, absence.ended_at = "cancelled", now
        outcome.transition = "cancel"
        audit.record(
            session,
            actor,
            "absence.cancel",
            "absence",
            absence.id,
            workspace_id=absence.workspace_id,
        )
        return outcome
    if absence.state != "active":
        return outcome
    absence.state, absence.ended_at = "ended", now
    absence.ends_at = min(absence.ends_at, now)
    outcome.transition = "end"
    open_handovers = await session.scalars(
        select(Handover)
        .where(Handover.absence_id == absence.id, Handover.outcome.is_(None))
        .order_by(Handover.id)
    )
    for handover in open_handovers:
        item = provider(handover.kind)
        given = item is not None and await item.give_back(session, absence, handover)
        handover.outcome, handover.settled_at = ("returned" if given else "kept"), now
        bucket = outcome.returned if given else outcome.kept
        bucket[handover.kind] = bucket.get(handover.kind, 0) + 1
        if handover.kind == "conversation":
            outcome.conversation_ids.append(handover.object_id)
    audit.record(
        session,
        actor,
        "absence.end",
        "absence",
        absence.id,
        workspace_id=absence.workspace_id,
        person=absence.person_id,
        returned=outcome.returned,
        kept=outcome.kept,
    )
    await session.flush()
    return outcome


async def advance(
    session: AsyncSession, absence_id: int, *, now: datetime | None = None
) -> Outcome:
    """Move one absence along by the clock: start it when due, catch up while it lasts, end
    it when over (what the job and the sweep do). Safe to call any number of times."""
    now = now or utcnow()
    absence = await lock(session, absence_id)
    if absence is None:
        return Outcome()
    if absence.state == "scheduled" and absence.starts_at <= now:
        outcome = await start(session, absence, now=now)
    else:
        outcome = await catch_up(session, absence, now=now)
    if absence.state == "active" and absence.ends_at <= now:
        back = await end(session, absence, _system(absence), now=now)
        outcome.returned, outcome.kept = back.returned, back.kept
        outcome.conversation_ids.extend(back.conversation_ids)
        outcome.transition = outcome.transition or back.transition
    return outcome


async def due(session: AsyncSession, now: datetime | None = None) -> list[int]:
    """Ids of the absences the sweep looks at: those due to start, and every active one."""
    now = now or utcnow()
    rows = await session.scalars(
        select(Absence.id).where(
            ((Absence.state == "scheduled") & (Absence.starts_at <= now))
            | (Absence.state == "active")
        )
    )
    return list(rows)
