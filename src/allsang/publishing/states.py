"""The publishing workflow: statuses of posts and deliveries, legal transitions, typed errors.

Post::

    draft ──submit──▶ in_review ──last step approves──▶ approved ──schedule──▶ scheduled
      ▲                  │ reject / withdraw                ▲  │                  │ due
      └──────────────────┘◀─────── edit by contributor ─────┘  └──cancel◀─────────┤
                                                                                  ▼
               published ◀── failed / outcome_unknown ◀── publishing ◀────────────┘

A post's status after ``scheduled`` follows its deliveries (one per channel and occurrence):
``publishing`` while any is being sent, then ``outcome_unknown`` if any outcome is unknown,
``failed`` if any failed, ``scheduled`` while any is still to come, else ``published``.
"""

from __future__ import annotations

POST_STATUSES = (
    "draft",
    "in_review",
    "approved",
    "scheduled",
    "publishing",
    "published",
    "failed",
    "outcome_unknown",
)

DELIVERY_STATES = (
    "scheduled",
    "publishing",
    "published",
    "failed",
    "outcome_unknown",
    "cancelled",
)

# Where a post may go from each status.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"in_review", "approved"}),  # "approved": an exempt editor's own post
    "in_review": frozenset({"draft", "approved"}),
    "approved": frozenset({"draft", "scheduled"}),
    "scheduled": frozenset({"approved", "publishing", "published", "failed", "outcome_unknown"}),
    "publishing": frozenset({"scheduled", "published", "failed", "outcome_unknown"}),
    "outcome_unknown": frozenset({"scheduled", "publishing", "published", "failed"}),
    "failed": frozenset({"scheduled", "publishing", "published", "outcome_unknown", "approved"}),
    "published": frozenset({"scheduled", "publishing"}),  # a recurring post's next occurrence
}

# States a person can still edit the content in (editing after approval sends it back).
EDITABLE = frozenset({"draft", "in_review", "approved"})


class PublishingError(Exception):
    """Base of the publishing errors; ``str()`` is meant for people."""


class NotFound(PublishingError):
    """No such post (or delivery, chain, campaign) in the actor's workspace."""


class IllegalTransition(PublishingError):
    """The post (or delivery) is not in a status that allows this."""

    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"cannot go from {current!r} to {wanted!r}")
        self.current = current
        self.wanted = wanted


class ApprovalRequired(PublishingError):
    """The post must be approved before it is scheduled or published."""


class NotApprover(PublishingError):
    """The actor may not decide the approval step the post is waiting at."""


class InvalidPost(PublishingError):
    """The post cannot be scheduled as it is (no channel, text too long, missing alt text…).

    ``code`` says which problem it is, for interfaces that word it themselves: ``past``,
    ``no_slots``, ``channel`` (it cannot publish), ``no_channel``, ``no_text``, ``too_long``,
    ``alt_text``, ``media``, ``file_type``, ``file_size``, ``note_required`` or ``invalid``."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def check_transition(current: str, wanted: str) -> None:
    """Raise :class:`IllegalTransition` unless a post may go from ``current`` to ``wanted``."""
    if wanted not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(current, wanted)


def post_status_from(delivery_states: list[str], current: str) -> str:
    """A scheduled post's status from its deliveries' states (cancelled ones ignored)."""
    live = [s for s in delivery_states if s != "cancelled"]
    if not live:
        return current
    if "publishing" in live:
        return "publishing"
    if "outcome_unknown" in live:
        return "outcome_unknown"
    if "failed" in live:
        return "failed"
    if "scheduled" in live:
        return "scheduled"
    return "published"
