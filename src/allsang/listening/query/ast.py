"""The syntax tree of a listening query, as the parser produces it (texts as written)."""

from __future__ import annotations

from dataclasses import dataclass

LANGS = ("sv", "nb", "nn", "no", "da", "fi", "en", "other")
SENTIMENTS = ("pos", "neu", "neg")
# Fields compared with a message attribute rather than searched in the text.
META_FIELDS = ("lang", "author", "site", "url", "country", "platform", "sentiment", "channel")
FIELDS = (*META_FIELDS, "title", "raw")


@dataclass(frozen=True, slots=True)
class Term:
    """One token as written (a word, ``#tag``, ``@handle``, URL or emoji)."""

    text: str


@dataclass(frozen=True, slots=True)
class Pattern:
    """A one-token wildcard: ``?`` is one character, a final ``*`` any run of characters."""

    text: str


@dataclass(frozen=True, slots=True)
class Phrase:
    """Tokens in this order next to each other (``slop`` None), or within a window (``"…"~N``).

    With slop N all tokens must occur at distinct positions spanning at most ``len + N``
    positions, in any order: N other tokens may be interleaved.
    """

    texts: tuple[str, ...]
    slop: int | None = None


@dataclass(frozen=True, slots=True)
class Raw:
    """``raw:"…"``: like an exact phrase, but case-exact and never folded."""

    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Near:
    """``left NEAR/N right``: at most N tokens between them; ``ordered`` = left comes first."""

    left: Node
    right: Node
    distance: int
    ordered: bool


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Field:
    """A message attribute test, e.g. ``lang:no`` or ``site:dn.se`` (value as written)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Title:
    """``title:…``: the term, pattern or phrase searched in the message title."""

    child: Node


Node = Term | Pattern | Phrase | Raw | Near | And | Or | Not | Field | Title
