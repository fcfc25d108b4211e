"""Many queries compiled together behind one Aho-Corasick automaton.

Every query gets a set of literal anchors of which at least one must occur in the normalised
text for the query to match (see :func:`~allsang.listening.query.evaluate.anchors`). One
automaton holds the anchors of all queries; a message is fully evaluated only against the
queries whose anchors it contains, plus the few queries that no anchor can guard (pure NOT,
field-only), which are evaluated on every message.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick

from allsang.listening.query.evaluate import CNode, Doc, Message, anchors, evaluate, lower
from allsang.listening.query.parser import QuerySyntaxError, parse


class QuerySet:
    """A compiled, immutable set of queries.

    ``queries`` are ``(id, text)`` pairs; ids must be unique. An invalid query raises
    :class:`QuerySyntaxError` naming its id, and nothing is compiled. ``fold`` makes matching
    treat ä as æ and ö as ø, in queries and texts alike.
    """

    def __init__(self, queries: Iterable[tuple[str, str]], *, fold: bool = False) -> None:
        self.fold = fold
        self.ids: list[str] = []
        self._index_of_id: dict[str, int] = {}
        self._nodes: list[CNode] = []
        self._always: list[int] = []
        by_anchor: dict[str, set[int]] = {}
        for query_id, text in queries:
            if query_id in self._index_of_id:
                raise ValueError(f"duplicate query id {query_id!r}")
            try:
                node = lower(parse(text), fold)
            except QuerySyntaxError as exc:
                exc.query_id = query_id
                raise
            number = len(self.ids)
            self._index_of_id[query_id] = number
            self.ids.append(query_id)
            self._nodes.append(node)
            needed = anchors(node, fold)
            if needed is None:
                self._always.append(number)
            else:
                for anchor in needed:
                    by_anchor.setdefault(anchor, set()).add(number)
        self._automaton = ahocorasick.Automaton()
        for anchor, numbers in by_anchor.items():
            self._automaton.add_word(anchor, tuple(sorted(numbers)))
        if by_anchor:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def always_evaluated(self) -> list[str]:
        """Ids of the queries without a text anchor, evaluated on every message."""
        return [self.ids[n] for n in self._always]

    def candidates(self, doc: Doc) -> list[int]:
        """Numbers of the queries worth evaluating on ``doc``, in query order."""
        found: set[int] = set(self._always)
        if len(self._automaton):
            for _, numbers in self._automaton.iter(doc.haystack):
                found.update(numbers)
        return sorted(found)

    def match(self, message: Message | str) -> list[str]:
        """Ids of the queries that match ``message`` (a :class:`Message` or a bare text)."""
        msg = Message(message) if isinstance(message, str) else message
        doc = Doc(msg.text, self.fold)
        title: list[Doc | None] = [None]
        return [
            self.ids[n] for n in self.candidates(doc) if evaluate(self._nodes[n], doc, msg, title)
        ]


def compile_queries(queries: Iterable[tuple[str, str]], *, fold: bool = False) -> QuerySet:
    """Compile ``(id, text)`` pairs into a :class:`QuerySet` (see there)."""
    return QuerySet(queries, fold=fold)
