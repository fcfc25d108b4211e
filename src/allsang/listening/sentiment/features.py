"""Features of a text for the sentiment model, computed the same way in training and inference.

A text is read once (:func:`read`) into **units**, **bigrams** and **dense** values:

* a unit is a distinct lower-cased word, hashtag word or emoji, with a flag saying whether it
  stands in a negation scope (up to :data:`NEGATION_SCOPE` words after ikke/inte/ikkje/not …);
* bigrams are distinct adjacent word pairs;
* dense values (:data:`DENSE`) are lexicon sums (AFINN sv/da/no/en, VADER-sv, emoticons,
  emoji, a small Finnish list) with a word's valence flipped and halved when negated, plus a
  few shape signals — these carry polarity to languages and domains the n-grams never saw.

A unit's sparse feature names (:func:`unit_names`) are ``w:<word>`` (``w:¬<word>`` when
negated) and the character n-grams of ``<word>``, which carry over between Danish, Norwegian
and Swedish spellings and inflections; a bigram's is ``b:<a> <b>``. Because a unit's features
do not depend on its neighbours, the model can sum them once per distinct word and keep the
sums (see :class:`~allsang.listening.sentiment.model.SentimentModel`): that is what makes
inference cheap. A text's sparse vector is the count of each name over its units and bigrams.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import NamedTuple

NEGATORS: dict[str, frozenset[str]] = {
    "sv": frozenset(["inte", "ej", "icke", "aldrig", "ingen", "inga", "inget", "varken", "utan"]),
    "nb": frozenset(["ikke", "aldri", "ingen", "intet", "ingenting", "verken", "uten"]),
    "nn": frozenset(["ikkje", "ikke", "aldri", "ingen", "inga", "ikkje", "noko", "utan"]),
    "da": frozenset(["ikke", "ej", "aldrig", "ingen", "intet", "ingenting", "hverken", "uden"]),
    "fi": frozenset(["ei", "en", "et", "emme", "ette", "eivät", "älä", "ilman"]),
    "en": frozenset(
        ["not", "no", "never", "nobody", "nothing", "none", "neither", "nor", "cannot", "without"]
    ),
}
ALL_NEGATORS = frozenset().union(*NEGATORS.values()) - {"en", "et", "ei", "no"}
NEGATION_SCOPE = 3  # words after a negator that it flips
DENSE = (
    "lex_pos",
    "lex_neg",
    "lex_any_pos",
    "lex_any_neg",
    "other_lex_pos",
    "other_lex_neg",
    "emoji_pos",
    "emoji_neg",
    "exclaim",
    "question",
    "length",
)
MAX_CHARS = 5000  # sentiment of a longer text is read from its start
_EMOJI = "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff"
# Groups: a word (a hashtag without its #) or an emoji; URLs and handles match with both
# groups empty and so are skipped.
_TOKEN_RE = re.compile(
    rf"(?:https?://|www\.)\S+|@\w+(?:[.@-]\w+)*|#?(\w+(?:['’]\w+)*)|([{_EMOJI}])"
)
_EMOTICON_RE = re.compile(r"(?<!\S)[:;=8xX][-'^o]?[)(DPpO/\\|\]\[*3]+(?!\w)|<3")


class Reading(NamedTuple):
    """What :func:`read` finds in a text: ``units`` as ``(token, negated)`` in order of first
    appearance, distinct ``bigrams`` as ``"a b"``, ``emoticons``, and the :data:`DENSE` values."""

    units: list[tuple[str, bool]]
    bigrams: list[str]
    emoticons: list[str]
    dense: list[float]


def lexicon_key(lang: str | None) -> str:
    """Which lexicon to use for a language (``no`` covers nb and nn; unknown uses all)."""
    if lang in ("nb", "nn", "no"):
        return "no"
    return lang if lang in ("sv", "da", "en", "fi") else "all"


def read(text: str, lang: str | None, lexicons: dict[str, dict[str, float]]) -> Reading:
    """Read ``text`` (any ``str``) in ``lang`` into units, bigrams and dense features."""
    text = text[:MAX_CHARS]
    negators = NEGATORS.get("nb" if lang == "no" else lang or "", ALL_NEGATORS)
    lexicon = lexicons[lexicon_key(lang)]
    every = lexicons["all"]
    emoji = lexicons["emoji"]
    units: dict[tuple[str, bool], None] = {}
    bigrams: dict[str, None] = {}
    pos = neg = other_pos = other_neg = emoji_pos = emoji_neg = 0.0
    scope = 0
    previous = ""
    words = 0
    for word, pictograph in _TOKEN_RE.findall(text.lower()):
        if pictograph:
            value = emoji.get(pictograph, 0.0)
            if value > 0:
                emoji_pos += value
            elif value < 0:
                emoji_neg -= value
            units[(pictograph, False)] = None
            continue
        if not word:
            continue
        words += 1
        if previous:
            bigrams[f"{previous} {word}"] = None
        previous = word
        if word in negators or word.endswith("n't"):
            scope = NEGATION_SCOPE
            units[(word, False)] = None
            continue
        negated = scope > 0
        scope -= 1
        units[(word, negated)] = None
        value = lexicon.get(word)
        if value is None:
            value = every.get(word)
            if value is None:
                continue
            if negated:
                value = -0.5 * value
            if value > 0:
                other_pos += value
            else:
                other_neg -= value
            continue
        if negated:
            value = -0.5 * value
        if value > 0:
            pos += value
        else:
            neg -= value
    emoticons: list[str] = []
    if ":" in text or ";" in text or "=" in text or "<3" in text:
        for emoticon in _EMOTICON_RE.findall(text):
            value = emoji.get(emoticon, 0.0)
            if value > 0:
                emoji_pos += value
            elif value < 0:
                emoji_neg -= value
            emoticons.append(emoticon)
    dense = [
        math.log1p(pos),
        math.log1p(neg),
        float(pos > 0),
        float(neg > 0),
        math.log1p(other_pos),
        math.log1p(other_neg),
        math.log1p(emoji_pos),
        math.log1p(emoji_neg),
        min(text.count("!"), 3) / 3,
        float("?" in text),
        math.log1p(words) / 4,
    ]
    return Reading(list(units), list(bigrams), emoticons, dense)


def unit_names(token: str, negated: bool, char_n: Sequence[int]) -> list[str]:
    """The sparse feature names of one unit: the token itself and its character n-grams."""
    names = ["w:¬" + token if negated else "w:" + token]
    if len(token) > 1 or token.isalnum():
        padded = f"<{token}>"
        for n in char_n:
            names.extend("c:" + padded[i : i + n] for i in range(len(padded) - n + 1))
    return names


def names(reading: Reading, char_n: Sequence[int]) -> list[str]:
    """All sparse feature names of a reading, with repeats (a text's vector counts them)."""
    out = [name for token, negated in reading.units for name in unit_names(token, negated, char_n)]
    out.extend("b:" + pair for pair in reading.bigrams)
    out.extend("w:" + emoticon for emoticon in dict.fromkeys(reading.emoticons))
    return out
