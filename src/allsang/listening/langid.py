"""Language identification for sv, nb, nn, da, fi, en and "other", offline.

Built on the naive-Bayes model that ships in the ``py3langid`` wheel, restricted to our six
languages plus a set of common *decoy* languages: a text that scores best as German or Dutch
is reported as ``"other"`` instead of being forced into the closest Nordic label. ``no`` (the
model's Bokmål label) is reported as ``nb``.

Speed comes from scoring **words**, not the whole byte string: a text's score is the model's
prior plus the sum of its distinct words' scores, each word scored once as ``" word "`` by
py3langid's byte n-gram automaton and then kept in a bounded table. Only n-grams that span
two words are lost, which costs no measurable accuracy on our sets (``scripts/eval_langid.py``)
and turns ~100 µs of per-byte Python into a few dictionary look-ups and one numpy sum.

URLs, ``@handles`` and ``#hashtags`` are skipped: they are mostly English or names and swamp
short posts. Text without letters (empty, emoji only) is ``("other", 0.0)``; texts with few
letters get a capped confidence because the model is overconfident on them.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import NamedTuple

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

LANGUAGES = ("sv", "nb", "nn", "da", "fi", "en")
OTHER = "other"
_DECOYS = ("de", "nl", "fr", "es", "it", "pt", "pl", "et", "is", "ru", "tr", "ja", "zh")
_MODEL_LABELS = {"no": "nb"}
# One pass finds the words and skips URLs, handles and tags (their group stays empty).
_WORD_RE = re.compile(r"(?:https?://|www\.)\S+|[@#]\w+(?:[.@-]\w+)*|([^\W\d_]+(?:['’][^\W\d_]+)*)")
MAX_CHARS = 2000  # more text does not change the answer, it only costs time
SHORT = 12  # letters below which the model's confidence is not trusted
TABLE_ROWS = 1 << 16  # distinct words remembered before the table starts afresh


class LanguageGuess(NamedTuple):
    """The detected language (one of :data:`LANGUAGES` or ``"other"``) and a confidence 0…1."""

    lang: str
    confidence: float


class LanguageIdentifier6:
    """The restricted py3langid model with a table of per-word scores.

    Not thread-safe (the word table grows on use); :func:`detect` uses one instance per
    process, which is what the single-threaded enrichers need.
    """

    def __init__(self) -> None:
        ident = LanguageIdentifier.from_model_file(MODEL_FILE)
        ident.set_languages(["sv", "no", "nn", "da", "fi", "en", *_DECOYS])
        self._ident = ident
        self.labels = [_MODEL_LABELS.get(c, c) for c in ident.nb_classes]
        self._ptc = np.asarray(ident.nb_ptc, dtype=np.float64)
        self._rows: dict[str, int] = {}
        # Row 0 holds the prior, so one sum over a text's rows gives its whole score.
        self._table = np.zeros((TABLE_ROWS + 1, len(self.labels)))
        self._table[0] = np.asarray(ident.nb_pc, dtype=np.float64)

    def _row(self, word: str) -> int:
        if len(self._rows) >= TABLE_ROWS:
            self._rows.clear()
        ident = self._ident
        data = f" {word} ".encode("utf-8", errors="surrogatepass")
        visits = visit_counts(ident.tk_nextmove, ident._rowbase, ident.tk_output, data)
        row = len(self._rows) + 1
        if visits:
            idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
            counts = np.fromiter(visits.values(), dtype=np.float64, count=len(visits))
            self._table[row] = np.log1p(counts) @ self._ptc[idx]
        else:
            self._table[row] = 0.0
        self._rows[word] = row
        return row

    def detect(self, text: str) -> LanguageGuess:
        """Detect the language of ``text``; never raises for any ``str``."""
        words = [w for w in _WORD_RE.findall(text[:MAX_CHARS].lower()) if w]
        if not words:
            return LanguageGuess(OTHER, 0.0)
        rows = self._rows
        idx = [0]
        for word in dict.fromkeys(words):
            row = rows.get(word)
            idx.append(self._row(word) if row is None else row)
        if len(rows) < len(idx) - 1:  # the table started afresh while filling: rescore
            return self.detect(text)
        letters = sum(map(len, words))
        # Few numpy calls: on a vector of 19 scores, plain Python is cheaper than more.
        scores: list[float] = self._table[idx].sum(axis=0).tolist()
        top = max(scores)
        best = scores.index(top)
        # py3langid's calibration: scores divided by the square root of the text's length.
        temperature = 1.0 / math.sqrt(letters + 1)
        confidence = 1.0 / sum([math.exp((s - top) * temperature) for s in scores])
        if letters < SHORT:
            confidence = min(confidence, 0.3 + 0.5 * letters / SHORT)
        lang = self.labels[best]
        return LanguageGuess(lang if lang in LANGUAGES else OTHER, round(confidence, 4))


@cache
def identifier() -> LanguageIdentifier6:
    """The process-wide identifier (its model is loaded on first use)."""
    return LanguageIdentifier6()


def detect(text: str) -> LanguageGuess:
    """Detect the language of ``text``; never raises for any ``str``."""
    return identifier().detect(text)
