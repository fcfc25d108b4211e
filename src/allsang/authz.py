"""Authorisation: the one function every endpoint and command goes through.

``authorize(actor, action, resource)`` raises :class:`Forbidden` unless the actor's role in the
resource's workspace grants the action. Actions are dotted names (``"person.manage"``); every
action that exists is a key of :data:`ACTIONS`, so an unknown action is a programming error,
caught by the tests rather than silently denied or allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["owner", "admin", "editor", "contributor", "viewer", "display"]
ROLE_NAMES = ("owner", "admin", "editor", "contributor", "viewer", "display")

# Higher rank includes every permission of the lower ranks, except ``display`` which is
# a separate read-only role for wall screens and grants nothing else.
RANK: dict[str, int] = {"viewer": 1, "contributor": 2, "editor": 3, "admin": 4, "owner": 5}

# action -> the lowest role that may do it (or "display" for screen-only actions).
ACTIONS: dict[str, str] = {
    # Reading the workspace.
    "workspace.view": "viewer",
    "person.view": "viewer",
    "department.view": "viewer",
    "audit.view": "admin",
    "jobs.view": "admin",
    "jobs.manage": "admin",
    # Own profile and sessions: any member.
    "profile.view": "viewer",
    "profile.update": "viewer",
    # Administration.
    "workspace.update": "admin",
    "person.manage": "admin",
    "department.manage": "admin",
    "token.manage": "admin",
    "owner.manage": "owner",
    # Channels and messages.
    "channel.view": "viewer",
    "channel.connect": "editor",
    "channel.update": "editor",
    "channel.manage": "admin",
    "channel.reconnect": "editor",
    "quarantine.view": "editor",
    "quarantine.manage": "editor",
    "message.view": "viewer",
    "message.ingest": "editor",
    "conversation.view": "viewer",
    "conversation.reply": "contributor",
    "conversation.manage": "contributor",
    # Listening: saved queries, their charts and alerts.
    "listening.view": "viewer",
    "listening.manage": "editor",
    # Alerts: everyone sees them; admins choose where they go (Apprise URLs hold secrets).
    "alerts.view": "viewer",
    "alerts.manage": "admin",
    # Walls.
    "wall.display": "display",
    "wall.view": "viewer",
    "wall.moderate": "editor",
    "wall.manage": "editor",
    # Privacy: a person's data on request, and retention.
    "contact.view": "viewer",
    "contact.export": "admin",
    "contact.erase": "admin",
    "retention.manage": "admin",
    # Inbox workflow: snooze, saved replies, reply approval.
    "conversation.snooze": "contributor",
    "saved_reply.use": "contributor",
    "saved_reply.manage": "editor",
    "reply.approve": "editor",
    "inbox.settings": "admin",
    # Routing, business hours and SLAs.
    "routing.view": "editor",
    "routing.manage": "admin",
    # Continuity: rota, out-of-office, bus factor.
    "continuity.view": "viewer",
    "rota.manage": "editor",
    "absence.own": "contributor",
    "absence.manage": "admin",
    "channel.reconnectors": "editor",
    # Publishing and approvals.
    "post.view": "viewer",
    "post.draft": "contributor",
    "post.comment": "contributor",
    "post.review": "contributor",
    "post.schedule": "contributor",
    "post.manage": "editor",
    "campaign.manage": "editor",
    "queue.manage": "editor",
    "approval.manage": "admin",
    # Editorial calendar and employee advocacy.
    "calendar.view": "viewer",
    "calendar.edit": "contributor",
    "calendar.manage": "editor",
    "calendar.feed": "viewer",
    "advocacy.share": "viewer",
    "advocacy.manage": "editor",
    # Analytics.
    "analytics.view": "viewer",
    "analytics.manage": "admin",
}


class Forbidden(Exception):
    """The actor may not do this. Web adapters turn it into 403 (or 401 when anonymous)."""

    def __init__(self, actor: Actor, action: str) -> None:
        super().__init__(f"{actor.label} may not {action}")
        self.actor = actor
        self.action = action


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: a person through a session, an API token, a display, or nobody."""

    kind: Literal["person", "token", "display", "anonymous", "system"]
    label: str
    workspace_id: int | None = None
    role: str | None = None
    person_id: int | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"


ANONYMOUS = Actor(kind="anonymous", label="anonymous")


class Resource(Protocol):
    workspace_id: int | None


def can(actor: Actor, action: str, resource: Resource | None = None) -> bool:
    """True when :func:`authorize` would allow it."""
    try:
        authorize(actor, action, resource)
    except Forbidden:
        return False
    return True


def authorize(actor: Actor, action: str, resource: Resource | None = None) -> None:
    """Allow or raise Forbidden.

    ``resource`` is anything with a ``workspace_id``; a resource in another workspace is
    forbidden whatever the role. Without a resource the check is against the actor's own
    workspace. ``system`` actors (the CLI and workers) may do anything.
    """
    needed = ACTIONS.get(action)
    if needed is None:
        raise KeyError(f"unknown action {action!r}: add it to allsang.authz.ACTIONS")
    if actor.kind == "system":
        return
    if actor.workspace_id is None or actor.role is None:
        raise Forbidden(actor, action)
    if resource is not None and resource.workspace_id != actor.workspace_id:
        raise Forbidden(actor, action)
    if needed == "display" or actor.role == "display":
        if needed != "display" or actor.role not in ("display", *RANK):
            raise Forbidden(actor, action)
        return
    if RANK.get(actor.role, 0) < RANK[needed]:
        raise Forbidden(actor, action)
