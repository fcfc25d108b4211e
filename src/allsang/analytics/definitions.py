"""The metric definitions of docs/metrics.md as pure functions (no database).

Everything the aggregates store and the dashboard shows is computed from these functions, so
the tests of hand-built histories test exactly what the app reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from allsang.listening.intent import detect_intents
from allsang.routing.hours import BusinessHours

# Intents that ask something of us: a question, a complaint, and the requests (press, sales,
# jobs). Praise alone expects no answer.
ANSWER_INTENTS = frozenset({"question", "complaint", "press", "sales_lead", "job"})
# Kinds that are addressed to us one-to-one: a direct message or an e-mail always expects an
# answer, whatever its wording.
DIRECT_KINDS = frozenset({"dm", "email"})
# Which intent names a message when it has several (the listening engine's precedence).
_PRECEDENCE = ("press", "job", "sales_lead", "complaint", "question")


@dataclass(frozen=True, slots=True)
class MessageFact:
    """What the definitions need of one message of a conversation."""

    direction: str  # inbound, outbound or note
    kind: str
    created_at: datetime
    author_person_id: int | None = None
    text: str = ""
    lang: str | None = None
    sentiment_score: float | None = None
    extra: dict[str, Any] | None = None


def message_intent(message: MessageFact) -> str | None:
    """The intent that makes an inbound message expect an answer, or None.

    ``direct`` for a direct message or e-mail without a more specific intent; otherwise the
    primary intent among :data:`ANSWER_INTENTS`. Intents already on the message
    (``extra["intents"]``, a list of names) are used as they are; else the listening engine's
    rules (:func:`allsang.listening.intent.detect_intents`) read the text.
    """
    if message.direction != "inbound":
        return None
    stored = (message.extra or {}).get("intents")
    if isinstance(stored, list):
        names = {str(n) for n in stored} & ANSWER_INTENTS
    else:
        found = detect_intents(message.text, message.lang, sentiment_score=message.sentiment_score)
        names = {i.name for i in found} & ANSWER_INTENTS
    if names:
        return next(
            n for n in ("press", "job", "sales_lead", "complaint", "question") if n in names
        )
    if message.kind in DIRECT_KINDS:
        return "direct"
    return None


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    started_at: datetime | None
    expects_answer: bool
    intent: str
    inbound: int
    outbound: int
    turns: int
    first_response_at: datetime | None
    first_response_seconds: float | None
    business_seconds: float | None
    person_id: int | None

    @property
    def answered(self) -> bool:
        return self.first_response_at is not None


def conversation_facts(messages: Sequence[MessageFact], hours: BusinessHours) -> ConversationFacts:
    """Facts of one conversation from its messages (any order; notes are ignored).

    * ``started_at``: the first inbound message.
    * ``expects_answer`` / ``intent``: the first inbound message with an answer intent
      (:func:`message_intent`).
    * first response: the first of our messages at or after ``started_at``; its wall-clock
      delay and the open business seconds in between (``hours``), and its author.
    * ``turns``: runs of consecutive messages from one side (audience or us).
    """
    ordered = sorted(
        (m for m in messages if m.direction in ("inbound", "outbound")),
        key=lambda m: m.created_at,
    )
    inbound = [m for m in ordered if m.direction == "inbound"]
    started = inbound[0].created_at if inbound else None
    intent = ""
    for message in inbound:
        found = message_intent(message)
        if found:
            intent = found
            break
    first = None
    if started is not None:
        first = next(
            (m for m in ordered if m.direction == "outbound" and m.created_at >= started), None
        )
    turns, side = 0, None
    for message in ordered:
        if message.direction != side:
            turns, side = turns + 1, message.direction
    return ConversationFacts(
        started_at=started,
        expects_answer=bool(intent),
        intent=intent,
        inbound=len(inbound),
        outbound=len(ordered) - len(inbound),
        turns=turns,
        first_response_at=first.created_at if first else None,
        first_response_seconds=(first.created_at - started).total_seconds()
        if first and started
        else None,
        business_seconds=hours.open_seconds_between(started, first.created_at)
        if first and started
        else None,
        person_id=first.author_person_id if first else None,
    )


def sla_met(
    first_response_at: datetime | None,
    due: datetime | None,
    breached: datetime | None,
    now: datetime,
) -> bool | None:
    """Whether a conversation met its first-response SLA; None when it has no SLA or the
    due time has not passed without an answer yet."""
    if due is None and breached is None:
        return None
    if breached is not None:
        return False
    assert due is not None
    if first_response_at is not None:
        return first_response_at <= due
    return False if now > due else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0…1) with linear interpolation between closest ranks (numpy's
    default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def gini(counts: Iterable[float]) -> float | None:
    """Gini coefficient of non-negative counts: 0 when everyone does the same, approaching 1
    when one does everything; None for nobody or nothing done."""
    values = sorted(c for c in counts)
    n, total = len(values), sum(values)
    if n == 0 or total == 0:
        return None
    weighted = sum((i + 1) * v for i, v in enumerate(values))
    return (2 * weighted) / (n * total) - (n + 1) / n


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def dialogue_score(
    reply_rate: float | None, two_turn_share: float | None, reply_share: float | None
) -> float | None:
    """0…100: the mean of the reply rate, the share of conversations with two or more turns,
    and replies' share of (replies + broadcasts), over the parts that are defined."""
    parts = [p for p in (reply_rate, two_turn_share, reply_share) if p is not None]
    return round(100 * sum(parts) / len(parts), 1) if parts else None


def local_day(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants where local day ``first`` starts and the day after ``last`` starts."""
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    after = last + timedelta(days=1)
    return start, datetime(after.year, after.month, after.day, tzinfo=zone)
