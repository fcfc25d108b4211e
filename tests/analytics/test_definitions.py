"""The pure metric definitions: intents, facts, business hours across DST, percentiles, Gini."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from allsang.analytics.definitions import (
    MessageFact,
    conversation_facts,
    dialogue_score,
    gini,
    message_intent,
    percentile,
    sla_met,
)
from allsang.routing.hours import ALWAYS_OPEN, BusinessHours

OFFICE = BusinessHours(
    timezone="Europe/Stockholm", weekly={d: [(time(8), time(17))] for d in range(5)}
)


def _in(at: datetime, text: str = "Hej, när öppnar ni?", kind: str = "comment") -> MessageFact:
    return MessageFact("inbound", kind, at, text=text, lang="sv")


def _out(at: datetime, person: int | None = 7) -> MessageFact:
    return MessageFact("outbound", "reply", at, author_person_id=person)


def test_questions_complaints_requests_and_direct_messages_expect_an_answer() -> None:
    at = datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert message_intent(_in(at)) == "question"
    assert message_intent(_in(at, "Helt oacceptabelt, jag är missnöjd.")) == "complaint"
    assert message_intent(_in(at, "Tack för en fin kväll!")) is None
    assert message_intent(_in(at, "hello", kind="dm")) == "direct"
    assert message_intent(_out(at)) is None


def test_intents_stored_on_the_message_win_over_the_rules() -> None:
    at = datetime(2026, 3, 2, 9, tzinfo=UTC)
    stored = MessageFact("inbound", "comment", at, text="Hej?", extra={"intents": ["praise"]})
    assert message_intent(stored) is None
    asked = MessageFact("inbound", "comment", at, text="Tack!", extra={"intents": ["press"]})
    assert message_intent(asked) == "press"


def test_facts_count_turns_and_the_first_response_after_the_first_inbound() -> None:
    t0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    facts = conversation_facts(
        [
            _out(t0 - timedelta(hours=1), person=1),  # our post that started the thread
            _in(t0),
            MessageFact("note", "post", t0 + timedelta(minutes=5)),
            _out(t0 + timedelta(minutes=20), person=2),
            _in(t0 + timedelta(minutes=30), "Tack!"),
        ],
        ALWAYS_OPEN,
    )
    assert facts.turns == 4
    assert facts.expects_answer and facts.intent == "question"
    assert facts.first_response_seconds == 1200 == facts.business_seconds
    assert facts.person_id == 2
    assert (facts.inbound, facts.outbound) == (2, 2)


def test_a_response_over_the_night_counts_only_open_business_time() -> None:
    # Asked Friday 16:30 Stockholm (15:30 UTC), answered Monday 08:15 (07:15 UTC).
    facts = conversation_facts(
        [
            _in(datetime(2026, 3, 6, 15, 30, tzinfo=UTC)),
            _out(datetime(2026, 3, 9, 7, 15, tzinfo=UTC)),
        ],
        OFFICE,
    )
    assert facts.business_seconds == 45 * 60
    assert facts.first_response_seconds == (2 * 24 + 15) * 3600 + 45 * 60


def test_business_time_across_the_spring_dst_change_is_not_an_hour_off() -> None:
    # Sweden moves to summer time on Sunday 29 March 2026. Asked Friday 27 March 16:00 local
    # (15:00 UTC, winter), answered Monday 30 March 09:00 local (07:00 UTC, summer):
    # one open hour on Friday and one on Monday.
    facts = conversation_facts(
        [
            _in(datetime(2026, 3, 27, 15, 0, tzinfo=UTC)),
            _out(datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),
        ],
        OFFICE,
    )
    assert facts.business_seconds == 2 * 3600
    # Wall-clock time is 64 hours, not 65: the night to Sunday lost an hour.
    assert facts.first_response_seconds == 64 * 3600


def test_an_unanswered_conversation_has_no_response_time() -> None:
    facts = conversation_facts([_in(datetime(2026, 3, 2, 9, tzinfo=UTC))], OFFICE)
    assert not facts.answered and facts.business_seconds is None and facts.turns == 1


def test_sla_is_met_when_the_answer_came_before_it_was_due() -> None:
    due = datetime(2026, 3, 2, 10, tzinfo=UTC)
    now = due + timedelta(hours=5)
    assert sla_met(due - timedelta(minutes=1), due, None, now) is True
    assert sla_met(due + timedelta(minutes=1), due, None, now) is False
    assert sla_met(None, due, None, due - timedelta(minutes=1)) is None
    assert sla_met(None, due, None, now) is False
    assert sla_met(None, None, due, now) is False
    assert sla_met(None, None, None, now) is None


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([600.0, 1800.0, 3600.0], 0.9) == pytest.approx(3240.0)


def test_gini_is_zero_for_an_even_team_and_grows_with_concentration() -> None:
    assert gini([]) is None
    assert gini([0, 0]) is None
    assert gini([5, 5, 5, 5]) == 0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)
    assert gini([1, 3]) == pytest.approx(0.25)


def test_the_dialogue_score_averages_the_parts_that_exist() -> None:
    assert dialogue_score(1.0, 0.5, None) == 75.0
    assert dialogue_score(None, None, None) is None
