"""Routing rules: which conditions a message meets, and what the matching rules ask for.

Rules are evaluated in order (``position``, then id). A rule matches when *all* its
conditions hold; an empty condition holds for every message. When a rule matches, its
actions are collected; a rule with ``stop`` (the default) ends evaluation, one without it
("continue") lets the following rules add theirs. Of the collected actions the *first*
department and the *first* person win (earlier rules take precedence), tags accumulate and
the highest priority wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from allsang.db.models import PRIORITIES
from allsang.db.models.routing import RoutingRule
from allsang.listening.intent import INTENTS, detect_intents
from allsang.listening.query import Message, QuerySet, compile_queries

SENTIMENTS = ("pos", "neu", "neg")
CONTACT_KINDS = ("any", "known", "new")
CONDITION_LISTS = ("languages", "intents", "channel_ids", "sentiments", "handles")


@dataclass(frozen=True, slots=True)
class Subject:
    """What the rules look at: one inbound message and its contact."""

    text: str
    lang: str | None
    sentiment: str | None
    sentiment_score: float | None
    channel_id: int | None
    network: str | None
    handle: str | None
    author_name: str | None
    url: str | None
    known_contact: bool
    title: str | None = None

    def intents(self) -> set[str]:
        return {
            i.name
            for i in detect_intents(self.text, self.lang, sentiment_score=self.sentiment_score)
        }


@dataclass(slots=True)
class Actions:
    """The merged actions of the rules that matched (see the module docstring)."""

    rule_ids: list[int] = field(default_factory=list)
    department_id: int | None = None
    person_id: int | None = None
    round_robin: bool = False
    tag_ids: list[int] = field(default_factory=list)
    priority: str | None = None

    def add(self, rule: RoutingRule) -> None:
        self.rule_ids.append(rule.id)
        if self.department_id is None and rule.department_id is not None:
            self.department_id = rule.department_id
            self.round_robin = self.person_id is None and rule.round_robin
        if self.person_id is None and rule.person_id is not None:
            self.person_id = rule.person_id
            self.round_robin = False
        if rule.tag_id is not None and rule.tag_id not in self.tag_ids:
            self.tag_ids.append(rule.tag_id)
        if rule.priority in PRIORITIES and (
            self.priority is None or _rank(rule.priority) > _rank(self.priority)
        ):
            self.priority = rule.priority


def clean_conditions(raw: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a rule's conditions: known keys only, lists de-duplicated, the
    query stripped. Raises ``QuerySyntaxError`` for a query that does not parse and
    ``ValueError`` for an unknown intent, sentiment or contact kind."""
    cleaned: dict[str, Any] = {}
    query = str(raw.get("query") or "").strip()
    if query:
        compile_queries([("rule", query)])  # validates
        cleaned["query"] = query
    for key in CONDITION_LISTS:
        values = raw.get(key) or []
        if key == "channel_ids":
            items: list[Any] = sorted({int(v) for v in values})
        else:
            items = sorted({str(v).strip().lower().lstrip("@") for v in values if str(v).strip()})
        allowed = {"intents": INTENTS, "sentiments": SENTIMENTS}.get(key)
        if allowed is not None and not set(items) <= set(allowed):
            raise ValueError(f"unknown {key}: {sorted(set(items) - set(allowed))}")
        if items:
            cleaned[key] = items
    contact = str(raw.get("contact") or "any")
    if contact not in CONTACT_KINDS:
        raise ValueError(f"unknown contact kind {contact!r}")
    if contact != "any":
        cleaned["contact"] = contact
    return cleaned


class RuleBook:
    """A workspace's enabled rules, compiled once for a batch of messages."""

    def __init__(self, rules: Sequence[RoutingRule]) -> None:
        self.rules = sorted((r for r in rules if r.enabled), key=lambda r: (r.position, r.id))
        with_query = [(str(r.id), r.conditions["query"]) for r in self.rules if _query(r)]
        self.queries: QuerySet | None = compile_queries(with_query) if with_query else None

    def __bool__(self) -> bool:
        return bool(self.rules)

    def evaluate(self, subject: Subject) -> Actions:
        actions = Actions()
        matched_queries: set[str] | None = None
        intents: set[str] | None = None
        for rule in self.rules:
            c = rule.conditions
            if not _attributes_hold(c, subject):
                continue
            if c.get("intents"):
                if intents is None:
                    intents = subject.intents()
                if not intents & set(c["intents"]):
                    continue
            if _query(rule):
                if matched_queries is None:
                    matched_queries = set(self._match(subject))
                if str(rule.id) not in matched_queries:
                    continue
            actions.add(rule)
            if rule.stop:
                break
        return actions

    def _match(self, subject: Subject) -> Iterable[str]:
        assert self.queries is not None
        return self.queries.match(
            Message(
                text=subject.text,
                lang=subject.lang,
                sentiment=subject.sentiment,
                author=subject.handle,
                author_name=subject.author_name,
                url=subject.url,
                platform=subject.network,
                channel=subject.network,
                title=subject.title,
            )
        )


def _rank(priority: str) -> int:
    return PRIORITIES.index(priority)


def _query(rule: RoutingRule) -> bool:
    return bool(rule.conditions.get("query"))


def _attributes_hold(c: dict[str, Any], s: Subject) -> bool:
    """The cheap conditions (no text analysis)."""
    if c.get("languages") and (s.lang or "").lower() not in c["languages"]:
        return False
    if c.get("sentiments") and s.sentiment not in c["sentiments"]:
        return False
    if c.get("channel_ids") and s.channel_id not in c["channel_ids"]:
        return False
    if c.get("handles") and (s.handle or "").lower().lstrip("@") not in c["handles"]:
        return False
    contact = c.get("contact", "any")
    return contact == "any" or (contact == "known") == s.known_contact
