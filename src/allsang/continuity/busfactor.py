"""Bus factor: who took part, per channel and per department, and the alarm.

Taking part means writing something in the last :data:`WINDOW_DAYS` days as a person: a reply
or post that went out (``outbound`` message with an author), an internal note in a
conversation, or a post published through Allsang (its author, per channel it went to). A
message counts for the channel it went through (a note for its conversation's channel) and for
the department of its conversation (a post: of the post), else of its channel.

Conditions, checked hourly by the ``continuity.busfactor`` job:

* ``channel:<id>:few`` / ``department:<id>:few`` — fewer than :data:`MIN_PEOPLE` people took
  part (departments only once they have a channel);
* ``channel:<id>:silent`` — nothing came in or went out for the workspace's
  ``silent_days`` (setting ``settings["continuity"]["silent_days"]``, default
  :data:`DEFAULT_SILENT_DAYS`); paused channels are silent on purpose and not checked.

Each condition raises one alert (kind ``continuity``, delivered like every alert) when it
appears; a ``continuity_condition`` row remembers it until it clears, so an hourly check
does not alert again while it lasts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Channel, Conversation, Department, Message, Person, Workspace
from allsang.db.models.continuity import ContinuityCondition
from allsang.db.models.publishing import Post, PostDelivery
from allsang.db.types import utcnow

WINDOW_DAYS = 30
MIN_PEOPLE = 2
DEFAULT_SILENT_DAYS = 7
MAX_SILENT_DAYS = 365
JOB_KIND = "continuity.busfactor"


def silent_days(workspace: Workspace) -> int:
    value = ((workspace.settings or {}).get("continuity") or {}).get("silent_days")
    return (
        value if isinstance(value, int) and 1 <= value <= MAX_SILENT_DAYS else DEFAULT_SILENT_DAYS
    )


def store_silent_days(workspace: Workspace, days: int) -> None:
    """Save the setting into the workspace row (the caller commits); ValueError if outside
    1–365."""
    if not 1 <= days <= MAX_SILENT_DAYS:
        raise ValueError(days)
    settings = dict(workspace.settings or {})
    settings["continuity"] = {**(settings.get("continuity") or {}), "silent_days": days}
    workspace.settings = settings


@dataclass(slots=True)
class Participation:
    """One channel's or department's last 30 days."""

    kind: str  # "channel" or "department"
    id: int
    name: str
    people: list[tuple[str, int]] = field(default_factory=list)  # (name, messages), most first
    last_activity: datetime | None = None
    paused: bool = False
    silent: bool = False
    has_channels: bool = False  # departments: only those with a channel are checked

    @property
    def few(self) -> bool:
        return len(self.people) < MIN_PEOPLE

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


async def participation(
    session: AsyncSession, workspace: Workspace, now: datetime | None = None
) -> tuple[list[Participation], list[Participation]]:
    """Channels and departments of the workspace with who took part (by name)."""
    now = now or utcnow()
    since = now - timedelta(days=WINDOW_DAYS)
    channel_rows = list(
        await session.scalars(
            select(Channel).where(Channel.workspace_id == workspace.id).order_by(Channel.name)
        )
    )
    channels = {
        row.id: Participation("channel", row.id, row.name, paused=row.state == "paused")
        for row in channel_rows
    }
    channel_departments = {row.id: row.department_id for row in channel_rows}
    departments = {
        row.id: Participation(
            "department",
            row.id,
            row.name,
            has_channels=row.id in channel_departments.values(),
        )
        for row in await session.scalars(
            select(Department)
            .where(Department.workspace_id == workspace.id)
            .order_by(Department.name)
        )
    }
    channel_of = func.coalesce(Message.channel_id, Conversation.channel_id)
    messages = await session.execute(
        select(channel_of, Conversation.department_id, Person.id, Person.name, func.count())
        .select_from(Message)
        .outerjoin(Conversation, Conversation.id == Message.conversation_id)
        .join(Person, Person.id == Message.author_person_id)
        .where(
            Message.workspace_id == workspace.id,
            Message.direction.in_(("outbound", "note")),
            Message.created_at >= since,
        )
        .group_by(channel_of, Conversation.department_id, Person.id, Person.name)
    )
    # Posts published through Allsang count for their author on each channel they went to.
    posts = await session.execute(
        select(PostDelivery.channel_id, Post.department_id, Person.id, Person.name, func.count())
        .join(Post, Post.id == PostDelivery.post_id)
        .join(Person, Person.id == Post.author_id)
        .where(PostDelivery.workspace_id == workspace.id, PostDelivery.published_at >= since)
        .group_by(PostDelivery.channel_id, Post.department_id, Person.id, Person.name)
    )
    rows = [*messages.all(), *posts.all()]
    per_channel: dict[int, dict[int, int]] = {}
    per_department: dict[int, dict[int, int]] = {}
    names: dict[int, str] = {}
    for channel_id, department_id, person_id, name, count in rows:
        names[person_id] = name
        if channel_id in channels:
            bucket = per_channel.setdefault(channel_id, {})
            bucket[person_id] = bucket.get(person_id, 0) + count
        department_id = department_id or channel_departments.get(channel_id)
        if department_id in departments:
            bucket = per_department.setdefault(department_id, {})
            bucket[person_id] = bucket.get(person_id, 0) + count
    for found, target in ((per_channel, channels), (per_department, departments)):
        for key, counts in found.items():
            target[key].people = sorted(
                ((names[pid], n) for pid, n in counts.items()), key=lambda item: (-item[1], item[0])
            )
    # Silence: the newest message either way or published post (or the channel's newest
    # stored item, or its creation).
    latest: dict[int, datetime] = {}
    for statement in (
        select(Message.channel_id, func.max(Message.created_at))
        .where(Message.workspace_id == workspace.id, Message.channel_id.is_not(None))
        .group_by(Message.channel_id),
        select(PostDelivery.channel_id, func.max(PostDelivery.published_at))
        .where(PostDelivery.workspace_id == workspace.id, PostDelivery.published_at.is_not(None))
        .group_by(PostDelivery.channel_id),
    ):
        for channel_id, at in await session.execute(statement):
            if at is not None and (channel_id not in latest or at > latest[channel_id]):
                latest[channel_id] = at
    quiet_after = now - timedelta(days=silent_days(workspace))
    for row in channel_rows:
        item = channels[row.id]
        candidates = [t for t in (latest.get(row.id), row.last_item_at) if t is not None]
        item.last_activity = max(candidates) if candidates else None
        baseline = item.last_activity or row.created_at
        item.silent = not item.paused and baseline < quiet_after
    return list(channels.values()), list(departments.values())


def conditions(
    channels: list[Participation], departments: list[Participation]
) -> dict[str, Participation]:
    """The conditions that hold now, by key."""
    found: dict[str, Participation] = {}
    for item in channels:
        if item.few and not item.paused:
            found[f"{item.key}:few"] = item
        if item.silent:
            found[f"{item.key}:silent"] = item
    for item in departments:
        if item.few and item.has_channels:
            found[f"{item.key}:few"] = item
    return found


def _describe(key: str, item: Participation, days: int) -> tuple[str, str]:
    what = "Channel" if item.kind == "channel" else "Department"
    if key.endswith(":silent"):
        return (
            f"{what} silent: {item.name}",
            f"Nothing came in or went out for {days} days or more.",
        )
    people = ", ".join(name for name, _ in item.people) or "nobody"
    return (
        f"Bus factor: {item.name}",
        f"Fewer than {MIN_PEOPLE} people took part in the last {WINDOW_DAYS} days ({people}).",
    )


async def check(
    session: AsyncSession, workspace: Workspace, alert_settings: Any, now: datetime | None = None
) -> list[str]:
    """Raise an alert for each condition that appeared since the last check and forget the
    ones that cleared; returns the keys alerted now."""
    from allsang.listening import alerts

    now = now or utcnow()
    channels, departments = await participation(session, workspace, now)
    current = conditions(channels, departments)
    known = set(
        await session.scalars(
            select(ContinuityCondition.key).where(ContinuityCondition.workspace_id == workspace.id)
        )
    )
    cleared = known - set(current)
    if cleared:
        await session.execute(
            delete(ContinuityCondition).where(
                ContinuityCondition.workspace_id == workspace.id,
                ContinuityCondition.key.in_(cleared),
            )
        )
    raised = []
    for key in sorted(set(current) - known):
        item = current[key]
        title, body = _describe(key, item, silent_days(workspace))
        alert = await alerts.raise_alert(
            session,
            workspace,
            alert_settings,
            key=f"continuity:{key}",
            kind="continuity",
            title=title,
            body=body,
            data={"condition": key, "people": [name for name, _ in item.people]},
            now=now,
        )
        session.add(
            ContinuityCondition(
                workspace_id=workspace.id,
                key=key,
                since=now,
                alert_id=alert.id if alert is not None else None,
            )
        )
        raised.append(key)
    return raised
