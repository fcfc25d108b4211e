"""Full-text search over the inbox: message text, conversation subject, contact name and handle.

**Documents.** Every message (inbound, outbound and note) and every conversation (its subject,
contact name and handle) has one row in ``inbox_search_doc``. Its terms are stored

* on SQLite in the FTS5 table ``inbox_search_fts``: ``plain`` holds the casefolded tokens
  (:func:`allsang.listening.text.tokenize`), ``stemmed`` the same tokens through the Snowball
  stemmer of the message's language (sv → swedish, nb/nn/no → norwegian, da → danish,
  fi → finnish, en → english; other languages keep the plain tokens);
* on PostgreSQL in ``document``: ``to_tsvector`` with the text search configuration of the
  message's language (swedish, norwegian, danish, finnish, english, else simple; weight A)
  followed by the ``plain`` tokens through ``to_tsvector('simple', …)`` (weight B), so that
  handles, tags and addresses are split exactly as in a query.

**Staying in step.** Triggers (migration 0006) queue every inserted or changed message,
conversation and contact in ``inbox_search_pending`` inside the writer's own transaction.
:func:`catch_up` turns the queue into documents; it runs after each ingest batch (a commit
hook), before every search (:func:`ensure_current`), and from ``allsang inbox reindex``. A crash
between a commit and its indexing leaves the queue rows, which the next catch-up processes.

**Queries** (:func:`parse_search`): words and ``"quoted phrases"``, all of which must match. A
word matches its plain form or, in a document's stemmed terms, its stem and the stem of its
stem in every supported language (stemmed here, with PyStemmer, on both engines) — so
``leveranser`` (stem ``leverans``) finds ``leveransen`` (``leverans``) and ``leverans``
(``leveran``). Phrases match their words in order, plain or stemmed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import Stemmer
from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db import Database
from allsang.db.models import Contact, Conversation, Message
from allsang.db.models.inbox_search import InboxSearchDoc, InboxSearchPending
from allsang.inbox import facets
from allsang.ingest.pipeline import ChannelRef, CommitHook
from allsang.listening.intent import detect_intents, primary_intent
from allsang.listening.text import normalize, tokenize

log = logging.getLogger(__name__)

# Message language -> Snowball algorithm (PyStemmer) and PostgreSQL configuration.
LANGUAGES = {
    "sv": "swedish",
    "nb": "norwegian",
    "nn": "norwegian",
    "no": "norwegian",
    "da": "danish",
    "fi": "finnish",
    "en": "english",
}
ALGORITHMS = tuple(dict.fromkeys(LANGUAGES.values()))
BATCH = 2000
MAX_TEXT = 100_000  # characters of one message that are indexed
MAX_QUERY_PARTS = 16
RANKED = 2000  # newest matching documents scored for relevance (see matches)
CAPPED = 5_000  # newest matching documents a search lists and counts (see matching_conversations)
# Serialises concurrent catch-ups on PostgreSQL (any constant unique to this purpose).
_PG_LOCK = 0x1A55_1ED0
_QUOTED = re.compile(r'"([^"]*)"?|(\S+)')


@cache
def _stemmer(algorithm: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(algorithm)


def algorithm_for(lang: str | None) -> str | None:
    """The Snowball algorithm (= PostgreSQL configuration) for a message language, or None."""
    return LANGUAGES.get((lang or "").lower())


def plain_terms(text_: str) -> list[tuple[str, bool]]:
    """The casefolded tokens of a text, each with whether it is a word (stemmable)."""
    return [(normalize(t.text), t.kind == "word") for t in tokenize(text_[:MAX_TEXT])]


def stem(word: str, algorithm: str) -> str:
    return _stemmer(algorithm).stemWord(word)


def stemmed_text(terms: Sequence[tuple[str, bool]], lang: str | None) -> str:
    """The ``stemmed`` column of a document in ``lang``."""
    algorithm = algorithm_for(lang)
    if algorithm is None:
        return " ".join(t for t, _ in terms)
    return " ".join(stem(t, algorithm) if word else t for t, word in terms)


# --- queries ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """A word (one term) or a quoted phrase (several), casefolded, as the index stores them."""

    terms: tuple[tuple[str, bool], ...]

    @property
    def plain(self) -> str:
        return " ".join(t for t, _ in self.terms)

    def stem_forms(self) -> set[str]:
        """Every stemmed sequence the part may appear as: per language, the stems and the
        stems of the stems."""
        forms = set()
        for algorithm in ALGORITHMS:
            once = [stem(t, algorithm) if word else t for t, word in self.terms]
            twice = [
                stem(t, algorithm) if word else t
                for t, (_, word) in zip(once, self.terms, strict=True)
            ]
            forms.add(" ".join(once))
            forms.add(" ".join(twice))
        return forms


def parse_search(query: str) -> list[Part]:
    """The parts of a search box text: words and ``"quoted phrases"`` (an unclosed quotation
    mark quotes the rest). Punctuation-only input gives no parts; at most 16 parts are used."""
    parts = []
    for match in _QUOTED.finditer(query):
        phrase, word = match.group(1), match.group(2)
        if phrase is not None:
            terms = tuple(plain_terms(phrase))
            if terms:
                parts.append(Part(terms))
        else:
            parts.extend(Part((term,)) for term in plain_terms(word))
    return parts[:MAX_QUERY_PARTS]


def _fts_string(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def fts_match(parts: Sequence[Part]) -> str:
    """The FTS5 MATCH expression of a parsed query."""
    clauses = []
    for part in parts:
        stems = " OR ".join(_fts_string(form) for form in sorted(part.stem_forms()))
        clauses.append(f"(plain : {_fts_string(part.plain)} OR stemmed : ({stems}))")
    return " AND ".join(clauses)


def _tsquery(parts: Sequence[Part]) -> ColumnElement[object]:
    """The PostgreSQL tsquery of a parsed query: the same forms as on SQLite (plain, stems,
    stems of stems), each through the ``simple`` configuration, since they are stemmed already.
    (Letting each language's configuration stem the query would also drop its stop words, and
    a phrase would lose words: Norwegian ``kom`` is a stop word, Swedish ``kom`` is not.)"""
    combined: ColumnElement[object] | None = None
    for part in parts:
        function = func.phraseto_tsquery if len(part.terms) > 1 else func.plainto_tsquery
        either: ColumnElement[object] | None = None
        for form in sorted(part.stem_forms() | {part.plain}):
            one = function(literal("simple", REGCONFIG), literal(form))
            either = one if either is None else either.op("||")(one)
        assert either is not None
        combined = either if combined is None else combined.op("&&")(either)
    assert combined is not None
    return combined


_FTS = literal_column("inbox_search_fts")
_FTS_TABLE = table("inbox_search_fts", column("rowid"))


def matches(dialect: str, workspace_id: int, parts: Sequence[Part]) -> Select[tuple[int, float]]:
    """``(conversation_id, rank)`` of the workspace's conversations with one of the newest
    :data:`RANKED` matching documents, where a higher rank is more relevant (the
    best-matching of those documents).

    Scoring is the cost of a search (bm25 or ts_rank for every hit: about a second for a word
    in 165,000 of 1,000,000 messages), so only the newest hits are scored; the full set of
    matching conversations is :func:`matching_conversations`, which the list ranks after
    these, newest first. Below :data:`RANKED` hits the order is that of scoring them all."""
    doc = InboxSearchDoc
    if dialect == "sqlite":
        # bm25 is lower for better matches; exact (plain) hits weigh more than stemmed ones.
        # bm25 works only in the query that runs the MATCH: a materialised CTE keeps SQLite
        # from flattening it into the aggregate. FTS5 walks the hits newest (highest rowid)
        # first and stops after RANKED, scoring only those.
        hits = (
            select(_FTS_TABLE.c.rowid, (-func.bm25(_FTS, 1.0, 2.0)).label("score"))
            .where(_FTS.op("MATCH")(bindparam("fts", fts_match(parts))))
            .order_by(_FTS_TABLE.c.rowid.desc())
            .limit(RANKED)
            .cte("hits")
            .prefix_with("MATERIALIZED")
        )
        return (
            select(doc.conversation_id, func.max(hits.c.score).label("rank"))
            .join(hits, hits.c.rowid == doc.id)
            .where(doc.workspace_id == workspace_id)
            .group_by(doc.conversation_id)
        )
    query = _tsquery(parts)
    newest = (
        select(doc.conversation_id, func.ts_rank(doc.document, query).label("score"))
        .where(doc.workspace_id == workspace_id, doc.document.op("@@")(query))
        .order_by(doc.id.desc())
        .limit(RANKED)
        .subquery("newest")
    )
    return select(newest.c.conversation_id, func.max(newest.c.score).label("rank")).group_by(
        newest.c.conversation_id
    )


def _newest_hits(
    dialect: str, workspace_id: int, parts: Sequence[Part], column: ColumnElement[int]
) -> Select[tuple[int]]:
    """``column`` (of ``inbox_search_doc``) of the workspace's matching documents, newest
    first. Both engines walk the hits in that order and stop at the caller's LIMIT: FTS5 reads
    its doclists by descending rowid (the document id), and PostgreSQL walks the primary key
    backwards for a common word (a rare one is found through the GIN index and sorted)."""
    doc = InboxSearchDoc
    if dialect == "sqlite":
        return (
            select(column)
            .select_from(_FTS_TABLE)
            .join(doc, doc.id == _FTS_TABLE.c.rowid)
            .where(_FTS.op("MATCH")(bindparam("fts", fts_match(parts))))
            .where(doc.workspace_id == workspace_id)
            .order_by(_FTS_TABLE.c.rowid.desc())
        )
    return (
        select(column)
        .where(doc.workspace_id == workspace_id, doc.document.op("@@")(_tsquery(parts)))
        .order_by(doc.id.desc())
    )


async def matching_conversations(
    session: AsyncSession, workspace_id: int, parts: Sequence[Part]
) -> tuple[frozenset[int], bool]:
    """The ids of the workspace's conversations with one of the newest :data:`CAPPED`
    documents matching every part (what a filter or a count needs; no scoring), and whether
    more documents match than that.

    Every matching conversation was too many for a common word: a word in 165,000 of
    1,000,000 messages meant materialising and counting 157,000 conversations (0.3-0.6 s).
    Like the mail and chat products that show "5,000+", a search stops at its newest
    :data:`CAPPED` hits, so the page can say its counts are lower bounds; below the cap this
    is every match. One walk answers both (the ids are read back rather than used as a
    subquery, which would walk the hits again to learn whether there are more)."""
    dialect = session.bind.dialect.name
    newest = _newest_hits(dialect, workspace_id, parts, InboxSearchDoc.conversation_id)
    found = list(await session.scalars(newest.limit(CAPPED + 1)))
    return frozenset(found[:CAPPED]), len(found) > CAPPED


# --- indexing ---------------------------------------------------------------------------------


async def has_pending(session: AsyncSession) -> bool:
    return (await session.scalar(select(InboxSearchPending.id).limit(1))) is not None


async def ensure_current(db: Database) -> int:
    """Index whatever is queued (cheap when nothing is); the number of queue rows processed."""
    async with db.read() as session:
        if not await has_pending(session):
            return 0
    return await catch_up_all(db)


async def catch_up_all(db: Database) -> int:
    """Drain the queue, one write transaction per batch; the number of queue rows processed."""
    total = 0
    while True:
        async with db.write() as session:
            done = await catch_up(session)
        total += done
        if done < BATCH:
            return total


async def catch_up(session: AsyncSession, limit: int = BATCH) -> int:
    """Build the documents of (at most ``limit``) queued rows in the caller's transaction and
    remove those rows from the queue; the number of rows processed."""
    dialect = session.bind.dialect.name
    if dialect == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    queued = (
        await session.execute(
            select(
                InboxSearchPending.id,
                InboxSearchPending.message_id,
                InboxSearchPending.conversation_id,
            )
            .order_by(InboxSearchPending.id)
            .limit(limit)
        )
    ).all()
    if not queued:
        await facets.compact(session)
        return 0
    message_ids = sorted({m for _, m, _ in queued if m is not None})
    conversation_ids = sorted({c for _, _, c in queued if c is not None})
    if message_ids:
        await _index_messages(session, dialect, message_ids)
    if conversation_ids:
        await _index_conversations(session, dialect, conversation_ids)
    await session.execute(
        delete(InboxSearchPending).where(InboxSearchPending.id.in_([row[0] for row in queued]))
    )
    # The documents just written changed intent facts and so the status counts: fold them.
    await facets.compact(session)
    return len(queued)


@dataclass(frozen=True, slots=True)
class _Source:
    workspace_id: int
    conversation_id: int
    message_id: int | None
    lang: str | None
    intent: str | None
    text: str


async def _index_messages(session: AsyncSession, dialect: str, ids: list[int]) -> None:
    await session.execute(delete(InboxSearchDoc).where(InboxSearchDoc.message_id.in_(ids)))
    rows = await session.execute(
        select(
            Message.id,
            Message.workspace_id,
            Message.conversation_id,
            Message.direction,
            Message.text,
            Message.lang,
            Message.sentiment_score,
        ).where(Message.id.in_(ids), Message.conversation_id.is_not(None))
    )
    sources = []
    for message_id, workspace_id, conversation_id, direction, body, lang, score in rows:
        intent = None
        if direction == "inbound" and body:
            intent = primary_intent(detect_intents(body, lang, sentiment_score=score))
        sources.append(_Source(workspace_id, conversation_id, message_id, lang, intent, body))
    await _store(session, dialect, sources)


async def _index_conversations(session: AsyncSession, dialect: str, ids: list[int]) -> None:
    await session.execute(
        delete(InboxSearchDoc).where(
            InboxSearchDoc.conversation_id.in_(ids), InboxSearchDoc.message_id.is_(None)
        )
    )
    rows = await session.execute(
        select(
            Conversation.id,
            Conversation.workspace_id,
            Conversation.subject,
            Contact.name,
            Contact.handle,
        )
        .outerjoin(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.id.in_(ids))
    )
    sources = [
        _Source(workspace_id, cid, None, None, None, f"{subject}\n{name or ''} {handle or ''}")
        for cid, workspace_id, subject, name, handle in rows
    ]
    await _store(session, dialect, sources)


async def _store(session: AsyncSession, dialect: str, sources: Iterable[_Source]) -> None:
    sources = list(sources)
    if not sources:
        return
    if dialect == "postgresql":
        # One statement for the whole batch (arrays, unnested on the server): a statement per
        # document cost a round trip and a run of the statement triggers (migration 0015) each.
        await session.execute(
            text(
                "INSERT INTO inbox_search_doc "
                "(workspace_id, conversation_id, message_id, lang, intent, document) "
                "SELECT w, c, m, l, i, setweight(to_tsvector(CAST(g AS regconfig), b), 'A') "
                "|| setweight(to_tsvector('simple', p), 'B') FROM unnest("
                "CAST(:w AS bigint[]), CAST(:c AS bigint[]), CAST(:m AS bigint[]), "
                "CAST(:l AS text[]), CAST(:i AS text[]), CAST(:g AS text[]), "
                "CAST(:b AS text[]), CAST(:p AS text[])) AS t(w, c, m, l, i, g, b, p)"
            ),
            {
                "w": [s.workspace_id for s in sources],
                "c": [s.conversation_id for s in sources],
                "m": [s.message_id for s in sources],
                "l": [s.lang for s in sources],
                "i": [s.intent for s in sources],
                "g": [algorithm_for(s.lang) or "simple" for s in sources],
                "b": [s.text[:MAX_TEXT] for s in sources],
                "p": [" ".join(t for t, _ in plain_terms(s.text)) for s in sources],
            },
        )
        return
    # SQLite has one writer at a time (this transaction began with BEGIN IMMEDIATE), so the
    # ids after the current maximum are ours to give: no RETURNING round trip per row.
    first = (await session.scalar(select(func.max(InboxSearchDoc.id)))) or 0
    docs, terms_rows = [], []
    for doc_id, source in enumerate(sources, start=first + 1):
        terms = plain_terms(source.text)
        docs.append(
            {
                "id": doc_id,
                "workspace_id": source.workspace_id,
                "conversation_id": source.conversation_id,
                "message_id": source.message_id,
                "lang": source.lang,
                "intent": source.intent,
            }
        )
        terms_rows.append(
            {
                "id": doc_id,
                "stemmed": stemmed_text(terms, source.lang),
                "plain": " ".join(t for t, _ in terms),
            }
        )
    await session.execute(
        text(
            "INSERT INTO inbox_search_doc (id, workspace_id, conversation_id, message_id, lang, "
            "intent) VALUES (:id, :workspace_id, :conversation_id, :message_id, :lang, :intent)"
        ),
        docs,
    )
    await session.execute(
        text("INSERT INTO inbox_search_fts (rowid, stemmed, plain) VALUES (:id, :stemmed, :plain)"),
        terms_rows,
    )


async def reindex(db: Database) -> int:
    """Rebuild every document from scratch; the number of messages and conversations indexed."""
    async with db.write() as session:
        await session.execute(delete(InboxSearchDoc))
        if db.dialect == "sqlite":
            await session.execute(text("DELETE FROM inbox_search_fts"))
        await session.execute(delete(InboxSearchPending))
        await session.execute(
            insert(InboxSearchPending).from_select(["message_id"], select(Message.id))
        )
        await session.execute(
            insert(InboxSearchPending).from_select(["conversation_id"], select(Conversation.id))
        )
    return await catch_up_all(db)


class _Indexer:
    """One background catch-up per database and process: ingest hands over and goes on."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.wanted = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        self.wanted.set()
        if self.task is None or self.task.done():
            self.task = self.db.background(self._run(), name="inbox-search-index")

    async def _run(self) -> None:
        while self.wanted.is_set():
            self.wanted.clear()
            try:
                await catch_up_all(self.db)
            except Exception:  # the queue keeps the rows; the next catch-up indexes them
                log.exception("indexing the inbox search after an ingest batch failed")


_indexers: weakref.WeakKeyDictionary[Database, _Indexer] = weakref.WeakKeyDictionary()


def commit_hook(db: Database) -> CommitHook:
    """An ingest ``on_commit`` hook: index what the batch queued (its messages, conversations
    and contacts) in the background, so searches right after ingest need not do it and
    ingest does not wait for it. Nothing depends on this for correctness: the queue is
    durable and every search catches up first (:func:`ensure_current`)."""
    indexer = _indexers.get(db)
    if indexer is None:
        indexer = _indexers[db] = _Indexer(db)

    async def hook(_channel: ChannelRef, message_ids: list[int]) -> None:
        if message_ids:
            indexer.poke()

    return hook
