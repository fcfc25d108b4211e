"""Language identification for sv, nb, nn, da, fi, en and "other", offline.

Built on ``py3langid`` (its model ships in the wheel). The model is restricted to our six
languages plus a set of common *decoy* languages: a text that scores best as German or Dutch
is reported as ``"other"`` instead of being forced into the closest Nordic label, and the
restricted set keeps classification about twice as fast as the full 140-language model.
``no`` (the model's Bokmål label) is reported as ``nb``.

URLs, ``@handles`` and ``#hashtags`` are removed first: they are mostly English or names and
swamp short posts. Text without letters (empty, emoji only) is ``("other", 0.0)``; texts with
few letters get a capped confidence because the model is overconfident on them.
"""

from __future__ import annotations

import re
from functools import cache
from typing import NamedTuple

from py3langid.langid import MODEL_FILE, LanguageIdentifier

LANGUAGES = ("sv", "nb", "nn", "da", "fi", "en")
OTHER = "other"
_DECOYS = ("de", "nl", "fr", "es", "it", "pt", "pl", "et", "is", "ru", "tr", "ja", "zh")
_MODEL_LABELS = {"no": "nb"}
_STRIP_RE = re.compile(r"(?:https?://|www\.)\S+|[@#]\w+(?:[.@-]\w+)*")
_LETTER_RE = re.compile(r"[^\W\d_]")
MAX_CHARS = 2000  # more text does not change the answer, it only costs time
SHORT = 12  # letters below which the model's confidence is not trusted


class LanguageGuess(NamedTuple):
    """The detected language (one of :data:`LANGUAGES` or ``"other"``) and a confidence 0…1."""

    lang: str
    confidence: float


@cache
def _identifier() -> LanguageIdentifier:
    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(["sv", "no", "nn", "da", "fi", "en", *_DECOYS])
    return ident


def clean(text: str) -> str:
    """The part of ``text`` worth detecting: without URLs, handles and hashtags."""
    return _STRIP_RE.sub(" ", text[:MAX_CHARS])


def detect(text: str) -> LanguageGuess:
    """Detect the language of ``text``; never raises for any ``str``."""
    cleaned = clean(text)
    letters = len(_LETTER_RE.findall(cleaned, 0, 200))
    if not letters:
        return LanguageGuess(OTHER, 0.0)
    label, prob = _identifier().classify(cleaned)
    lang = _MODEL_LABELS.get(label, label)
    confidence = float(prob)
    if letters < SHORT:
        confidence = min(confidence, 0.3 + 0.5 * letters / SHORT)
    if lang not in LANGUAGES:
        return LanguageGuess(OTHER, round(confidence, 4))
    return LanguageGuess(lang, round(confidence, 4))
