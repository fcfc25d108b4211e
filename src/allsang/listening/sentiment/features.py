"""Features of a text for the sentiment model, computed the same way in training and inference.

Sparse features (names, looked up in the model's vocabulary):

* ``w:<token>`` — lower-cased word, emoji or emoticon; ``w:¬<token>`` inside a negation scope;
* ``b:<a> <b>`` — adjacent word pairs;
* ``c:<gram>`` — character 4-grams of words padded with ``<`` and ``>``, which carry over
  between Danish, Norwegian and Swedish spellings and inflections.

Dense features (:data:`DENSE`): sums of lexicon valences (AFINN sv/da/no/en, VADER-sv,
emoticons, emoji, a small Finnish list), with a word's valence flipped and halved inside a
negation scope — these carry polarity to languages and domains the n-grams never saw.
"""

from __future__ import annotations

import math
import re
from itertools import pairwise

from allsang.listening.text import tokenize

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
NEGATION_SCOPE = 3  # tokens after a negator that it flips
DENSE = ("lex_pos", "lex_neg", "lex_any_pos", "lex_any_neg", "emoji_pos", "emoji_neg", "exclaim")
_EMOTICON_RE = re.compile(r"(?<!\S)[:;=8xX][-'^o]?[)(DPpO/\\|\]\[*3]+(?!\w)|<3")
_WORD_KINDS = ("word", "tag")


def lexicon_key(lang: str | None) -> str:
    """Which lexicon to use for a language (``no`` covers nb and nn; unknown uses all)."""
    if lang in ("nb", "nn", "no"):
        return "no"
    return lang if lang in ("sv", "da", "en", "fi") else "all"


def extract(
    text: str, lang: str | None, lexicons: dict[str, dict[str, float]]
) -> tuple[list[str], list[float]]:
    """Sparse feature names (duplicates removed, order kept) and the :data:`DENSE` values."""
    negators = NEGATORS.get("nb" if lang == "no" else lang or "", ALL_NEGATORS)
    lexicon = lexicons[lexicon_key(lang)]
    emoji = lexicons["emoji"]
    words: list[str] = []
    names: list[str] = []
    pos = neg = emoji_pos = emoji_neg = 0.0
    scope = 0
    for token in tokenize(text):
        tok = token.text.lower()
        if token.kind == "tag":
            tok = tok[1:]
        elif token.kind in ("url", "handle"):
            continue
        if token.kind == "emoji":
            value = emoji.get(tok, 0.0)
            emoji_pos += max(value, 0.0)
            emoji_neg += max(-value, 0.0)
            names.append("w:" + tok)
            continue
        negated = scope > 0
        scope -= 1
        if tok in negators or tok.endswith("n't"):
            scope = NEGATION_SCOPE
            names.append("w:" + tok)
            words.append(tok)
            continue
        value = lexicon.get(tok, 0.0)
        if negated:
            value = -0.5 * value
            names.append("w:¬" + tok)
        else:
            names.append("w:" + tok)
        pos += max(value, 0.0)
        neg += max(-value, 0.0)
        words.append(tok)
        padded = f"<{tok}>"
        names.extend("c:" + padded[i : i + 4] for i in range(len(padded) - 3))
    for a, b in pairwise(words):
        names.append(f"b:{a} {b}")
    for emoticon in _EMOTICON_RE.findall(text):
        value = emoji.get(emoticon, 0.0)
        emoji_pos += max(value, 0.0)
        emoji_neg += max(-value, 0.0)
        names.append("w:" + emoticon)
    dense = [
        math.log1p(pos),
        math.log1p(neg),
        float(pos > 0),
        float(neg > 0),
        math.log1p(emoji_pos),
        math.log1p(emoji_neg),
        min(text.count("!"), 3) / 3,
    ]
    return list(dict.fromkeys(names)), dense
