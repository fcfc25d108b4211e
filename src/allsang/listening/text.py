"""Tokenisation shared by the query matcher, language identification and sentiment.

A token is a URL, a ``#hashtag``, an ``@handle``, a run of word characters or a single emoji /
pictograph. Punctuation and white space separate tokens and are dropped. Positions are token
indices, which is what proximity operators count.

Normalisation (:func:`normalize`) is ``str.casefold`` — chosen over ``lower`` because it is a
per-character mapping (``lower`` treats a final sigma by context), so the normal form of a
string is the concatenation of the normal forms of its pieces; the matcher relies on that to
find literal anchors inside the normalised text. Diacritics are kept (å ≠ a); the optional
folding maps ä→æ and ö→ø so one spelling covers Swedish and Danish/Norwegian.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EMOJI = (
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, symbols and pictographs ext.
    "\u2600-\u27bf"  # misc symbols and dingbats
    "\u2b00-\u2bff"
    "\u2300-\u23ff"
)
TOKEN_RE = re.compile(
    r"(?P<url>(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]])"
    r"|(?P<tag>#\w+)"
    r"|(?P<handle>@\w+(?:[.@-]\w+)*)"
    r"|(?P<word>\w+(?:['’]\w+)*)"
    rf"|(?P<emoji>[{_EMOJI}])"
)
_FOLD = str.maketrans({"ä": "æ", "ö": "ø"})

KINDS = ("url", "tag", "handle", "word", "emoji")


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its text as written, its kind (one of :data:`KINDS`) and its offset."""

    text: str
    kind: str
    start: int


def normalize(text: str, fold: bool = False) -> str:
    """Case-insensitive normal form; with ``fold`` also ä→æ and ö→ø (after casefolding)."""
    folded = text.casefold()
    return folded.translate(_FOLD) if fold else folded


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens in order of appearance (never raises on any ``str``)."""
    return [Token(m.group(), m.lastgroup or "word", m.start()) for m in TOKEN_RE.finditer(text)]


def bare(norm: str) -> str:
    """The form a plain word is compared with: a hashtag without its ``#``, anything else as is.

    This is why the query ``volvo`` also finds ``#Volvo`` while ``#volvo`` finds only the tag.
    """
    return norm[1:] if norm.startswith("#") else norm
