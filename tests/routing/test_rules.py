"""Rule conditions: cleaning what the form sends, and matching without a database."""

from __future__ import annotations

import pytest

from allsang.db.models.routing import RoutingRule
from allsang.listening.query import QuerySyntaxError
from allsang.routing.rules import RuleBook, Subject, clean_conditions


def subject(text: str = "Hej", **fields: object) -> Subject:
    values: dict[str, object] = {
        "text": text, "lang": "sv", "sentiment": "neu", "sentiment_score": 0.0,
        "channel_id": 1, "network": "mastodon", "handle": "@Kari@example.social",
        "author_name": "Kari", "url": None, "known_contact": False,
    }  # fmt: skip
    values.update(fields)
    return Subject(**values)  # type: ignore[arg-type]


def rule(rule_id: int, position: int = 0, **fields: object) -> RoutingRule:
    values: dict[str, object] = {"conditions": {}, "enabled": True, "stop": True}
    values.update(fields)
    return RoutingRule(id=rule_id, position=position, name=f"r{rule_id}", **values)


def test_conditions_are_cleaned_to_known_keys_and_sorted_lowercase_lists() -> None:
    cleaned = clean_conditions(
        {
            "query": "  volvo  ",
            "languages": ["SV", "nb", "sv"],
            "handles": ["@Kari@Example.Social"],
            "channel_ids": ["2", 1],
            "intents": [],
            "contact": "known",
            "surprise": "ignored",
        }
    )
    assert cleaned == {
        "query": "volvo",
        "languages": ["nb", "sv"],
        "handles": ["kari@example.social"],
        "channel_ids": [1, 2],
        "contact": "known",
    }
    assert clean_conditions({"contact": "any", "query": " "}) == {}


def test_unknown_intents_and_broken_queries_are_refused() -> None:
    with pytest.raises(ValueError):
        clean_conditions({"intents": ["gossip"]})
    with pytest.raises(QuerySyntaxError):
        clean_conditions({"query": "(volvo"})


def test_rules_run_in_position_order_and_the_first_department_and_person_win() -> None:
    book = RuleBook(
        [
            rule(3, 3, department_id=30),
            rule(1, 1, stop=False, department_id=10, priority="high", tag_id=7),
            rule(2, 2, stop=False, conditions={"handles": ["kari@example.social"]}, person_id=5,
                 department_id=20, priority="low", tag_id=8),
        ]
    )  # fmt: skip
    actions = book.evaluate(subject())
    assert actions.rule_ids == [1, 2, 3]
    assert (actions.department_id, actions.person_id) == (10, 5)
    assert actions.priority == "high" and actions.tag_ids == [7, 8]


def test_a_query_rule_matches_only_messages_its_query_matches() -> None:
    book = RuleBook([rule(1, conditions={"query": "faktura NEAR/3 fel"}, department_id=1)])
    assert book.evaluate(subject("Min faktura är fel")).rule_ids == [1]
    assert book.evaluate(subject("Min faktura kom")).rule_ids == []


def test_disabled_rules_and_contact_kinds() -> None:
    book = RuleBook(
        [
            rule(1, 1, enabled=False, department_id=1),
            rule(2, 2, conditions={"contact": "known"}, department_id=2),
            rule(3, 3, conditions={"contact": "new"}, department_id=3),
        ]
    )
    assert book.evaluate(subject(known_contact=True)).department_id == 2
    assert book.evaluate(subject(known_contact=False)).department_id == 3
