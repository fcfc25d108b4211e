"""The shipped sentiment model: a linear model over n-gram and lexicon features.

Loading reads ``model/model.json`` (vocabulary, classes, lexicons, settings) and
``model/weights.bin`` (float32) with numpy — no pickle, no scikit-learn.
``scripts/train_sentiment.py`` writes them.

Prediction sums, for each distinct word of the text, the weights of the word's own features
(the word and its character n-grams, see :mod:`.features`). Those sums are kept in a bounded
table keyed by ``(word, negated)``, so a word seen before costs one dictionary look-up; the
result is exactly the linear model's (``features``/``logits`` compute the same thing the long
way, for explanations and corrections).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from allsang.listening.sentiment.features import DENSE, Reading, names, read, unit_names

if TYPE_CHECKING:
    from allsang.listening.sentiment.corrections import Corrections

MODEL_DIR = Path(__file__).parent / "model"
LABELS = ("neg", "neu", "pos")
FORMAT = 2
UNIT_TABLE = 200_000  # distinct (word, negated) sums remembered before starting afresh

Weights = tuple[float, float, float, int]  # per-class sums and how many features they cover


@dataclass(frozen=True, slots=True)
class Sentiment:
    """A prediction: ``label`` (pos/neu/neg), ``score`` = P(pos) − P(neg) in −1…1, and the
    features that pushed it most, as ``(feature, weight)`` with weight > 0 towards positive."""

    label: str
    score: float
    features: tuple[tuple[str, float], ...] = ()
    corrected: bool = False


class SentimentModel:
    """Predicts sentiment. Loaded once and shared; not thread-safe, because the table of
    per-word sums grows as it predicts (the enrichers are single-threaded)."""

    def __init__(self, model_dir: Path = MODEL_DIR) -> None:
        meta = json.loads((model_dir / "model.json").read_text("utf-8"))
        if meta.get("format") != FORMAT or tuple(meta["classes"]) != LABELS:
            raise ValueError(f"unsupported sentiment model in {model_dir}")
        if tuple(meta["dense"]) != DENSE:
            raise ValueError("the model was trained with other dense features; retrain it")
        feature_names: list[str] = meta["features"]
        self.char_n: tuple[int, ...] = tuple(meta["char_n"])
        self.vocab = {name: i for i, name in enumerate(feature_names)}
        self.names = feature_names
        self.lexicons: dict[str, dict[str, float]] = meta["lexicons"]
        blob = np.fromfile(model_dir / "weights.bin", dtype="<f4").astype(np.float64)
        k = len(LABELS)
        width = len(feature_names) + len(DENSE)
        if blob.size != width * k + k:
            raise ValueError("weights.bin does not match model.json")
        weights = blob[: width * k].reshape(width, k)
        self.sparse = weights[: len(feature_names)]
        self.dense = weights[len(feature_names) :]
        self.bias: list[float] = blob[width * k :].tolist()
        self.rows: list[tuple[float, float, float]] = [tuple(r) for r in self.sparse.tolist()]
        self.dense_rows: list[tuple[float, float, float]] = [tuple(r) for r in self.dense.tolist()]
        self._bigrams: dict[str, tuple[float, float, float]] = {
            name[2:]: self.rows[i] for name, i in self.vocab.items() if name.startswith("b:")
        }
        self._units: dict[tuple[str, bool], Weights] = {}

    def _unit(self, unit: tuple[str, bool]) -> Weights:
        s0 = s1 = s2 = 0.0
        count = 0
        vocab, rows = self.vocab, self.rows
        for name in unit_names(unit[0], unit[1], self.char_n):
            i = vocab.get(name)
            if i is not None:
                w0, w1, w2 = rows[i]
                s0 += w0
                s1 += w1
                s2 += w2
                count += 1
        if len(self._units) >= UNIT_TABLE:
            self._units.clear()
        weights = self._units[unit] = (s0, s1, s2, count)
        return weights

    def _fast_logits(self, reading: Reading) -> list[float]:
        s0 = s1 = s2 = 0.0
        count = 0
        units = self._units
        for unit in reading.units:
            weights = units.get(unit) or self._unit(unit)
            s0 += weights[0]
            s1 += weights[1]
            s2 += weights[2]
            count += weights[3]
        bigrams = self._bigrams
        extra_rows = [bigrams[b] for b in reading.bigrams if b in bigrams]
        for emoticon in dict.fromkeys(reading.emoticons):
            i = self.vocab.get("w:" + emoticon)
            if i is not None:
                extra_rows.append(self.rows[i])
        for w0, w1, w2 in extra_rows:
            s0 += w0
            s1 += w1
            s2 += w2
        count += len(extra_rows)
        return self._combine(s0, s1, s2, count, reading.dense)

    def _combine(
        self, s0: float, s1: float, s2: float, count: int, dense: list[float]
    ) -> list[float]:
        scale = 1.0 / math.sqrt(count) if count else 0.0
        out = [self.bias[0] + scale * s0, self.bias[1] + scale * s1, self.bias[2] + scale * s2]
        for value, (w0, w1, w2) in zip(dense, self.dense_rows, strict=True):
            if value:
                out[0] += value * w0
                out[1] += value * w1
                out[2] += value * w2
        return out

    def features(self, text: str, lang: str | None) -> tuple[list[int], list[float]]:
        """Vocabulary indexes of the text's sparse features (repeated as often as they occur),
        and its dense features."""
        reading = read(text, lang, self.lexicons)
        vocab = self.vocab
        return [vocab[n] for n in names(reading, self.char_n) if n in vocab], reading.dense

    def logits(self, idx: list[int], dense: list[float]) -> list[float]:
        """Class scores before the softmax, in :data:`LABELS` order."""
        rows = self.rows
        s0 = s1 = s2 = 0.0
        for i in idx:
            w0, w1, w2 = rows[i]
            s0 += w0
            s1 += w1
            s2 += w2
        return self._combine(s0, s1, s2, len(idx), dense)

    def predict(
        self,
        text: str,
        lang: str | None = None,
        corrections: Corrections | None = None,
        explain: int = 0,
    ) -> Sentiment:
        """Sentiment of ``text`` in ``lang`` (sv, nb, nn, no, da, fi, en; other/None = any).

        ``corrections`` (one workspace's) can override or nudge the result; ``explain`` asks
        for that many top features (0 keeps prediction cheapest).
        """
        if corrections is not None:
            override = corrections.override(text)
            if override is not None:
                return override
        if corrections is None and not explain:
            return _decide(self._fast_logits(read(text, lang, self.lexicons)))
        idx, dense = self.features(text, lang)
        logits = self.logits(idx, dense)
        if corrections is not None:
            logits = [a + b for a, b in zip(logits, corrections.nudge(idx), strict=True)]
        result = _decide(logits)
        if explain:
            top = self._explain(idx, dense, explain)
            return Sentiment(result.label, result.score, top)
        return result

    def _explain(self, idx: list[int], dense: list[float], n: int) -> tuple[tuple[str, float], ...]:
        # Each feature's pull towards positive: its value times (w_pos − w_neg).
        scale = 1.0 / math.sqrt(len(idx)) if idx else 0.0
        pulls = [
            (self.names[i], count * scale * (self.sparse[i, 2] - self.sparse[i, 0]))
            for i, count in Counter(idx).items()
        ]
        pulls += [
            (f"lexicon:{name}", value * (self.dense[j, 2] - self.dense[j, 0]))
            for j, (name, value) in enumerate(zip(DENSE, dense, strict=True))
            if value
        ]
        pulls.sort(key=lambda p: abs(p[1]), reverse=True)
        return tuple((name, round(float(w), 4)) for name, w in pulls[:n])


def _decide(logits: list[float]) -> Sentiment:
    top_logit = max(logits)
    exps = [math.exp(x - top_logit) for x in logits]
    total = sum(exps)
    label = LABELS[exps.index(max(exps))]
    return Sentiment(label, round((exps[2] - exps[0]) / total, 4))


@cache
def default_model() -> SentimentModel:
    """The model shipped in the package, loaded once."""
    return SentimentModel()


def analyse(text: str, lang: str | None = None, top: int = 5) -> Sentiment:
    """Sentiment of ``text`` with the shipped model and its ``top`` driving features."""
    return default_model().predict(text, lang, explain=top)
