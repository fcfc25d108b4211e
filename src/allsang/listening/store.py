"""Saved listening queries and the figures the listening pages show.

* Saving checks everything first — the name, then the query through the real parser and
  compiler — and only then writes, so an invalid query is refused with its position and reason
  and nothing is half-saved.
* :func:`highlight` marks the words of a text that a query's positive terms match, escaping
  everything else: message text is never trusted.
* :func:`volume` matches the stored messages of a window against the compiled queries (at most
  ``cap`` messages, newest first) and counts them per query and day in the workspace's time
  zone, with their sentiment; share of voice is each query's part of all matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import ListeningQuery, Message
from allsang.listening.query import Message as QueryMessage
from allsang.listening.query import QuerySet, QuerySyntaxError, ast, compile_queries, parse
from allsang.listening.text import bare, normalize, tokenize

MAX_NAME = 200
DEFAULT_CAP = 5000


class InvalidName(ValueError):
    """The query's name is empty, too long or already used in the workspace."""


def check_query(text: str, fold: bool = False) -> QuerySyntaxError | None:
    """None if ``text`` is a usable query, else the error (with ``reason`` and ``column``)."""
    try:
        compile_queries([("check", text)], fold=fold)
    except QuerySyntaxError as exc:
        exc.query_id = None
        return exc
    return None


async def save_query(
    session: AsyncSession,
    workspace_id: int,
    *,
    name: str,
    query: str,
    fold: bool = False,
    active: bool = True,
    person_id: int | None = None,
    existing: ListeningQuery | None = None,
) -> ListeningQuery:
    """Create a query (or update ``existing``) after checking it completely.

    Raises :class:`InvalidName` or :class:`QuerySyntaxError` before anything is written.
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidName("empty or too long")
    error = check_query(query, fold)
    if error is not None:
        raise error
    clash = await session.scalar(
        select(ListeningQuery.id).where(
            ListeningQuery.workspace_id == workspace_id,
            func.lower(ListeningQuery.name) == name.lower(),
        )
    )
    if clash is not None and (existing is None or clash != existing.id):
        raise InvalidName("taken")
    row = existing or ListeningQuery(workspace_id=workspace_id, created_by_id=person_id)
    row.name, row.query, row.fold, row.active = name, query, fold, active
    if existing is None:
        session.add(row)
    await session.flush()
    return row


async def list_queries(
    session: AsyncSession, workspace_id: int, *, active_only: bool = False
) -> list[ListeningQuery]:
    statement = select(ListeningQuery).where(ListeningQuery.workspace_id == workspace_id)
    if active_only:
        statement = statement.where(ListeningQuery.active.is_(True))
    return list(await session.scalars(statement.order_by(ListeningQuery.name)))


async def get_query(
    session: AsyncSession, workspace_id: int, query_id: int
) -> ListeningQuery | None:
    row = await session.get(ListeningQuery, query_id)
    return row if row is not None and row.workspace_id == workspace_id else None


def query_message(message: Message) -> QueryMessage:
    """What a query can see of a stored message."""
    extra = message.extra or {}
    author = extra.get("author") if isinstance(extra.get("author"), dict) else {}
    return QueryMessage(
        text=message.text,
        lang=message.lang,
        sentiment=message.sentiment,
        author=author.get("handle") if isinstance(author.get("handle"), str) else None,
        author_name=author.get("name") if isinstance(author.get("name"), str) else None,
        url=message.url or None,
        title=extra.get("title") if isinstance(extra.get("title"), str) else None,
    )


async def recent_messages(
    session: AsyncSession, workspace_id: int, *, limit: int = 500
) -> list[Message]:
    """The workspace's newest inbound messages, newest first."""
    return list(
        await session.scalars(
            select(Message)
            .where(Message.workspace_id == workspace_id, Message.direction == "inbound")
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(limit)
        )
    )


# --- highlighting ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Marker:
    """The positive terms of a query, as the matcher compares them."""

    words: frozenset[str]  # compared with a token's bare normal form
    exact: frozenset[str]  # #tags and @handles, compared with the normal form
    raw: frozenset[str]  # case-exact
    patterns: tuple[re.Pattern[str], ...]


def _collect(node: ast.Node, negated: bool, out: dict[str, set[object]]) -> None:
    match node:
        case ast.Not(child):
            _collect(child, not negated, out)
        case ast.And(children) | ast.Or(children):
            for child in children:
                _collect(child, negated, out)
        case ast.Near(left, right, _d, _o):
            _collect(left, negated, out)
            _collect(right, negated, out)
        case ast.Title(child):
            _collect(child, negated, out)
        case _ if negated:
            return
        case ast.Term(text):
            out["exact" if text.startswith(("#", "@")) else "words"].add(text)
        case ast.Phrase(texts, _slop):
            for text in texts:
                out["exact" if text.startswith(("#", "@")) else "words"].add(text)
        case ast.Raw(texts):
            out["raw"].update(bare(t) for t in texts)
        case ast.Pattern(text):
            out["patterns"].add(text)


def _marker(query: str, fold: bool) -> _Marker:
    out: dict[str, set[object]] = {"words": set(), "exact": set(), "raw": set(), "patterns": set()}
    _collect(parse(query), False, out)
    patterns = []
    for text in sorted(str(p) for p in out["patterns"]):
        pieces = normalize(text, fold).rstrip("*").split("?")
        regex = ".".join(re.escape(p) for p in pieces) + (r"\w*" if text.endswith("*") else "")
        patterns.append(re.compile(regex))
    return _Marker(
        frozenset(normalize(str(w), fold) for w in out["words"]),
        frozenset(normalize(str(w), fold) for w in out["exact"]),
        frozenset(str(w) for w in out["raw"]),
        tuple(patterns),
    )


def _marks(marker: _Marker, token: str, fold: bool) -> bool:
    norm = normalize(token, fold)
    return (
        bare(norm) in marker.words
        or norm in marker.exact
        or bare(token) in marker.raw
        or any(p.fullmatch(bare(norm)) or p.fullmatch(norm) for p in marker.patterns)
    )


def highlight(text: str, query: str, fold: bool = False) -> Markup:
    """``text`` as safe HTML with ``<mark>`` around the tokens the query's positive terms
    match (words under NOT are not marked). Everything else is escaped. ``query`` must parse."""
    marker = _marker(query, fold)
    parts: list[str] = []
    at = 0
    for token in tokenize(text):
        if _marks(marker, token.text, fold):
            end = token.start + len(token.text)
            parts.append(str(escape(text[at : token.start])))
            parts.append(f"<mark>{escape(token.text)}</mark>")
            at = end
    parts.append(str(escape(text[at:])))
    return Markup("".join(parts))


# --- volume, sentiment and share of voice ---------------------------------------------------


@dataclass
class DayFigures:
    """One query's matches on one day."""

    day: date
    count: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    score_sum: float = 0.0
    scored: int = 0

    @property
    def mean_sentiment(self) -> float | None:
        return round(self.score_sum / self.scored, 3) if self.scored else None


@dataclass
class Volume:
    """Matches per query and day over a window, and share of voice."""

    days: list[date]
    per_query: dict[str, list[DayFigures]] = field(default_factory=dict)
    examined: int = 0
    capped: bool = False

    def total(self, query_id: str) -> int:
        return sum(d.count for d in self.per_query.get(query_id, []))

    def share_of_voice(self) -> dict[str, float]:
        """Each query's share of all matches in the window (0…1; all zero if none matched)."""
        totals = {q: self.total(q) for q in self.per_query}
        grand = sum(totals.values())
        return {q: (t / grand if grand else 0.0) for q, t in totals.items()}


def window_days(end: datetime, days: int, timezone: str) -> tuple[datetime, list[date]]:
    """The start instant and the local dates of the ``days`` days ending with ``end``'s day."""
    zone = ZoneInfo(timezone)
    last = end.astimezone(zone).date()
    first = last - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    return start, [first + timedelta(days=n) for n in range(days)]


async def volume(
    session: AsyncSession,
    workspace_id: int,
    queries: Sequence[tuple[str, str, bool]],
    *,
    end: datetime,
    days: int = 14,
    timezone: str = "UTC",
    cap: int = DEFAULT_CAP,
) -> Volume:
    """Count the inbound messages of the window that each ``(id, text, fold)`` query matches.

    At most ``cap`` messages (the newest) are examined; ``capped`` says when more existed.
    """
    start, day_list = window_days(end, days, timezone)
    zone = ZoneInfo(timezone)
    result = Volume(days=day_list)
    index = {d: n for n, d in enumerate(day_list)}
    for query_id, _text, _fold in queries:
        result.per_query[query_id] = [DayFigures(d) for d in day_list]
    if not queries:
        return result
    sets: list[QuerySet] = []
    for fold in (False, True):
        chosen = [(qid, text) for qid, text, f in queries if f is fold]
        if chosen:
            sets.append(compile_queries(chosen, fold=fold))
    rows = list(
        await session.scalars(
            select(Message)
            .where(
                Message.workspace_id == workspace_id,
                Message.direction == "inbound",
                Message.created_at >= start,
                Message.created_at <= end,
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(cap + 1)
        )
    )
    result.capped = len(rows) > cap
    for message in rows[:cap]:
        result.examined += 1
        slot = index.get(message.created_at.astimezone(zone).date())
        if slot is None:
            continue
        seen = query_message(message)
        for compiled in sets:
            for query_id in compiled.match(seen):
                figures = result.per_query[query_id][slot]
                figures.count += 1
                if message.sentiment == "pos":
                    figures.positive += 1
                elif message.sentiment == "neg":
                    figures.negative += 1
                elif message.sentiment == "neu":
                    figures.neutral += 1
                if message.sentiment_score is not None:
                    figures.score_sum += message.sentiment_score
                    figures.scored += 1
    return result
