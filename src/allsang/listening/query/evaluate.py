"""Evaluation of compiled query trees against one message.

:func:`lower` turns a parsed tree into a compiled one: token texts normalised (with or without
æ/ä ø/ö folding), wildcards turned into regular expressions. :class:`Doc` indexes a text's
token positions once per message so that every query evaluated on it shares the work.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from heapq import merge
from urllib.parse import urlsplit

from allsang.listening.query import ast
from allsang.listening.text import bare, normalize, tokenize

# Token indexes of a Doc: which form of each token a key is compared with.
BARE, NORM, RAW_BARE, RAW = "bare", "norm", "rawbare", "raw"


@dataclass(frozen=True, slots=True)
class Message:
    """What a query can look at: the text and the message attributes that fields test."""

    text: str
    lang: str | None = None
    sentiment: str | None = None
    author: str | None = None
    author_name: str | None = None
    url: str | None = None
    country: str | None = None
    platform: str | None = None
    channel: str | None = None
    title: str | None = None


class Doc:
    """One text's tokens, normalised, with lazily built position indexes."""

    __slots__ = ("_index", "fold", "haystack", "norms", "raws")

    def __init__(self, text: str, fold: bool) -> None:
        self.fold = fold
        self.raws = [t.text for t in tokenize(text)]
        self.norms = [normalize(t, fold) for t in self.raws]
        # Tokens joined by spaces: every literal anchor of a matching query occurs in it.
        self.haystack = " ".join(self.norms)
        self._index: dict[str, dict[str, list[int]]] = {}

    def index(self, kind: str) -> dict[str, list[int]]:
        found = self._index.get(kind)
        if found is None:
            forms = {
                BARE: lambda: map(bare, self.norms),
                NORM: lambda: self.norms,
                RAW_BARE: lambda: map(bare, self.raws),
                RAW: lambda: self.raws,
            }[kind]()
            found = {}
            for pos, form in enumerate(forms):
                found.setdefault(form, []).append(pos)
            self._index[kind] = found
        return found


# --- compiled nodes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CTerm:
    index: str
    key: str


@dataclass(frozen=True, slots=True)
class CPattern:
    index: str
    regex: re.Pattern[str]
    anchor: str


@dataclass(frozen=True, slots=True)
class CPhrase:
    terms: tuple[CTerm, ...]
    slop: int | None


@dataclass(frozen=True, slots=True)
class CNear:
    left: CNode
    right: CNode
    distance: int
    ordered: bool


@dataclass(frozen=True, slots=True)
class CAnd:
    children: tuple[CNode, ...]


@dataclass(frozen=True, slots=True)
class COr:
    children: tuple[CNode, ...]


@dataclass(frozen=True, slots=True)
class CNot:
    child: CNode


@dataclass(frozen=True, slots=True)
class CField:
    name: str
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class CTitle:
    child: CNode


CNode = CTerm | CPattern | CPhrase | CNear | CAnd | COr | CNot | CField | CTitle


def _term(text: str, fold: bool, raw: bool = False) -> CTerm:
    exact = text.startswith(("#", "@"))
    if raw:
        return CTerm(RAW if exact else RAW_BARE, text)
    return CTerm(NORM if exact else BARE, normalize(text, fold))


def lower(node: ast.Node, fold: bool) -> CNode:
    """Compile a parsed tree for evaluation with the given folding."""
    match node:
        case ast.Term(text):
            return _term(text, fold)
        case ast.Pattern(text):
            exact = text.startswith(("#", "@"))
            pieces = normalize(text, fold).rstrip("*").split("?")
            regex = ".".join(re.escape(p) for p in pieces) + (".*" if text.endswith("*") else "")
            return CPattern(NORM if exact else BARE, re.compile(regex, re.S), max(pieces, key=len))
        case ast.Phrase(texts, slop):
            return CPhrase(tuple(_term(t, fold) for t in texts), slop)
        case ast.Raw(texts):
            terms = tuple(_term(t, fold, raw=True) for t in texts)
            return terms[0] if len(terms) == 1 else CPhrase(terms, None)
        case ast.Near(left, right, distance, ordered):
            return CNear(lower(left, fold), lower(right, fold), distance, ordered)
        case ast.And(children):
            return CAnd(tuple(lower(c, fold) for c in children))
        case ast.Or(children):
            return COr(tuple(lower(c, fold) for c in children))
        case ast.Not(child):
            return CNot(lower(child, fold))
        case ast.Field(name, value):
            value = value.casefold()
            if name == "author":
                value = value.lstrip("@")
            values = frozenset({"nb", "nn"}) if name == "lang" and value == "no" else {value}
            return CField(name, frozenset(values))
        case ast.Title(child):
            return CTitle(lower(child, fold))
    raise TypeError(f"not a query node: {node!r}")  # pragma: no cover


# --- evaluation -----------------------------------------------------------------------------

Span = tuple[int, int]


def _positions(term: CTerm | CPattern, doc: Doc) -> list[int]:
    index = doc.index(term.index)
    if isinstance(term, CTerm):
        return index.get(term.key, [])
    found = [positions for key, positions in index.items() if term.regex.fullmatch(key)]
    return found[0] if len(found) == 1 else list(merge(*found))


def _phrase_starts(phrase: CPhrase, doc: Doc) -> list[int]:
    lists = [set(_positions(t, doc)) for t in phrase.terms[1:]]
    return [
        p
        for p in _positions(phrase.terms[0], doc)
        if all(p + i + 1 in s for i, s in enumerate(lists))
    ]


def _phrase_within(phrase: CPhrase, slop: int, doc: Doc) -> bool:
    needed: dict[CTerm, int] = {}
    for term in phrase.terms:
        needed[term] = needed.get(term, 0) + 1
    per_term = {t: _positions(t, doc) for t in needed}
    if any(len(per_term[t]) < k for t, k in needed.items()):
        return False
    width = len(phrase.terms) - 1 + slop
    for start in sorted({p for ps in per_term.values() for p in ps}):
        if all(
            bisect_right(ps, start + width) - bisect_left(ps, start) >= needed[t]
            for t, ps in per_term.items()
        ):
            return True
    return False


def spans(node: CNode, doc: Doc) -> list[Span]:
    """Token spans (first, last position) where a NEAR operand occurs, sorted by start."""
    if isinstance(node, CTerm | CPattern):
        return [(p, p) for p in _positions(node, doc)]
    if isinstance(node, CPhrase):
        last = len(node.terms) - 1
        return [(p, p + last) for p in _phrase_starts(node, doc)]
    if isinstance(node, COr):
        return sorted({s for child in node.children for s in spans(child, doc)})
    if isinstance(node, CNear):
        return sorted(set(_near(node, doc, first_only=False)))
    raise TypeError(f"no token spans for {node!r}")  # pragma: no cover - parser refuses it


def _near(node: CNear, doc: Doc, first_only: bool) -> list[Span]:
    left = spans(node.left, doc)
    if not left:
        return []
    right = spans(node.right, doc)
    if not right:
        return []
    by_start = right  # spans() returns them sorted by start
    starts = [s for s, _ in by_start]
    by_end = sorted(right, key=lambda s: s[1])
    ends = [e for _, e in by_end]
    found: list[Span] = []
    gap = node.distance
    for ls, le in left:
        # right operand after the left one, at most `gap` tokens in between
        for _, re_ in by_start[bisect_left(starts, le + 1) : bisect_right(starts, le + 1 + gap)]:
            found.append((ls, max(le, re_)))
            if first_only:
                return found
        if node.ordered:
            continue
        for rs, _ in by_end[bisect_left(ends, ls - 1 - gap) : bisect_right(ends, ls - 1)]:
            found.append((min(ls, rs), le))
            if first_only:
                return found
    return found


def _host(url: str) -> str:
    try:
        return (urlsplit(url if "//" in url else "//" + url).hostname or "").casefold()
    except ValueError:
        return ""


def _field(node: CField, msg: Message) -> bool:
    name = node.name
    if name == "site":
        host = _host(msg.url or "")
        return any(host == v or host.endswith("." + v) for v in node.values)
    if name == "url":
        url = (msg.url or "").casefold()
        return any(v in url for v in node.values)
    if name == "author":
        handle = (msg.author or "").casefold().lstrip("@")
        names = {handle, (msg.author_name or "").casefold()}
        return bool(node.values & names)
    value = getattr(msg, name)
    return value is not None and value.casefold() in node.values


def evaluate(node: CNode, doc: Doc, msg: Message, title: list[Doc | None]) -> bool:
    """Whether ``node`` matches; ``title`` is a one-slot cache for the title's Doc."""
    if isinstance(node, CTerm | CPattern):
        return bool(_positions(node, doc))
    if isinstance(node, CAnd):
        return all(evaluate(c, doc, msg, title) for c in node.children)
    if isinstance(node, COr):
        return any(evaluate(c, doc, msg, title) for c in node.children)
    if isinstance(node, CNot):
        return not evaluate(node.child, doc, msg, title)
    if isinstance(node, CPhrase):
        if node.slop is None:
            return bool(_phrase_starts(node, doc))
        return _phrase_within(node, node.slop, doc)
    if isinstance(node, CNear):
        return bool(_near(node, doc, first_only=True))
    if isinstance(node, CField):
        return _field(node, msg)
    if isinstance(node, CTitle):
        if title[0] is None:
            title[0] = Doc(msg.title or "", doc.fold)
        return evaluate(node.child, title[0], msg, title)
    raise TypeError(f"not a compiled query node: {node!r}")  # pragma: no cover


def _score(strings: set[str]) -> int:
    # Longer anchors hit fewer messages. Each alternative costs more than a letter gains: an
    # OR-group of generic words (support OR kundservice) guards a brand name badly.
    return min(map(len, strings)) * 4 - 8 * len(strings)


def anchors(node: CNode, fold: bool) -> set[str] | None:
    """Anchors that a match needs (one of them at least), or None if none can be promised.

    Anchors are normalised like :attr:`Doc.haystack`, so a raw (case-exact) term's anchor is
    its normal form: the automaton over-approximates and evaluation decides.
    """
    if isinstance(node, CTerm):
        return {normalize(node.key, fold) if node.index in (RAW, RAW_BARE) else node.key}
    if isinstance(node, CPattern):
        return {node.anchor}
    if isinstance(node, CPhrase):
        return _best([anchors(t, fold) for t in node.terms])
    if isinstance(node, CNear):
        return _best([anchors(node.left, fold), anchors(node.right, fold)])
    if isinstance(node, CAnd):
        return _best([anchors(c, fold) for c in node.children])
    if isinstance(node, COr):
        union: set[str] = set()
        for child in node.children:
            found = anchors(child, fold)
            if found is None:
                return None
            union |= found
        return union
    return None  # NOT, fields and title: nothing in the text is required


def _best(options: list[set[str] | None]) -> set[str] | None:
    usable = [o for o in options if o]
    if not usable:
        return None
    return max(usable, key=_score)
